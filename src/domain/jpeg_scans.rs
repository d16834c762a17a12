//! A JPEG photo's own compressed scans without its metadata: the FULL rendition of a JPEG, instead of a
//! re-encoding that cost 45% of a 12 MP photo's processing (measured with perf) and a generation of quality.
//!
//! Only what decodes the pixels is copied: the frame (baseline, extended or progressive, 8-bit, grey or
//! YCbCr), the quantisation tables its components take (at their first scan, as decoders do), the Huffman
//! tables and restart interval each scan uses, and each scan's entropy-coded data up to its last coded bit
//! (`jpeg_entropy` walks it), then the end of image. Tables defined and never used, bytes between a scan's
//! data and the next marker, every APPn segment (EXIF, XMP, ICC, IPTC, MPF), every comment and whatever
//! follows the end of the image (where phones append motion clips and MPF gain-map images with EXIF and XMP
//! of their own) are dropped, so no byte the uploader chose passes but the pixels' own. The orientation, when
//! there is one, goes back as the only EXIF tag, which the contract allows and every browser applies.
//! Anything else (arithmetic coding, hierarchical frames, Adobe's colour transform, CMYK, data that does not
//! decode, a truncated file) answers `None`, and the photo's FULL is re-encoded from its pixels instead.
//!
//! Hand-written because no crate does this part: img-parts keeps everything after the first scan as it is,
//! trailing images included, and the codecs only decode.

use std::io::Cursor;

use super::jpeg_entropy::{self, Component, Frame, Huffman, Progress, Scan};

const MARK: u8 = 0xFF;
const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const DHT: u8 = 0xC4;
const DQT: u8 = 0xDB;
const DRI: u8 = 0xDD;
/// Baseline, extended sequential and progressive Huffman frames: what every browser decodes.
const FRAMES: [u8; 3] = [0xC0, 0xC1, 0xC2];
const APP14: u8 = 0xEE;
const COMMENT: u8 = 0xFE;

/// The tables as the file has defined them so far, and as the copy has.
#[derive(Default)]
struct Tables {
    /// Each quantisation table's entry (precision and id, then its values).
    quant: [Option<Vec<u8>>; 4],
    /// Each Huffman table's entry (class and id, counts, symbols), DC then AC, and its decoder.
    huffman: [[Option<Vec<u8>>; 4]; 2],
    decoders: [[Option<Huffman>; 4]; 2],
    restart_interval: u16,
    written_quant: [Option<Vec<u8>>; 4],
    written_huffman: [[Option<Vec<u8>>; 4]; 2],
    written_restart_interval: u16,
}

/// `jpeg` without any metadata, with `orientation` (EXIF 2–8) as its only EXIF tag; `None` when the file
/// holds anything this does not pass through.
pub fn without_metadata(jpeg: &[u8], orientation: u8) -> Option<Vec<u8>> {
    if !jpeg.starts_with(&[MARK, SOI]) {
        return None;
    }
    let mut out = Vec::with_capacity(jpeg.len());
    out.extend([MARK, SOI]);
    if (2..=8).contains(&orientation) {
        out.extend(orientation_segment(orientation)?);
    }
    let mut at = 2;
    let mut frame: Option<(Frame, &[u8])> = None;
    let (mut tables, mut progress, mut scanned) = (Tables::default(), Progress::default(), false);
    loop {
        if *jpeg.get(at)? != MARK {
            return None;
        }
        while jpeg.get(at) == Some(&MARK) {
            at += 1;
        }
        let marker = *jpeg.get(at)?;
        at += 1;
        if marker == EOI {
            out.extend([MARK, EOI]);
            return scanned.then_some(out);
        }
        let length = usize::from(u16::from_be_bytes([*jpeg.get(at)?, *jpeg.get(at + 1)?]));
        let segment = jpeg.get(at - 2..at + length).filter(|_| length >= 2)?;
        let body = &segment[4..];
        at += length;
        match marker {
            _ if FRAMES.contains(&marker) => {
                if frame.is_some() {
                    return None;
                }
                frame = Some((frame_header(body, marker == 0xC2)?, segment));
            }
            DQT => tables.define_quant(body)?,
            DHT => tables.define_huffman(body)?,
            DRI => tables.restart_interval = u16::from_be_bytes([*body.first()?, *body.get(1)?]),
            // Adobe's marker says how to read the colours: without it they would change.
            APP14 => return None,
            0xE0..=0xEF | COMMENT => {}
            SOS => {
                let (frame, frame_segment) = frame.as_ref()?;
                let scan = scan_header(body, frame)?;
                tables.write_for(frame, &scan, (!scanned).then_some(*frame_segment), &mut out)?;
                out.extend(segment);
                let interval = tables.restart_interval;
                at = jpeg_entropy::copy_scan(
                    jpeg,
                    at,
                    frame,
                    &scan,
                    &tables.decoders,
                    interval,
                    &mut progress,
                    &mut out,
                )?;
                scanned = true;
            }
            _ => return None,
        }
    }
}

impl Tables {
    fn define_quant(&mut self, mut body: &[u8]) -> Option<()> {
        while let Some(&precision_and_id) = body.first() {
            let (precision, id) = (precision_and_id >> 4, usize::from(precision_and_id & 15));
            let size = 1 + 64 * (usize::from(precision) + 1);
            if precision > 1 || id > 3 || body.len() < size {
                return None;
            }
            self.quant[id] = Some(body[..size].to_vec());
            body = &body[size..];
        }
        Some(())
    }

    fn define_huffman(&mut self, mut body: &[u8]) -> Option<()> {
        while let Some(&class_and_id) = body.first() {
            let (class, id) = (usize::from(class_and_id >> 4), usize::from(class_and_id & 15));
            let counts = body.get(1..17)?;
            let size = 17 + counts.iter().map(|count| usize::from(*count)).sum::<usize>();
            if class > 1 || id > 3 || body.len() < size {
                return None;
            }
            self.decoders[class][id] = Some(Huffman::new(counts, &body[17..size])?);
            self.huffman[class][id] = Some(body[..size].to_vec());
            body = &body[size..];
        }
        Some(())
    }

    /// Write what `scan` uses and the copy does not have yet: before the first scan, the quantisation tables
    /// of the frame's components and `frame_segment`; the Huffman tables of `scan`; the restart interval.
    /// Tables defined and never used are not written. A quantisation table changed after the first scan is
    /// refused: decoders differ on when they take it.
    fn write_for(&mut self, frame: &Frame, scan: &Scan, frame_segment: Option<&[u8]>, out: &mut Vec<u8>) -> Option<()> {
        let mut quant = Vec::new();
        for component in &frame.components {
            let id = usize::from(component.quant);
            let entry = self.quant[id].as_ref()?;
            match &self.written_quant[id] {
                Some(written) if written != entry => return None,
                Some(_) => {}
                None if frame_segment.is_none() => return None,
                None => {
                    quant.extend(entry);
                    self.written_quant[id] = Some(entry.clone());
                }
            }
        }
        write_segment(out, DQT, &quant);
        out.extend(frame_segment.unwrap_or_default());
        let (uses_dc, uses_ac) = scan.uses(frame.progressive);
        let mut huffman = Vec::new();
        for &(_, dc, ac) in &scan.components {
            for (class, id, used) in [(0, dc, uses_dc), (1, ac, uses_ac)] {
                let id = usize::from(id);
                let entry = self.huffman[class].get(id)?;
                if used && entry.is_some() && self.written_huffman[class][id] != *entry {
                    self.written_huffman[class][id] = entry.clone();
                    huffman.extend(entry.iter().flatten());
                }
            }
        }
        write_segment(out, DHT, &huffman);
        if self.restart_interval != self.written_restart_interval {
            self.written_restart_interval = self.restart_interval;
            write_segment(out, DRI, &self.restart_interval.to_be_bytes());
        }
        Some(())
    }
}

/// A marker segment with `body`, unless `body` is empty.
fn write_segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    if let Ok(length) = u16::try_from(body.len() + 2) {
        if !body.is_empty() {
            out.extend([MARK, marker]);
            out.extend(length.to_be_bytes());
            out.extend(body);
        }
    }
}

/// The frame header: precision 8, a size (no DNL), 1 (grey) or 3 (YCbCr) components sampled 1 to 4.
fn frame_header(body: &[u8], progressive: bool) -> Option<Frame> {
    let be16 = |at: usize| Some(u32::from(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?])));
    let (height, width, count) = (be16(1)?, be16(3)?, *body.get(5)?);
    if body.first() != Some(&8) || height == 0 || width == 0 || !matches!(count, 1 | 3) {
        return None;
    }
    let components = (0..usize::from(count))
        .map(|i| {
            let spec = body.get(6 + 3 * i..9 + 3 * i)?;
            let (h, v) = (u32::from(spec[1] >> 4), u32::from(spec[1] & 15));
            ((1..=4).contains(&h) && (1..=4).contains(&v) && spec[2] < 4).then_some(Component {
                id: spec[0],
                h,
                v,
                quant: spec[2],
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Frame { width, height, progressive, components })
}

/// The scan header: its components (in the frame), tables, band and bits, as the spec allows them.
fn scan_header(body: &[u8], frame: &Frame) -> Option<Scan> {
    let count = usize::from(*body.first()?);
    let components = (0..count)
        .map(|i| {
            let spec = body.get(1 + 2 * i..3 + 2 * i)?;
            let index = frame.components.iter().position(|c| c.id == spec[0])?;
            let (dc, ac) = (spec[1] >> 4, spec[1] & 15);
            (dc < 4 && ac < 4).then_some((index, dc, ac))
        })
        .collect::<Option<Vec<_>>>()?;
    let band = body.get(1 + 2 * count..4 + 2 * count)?;
    let (start, end, high) = (band[0], band[1], band[2] >> 4);
    let blocks: u32 = components.iter().map(|&(i, ..)| frame.components[i].h * frame.components[i].v).sum();
    let valid = if frame.progressive {
        start <= end && end <= 63 && (start == 0) == (end == 0) && (start == 0 || count == 1)
    } else {
        start == 0 && end == 63 && high == 0
    };
    (valid && (1..=4).contains(&count) && (count == 1 || blocks <= 10)).then_some(Scan { components, start, end, high })
}

/// An APP1 segment whose EXIF holds the orientation alone.
fn orientation_segment(orientation: u8) -> Option<Vec<u8>> {
    let field = exif::Field {
        tag: exif::Tag::Orientation,
        ifd_num: exif::In::PRIMARY,
        value: exif::Value::Short(vec![u16::from(orientation)]),
    };
    let mut writer = exif::experimental::Writer::new();
    writer.push_field(&field);
    let mut tiff = Cursor::new(Vec::new());
    writer.write(&mut tiff, false).ok()?;
    let tiff = tiff.into_inner();
    let length = u16::try_from(2 + 6 + tiff.len()).ok()?;
    let mut segment = vec![MARK, 0xE1];
    segment.extend(length.to_be_bytes());
    segment.extend(b"Exif\0\0");
    segment.extend(tiff);
    Some(segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(progressive: bool, color: jpeg_encoder::ColorType) -> Vec<u8> {
        let channels = if color == jpeg_encoder::ColorType::Cmyk { 4 } else { 3 };
        let pixels: Vec<u8> = (0..64 * 48 * channels).map(|i| (i * 7 % 256) as u8).collect();
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
        encoder.set_progressive(progressive);
        encoder.add_app_segment(1, b"Exif\0\0MM\0*secret-gps".to_vec()).unwrap();
        encoder.add_app_segment(13, b"Photoshop 3.0\0secret-iptc".to_vec()).unwrap();
        encoder.encode(&pixels, 64, 48, color).unwrap();
        out
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|window| window == needle)
    }

    #[test]
    fn metadata_and_trailing_images_are_dropped_and_the_pixels_kept() {
        for progressive in [false, true] {
            let original = jpeg(progressive, jpeg_encoder::ColorType::Rgb);
            let mut with_trailer = original.clone();
            with_trailer.extend(b"\xFF\xD8\xFF\xE1secret-gain-map-exif\xFF\xD9");
            let stripped = without_metadata(&with_trailer, 1).expect("passed through");
            for secret in [&b"secret"[..], b"Exif", b"Photoshop"] {
                assert!(!contains(&stripped, secret), "progressive {progressive}: {secret:?} left");
            }
            assert!(stripped.ends_with(&[MARK, EOI]));
            let decode = |bytes: &[u8]| image::load_from_memory(bytes).unwrap().to_rgb8().into_raw();
            assert_eq!(decode(&stripped), decode(&original), "progressive {progressive}: the same pixels");
        }
    }

    /// `jpeg` with an unused quantisation table and bytes after the data of the last scan (and of the first
    /// restart interval, if it has any), each saying `secret`.
    fn with_uploader_bytes(jpeg: &[u8]) -> Vec<u8> {
        let mut table = vec![MARK, DQT, 0, 67, 0x03];
        table.extend(b"secret-unused-table".iter().chain(std::iter::repeat(&1)).take(64));
        let mut out = [&jpeg[..2], &table, &jpeg[2..jpeg.len() - 2]].concat();
        let first_scan = out.windows(2).position(|w| w == [MARK, SOS]).unwrap();
        if let Some(restart) = out[first_scan..].windows(2).position(|w| w == [MARK, 0xD0]) {
            out.splice(first_scan + restart..first_scan + restart, b"secret-before-restart".iter().copied());
        }
        out.extend(b"secret-junk-before-the-end\xFF\xD9");
        out
    }

    #[test]
    fn unused_tables_and_bytes_after_the_data_are_dropped_and_the_pixels_kept() {
        let pixels: Vec<u8> = (0..64 * 48 * 3).map(|i| (i * 7 % 256) as u8).collect();
        let mut restarted = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut restarted, 80);
        encoder.set_restart_interval(2);
        encoder.encode(&pixels, 64, 48, jpeg_encoder::ColorType::Rgb).unwrap();
        for (what, original) in [
            ("baseline", jpeg(false, jpeg_encoder::ColorType::Rgb)),
            ("progressive", jpeg(true, jpeg_encoder::ColorType::Rgb)),
            ("restart intervals", restarted),
            // libjpeg's progressive layout (successive approximation, restarts), written by libvips.
            ("refined", include_bytes!("../../tests/fixtures/progressive_refined.jpg").to_vec()),
        ] {
            let uploaded = with_uploader_bytes(&original);
            assert!(contains(&uploaded, b"secret-before-restart") == (what != "baseline" && what != "progressive"));
            let stripped = without_metadata(&uploaded, 1).unwrap_or_else(|| panic!("{what}: passed through"));
            assert!(!contains(&stripped, b"secret"), "{what}: {}", String::from_utf8_lossy(&stripped));
            assert!(stripped.ends_with(&[MARK, EOI]));
            let decode = |bytes: &[u8]| image::load_from_memory(bytes).unwrap().to_rgb8().into_raw();
            assert_eq!(decode(&stripped), decode(&original), "{what}: the same pixels");
        }
    }

    #[test]
    fn the_orientation_is_the_only_exif_tag() {
        let stripped = without_metadata(&jpeg(false, jpeg_encoder::ColorType::Rgb), 6).unwrap();
        let exif = exif::Reader::new().read_from_container(&mut Cursor::new(&stripped)).unwrap();
        let tags: Vec<_> = exif.fields().map(|field| field.tag).collect();
        assert_eq!(tags, [exif::Tag::Orientation]);
        assert_eq!(exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY).unwrap().value.get_uint(0), Some(6));
    }

    #[test]
    fn what_is_not_on_the_list_is_left_to_a_re_encoding() {
        assert_eq!(without_metadata(&jpeg(false, jpeg_encoder::ColorType::Cmyk), 1), None, "CMYK, Adobe's marker");
        let whole = jpeg(false, jpeg_encoder::ColorType::Rgb);
        assert_eq!(without_metadata(&whole[..whole.len() - 2], 1), None, "no end of image");
        assert_eq!(without_metadata(&whole[..whole.len() / 2], 1), None, "truncated");
        assert_eq!(without_metadata(b"\x89PNG\r\n", 1), None);
    }
}
