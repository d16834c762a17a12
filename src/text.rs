//! Cleaning user-provided text before it is stored: no control characters, trimmed, bounded.

pub const NAME_MAX_CHARS: usize = 200;
pub const DESCRIPTION_MAX_CHARS: usize = 2_000;

/// One line of text: control characters (newlines included) become spaces, runs of spaces stay, ends trimmed.
pub fn single_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}

/// Text that may span lines: newlines and tabs stay (CRLF becomes LF), other control characters go.
pub fn multi_line(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .trim()
        .to_string()
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
}
