//! Photos made by the tests: phone-like JPEGs (EXIF as phones lay it out: IFD0 with orientation and camera,
//! the Exif IFD with the capture time, a GPS IFD, IFD1 with a thumbnail; or as piexif, which many Python
//! tools use, writes it), with a serial number and an XMP packet, PNGs (with alpha, 16-bit) and WebPs, with a red top-left corner so the orientation of
//! what comes back can be checked, and a look at served bytes for any metadata left.

use std::io::Cursor;

use exif::{Field, In, Rational, Tag, Value};

/// What every test photo says about itself; none of it may come back in served bytes.
pub const SERIAL: &str = "SN-4711-SECRET";
pub const XMP_MARK: &str = "photoshare-xmp-location";

/// Pixels of `width` x `height`: a gradient, with the top-left eighth pure red.
fn pixels(width: u32, height: u32) -> Vec<u8> {
    let mut rgb = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            if x < width / 4 && y < height / 4 {
                rgb.extend([255, 0, 0]);
            } else {
                rgb.extend([(x * 255 / width) as u8 / 4, (y * 255 / height) as u8, 200]);
            }
        }
    }
    rgb
}

/// The EXIF block of a phone photo taken on 2026-11-28 at 18:30 in India (+05:30), at a GPS position: IFD0
/// (orientation, make, model), the Exif IFD (capture time and offset, serial), the GPS IFD and IFD1 (a
/// thumbnail), as kamadak-exif's writer places each tag.
fn phone_exif(orientation: u16) -> Vec<u8> {
    let ascii = |text: &str| Value::Ascii(vec![text.as_bytes().to_vec()]);
    // Degrees, minutes and hundredths of a second of arc, as GPS tags hold them.
    let degrees = |d: u32, m: u32, s: u32| {
        Value::Rational(vec![
            Rational { num: d, denom: 1 },
            Rational { num: m, denom: 1 },
            Rational { num: s, denom: 100 },
        ])
    };
    let fields = [
        Field { tag: Tag::Orientation, ifd_num: In::PRIMARY, value: Value::Short(vec![orientation]) },
        Field { tag: Tag::Make, ifd_num: In::PRIMARY, value: ascii("Google") },
        Field { tag: Tag::Model, ifd_num: In::PRIMARY, value: ascii("Pixel 8") },
        Field { tag: Tag::DateTimeOriginal, ifd_num: In::PRIMARY, value: ascii("2026:11:28 18:30:00") },
        Field { tag: Tag::OffsetTimeOriginal, ifd_num: In::PRIMARY, value: ascii("+05:30") },
        Field { tag: Tag::BodySerialNumber, ifd_num: In::PRIMARY, value: ascii(SERIAL) },
        Field { tag: Tag::GPSLatitudeRef, ifd_num: In::PRIMARY, value: ascii("N") },
        Field { tag: Tag::GPSLatitude, ifd_num: In::PRIMARY, value: degrees(12, 58, 1234) },
        Field { tag: Tag::GPSLongitudeRef, ifd_num: In::PRIMARY, value: ascii("E") },
        Field { tag: Tag::GPSLongitude, ifd_num: In::PRIMARY, value: degrees(77, 35, 4321) },
        Field { tag: Tag::Compression, ifd_num: In::THUMBNAIL, value: Value::Short(vec![6]) },
    ];
    let mut thumbnail = Vec::new();
    jpeg_encoder::Encoder::new(&mut thumbnail, 70)
        .encode(&pixels(160, 120), 160, 120, jpeg_encoder::ColorType::Rgb)
        .expect("thumbnail encoded");
    let mut writer = exif::experimental::Writer::new();
    for field in &fields {
        writer.push_field(field);
    }
    writer.set_jpeg(&thumbnail, In::THUMBNAIL);
    let mut tiff = Cursor::new(Vec::new());
    writer.write(&mut tiff, false).expect("EXIF written");
    tiff.into_inner()
}

/// `tiff` as piexif lays it out: the Exif sub-IFD ends with a pointer to a next IFD (here IFD1's offset), which
/// the TIFF spec leaves to IFD0 alone.
fn piexif_layout(mut tiff: Vec<u8>) -> Vec<u8> {
    let u16_at = |t: &[u8], at: usize| usize::from(u16::from_be_bytes([t[at], t[at + 1]]));
    let u32_at = |t: &[u8], at: usize| u32::from_be_bytes([t[at], t[at + 1], t[at + 2], t[at + 3]]) as usize;
    assert_eq!(&tiff[..2], b"MM", "big-endian, as written above");
    let ifd0 = u32_at(&tiff, 4);
    let ifd0_end = ifd0 + 2 + 12 * u16_at(&tiff, ifd0);
    let exif_pointer = (ifd0 + 2..ifd0_end).step_by(12).find(|&entry| u16_at(&tiff, entry) == 0x8769);
    let exif_ifd = u32_at(&tiff, exif_pointer.expect("an Exif IFD") + 8);
    let next = exif_ifd + 2 + 12 * u16_at(&tiff, exif_ifd);
    let ifd1 = tiff[ifd0_end..ifd0_end + 4].to_vec();
    assert_ne!(ifd1, [0; 4], "an IFD1");
    tiff[next..next + 4].copy_from_slice(&ifd1);
    tiff
}

/// A phone-like JPEG: `width` x `height` as stored, EXIF `orientation`, GPS, camera, serial, capture time, XMP,
/// an ICC profile, and a second image after the end.
pub fn phone_jpeg(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    jpeg_with_exif(width, height, &phone_exif(orientation))
}

/// The same phone photo (orientation 1) after a Python tool rewrote its EXIF with piexif.
pub fn piexif_jpeg(width: u32, height: u32) -> Vec<u8> {
    jpeg_with_exif(width, height, &piexif_layout(phone_exif(1)))
}

fn jpeg_with_exif(width: u32, height: u32, exif: &[u8]) -> Vec<u8> {
    let mut jpeg = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 90);
    encoder.add_exif_metadata(exif).expect("EXIF fits");
    let xmp = format!(
        "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF><rdf:Description \
         exif:GPSLatitude=\"12,58.2N\" photoshare:mark=\"{XMP_MARK}\"/></rdf:RDF></x:xmpmeta>"
    );
    encoder.add_app_segment(1, xmp.into_bytes()).expect("XMP fits");
    // A colour profile naming the device, as some cameras embed.
    let mut profile = vec![0u8; 128];
    profile.extend_from_slice(format!("desc Google Pixel 8 camera {SERIAL}").as_bytes());
    encoder.add_icc_profile(&profile).expect("ICC fits");
    encoder.encode(&pixels(width, height), width as u16, height as u16, jpeg_encoder::ColorType::Rgb).expect("encoded");
    // After the end of the image, as phones append a gain map or a motion clip: a second JPEG with its own EXIF.
    jpeg.extend(b"\xFF\xD8\xFF\xE1\x00\x20Exif\0\0");
    jpeg.extend(format!("{SERIAL} Pixel 8 trailer").as_bytes());
    jpeg.extend(b"\xFF\xD9");
    jpeg
}

/// A PNG with an alpha channel, 16 bits per channel.
pub fn png_16_bit_with_alpha(width: u32, height: u32) -> Vec<u8> {
    let rgb = pixels(width, height);
    let image = image::ImageBuffer::<image::Rgba<u16>, _>::from_fn(width, height, |x, y| {
        let i = ((y * width + x) * 3) as usize;
        let alpha = if x >= width / 2 { 0 } else { u16::MAX };
        image::Rgba([u16::from(rgb[i]) * 257, u16::from(rgb[i + 1]) * 257, u16::from(rgb[i + 2]) * 257, alpha])
    });
    let mut png = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba16(image).write_to(&mut png, image::ImageFormat::Png).expect("PNG encoded");
    png.into_inner()
}

/// A lossless WebP.
pub fn webp(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_raw(width, height, pixels(width, height)).expect("pixels");
    let mut webp = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image).write_to(&mut webp, image::ImageFormat::WebP).expect("WebP encoded");
    webp.into_inner()
}

/// A PNG that says it is `width` x `height` (a decompression bomb when large): a real header, a tiny body.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image::RgbImage::new(8, 8)).write_to(&mut png, image::ImageFormat::Png).unwrap();
    let mut bytes = png.into_inner();
    // IHDR's width and height, then its CRC, recomputed.
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// A lossless WebP whose header says it is `width` x `height` (at most 16384 a side) over an 8x8 body: what
/// `completeUpload` reads of it is what a 38-byte bomb of that size shows.
pub fn webp_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = webp(8, 8);
    assert_eq!((&bytes[12..16], bytes[20]), (&b"VP8L"[..], 0x2F), "a lossless WebP");
    // VP8L's 14-bit width and height less one, then the alpha hint and version bits, kept.
    let bits = u32::from_le_bytes([bytes[21], bytes[22], bytes[23], bytes[24]]);
    let bits = (bits & !0x0FFF_FFFF) | (width - 1) | (height - 1) << 14;
    bytes[21..25].copy_from_slice(&bits.to_le_bytes());
    bytes
}

/// A progressive JPEG whose frame header says it is `width` x `height` over an 8x8 body.
pub fn progressive_jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 90);
    encoder.set_progressive(true);
    encoder.encode(&pixels(8, 8), 8, 8, jpeg_encoder::ColorType::Rgb).expect("encoded");
    let sof = jpeg.windows(2).position(|marker| marker == [0xFF, 0xC2]).expect("a progressive frame header");
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// What served bytes are as a browser shows them (EXIF orientation applied): their size, where the red corner
/// is, and any metadata left in them.
pub struct Served {
    pub width: u32,
    pub height: u32,
    /// The red corner, if the photo has one: (right half, bottom half).
    pub red_corner: Option<(bool, bool)>,
    /// EXIF tags other than the orientation (which the contract allows as the only one).
    pub exif_beyond_orientation: Vec<Tag>,
    pub metadata_left: Vec<&'static str>,
}

pub fn inspect(bytes: &[u8]) -> Served {
    let exif = exif::Reader::new().read_from_container(&mut Cursor::new(bytes)).ok();
    let orientation = exif
        .as_ref()
        .and_then(|exif| exif.get_field(Tag::Orientation, In::PRIMARY)?.value.get_uint(0))
        .and_then(|value| image::metadata::Orientation::from_exif(value as u8))
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let exif_beyond_orientation =
        exif.iter().flat_map(|exif| exif.fields()).map(|field| field.tag).filter(|tag| *tag != Tag::Orientation);
    let exif_beyond_orientation = exif_beyond_orientation.collect();
    let mut image = image::load_from_memory(bytes).expect("served bytes decode");
    image.apply_orientation(orientation);
    let image = image.to_rgb8();
    let (width, height) = image.dimensions();
    let mut reds = (0u64, 0u64, 0u64);
    for (x, y, pixel) in image.enumerate_pixels() {
        if pixel[0] > 200 && pixel[1] < 60 && pixel[2] < 60 {
            reds = (reds.0 + u64::from(x), reds.1 + u64::from(y), reds.2 + 1);
        }
    }
    let red_corner =
        (reds.2 > 0).then(|| (reds.0 / reds.2 > u64::from(width / 2), reds.1 / reds.2 > u64::from(height / 2)));
    let text = String::from_utf8_lossy(bytes);
    let metadata_left = [
        ("serial", SERIAL),
        ("XMP", XMP_MARK),
        ("XMP namespace", "ns.adobe.com/xap"),
        ("ICC profile", "ICC_PROFILE"),
        ("camera name", "Pixel 8"),
    ]
    .into_iter()
    .filter(|(_, needle)| text.contains(needle))
    .map(|(what, _)| what)
    .collect();
    Served { width, height, red_corner, exif_beyond_orientation, metadata_left }
}
