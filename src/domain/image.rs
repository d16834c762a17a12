//! What an uploaded object really is: JPEG, PNG or WebP by its magic bytes, with its pixel size, read from the
//! headers alone (a JPEG's size sits in its SOF segment, after any EXIF/ICC segments). Hand-written because
//! `completeUpload` reads only the first 64 KiB (more only for a JPEG whose EXIF is larger) to refuse wrong
//! types and bombs before any decoding; decoding itself is the `image` crate's (`renditions`).

pub use image::metadata::Orientation;

use super::render_budget::Decoding;
use crate::image_format::ImageFormat;

/// A recognised image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// Its format and what decoding it will cost, as far as the header says (`render_budget`).
    pub decoding: Decoding,
    pub width: u32,
    pub height: u32,
}

impl ImageInfo {
    pub fn format(&self) -> ImageFormat {
        self.decoding.format()
    }
}

/// What the bytes read so far say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    Image(ImageInfo),
    /// Not a JPEG, PNG or WebP we can read.
    NotImage,
    /// A JPEG whose size lies further on: read again from this absolute offset (a segment boundary).
    ReadFrom(u64),
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Inspect the first bytes of an object.
pub fn sniff(head: &[u8]) -> Sniff {
    if head.starts_with(PNG_MAGIC) {
        return sniff_png(head);
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return walk_jpeg(&head[2..], 2);
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return sniff_webp(head);
    }
    Sniff::NotImage
}

fn be16(bytes: &[u8]) -> u32 {
    u32::from(u16::from_be_bytes([bytes[0], bytes[1]]))
}

fn sniff_png(head: &[u8]) -> Sniff {
    // Signature, then the IHDR chunk: length (4), "IHDR", width (4), height (4).
    if head.len() < 24 || &head[12..16] != b"IHDR" {
        return Sniff::NotImage;
    }
    let width = u32::from_be_bytes([head[16], head[17], head[18], head[19]]);
    let height = u32::from_be_bytes([head[20], head[21], head[22], head[23]]);
    // Samples a pixel once decoded to 8 bits, by colour type (a palette becomes RGB, or RGBA with a tRNS chunk
    // further on: the smaller is a lower bound, which is what a refusal before decoding may use).
    let channels = match head.get(25) {
        Some(0) => 1,
        Some(4) => 2,
        Some(6) => 4,
        _ => 3,
    };
    image(Decoding::Png { channels }, width, height)
}

/// A WebP's canvas size from its first chunk: VP8 (lossy), VP8L (lossless) or VP8X (extended).
fn sniff_webp(head: &[u8]) -> Sniff {
    let le24 = |b: &[u8]| u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
    match head.get(12..16) {
        Some(b"VP8 ") if head.len() >= 30 && head[23..26] == [0x9D, 0x01, 0x2A] => {
            let width = u32::from(u16::from_le_bytes([head[26], head[27]]) & 0x3FFF);
            let height = u32::from(u16::from_le_bytes([head[28], head[29]]) & 0x3FFF);
            image(Decoding::Webp, width, height)
        }
        Some(b"VP8L") if head.len() >= 25 && head[20] == 0x2F => {
            let bits = u32::from_le_bytes([head[21], head[22], head[23], head[24]]);
            image(Decoding::Webp, (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        }
        Some(b"VP8X") if head.len() >= 30 => image(Decoding::Webp, le24(&head[24..]) + 1, le24(&head[27..]) + 1),
        _ => Sniff::NotImage,
    }
}

fn image(decoding: Decoding, width: u32, height: u32) -> Sniff {
    if width == 0 || height == 0 {
        return Sniff::NotImage;
    }
    Sniff::Image(ImageInfo { decoding, width, height })
}

/// Walk JPEG segments in `window` (which starts at a marker, at absolute offset `at`) up to a frame header.
pub fn walk_jpeg(window: &[u8], at: u64) -> Sniff {
    match frame_header(window) {
        Walk::Frame(pos) => {
            let frame = JpegFrame { progressive: is_progressive(window[pos + 1]), components: window[pos + 9] };
            image(Decoding::Jpeg(frame), be16(&window[pos + 7..]), be16(&window[pos + 5..]))
        }
        Walk::More(pos) => Sniff::ReadFrom(at + pos as u64),
        Walk::NotImage => Sniff::NotImage,
    }
}

/// What a JPEG's frame header says about the cost of decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegFrame {
    /// Progressive (SOF2, SOF6, SOF10, SOF14): decoders keep every coefficient until the last scan.
    pub progressive: bool,
    pub components: u8,
}

/// The frame of a whole JPEG file, `None` when it has none.
pub fn jpeg_frame(jpeg: &[u8]) -> Option<JpegFrame> {
    let window = jpeg.get(2..)?;
    let Walk::Frame(pos) = frame_header(window) else { return None };
    Some(JpegFrame { progressive: is_progressive(window[pos + 1]), components: window[pos + 9] })
}

/// SOF2, SOF6, SOF10 and SOF14 are progressive.
fn is_progressive(marker: u8) -> bool {
    matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE)
}

/// Where a walk of JPEG segments stopped.
enum Walk {
    /// At a frame header whose size is in the window.
    Frame(usize),
    /// The window ends before one: go on from this offset in it.
    More(usize),
    NotImage,
}

fn frame_header(window: &[u8]) -> Walk {
    let mut pos = 0usize;
    loop {
        if pos + 4 > window.len() {
            return if window.is_empty() { Walk::NotImage } else { Walk::More(pos) };
        }
        if window[pos] != 0xFF {
            return Walk::NotImage;
        }
        let marker = window[pos + 1];
        match marker {
            // Fill bytes before a marker.
            0xFF => pos += 1,
            // Markers without a length: TEM and restart markers.
            0x01 | 0xD0..=0xD7 => pos += 2,
            // End of image or start of scan before any frame header: no size to be had.
            0xD9 | 0xDA => return Walk::NotImage,
            // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC): length, precision, height, width, components.
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                return if pos + 10 > window.len() { Walk::More(pos) } else { Walk::Frame(pos) };
            }
            _ => {
                let length = be16(&window[pos + 2..]) as usize;
                if length < 2 {
                    return Walk::NotImage;
                }
                pos += 2 + length;
            }
        }
    }
}

/// The EXIF orientation of an image whose first bytes are `head`, when they settle it: a JPEG's EXIF segment
/// comes before its frame header, a PNG's eXIf chunk before its pixels, and a WebP without the extended header
/// has no EXIF. `None` when it lies further on (processing reads it then). Read as processing reads it: an
/// orientation it cannot parse is none.
pub fn orientation(head: &[u8]) -> Option<Orientation> {
    let parsed = |chunk: &[u8]| Orientation::from_exif_chunk(chunk).unwrap_or(Orientation::NoTransforms);
    if head.starts_with(PNG_MAGIC) {
        let mut pos = PNG_MAGIC.len();
        while let Some(header) = head.get(pos..pos + 8) {
            let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
            match &header[4..8] {
                b"IDAT" => return Some(Orientation::NoTransforms),
                b"eXIf" => return head.get(pos + 8..pos + 8 + length).map(parsed),
                _ => pos = pos.checked_add(12 + length)?,
            }
        }
        return None;
    }
    if head.len() >= 16 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return (&head[12..16] != b"VP8X").then_some(Orientation::NoTransforms);
    }
    let mut pos = 2;
    while let Some(segment) = head.get(pos..pos + 4) {
        let (marker, length) = (segment[1], be16(&segment[2..]) as usize);
        match marker {
            _ if segment[0] != 0xFF || length < 2 => return None,
            0xE1 if head.get(pos + 4..pos + 10) == Some(b"Exif\0\0") => {
                return head.get(pos + 10..pos + 2 + length).map(parsed);
            }
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => return Some(Orientation::NoTransforms),
            0xDA | 0xD9 => return None,
            _ => pos += 2 + length,
        }
    }
    None
}

/// The size `width` x `height` (as stored) is shown at, turned by `orientation`.
pub fn displayed(width: u32, height: u32, orientation: Orientation) -> (u32, u32) {
    match orientation {
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH => {
            (height, width)
        }
        _ => (width, height),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: &[u8] = include_bytes!("../../tests/fixtures/pier.jpg");
    const PNG: &[u8] = include_bytes!("../../tests/fixtures/small.png");
    const BASELINE: Decoding = Decoding::Jpeg(JpegFrame { progressive: false, components: 3 });

    #[test]
    fn reads_jpeg_and_png_sizes() {
        assert_eq!(sniff(JPEG), Sniff::Image(ImageInfo { decoding: BASELINE, width: 64, height: 48 }));
        assert_eq!(
            sniff(PNG),
            Sniff::Image(ImageInfo { decoding: Decoding::Png { channels: 3 }, width: 20, height: 10 })
        );
    }

    #[test]
    fn reads_what_decoding_will_cost_from_the_header() {
        let mut grey_alpha = PNG.to_vec();
        grey_alpha[25] = 4;
        assert!(matches!(sniff(&grey_alpha), Sniff::Image(ImageInfo { decoding: Decoding::Png { channels: 2 }, .. })));
        let mut progressive = JPEG.to_vec();
        let sof = progressive.windows(2).position(|marker| marker == [0xFF, 0xC0]).unwrap();
        progressive[sof + 1] = 0xC2;
        let frame = JpegFrame { progressive: true, components: 3 };
        assert!(
            matches!(sniff(&progressive), Sniff::Image(ImageInfo { decoding: Decoding::Jpeg(f), .. }) if f == frame)
        );
    }

    #[test]
    fn reads_the_orientation_before_the_pixels() {
        assert_eq!(orientation(JPEG), Some(Orientation::NoTransforms));
        assert_eq!(orientation(PNG), Some(Orientation::NoTransforms));
        let exif = crate::domain::exif_fields::testing::exif(&[exif::Field {
            tag: exif::Tag::Orientation,
            ifd_num: exif::In::PRIMARY,
            value: exif::Value::Short(vec![6]),
        }]);
        let mut rotated = vec![0xFF, 0xD8, 0xFF, 0xE1];
        rotated.extend_from_slice(&u16::try_from(exif.len() + 8).unwrap().to_be_bytes());
        rotated.extend_from_slice(b"Exif\0\0");
        rotated.extend_from_slice(&exif);
        rotated.extend_from_slice(&JPEG[2..]);
        assert_eq!(orientation(&rotated), Some(Orientation::Rotate90));
        assert_eq!(displayed(4000, 3000, Orientation::Rotate90), (3000, 4000));
        assert_eq!(orientation(&rotated[..20]), None, "the EXIF segment is cut off");
    }

    #[test]
    fn rejects_what_is_not_an_image() {
        assert_eq!(sniff(b"hello, I am text pretending to be a photo"), Sniff::NotImage);
        assert_eq!(sniff(b""), Sniff::NotImage);
        assert_eq!(sniff(&PNG[..20]), Sniff::NotImage);
        // A JPEG start followed by garbage instead of segments.
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', 0x00, 0x00, 0x42]), Sniff::ReadFrom(20));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xD9, 0, 0]), Sniff::NotImage);
    }

    #[test]
    fn asks_for_more_when_the_frame_header_is_further_on() {
        // A large APP1 (EXIF) segment pushes the frame header past the first window.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xF0];
        jpeg.extend(std::iter::repeat_n(0u8, 0xFFF0 - 2));
        jpeg.extend_from_slice(&JPEG[2..]);
        let Sniff::ReadFrom(offset) = sniff(&jpeg[..1024]) else { panic!("expected a request for more") };
        assert_eq!(offset, 2 + 2 + 0xFFF0);
        let rest = &jpeg[offset as usize..];
        assert_eq!(walk_jpeg(rest, offset), Sniff::Image(ImageInfo { decoding: BASELINE, width: 64, height: 48 }));
    }
}
