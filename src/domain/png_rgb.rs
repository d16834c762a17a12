//! A PNG decoded straight to 8-bit RGB, transparent parts over white, in one buffer of the photo's size.
//!
//! The `png` crate itself (the decoder `image` uses) is asked to expand palettes and low bit depths and to
//! strip 16-bit samples to 8 bits while it reads each row (`EXPAND | STRIP_16`), so a 16-bit photo is never
//! held at 16 bits: through `image`, a 16-bit grey+alpha PNG was held at 16 bits, as 8-bit RGBA and as RGB at
//! once (about 11 bytes a pixel, 1.1 GB at 100 MP). Here the rows land in a buffer reserved at the larger of
//! the decoded size and the RGB size (at most 4 bytes a pixel), and the conversion to RGB happens in place.
//! Hand-written (the in-place conversion) because no crate converts pixel layouts in place.

use std::io::Cursor;

use png::{BitDepth, Transformations};

/// A PNG whose header is read and whose pixels are not yet.
pub struct PngRgb<'a> {
    reader: png::Reader<Cursor<&'a [u8]>>,
}

impl<'a> PngRgb<'a> {
    /// Read the header (and the chunks before the pixels, EXIF among them).
    pub fn open(bytes: &'a [u8]) -> Result<Self, String> {
        let mut decoder = png::Decoder::new(Cursor::new(bytes));
        decoder.set_transformations(Transformations::EXPAND | Transformations::STRIP_16);
        let reader = decoder.read_info().map_err(|e| format!("the file is not a readable image: {e}"))?;
        Ok(Self { reader })
    }

    pub fn dimensions(&self) -> (u32, u32) {
        let info = self.reader.info();
        (info.width, info.height)
    }

    /// Samples a pixel as decoded (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA), all 8-bit.
    pub fn channels(&self) -> u8 {
        self.reader.output_color_type().0.samples() as u8
    }

    /// The eXIf chunk's TIFF data, if any.
    pub fn exif(&self) -> Option<Vec<u8>> {
        self.reader.info().exif_metadata.as_ref().map(|exif| exif.to_vec())
    }

    /// The pixels as 8-bit RGB, row after row.
    pub fn into_rgb(mut self) -> Result<image::RgbImage, String> {
        let (width, height) = self.dimensions();
        let pixels = width as usize * height as usize;
        if self.reader.output_color_type().1 != BitDepth::Eight {
            return Err("the PNG's bit depth cannot be read".into());
        }
        let decoded_len = self.reader.output_buffer_size().ok_or("the PNG is too large")?;
        let mut buffer = Vec::with_capacity(decoded_len.max(pixels * 3));
        buffer.resize(decoded_len, 0);
        self.reader.next_frame(&mut buffer).map_err(|e| format!("the file is not a readable image: {e}"))?;
        to_rgb_in_place(&mut buffer, self.channels(), pixels);
        image::RgbImage::from_raw(width, height, buffer).ok_or_else(|| "a buffer of the wrong size".into())
    }
}

/// `c` with alpha `a` laid over white.
pub fn over_white(c: u8, a: u8) -> u8 {
    ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8
}

/// `buffer`, `pixels` pixels of `channels` 8-bit samples each, turned into RGB over white in place: shrinking
/// layouts are compacted front to back, growing ones spread back to front, so no sample is overwritten before
/// it is read. Growing uses the buffer's spare capacity when it has enough.
pub fn to_rgb_in_place(buffer: &mut Vec<u8>, channels: u8, pixels: usize) {
    match channels {
        4 => {
            for i in 0..pixels {
                let [r, g, b, a] = [buffer[4 * i], buffer[4 * i + 1], buffer[4 * i + 2], buffer[4 * i + 3]];
                buffer[3 * i..3 * i + 3].copy_from_slice(&[over_white(r, a), over_white(g, a), over_white(b, a)]);
            }
            buffer.truncate(pixels * 3);
        }
        2 => {
            buffer.resize(pixels * 3, 0);
            for i in (0..pixels).rev() {
                let grey = over_white(buffer[2 * i], buffer[2 * i + 1]);
                buffer[3 * i..3 * i + 3].fill(grey);
            }
        }
        1 => {
            buffer.resize(pixels * 3, 0);
            for i in (0..pixels).rev() {
                let grey = buffer[i];
                buffer[3 * i..3 * i + 3].fill(grey);
            }
        }
        _ => buffer.truncate(pixels * 3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(image: image::DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn every_layout_becomes_rgb_over_white() {
        let grey_alpha16 = image::ImageBuffer::from_fn(3, 2, |x, _| {
            image::LumaA([if x == 0 { 0u16 } else { 65535 }, if x == 2 { 0 } else { 65535 }])
        });
        let rgba = image::RgbaImage::from_fn(3, 2, |x, _| image::Rgba([200, 10, 20, if x == 1 { 0 } else { 255 }]));
        let grey = image::GrayImage::from_fn(3, 2, |x, y| image::Luma([(x * 10 + y) as u8]));
        let rgb16 = image::ImageBuffer::from_fn(3, 2, |_, _| image::Rgb([65535u16, 0, 32896]));
        for (what, bytes, expected) in [
            ("grey+alpha 16", png(grey_alpha16.into()), [[0, 0, 0], [255, 255, 255], [255, 255, 255]]),
            ("RGBA", png(rgba.into()), [[200, 10, 20], [255, 255, 255], [200, 10, 20]]),
            ("grey", png(grey.into()), [[0, 0, 0], [10, 10, 10], [20, 20, 20]]),
            ("RGB 16", png(rgb16.into()), [[255, 0, 128]; 3]),
        ] {
            let rgb = PngRgb::open(&bytes).unwrap().into_rgb().unwrap();
            assert_eq!(rgb.dimensions(), (3, 2), "{what}");
            for (x, expected) in expected.iter().enumerate() {
                assert_eq!(rgb.get_pixel(x as u32, 0).0, *expected, "{what} at {x}");
            }
        }
    }
}
