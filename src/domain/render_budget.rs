//! How much memory rendering a photo will take at its peak, estimated from its headers before any pixel is
//! decoded, and the budget it must fit in. The pixel limit (100 MP) alone let tiny files cost far more than
//! their pixels: a 38-byte lossless WebP or a 400 KB 16-bit PNG of 100 MP held 0.85–1.2 GiB, and a small
//! progressive JPEG's coefficients take 2 bytes a pixel per component until its last scan.
//!
//! The estimate is the pixel count times the bytes a pixel takes at the worst moment, as measured per format
//! (benches/renditions.rs prints the process's peak for each bomb):
//! - baseline JPEG: the RGB output (3) and the decoder's working rows: 4;
//! - progressive JPEG: the RGB output and 2 bytes of coefficients per component: 3 + 2 × components;
//! - PNG (`png_rgb`): the decoded 8-bit samples or the RGB they become in place, the larger: 3 or 4;
//! - WebP: `image-webp` decodes into its own 4 bytes a pixel before our RGB: 7;
//! - then, if the photo must be turned a quarter (EXIF orientation 5–8) and its FULL is encoded from pixels,
//!   a second RGB copy (3) beside what the decoding left.
//!
//! A photo over [`BUDGET_BYTES`] is refused with the figures, so one render stays under about 700 MiB of the
//! process (the deploy template's smallest instance has 2 GiB). A 12 MP phone photo needs 50–110 MB.

use crate::image_format::ImageFormat;

use super::image::JpegFrame;

/// The most one render may take: the largest baseline JPEG (100 MP) fits, bombs of other formats do not.
pub const BUDGET_BYTES: u64 = 560 * 1024 * 1024;

/// What decides a decoding's cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoding {
    Jpeg(JpegFrame),
    /// Samples a pixel as decoded to 8 bits (1–4).
    Png {
        channels: u8,
    },
    Webp,
}

impl Decoding {
    pub fn format(self) -> ImageFormat {
        match self {
            Decoding::Jpeg(_) => ImageFormat::Jpeg,
            Decoding::Png { .. } => ImageFormat::Png,
            Decoding::Webp => ImageFormat::Webp,
        }
    }

    /// Bytes a pixel takes while decoding, and once decoded.
    fn bytes_per_pixel(self) -> (u64, u64) {
        match self {
            Decoding::Jpeg(JpegFrame { progressive: true, components }) => (3 + 2 * u64::from(components), 3),
            Decoding::Jpeg(_) => (4, 3),
            Decoding::Png { channels } => (u64::from(channels).max(3), u64::from(channels).max(3)),
            Decoding::Webp => (7, 3),
        }
    }
}

/// The peak bytes of rendering a `width` x `height` photo; `turned_copy` when its upright pixels need a second
/// buffer (a quarter turn of a photo whose FULL is encoded from pixels).
pub fn peak_bytes(width: u32, height: u32, decoding: Decoding, turned_copy: bool) -> u64 {
    let pixels = u64::from(width) * u64::from(height);
    let (decoding, decoded) = decoding.bytes_per_pixel();
    let upright = decoded + if turned_copy { 3 } else { 0 };
    pixels * decoding.max(upright)
}

/// Why a photo is refused for the memory it would take, if it is.
pub fn refusal(width: u32, height: u32, decoding: Decoding, turned_copy: bool) -> Option<String> {
    let peak = peak_bytes(width, height, decoding, turned_copy);
    (peak > BUDGET_BYTES).then(|| {
        format!(
            "the image is {width}x{height} ({} MP); decoding it would take about {} MiB, over the {} MiB a \
             render may use: upload a smaller photo (fewer pixels{})",
            u64::from(width) * u64::from(height) / 1_000_000,
            peak >> 20,
            BUDGET_BYTES >> 20,
            match decoding {
                Decoding::Jpeg(JpegFrame { progressive: true, .. }) => ", or a baseline JPEG",
                _ => ", or as a JPEG",
            }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASELINE: Decoding = Decoding::Jpeg(JpegFrame { progressive: false, components: 3 });
    const PROGRESSIVE: Decoding = Decoding::Jpeg(JpegFrame { progressive: true, components: 3 });

    #[test]
    fn the_bombs_are_refused_and_phone_photos_are_not() {
        for (what, decoding) in [
            ("lossless WebP", Decoding::Webp),
            ("progressive JPEG", PROGRESSIVE),
            ("16-bit grey+alpha PNG", Decoding::Png { channels: 2 }),
        ] {
            assert_eq!(refusal(4000, 3000, decoding, true), None, "a 12 MP {what}");
        }
        let webp = refusal(10_000, 10_000, Decoding::Webp, false).expect("100 MP WebP");
        assert!(webp.contains("10000x10000 (100 MP)") && webp.contains("667 MiB, over the 560 MiB"), "{webp}");
        assert!(refusal(10_000, 10_000, PROGRESSIVE, false).is_some_and(|r| r.contains("baseline JPEG")));
        // A PNG decodes in a buffer of its RGBA size at most: 100 MP fits, turned it does not.
        assert_eq!(refusal(10_000, 10_000, Decoding::Png { channels: 4 }, false), None);
        assert!(refusal(10_000, 10_000, Decoding::Png { channels: 4 }, true).is_some());
        assert_eq!(refusal(10_000, 10_000, BASELINE, false), None, "the largest baseline JPEG");
    }
}
