//! Whatever a client sends as a cursor, a name filter or text: the decoders never panic, and what decodes
//! encodes back to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use photoshare::catalog::keys::{CommentCursor, PhotoCursor};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // What decodes re-encodes stably (a cursor holds microseconds; finer input is truncated once).
    if let Ok(cursor) = PhotoCursor::decode(text) {
        let once = cursor.encode();
        assert_eq!(PhotoCursor::decode(&once).map(|c| c.encode()), Ok(once));
    }
    if let Ok(cursor) = CommentCursor::decode(text) {
        let once = cursor.encode();
        assert_eq!(CommentCursor::decode(&once).map(|c| c.encode()), Ok(once));
    }
    if let Ok(Some(words)) = photoshare::search::parse_query(text) {
        assert!(words.len() <= photoshare::search::MAX_QUERY_WORDS);
        let tokens = photoshare::search::tokens(&words);
        for word in &words {
            assert!(tokens.contains(&photoshare::search::lookup_token(word)));
        }
    }
    let _ = photoshare::text::single_line(text);
    let _ = photoshare::text::multi_line(text);
    let _ = photoshare::image::sniff(data);
});
