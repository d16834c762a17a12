//! Cleaning user-provided text before it is stored: no control characters, no bidirectional overrides,
//! trimmed, bounded; and quoting what a client sent back to it in error messages, briefly.

pub const NAME_MAX_CHARS: usize = 200;
pub const DESCRIPTION_MAX_CHARS: usize = 2_000;
/// Characters of a client's input an error message repeats.
pub const QUOTED_MAX_CHARS: usize = 80;

/// Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they reorder the text
/// that follows, so "hi \u{202e}evil" shows as "hi live". The marks (U+200E, U+200F) only hint a direction
/// and stay: right-to-left writing uses them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing: spaces, zero-width and format characters, fillers, variation selectors.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{034f}'
                | '\u{061c}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{17b4}'
                | '\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2060}'..='\u{206f}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// True when `text` has nothing a reader would see (empty included).
pub fn is_blank(text: &str) -> bool {
    text.chars().all(is_invisible)
}

/// One line of text: control characters (newlines included) become spaces, runs of spaces stay, bidi
/// controls go, ends trimmed.
pub fn single_line(text: &str) -> String {
    text.chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Text that may span lines: newlines and tabs stay (CRLF becomes LF), other control characters and bidi
/// controls go.
pub fn multi_line(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
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
    fn quotes_are_short() {
        assert_eq!(quote("abc"), "\"abc\"");
        let long = "x".repeat(5_000);
        let quoted = quote(&long);
        assert_eq!(quoted.chars().count(), QUOTED_MAX_CHARS + 3, "80 characters, two quotes and an ellipsis");
        assert!(quote(&"é".repeat(100)).ends_with("\"…"), "cut on a character boundary");
    }
}
