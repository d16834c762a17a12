//! What a photo's bytes become: three upright JPEG renditions without any metadata (THUMBNAIL, longest side
//! 400 px; PREVIEW, 1600 px; FULL, the photo's own size), a ThumbHash placeholder, and the few EXIF fields
//! the API keeps (capture time, camera). Pure and synchronous: the processing worker runs it on the blocking
//! pool, one job per permit.
//!
//! - Decoding: `image` (zune-jpeg, image-webp) and `png` directly (`png_rgb`; pure Rust), with the pixel count and
//!   the memory decoding will take (`render_budget`) checked from the headers
//!   before anything is allocated, and the decoder's own allocation limit as a second bound.
//! - Orientation: the EXIF orientation is applied to the pixels, and nothing of the file's metadata is written
//!   back, so every viewer shows the renditions upright and none carries GPS, XMP, serial numbers or times.
//!   Not the ICC profile either: a camera's profile can name its maker and model, and without a colour
//!   management library the pixels cannot be converted to sRGB first, so a Display P3 photo shows a little
//!   less saturated. That is the price of serving no device metadata at all.
//! - Resizing: `fast_image_resize` (SIMD Lanczos3), PREVIEW from the photo and THUMBNAIL from PREVIEW.
//! - Encoding: JPEG with `jpeg-encoder` (SIMD; its standard Huffman tables: with its optimised ones, zune-jpeg
//!   decoded red as green, see the test). Not WebP: the only pure-Rust WebP
//!   encoder is lossless, several times larger than JPEG for photos, and lossy WebP needs libwebp (C).
//! - EXIF fields: `kamadak-exif`; the placeholder: `thumbhash`.

use base64::Engine;
use chrono::{DateTime, Utc};
use fast_image_resize::images::Image as Pixels;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;
use image::metadata::Orientation;

use super::image::ImageInfo;
use super::opened::Opened;
use super::{exif_fields, jpeg_scans, render_budget};

use crate::image_format::{ImageFormat, Rendition};

/// The most pixels a photo may have: 100 MP (a 12 MP phone photo is 12, a 200 MP sensor's full mode 200).
pub const MAX_PIXELS: u64 = 100_000_000;
/// JPEG's own limit on a side.
pub const MAX_SIDE: u32 = 65_535;
const QUALITY_FULL: u8 = 88;
const QUALITY_SMALL: u8 = 82;
/// ThumbHash takes at most 100x100 pixels.
const PLACEHOLDER_SIDE: u32 = 100;

/// One encoded rendition.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub rendition: Rendition,
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

/// Everything processing a photo yields.
#[derive(Debug)]
pub struct Rendered {
    /// Smallest first: THUMBNAIL, PREVIEW, FULL.
    pub renditions: Vec<Encoded>,
    /// ThumbHash of the upright photo, base64.
    pub placeholder: String,
    pub taken_at: Option<DateTime<Utc>>,
    pub camera: Option<String>,
}

impl Rendered {
    /// The photo as displayed: FULL's size.
    pub fn size(&self) -> (u32, u32) {
        self.renditions.last().map_or((0, 0), |full| (full.width, full.height))
    }
}

/// Why a photo of this size is refused, if it is: checked from the header, before anything is decoded.
pub fn refusal_for_size(width: u32, height: u32) -> Option<String> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Some(format!(
            "the image is {width}x{height} ({} MP); photos may have at most {} MP",
            pixels / 1_000_000,
            MAX_PIXELS / 1_000_000
        ));
    }
    if width.max(height) > MAX_SIDE {
        return Some(format!("the image is {width}x{height}; a side may be at most {MAX_SIDE} px"));
    }
    None
}

/// Why `completeUpload` refuses a photo whose header says `info` (and the orientation, when the header settles
/// it): its size, or the memory its render would take at the least (a JPEG's FULL is assumed to keep its own
/// scans, so no turned copy). `render` checks the same on the whole file, so nothing refused later was taken.
pub fn refusal_before_decoding(info: ImageInfo, orientation: Option<Orientation>) -> Option<String> {
    let turned_copy = info.format() != ImageFormat::Jpeg && orientation.is_some_and(quarter_turn);
    refusal_for_size(info.width, info.height)
        .or_else(|| render_budget::refusal(info.width, info.height, info.decoding, turned_copy))
}

/// Render `bytes` (JPEG, PNG or WebP); the reason in words when the file cannot be.
pub fn render(bytes: &[u8]) -> Result<Rendered, String> {
    let mut opened = Opened::new(bytes)?;
    let (width, height) = opened.dimensions();
    if let Some(refusal) = refusal_for_size(width, height) {
        return Err(refusal);
    }
    let exif = opened.exif().map(without_exif_header);
    let orientation = exif.as_deref().and_then(Orientation::from_exif_chunk).unwrap_or(Orientation::NoTransforms);
    // A JPEG's FULL is its own scans (jpeg_scans); anything else is encoded from the upright pixels.
    let decoding = opened.decoding(bytes);
    let passed_through =
        (decoding.format() == ImageFormat::Jpeg).then(|| jpeg_scans::without_metadata(bytes, orientation.to_exif()));
    let passed_through = passed_through.flatten();
    let turned_copy = passed_through.is_none() && quarter_turn(orientation);
    if let Some(refusal) = render_budget::refusal(width, height, decoding, turned_copy) {
        return Err(refusal);
    }
    let stored = opened.into_rgb()?;
    let stored = Pixels::from_vec_u8(width, height, stored.into_raw(), PixelType::U8x3).map_err(|e| e.to_string())?;

    // Scaled first and turned upright after: turning a 12 MP photo cost more than scaling it.
    let preview = fit(&stored, Rendition::Preview)?;
    let thumbnail = fit(preview.as_ref().unwrap_or(&stored), Rendition::Thumbnail)?;
    let preview = preview.map(|pixels| upright(pixels, orientation)).transpose()?;
    let thumbnail = thumbnail.map(|pixels| upright(pixels, orientation)).transpose()?;
    let needs_pixels = passed_through.is_none() || (preview.is_none() && thumbnail.is_none());
    let upright_full = needs_pixels.then(|| upright(stored, orientation)).transpose()?;
    let full_jpeg = match (passed_through, &upright_full) {
        (Some(jpeg), _) => jpeg,
        (None, Some(full)) => encode(full, QUALITY_FULL)?,
        (None, None) => return Err("nothing to encode".into()),
    };
    let (width, height) = displayed(width, height, orientation);
    let smallest = thumbnail.as_ref().or(preview.as_ref()).or(upright_full.as_ref()).ok_or("no pixels")?;
    let placeholder = placeholder(smallest)?;
    let preview_jpeg = match &preview {
        Some(pixels) => encode(pixels, QUALITY_SMALL)?,
        None => full_jpeg.clone(),
    };
    let thumbnail_jpeg = match &thumbnail {
        Some(pixels) => encode(pixels, QUALITY_SMALL)?,
        None => preview_jpeg.clone(),
    };
    let sized = |pixels: &Option<Pixels<'static>>, fallback: (u32, u32)| {
        pixels.as_ref().map_or(fallback, |p| (p.width(), p.height()))
    };
    let preview_size = sized(&preview, (width, height));
    let thumbnail_size = sized(&thumbnail, preview_size);
    let (taken_at, camera) = exif.map(exif_fields::read).unwrap_or_default();
    Ok(Rendered {
        renditions: vec![
            Encoded {
                rendition: Rendition::Thumbnail,
                width: thumbnail_size.0,
                height: thumbnail_size.1,
                jpeg: thumbnail_jpeg,
            },
            Encoded {
                rendition: Rendition::Preview,
                width: preview_size.0,
                height: preview_size.1,
                jpeg: preview_jpeg,
            },
            Encoded { rendition: Rendition::Full, width, height, jpeg: full_jpeg },
        ],
        placeholder,
        taken_at,
        camera,
    })
}

/// The TIFF data of an EXIF block, whether or not it still starts with JPEG's `Exif\0\0`.
fn without_exif_header(mut exif: Vec<u8>) -> Vec<u8> {
    if exif.starts_with(b"Exif\0\0") {
        exif.drain(..6);
    }
    exif
}

/// Whether turning by `orientation` swaps the sides (and so needs a second buffer).
fn quarter_turn(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    )
}

/// `pixels` turned as `orientation` says.
fn upright(pixels: Pixels<'static>, orientation: Orientation) -> Result<Pixels<'static>, String> {
    if orientation == Orientation::NoTransforms {
        return Ok(pixels);
    }
    let (width, height) = (pixels.width(), pixels.height());
    let rgb = image::RgbImage::from_raw(width, height, pixels.into_vec()).ok_or("a buffer of the wrong size")?;
    let mut turned = DynamicImage::ImageRgb8(rgb);
    turned.apply_orientation(orientation);
    let (width, height) = (turned.width(), turned.height());
    Pixels::from_vec_u8(width, height, turned.into_rgb8().into_raw(), PixelType::U8x3).map_err(|e| e.to_string())
}

/// The size a photo stored as `width` x `height` is shown at.
fn displayed(width: u32, height: u32, orientation: Orientation) -> (u32, u32) {
    if quarter_turn(orientation) { (height, width) } else { (width, height) }
}

/// `pixels` scaled down to fit `rendition`'s longest side; `None` when it already fits (never enlarged).
fn fit(pixels: &Pixels<'_>, rendition: Rendition) -> Result<Option<Pixels<'static>>, String> {
    let Some(longest) = rendition.longest_side() else { return Ok(None) };
    scaled(pixels, longest)
}

fn scaled(pixels: &Pixels<'_>, longest: u32) -> Result<Option<Pixels<'static>>, String> {
    let (width, height) = (pixels.width(), pixels.height());
    if width.max(height) <= longest {
        return Ok(None);
    }
    let scale = f64::from(longest) / f64::from(width.max(height));
    let (w, h) = (
        ((f64::from(width) * scale).round() as u32).clamp(1, longest),
        ((f64::from(height) * scale).round() as u32).clamp(1, longest),
    );
    let mut out = Pixels::new(w, h, pixels.pixel_type());
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new().resize(pixels, &mut out, &options).map_err(|e| format!("resizing failed: {e}"))?;
    Ok(Some(out))
}

fn encode(pixels: &Pixels<'_>, quality: u8) -> Result<Vec<u8>, String> {
    let mut jpeg = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut jpeg, quality);
    let (width, height) = (pixels.width() as u16, pixels.height() as u16);
    encoder
        .encode(pixels.buffer(), width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| format!("encoding failed: {e}"))?;
    Ok(jpeg)
}

/// The ThumbHash of the photo, from a copy at most 100 px a side.
fn placeholder(pixels: &Pixels<'_>) -> Result<String, String> {
    let small = scaled(pixels, PLACEHOLDER_SIDE)?;
    let small = small.as_ref().unwrap_or(pixels);
    let rgba: Vec<u8> = small.buffer().chunks_exact(3).flat_map(|rgb| [rgb[0], rgb[1], rgb[2], 255]).collect();
    let hash = thumbhash::rgba_to_thumb_hash(small.width() as usize, small.height() as usize, &rgba);
    Ok(base64::engine::general_purpose::STANDARD.encode(hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::exif_fields::testing::{ascii, exif};

    fn decoded(jpeg: &[u8]) -> image::RgbImage {
        image::load_from_memory(jpeg).unwrap().to_rgb8()
    }

    fn jpeg(
        width: u16,
        height: u16,
        color: jpeg_encoder::ColorType,
        progressive: bool,
        exif: Option<Vec<u8>>,
    ) -> Vec<u8> {
        let channels = match color {
            jpeg_encoder::ColorType::Luma => 1,
            jpeg_encoder::ColorType::Cmyk => 4,
            _ => 3,
        };
        let pixels: Vec<u8> =
            (0..usize::from(width) * usize::from(height) * channels).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
        encoder.set_progressive(progressive);
        if let Some(exif) = exif {
            encoder.add_exif_metadata(&exif).unwrap();
        }
        encoder.encode(&pixels, width, height, color).unwrap();
        out
    }

    #[test]
    fn colours_survive_encoding() {
        let red = Pixels::from_vec_u8(64, 64, [255u8, 0, 0].repeat(64 * 64), PixelType::U8x3).unwrap();
        let pixel = *decoded(&encode(&red, QUALITY_FULL).unwrap()).get_pixel(10, 10);
        assert!(pixel.0[0] > 240 && pixel.0[1] < 20 && pixel.0[2] < 20, "{pixel:?}");
    }

    #[test]
    fn sizes_over_the_limits_are_refused_from_the_header() {
        assert!(refusal_for_size(30_000, 30_000).is_some_and(|r| r.contains("900 MP")));
        assert!(refusal_for_size(70_000, 10).is_some_and(|r| r.contains("65535")));
        assert_eq!(refusal_for_size(4_000, 3_000), None);
    }

    #[test]
    fn a_tiny_lossless_webp_of_100_mp_is_refused_before_decoding() {
        let grey = vec![0u8; 10_000 * 10_000];
        let mut webp = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
            .encode(&grey, 10_000, 10_000, image::ExtendedColorType::L8)
            .unwrap();
        drop(grey);
        assert!(webp.len() < 100_000, "{} bytes", webp.len());
        let refusal = render(&webp).unwrap_err();
        assert!(refusal.contains("over the 560 MiB a render may use"), "{refusal}");
    }

    #[test]
    fn small_photos_are_never_enlarged_and_every_variant_decodes() {
        for (what, bytes) in [
            ("baseline RGB", jpeg(300, 200, jpeg_encoder::ColorType::Rgb, false, None)),
            ("progressive", jpeg(300, 200, jpeg_encoder::ColorType::Rgb, true, None)),
            ("grayscale", jpeg(300, 200, jpeg_encoder::ColorType::Luma, false, None)),
            ("CMYK", jpeg(300, 200, jpeg_encoder::ColorType::Cmyk, false, None)),
        ] {
            let rendered = render(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
            for encoded in &rendered.renditions {
                assert_eq!((encoded.width, encoded.height), (300, 200), "{what}: {:?}", encoded.rendition);
                assert_eq!(decoded(&encoded.jpeg).dimensions(), (300, 200), "{what}");
            }
            assert!(!rendered.placeholder.is_empty());
        }
    }

    #[test]
    fn large_photos_scale_to_each_rendition() {
        let rendered = render(&jpeg(2000, 1000, jpeg_encoder::ColorType::Rgb, false, None)).unwrap();
        let sizes: Vec<_> = rendered.renditions.iter().map(|r| (r.rendition, r.width, r.height)).collect();
        assert_eq!(
            sizes,
            [(Rendition::Thumbnail, 400, 200), (Rendition::Preview, 1600, 800), (Rendition::Full, 2000, 1000)]
        );
    }

    #[test]
    fn absurd_exif_is_ignored() {
        let orientation_nine =
            exif::Field { tag: exif::Tag::Orientation, ifd_num: exif::In::PRIMARY, value: exif::Value::Short(vec![9]) };
        let fields = [
            orientation_nine,
            ascii(exif::Tag::DateTimeOriginal, "0000:00:00 00:00:00"),
            ascii(exif::Tag::OffsetTimeOriginal, "+00:00"),
            ascii(exif::Tag::Make, "Canon"),
            ascii(exif::Tag::Model, "Canon EOS R5"),
        ];
        let rendered = render(&jpeg(120, 80, jpeg_encoder::ColorType::Rgb, false, Some(exif(&fields)))).unwrap();
        assert_eq!(rendered.size(), (120, 80), "orientation 9 is no orientation");
        assert_eq!(rendered.taken_at, None, "year 0 is no time");
        assert_eq!(rendered.camera.as_deref(), Some("Canon EOS R5"), "the make once");
        let huge = vec![ascii(exif::Tag::ImageDescription, &"x".repeat(60_000))];
        assert!(
            render(&jpeg(120, 80, jpeg_encoder::ColorType::Rgb, false, Some(exif(&huge)))).is_ok(),
            "a huge EXIF block"
        );
    }
}
