//! The image formats the service takes, in one place: the media type clients send and storage serves, and the
//! file extension object keys and download names end in. Every layer names a format through this type.

use std::fmt;

/// An image format the service accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Jpeg,
    Png,
}

impl ImageFormat {
    /// Every accepted format, in the order error messages list them.
    pub const ALL: [ImageFormat; 2] = [ImageFormat::Jpeg, ImageFormat::Png];

    /// The media type (`Content-Type`).
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
        }
    }

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
        }
    }

    /// The format a media type names, ignoring case and surrounding blanks.
    pub fn from_mime(mime: &str) -> Option<Self> {
        let mime = mime.trim();
        Self::ALL.into_iter().find(|format| format.mime().eq_ignore_ascii_case(mime))
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mime())
    }
}

#[cfg(test)]
mod tests {
    use super::ImageFormat;

    #[test]
    fn media_types_read_back_whatever_their_case() {
        for format in ImageFormat::ALL {
            assert_eq!(ImageFormat::from_mime(format.mime()), Some(format));
            assert_eq!(ImageFormat::from_mime(&format!(" {} ", format.mime().to_uppercase())), Some(format));
        }
        assert_eq!(ImageFormat::from_mime("image/gif"), None);
        assert_eq!(ImageFormat::from_mime("image/jpeg; q=1"), None);
        assert_eq!(ImageFormat::Png.extension(), "png");
        assert_eq!(ImageFormat::Jpeg.extension(), "jpg");
    }
}
