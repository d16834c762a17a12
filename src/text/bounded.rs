//! The texts users write, one type per kind: a photo's name (one line), its description and a comment's body
//! (lines kept). Each holds its text in a private field and is built only by `parse`, which cleans the text
//! (`single_line`, `multi_line`) and refuses what is empty, shows nothing or is too long, with the message a
//! client sees (`TextError`'s `Display`). So a name, description or body that reached the catalog was checked.
//!
//! Lengths count Unicode scalar values (Rust `char`s: an emoji with a skin tone is two, an "é" written as
//! "e" + U+0301 is two) after cleaning. Text is kept as sent: it is not normalized (search words are, in
//! `catalog::words`).

use std::fmt;

use super::{is_blank, multi_line, single_line};

/// Why a text was refused; `Display` gives the message for the client (what to fix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextError {
    kind: Kind,
    problem: Problem,
}

/// Which text it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Name,
    Description,
    Body,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    /// Nothing left after cleaning.
    Empty,
    /// Only characters that show nothing (`is_blank`).
    Invisible,
    /// More characters than the kind allows, counted after cleaning.
    TooLong { chars: usize },
}

impl TextError {
    /// Nothing was left after cleaning: where a text is optional, that means none (`unless_empty`).
    pub fn is_empty(&self) -> bool {
        self.problem == Problem::Empty
    }
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.problem) {
            (Kind::Name, Problem::Empty) => f.write_str("name cannot be empty: leave it out to keep the name"),
            (Kind::Name, Problem::Invisible) => {
                f.write_str("name has no visible characters: give it letters, digits or symbols")
            }
            (Kind::Name, Problem::TooLong { .. }) => {
                write!(f, "name must be at most {} characters", PhotoName::MAX_CHARS)
            }
            (Kind::Description, Problem::Empty) => f.write_str("description is empty: leave it out or write some"),
            (Kind::Description, Problem::Invisible) => {
                f.write_str("description has no visible characters: leave it out or write some")
            }
            (Kind::Description, Problem::TooLong { .. }) => {
                write!(f, "description must be at most {} characters", PhotoDescription::MAX_CHARS)
            }
            (Kind::Body, Problem::Invisible) => {
                f.write_str("body has no visible characters: write something a reader can see")
            }
            (Kind::Body, Problem::Empty) => write!(f, "{}, not 0", body_length_rule()),
            (Kind::Body, Problem::TooLong { chars }) => write!(f, "{}, not {chars}", body_length_rule()),
        }
    }
}

fn body_length_rule() -> String {
    format!("body must be 1 to {} characters after trimming", CommentText::MAX_CHARS)
}

impl std::error::Error for TextError {}

/// An optional text: `None` when nothing was left after cleaning, the text or its other refusal otherwise.
pub fn unless_empty<T>(parsed: Result<T, TextError>) -> Result<Option<T>, TextError> {
    match parsed {
        Err(error) if error.is_empty() => Ok(None),
        parsed => parsed.map(Some),
    }
}

/// `cleaned` if it has something visible and at most `max` characters.
fn bounded(kind: Kind, cleaned: String, max: usize) -> Result<String, TextError> {
    let problem = if cleaned.is_empty() {
        Problem::Empty
    } else if is_blank(&cleaned) {
        Problem::Invisible
    } else {
        match cleaned.chars().count() {
            chars if chars > max => Problem::TooLong { chars },
            _ => return Ok(cleaned),
        }
    };
    Err(TextError { kind, problem })
}

/// The accessors every bounded text has: the text, read only.
macro_rules! read_only_text {
    ($type:ident) => {
        impl $type {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $type {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A photo's name: one line (controls and line separators become spaces, bidi controls go, ends trimmed),
/// something visible, at most `MAX_CHARS` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoName(String);

impl PhotoName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(text: &str) -> Result<Self, TextError> {
        bounded(Kind::Name, single_line(text), Self::MAX_CHARS).map(Self)
    }
}

read_only_text!(PhotoName);

/// A photo's description: lines kept (CRLF and line or paragraph separators become LF, tabs stay, other
/// controls and bidi controls go, ends trimmed), something visible, at most `MAX_CHARS` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoDescription(String);

impl PhotoDescription {
    pub const MAX_CHARS: usize = 2_000;

    pub fn parse(text: &str) -> Result<Self, TextError> {
        bounded(Kind::Description, multi_line(text), Self::MAX_CHARS).map(Self)
    }
}

read_only_text!(PhotoDescription);

/// A comment's body: cleaned as a description is, something visible, 1 to `MAX_CHARS` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentText(String);

impl CommentText {
    pub const MAX_CHARS: usize = 2_000;

    pub fn parse(text: &str) -> Result<Self, TextError> {
        bounded(Kind::Body, multi_line(text), Self::MAX_CHARS).map(Self)
    }
}

read_only_text!(CommentText);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn name(text: &str) -> Result<String, String> {
        PhotoName::parse(text).map(PhotoName::into_string).map_err(|error| error.to_string())
    }

    fn description(text: &str) -> Result<String, String> {
        PhotoDescription::parse(text).map(PhotoDescription::into_string).map_err(|error| error.to_string())
    }

    fn body(text: &str) -> Result<String, String> {
        CommentText::parse(text).map(CommentText::into_string).map_err(|error| error.to_string())
    }

    #[test]
    fn names_are_one_trimmed_line() {
        assert_eq!(name("  Sunset \n at the\tpier  ").unwrap(), "Sunset   at the pier");
        assert_eq!(name("sun\u{2028}set\u{2029}").unwrap(), "sun set", "line and paragraph separators");
        assert_eq!(name("hi \u{202e}evil\u{202c}").unwrap(), "hi evil", "bidi overrides go");
        assert_eq!(name("שלום\u{200f} world").unwrap(), "שלום\u{200f} world", "direction marks stay");
        assert_eq!(name("日落 🌅").unwrap(), "日落 🌅");
    }

    #[test]
    fn descriptions_and_bodies_keep_their_lines() {
        assert_eq!(description(" first\r\nsecond\u{7}\tthird \n").unwrap(), "first\nsecond\tthird");
        assert_eq!(description("a\u{2028}b\u{2029}c").unwrap(), "a\nb\nc");
        assert_eq!(body("  nice\u{2066} shot\u{2069}\r\nreally ").unwrap(), "nice shot\nreally");
    }

    #[test]
    fn empty_text_is_refused_or_none_where_optional() {
        assert_eq!(name(" \n\t ").unwrap_err(), "name cannot be empty: leave it out to keep the name");
        assert_eq!(body(" \r\n ").unwrap_err(), "body must be 1 to 2000 characters after trimming, not 0");
        assert_eq!(unless_empty(PhotoDescription::parse("\u{202e} \n")), Ok(None), "bidi controls and space");
        assert!(unless_empty(PhotoName::parse("x")).unwrap().is_some());
        assert!(unless_empty(PhotoName::parse("\u{200b}")).is_err(), "invisible is not empty");
    }

    #[test]
    fn text_showing_nothing_is_refused_by_general_category() {
        let name_refusal = "name has no visible characters: give it letters, digits or symbols";
        // Cf (zero-width, BOM, word joiner), a Hangul filler, Zs, musical and shorthand format controls.
        for invisible in ["\u{200b}\u{200d} \u{3164}", "\u{feff}\u{2060}", "\u{1d173}\u{1bca0}\u{fff9}\u{3000}"] {
            assert_eq!(name(invisible).unwrap_err(), name_refusal, "{invisible:?}");
            assert!(description(invisible).unwrap_err().starts_with("description has no visible"), "{invisible:?}");
            assert!(body(invisible).unwrap_err().starts_with("body has no visible"), "{invisible:?}");
        }
        assert_eq!(name("\u{e000}\u{fe0f}").unwrap_err(), name_refusal, "private use and a variation selector");
        assert_eq!(
            body("\u{200b}\n\u{feff}").unwrap_err(),
            "body has no visible characters: write something a reader can see"
        );
        assert_eq!(name("\u{200b}a").unwrap(), "\u{200b}a", "one visible character is enough");
        assert_eq!(name("\u{301}").unwrap(), "\u{301}", "a combining accent alone draws a mark");
        assert_eq!(name("👍🏽").unwrap(), "👍🏽", "an emoji with a skin tone modifier shows");
    }

    #[test]
    fn limits_count_characters_after_cleaning() {
        assert_eq!(name(&"n".repeat(200)).unwrap().len(), 200);
        assert_eq!(name(&"n".repeat(201)).unwrap_err(), "name must be at most 200 characters");
        assert!(name(&format!("  {}  \n", "n".repeat(200))).is_ok(), "trimmed before counting");
        assert!(name(&format!("{}\u{202e}", "é".repeat(200))).is_ok(), "characters, not bytes; bidi gone first");
        assert!(name(&"👍🏽".repeat(100)).is_ok(), "an emoji with a modifier is two characters");
        assert!(name(&"👍🏽".repeat(101)).is_err());
        assert!(name(&"e\u{301}".repeat(100)).is_ok(), "a combining mark is a character of its own");
        assert!(name(&"e\u{301}".repeat(101)).is_err(), "and it is not composed (no NFC) to fit");
        assert_eq!(name("e\u{301}").unwrap(), "e\u{301}", "kept as sent");
        assert!(description(&"d".repeat(2_000)).is_ok());
        assert_eq!(description(&"d".repeat(2_001)).unwrap_err(), "description must be at most 2000 characters");
        assert!(body(&"é".repeat(2_000)).is_ok());
        assert_eq!(body(&"é".repeat(2_001)).unwrap_err(), "body must be 1 to 2000 characters after trimming, not 2001");
        assert_eq!(name(&"\u{200b}".repeat(3_000)).unwrap_err(), name("\u{200b}").unwrap_err(), "invisible first");
    }

    proptest! {
        /// What `parse` keeps parses again to itself (a stored text reads back as written), and a one-line
        /// name never holds a line break or a control character.
        #[test]
        fn parsing_is_idempotent(text in "\\PC{0,40}|[ \\t\\r\\n\u{2028}\u{2029}\u{202e}a-zé\u{301}]{0,40}") {
            if let Ok(parsed) = PhotoName::parse(&text) {
                prop_assert_eq!(PhotoName::parse(parsed.as_str()), Ok(parsed.clone()));
                let breaks = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
                prop_assert!(!parsed.as_str().chars().any(breaks), "one line: {:?}", parsed);
            }
            if let Ok(parsed) = PhotoDescription::parse(&text) {
                prop_assert_eq!(PhotoDescription::parse(parsed.as_str()), Ok(parsed.clone()));
            }
            if let Ok(parsed) = CommentText::parse(&text) {
                prop_assert_eq!(CommentText::parse(parsed.as_str()), Ok(parsed.clone()));
            }
        }
    }
}
