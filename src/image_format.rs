//! The image vocabulary, in one place: the formats the service takes (the media type clients send and storage
//! serves, the file extension object keys and download names end in) and the renditions it serves. Every
//! layer names a format or a rendition through these types.

use std::fmt;

/// An image format the service accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
}

impl ImageFormat {
    /// Every accepted format, in the order error messages list them.
    pub const ALL: [ImageFormat; 3] = [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Webp];

    /// The media type (`Content-Type`).
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
        }
    }

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
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

/// A rendition the service makes of every photo: upright, without metadata, never larger than the photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rendition {
    Thumbnail,
    Preview,
    Full,
}

impl Rendition {
    /// Smallest first.
    pub const ALL: [Rendition; 3] = [Rendition::Thumbnail, Rendition::Preview, Rendition::Full];

    /// The longest side it may have; `None` for the photo's own size.
    pub fn longest_side(self) -> Option<u32> {
        match self {
            Rendition::Thumbnail => Some(400),
            Rendition::Preview => Some(1600),
            Rendition::Full => None,
        }
    }

    /// Its name in object keys and stored items.
    pub fn name(self) -> &'static str {
        match self {
            Rendition::Thumbnail => "thumbnail",
            Rendition::Preview => "preview",
            Rendition::Full => "full",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|rendition| rendition.name() == name)
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
