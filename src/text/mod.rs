//! Text from users: cleaning it before it is stored (no control characters, no bidirectional overrides,
//! trimmed), the bounded kinds built from it (`bounded`: a photo's name and description, a comment's body),
//! and quoting what a client sent back to it in error messages, briefly. A leaf below the catalog, so the
//! catalog takes the checked kinds too (as it takes `image_format`'s).

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

mod bounded;

pub use bounded::{CommentText, PhotoDescription, PhotoName, TextError, unless_empty};

/// Characters of a client's input an error message repeats.
pub const QUOTED_MAX_CHARS: usize = 80;

/// Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they reorder the text
/// that follows, so "hi \u{202e}evil" shows as "hi live". The marks (U+200E, U+200F) only hint a direction
/// and stay: right-to-left writing uses them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing, by their Unicode General_Category: controls (Cc), format characters (Cf:
/// zero-width, bidi, beam and annotation controls, hieroglyph joiners…), surrogates (Cs), private use (Co),
/// unassigned code points (Cn) and separators (Zs, Zl, Zp). A few letters and marks also draw nothing but
/// have another category (Default_Ignorable_Code_Point, which the crate has no table for): the Hangul
/// fillers, the combining grapheme joiner, Khmer's inherent vowels, Mongolian and other variation selectors;
/// they are listed here, with the blank Braille pattern.
fn is_invisible(c: char) -> bool {
    use GeneralCategory::*;
    matches!(
        c.general_category(),
        Control | Format | Surrogate | PrivateUse | Unassigned | SpaceSeparator | LineSeparator | ParagraphSeparator
    ) || matches!(
        c,
        '\u{034f}'
            | '\u{115f}'
            | '\u{1160}'
            | '\u{17b4}'
            | '\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{ffa0}'
            | '\u{e0100}'..='\u{e01ef}'
    )
}

/// U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR (the only Zl and Zp characters): they break a line
/// as a newline does, though they are not control characters.
fn is_line_break(c: char) -> bool {
    matches!(c.general_category(), GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator)
}

/// True when `text` has nothing a reader would see (empty included).
pub fn is_blank(text: &str) -> bool {
    text.chars().all(is_invisible)
}

/// One line of text: control characters and line or paragraph separators (newlines included) become
/// spaces, runs of spaces stay, bidi controls go, ends trimmed.
pub fn single_line(text: &str) -> String {
    text.chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| if c.is_control() || is_line_break(c) { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Text that may span lines: newlines and tabs stay (CRLF, line and paragraph separators become LF), other
/// control characters and bidi controls go.
pub fn multi_line(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .map(|c| if is_line_break(c) { '\n' } else { c })
        .filter(|c| (!c.is_control() || *c == '\n' || *c == '\t') && !is_bidi_control(*c))
        .collect::<String>()
        .trim()
        .to_string()
}

/// What a client sent, quoted for an error message: at most `QUOTED_MAX_CHARS` characters of it, escaped.
pub fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTED_MAX_CHARS) {
        Some((end, _)) => format!("{:?}…", &text[..end]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_survive() {
        assert_eq!(single_line("  sun\nset\u{1b}[31m \u{0} "), "sun set [31m");
        assert_eq!(multi_line(" first\r\nsecond\u{7}\tthird \n"), "first\nsecond\tthird");
        assert_eq!(single_line("日落 at the pier"), "日落 at the pier");
    }

    #[test]
    fn bidi_overrides_go_and_invisible_text_is_blank() {
        assert_eq!(single_line("hi \u{202e}evil\u{202c}"), "hi evil");
        assert_eq!(multi_line("a\u{2066}b\u{2069}\nc\u{202d}"), "ab\nc");
        assert_eq!(single_line("שלום\u{200f} world"), "שלום\u{200f} world", "marks stay");
        assert!(is_blank("\u{200b}\u{200d} \u{feff}\u{2060}\u{3164}"));
        assert!(is_blank(""));
        assert!(!is_blank("\u{200b}a"));
        assert!(!is_blank("👍🏽"), "emoji with a skin tone modifier is visible");
    }

    #[test]
    fn format_characters_alone_are_blank() {
        for invisible in [
            "\u{1d173}\u{1d174}\u{1d17a}",
            "\u{1bca0}\u{1bca3}",
            "\u{fff9}\u{fffa}\u{fffb}",
            "\u{13430}\u{13438}\u{1343f}",
            "\u{2028}\u{2029}\u{3000}\u{a0}",
            "\u{e000}\u{f8ff}",
            "\u{e0001}\u{e0020}\u{e007f}",
            "\u{e01ef}\u{fe0f}",
        ] {
            assert!(is_blank(invisible), "{invisible:?} shows nothing");
        }
        assert!(!is_blank("\u{1d173}\u{1d15e}\u{1d174}"), "a half note between beam controls shows");
        assert!(!is_blank("\u{13430}\u{13000}"), "a hieroglyph shows");
        assert!(!is_blank("\u{0301}"), "a combining accent alone still draws a mark");
    }

    #[test]
    fn line_and_paragraph_separators_break_no_name() {
        assert_eq!(single_line("sun\u{2028}set\u{2029}"), "sun set");
        assert!(!single_line("a\u{2028}b\u{2029}c").contains(['\u{2028}', '\u{2029}']));
        assert_eq!(multi_line("first\u{2028}second\u{2029}third"), "first\nsecond\nthird");
    }

    #[test]
    fn quotes_are_short() {
        assert_eq!(quote("abc"), "\"abc\"");
        let long = "x".repeat(5_000);
        let quoted = quote(&long);
        assert_eq!(quoted.chars().count(), QUOTED_MAX_CHARS + 3, "80 characters, two quotes and an ellipsis");
        assert!(quote(&"é".repeat(100)).ends_with("\"…"), "cut on a character boundary");
    }
}
