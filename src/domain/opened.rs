//! A photo opened for rendering, its headers read and its pixels not yet: what it measures, its EXIF, what
//! decoding it will cost (`render_budget`), then its pixels as 8-bit RGB. PNG goes to `png_rgb`; JPEG and
//! WebP to `image` (zune-jpeg, image-webp), with the decoder's own allocation limit as a second bound.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use super::image::{JpegFrame, jpeg_frame};
use super::png_rgb::{self, PngRgb};
use super::render_budget::Decoding;
use super::renditions::MAX_SIDE;

/// The most the decoder may allocate: the largest photo as 8-bit RGBA, and its working buffers.
const MAX_DECODER_BYTES: u64 = 512 * 1024 * 1024;

/// A photo opened for decoding, its header read: PNG by `png_rgb`, JPEG and WebP by `image`.
pub enum Opened<'a> {
    Png(PngRgb<'a>),
    Codec(Box<dyn ImageDecoder + 'a>),
}

impl<'a> Opened<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self, String> {
        let mut reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| format!("the file cannot be read: {e}"))?;
        if reader.format() == Some(image::ImageFormat::Png) {
            return PngRgb::open(bytes).map(Opened::Png);
        }
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_DECODER_BYTES);
        reader.limits(limits);
        Ok(Opened::Codec(Box::new(reader.into_decoder().map_err(unreadable)?)))
    }

    pub fn dimensions(&self) -> (u32, u32) {
        match self {
            Opened::Png(png) => png.dimensions(),
            Opened::Codec(decoder) => decoder.dimensions(),
        }
    }

    pub fn exif(&mut self) -> Option<Vec<u8>> {
        match self {
            Opened::Png(png) => png.exif(),
            Opened::Codec(decoder) => decoder.exif_metadata().ok().flatten(),
        }
    }

    /// What decoding will cost, from the headers.
    pub fn decoding(&self, bytes: &[u8]) -> Decoding {
        match self {
            Opened::Png(png) => Decoding::Png { channels: png.channels() },
            // The decoder read a frame header, so there is one; were there not, the dearest JPEG is assumed.
            _ if bytes.starts_with(&[0xFF, 0xD8]) => {
                Decoding::Jpeg(jpeg_frame(bytes).unwrap_or(JpegFrame { progressive: true, components: 4 }))
            }
            _ => Decoding::Webp,
        }
    }

    pub fn into_rgb(self) -> Result<RgbImage, String> {
        match self {
            Opened::Png(png) => png.into_rgb(),
            Opened::Codec(decoder) => Ok(opaque_rgb(DynamicImage::from_decoder(decoder).map_err(unreadable)?)),
        }
    }
}

/// 8-bit RGB; transparent parts over white (a JPEG has no alpha, and black would show through), in place.
fn opaque_rgb(photo: DynamicImage) -> RgbImage {
    if !photo.color().has_alpha() {
        return photo.into_rgb8();
    }
    let rgba = photo.into_rgba8();
    let (width, height) = rgba.dimensions();
    let mut raw = rgba.into_raw();
    png_rgb::to_rgb_in_place(&mut raw, 4, width as usize * height as usize);
    RgbImage::from_raw(width, height, raw).unwrap_or_default()
}

fn unreadable(error: image::ImageError) -> String {
    match error {
        image::ImageError::Limits(_) => format!("the image needs more than {} MiB to decode", MAX_DECODER_BYTES >> 20),
        other => format!("the file is not a readable image: {other}"),
    }
}
