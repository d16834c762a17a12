//! The few EXIF fields the API keeps of a photo: when it was taken (`takenAt`) and the camera (`camera`), read
//! with `kamadak-exif` and checked, since cameras write absurd values (unset clocks, padded names). Read
//! leniently: the fields that parse are kept when others do not (piexif, which many Python tools use, writes
//! a next-IFD pointer in the Exif sub-IFD, and a strict read refuses the whole block for it).

use chrono::{DateTime, NaiveDateTime, Utc};

/// When the photo was taken (only with its UTC offset: a local time alone names no instant) and the camera.
pub fn read(tiff: Vec<u8>) -> (Option<DateTime<Utc>>, Option<String>) {
    let read = exif::Reader::new().continue_on_error(true).read_raw(tiff);
    let Ok(exif) = read.or_else(|error| error.distill_partial_result(|_| {})) else { return (None, None) };
    let text = |tag: exif::Tag| -> Option<String> {
        let field = exif.get_field(tag, exif::In::PRIMARY)?;
        match &field.value {
            exif::Value::Ascii(parts) => {
                let joined: Vec<u8> =
                    parts.first()?.iter().copied().filter(|b| b.is_ascii_graphic() || *b == b' ').collect();
                let value = String::from_utf8(joined).ok()?.trim().to_string();
                (!value.is_empty()).then_some(value)
            }
            _ => None,
        }
    };
    let taken_at =
        text(exif::Tag::DateTimeOriginal).zip(text(exif::Tag::OffsetTimeOriginal)).and_then(|(at, offset)| {
            let local = NaiveDateTime::parse_from_str(&at, "%Y:%m:%d %H:%M:%S").ok()?;
            let zoned = DateTime::parse_from_str(
                &format!("{} {offset}", local.format("%Y-%m-%d %H:%M:%S")),
                "%Y-%m-%d %H:%M:%S %:z",
            )
            .ok()?;
            let utc = zoned.with_timezone(&Utc);
            // Cameras with an unset clock write 0000 or 1970; nothing was photographed before 1826.
            (utc.format("%Y").to_string().parse::<i32>().is_ok_and(|year| year >= 1826)
                && utc <= Utc::now() + chrono::Duration::days(1))
            .then_some(utc)
        });
    let make = text(exif::Tag::Make);
    let model = text(exif::Tag::Model);
    let camera = match (make, model) {
        (Some(make), Some(model)) if model.to_lowercase().starts_with(&make.to_lowercase()) => Some(model),
        (Some(make), Some(model)) => Some(format!("{make} {model}")),
        (make, model) => make.or(model),
    };
    (taken_at, camera.map(|c| c.chars().take(100).collect()))
}

/// EXIF blocks for the tests of this module and of renditions.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::Cursor;

    pub fn exif(fields: &[exif::Field]) -> Vec<u8> {
        let mut writer = exif::experimental::Writer::new();
        for field in fields {
            writer.push_field(field);
        }
        let mut tiff = Cursor::new(Vec::new());
        writer.write(&mut tiff, false).unwrap();
        tiff.into_inner()
    }

    pub fn ascii(tag: exif::Tag, text: &str) -> exif::Field {
        exif::Field { tag, ifd_num: exif::In::PRIMARY, value: exif::Value::Ascii(vec![text.as_bytes().to_vec()]) }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{ascii, exif};
    use super::*;

    #[test]
    fn a_local_time_without_its_offset_names_no_instant() {
        let fields = [ascii(exif::Tag::DateTimeOriginal, "2026:11:28 18:30:00")];
        assert_eq!(read(exif(&fields)).0, None);
        let fields =
            [ascii(exif::Tag::DateTimeOriginal, "2026:11:28 18:30:00"), ascii(exif::Tag::OffsetTimeOriginal, "-03:00")];
        assert_eq!(read(exif(&fields)).0.map(|t| t.to_rfc3339()), Some("2026-11-28T21:30:00+00:00".into()));
    }

    #[test]
    fn fields_are_kept_when_another_part_of_the_block_is_irregular() {
        let fields = [
            ascii(exif::Tag::Make, "Canon"),
            ascii(exif::Tag::Model, "EOS R5"),
            ascii(exif::Tag::DateTimeOriginal, "2026:11:28 18:30:00"),
            ascii(exif::Tag::OffsetTimeOriginal, "+01:00"),
        ];
        let mut tiff = exif(&fields);
        // As piexif writes it: the Exif sub-IFD (found through IFD0's tag 0x8769) with a next-IFD pointer.
        let (u16_at, u32_at) = (
            |t: &[u8], at: usize| usize::from(u16::from_be_bytes([t[at], t[at + 1]])),
            |t: &[u8], at: usize| u32::from_be_bytes([t[at], t[at + 1], t[at + 2], t[at + 3]]) as usize,
        );
        assert_eq!(&tiff[..2], b"MM");
        let ifd0 = u32_at(&tiff, 4);
        let pointer = (0..u16_at(&tiff, ifd0)).map(|i| ifd0 + 2 + 12 * i).find(|&e| u16_at(&tiff, e) == 0x8769);
        let sub_ifd = u32_at(&tiff, pointer.unwrap() + 8);
        let next = sub_ifd + 2 + 12 * u16_at(&tiff, sub_ifd);
        tiff[next..next + 4].copy_from_slice(&8u32.to_be_bytes());
        assert!(exif::Reader::new().read_raw(tiff.clone()).is_err(), "a strict read refuses it");
        let (taken_at, camera) = read(tiff);
        assert_eq!(taken_at.map(|t| t.to_rfc3339()), Some("2026-11-28T17:30:00+00:00".into()));
        assert_eq!(camera.as_deref(), Some("Canon EOS R5"));
    }
}
