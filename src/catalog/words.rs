//! Name search as pure text rules: how names and queries become words, which tokens index a name, and when a
//! name matches a query. Case- and accent-insensitive (NFKD, combining marks dropped, full lowercasing,
//! ß = ss); punctuation separates words; each CJK character is a word of its own.

use std::collections::BTreeSet;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Query words must match a whole word, or a prefix of at least this many characters.
const MIN_PREFIX_CHARS: usize = 2;
/// Prefixes are indexed up to this length; longer query words are looked up by this prefix and checked in full.
pub const MAX_TOKEN_CHARS: usize = 10;
pub const MAX_QUERY_CHARS: usize = 200;
pub const MAX_QUERY_WORDS: usize = 8;

/// Ideographs, kana and hangul: written without spaces, so each of their letters is a word (their
/// punctuation, like ゠ or ・, separates words as any punctuation does).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// The words of `text`, normalised for matching.
pub fn words(text: &str) -> Vec<String> {
    let mut folded = String::with_capacity(text.len());
    for c in text.to_lowercase().nfkd().filter(|c| !is_combining_mark(*c)) {
        match c {
            'ß' => folded.push_str("ss"),
            c => folded.push(c),
        }
    }
    let mut words = Vec::new();
    let mut current = String::new();
    for c in folded.chars() {
        if is_cjk(c) && c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            words.push(c.to_string());
        } else if c.is_alphanumeric() {
            current.push(c);
        } else if !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Tokens one name is indexed under, at most: a rename puts the new name's entries, deletes the old one's and
/// moves a count for each token it adds or removes, besides the photo item and the feed's entry, in one
/// transaction of at most 100 items. Two names of 24 tokens with none in common make 2 + 4 × 24 = 98, so
/// every edit from any name to any other fits. (A name of 200 characters could have about 100.)
pub const MAX_NAME_TOKENS: usize = 24;

/// The index tokens of a name's words: each whole word (up to `MAX_TOKEN_CHARS`) and each prefix of
/// `MIN_PREFIX_CHARS` or more, at most `MAX_NAME_TOKENS` of them. Past that, whole words come first, in the
/// name's order, then prefixes from the shortest: a long name is found by each of its first 24 words, and
/// by as many prefixes as fit.
pub fn tokens(name_words: &[String]) -> BTreeSet<String> {
    let mut tokens = BTreeSet::new();
    let words: Vec<Vec<char>> = name_words.iter().map(|word| word.chars().collect()).collect();
    let whole = words.iter().map(|chars| chars[..chars.len().min(MAX_TOKEN_CHARS)].iter().collect::<String>());
    let prefixes = (MIN_PREFIX_CHARS..MAX_TOKEN_CHARS).flat_map(|length| {
        let words = &words;
        words.iter().filter(move |chars| chars.len() > length).map(move |chars| chars[..length].iter().collect())
    });
    for token in whole.chain(prefixes) {
        if tokens.len() == MAX_NAME_TOKENS {
            break;
        }
        tokens.insert(token);
    }
    tokens
}

/// The token a query word is looked up by.
pub fn lookup_token(query_word: &str) -> String {
    query_word.chars().take(MAX_TOKEN_CHARS).collect()
}

/// Does a name with these words match every query word (as a whole word or a long enough prefix)?
pub fn matches(query_words: &[String], name_words: &[String]) -> bool {
    query_words.iter().all(|q| {
        let prefix_ok = q.chars().count() >= MIN_PREFIX_CHARS;
        name_words.iter().any(|w| w == q || (prefix_ok && w.starts_with(q.as_str())))
    })
}

/// Why a name query is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum QueryError {
    TooLong,
    TooManyWords,
}

/// The words of a name filter: `None` for an empty (or punctuation-only) filter, which means no name filter.
pub fn parse_query(name: &str) -> Result<Option<Vec<String>>, QueryError> {
    if name.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong);
    }
    let mut query: Vec<String> = Vec::new();
    for word in words(name) {
        if !query.contains(&word) {
            query.push(word);
        }
    }
    if query.len() > MAX_QUERY_WORDS {
        return Err(QueryError::TooManyWords);
    }
    Ok((!query.is_empty()).then_some(query))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finds(query: &str, name: &str) -> bool {
        let query = parse_query(query).unwrap().unwrap();
        let name = words(name);
        // What the index offers for the lookup word must exist, and the full check must pass.
        let indexed = tokens(&name);
        query.iter().all(|q| indexed.contains(&lookup_token(q)) || !matches(std::slice::from_ref(q), &name))
            && matches(&query, &name)
    }

    #[test]
    fn words_fold_case_accents_and_punctuation() {
        assert_eq!(words("Sunset at the Pier!"), ["sunset", "at", "the", "pier"]);
        assert_eq!(words("Café-Crème, Straße"), ["cafe", "creme", "strasse"]);
        assert_eq!(words("ÉTÉ à Montréal"), ["ete", "a", "montreal"]);
        assert_eq!(words("ＳＵＮ　ｓｅｔ"), ["sun", "set"], "full-width forms");
        assert_eq!(words("海边日落 sunset2026"), ["海", "边", "日", "落", "sunset2026"]);
        assert_eq!(words("  ..,  "), Vec::<String>::new());
        assert_eq!(words("゠カメラ・写真"), ["カ", "メ", "ラ", "写", "真"], "kana punctuation separates");
    }

    #[test]
    fn words_and_prefixes_match_middles_do_not() {
        assert!(finds("sun", "Sunset at the pier"));
        assert!(finds("pier sun", "Sunset at the pier"));
        assert!(finds("SUNSET", "sunset at the pier"));
        assert!(!finds("set", "Sunset at the pier"));
        assert!(!finds("sun moon", "Sunset at the pier"));
        assert!(finds("strasse", "Straße in Köln"));
        assert!(finds("koln", "Straße in Köln"));
        assert!(finds("日落", "海边日落"));
        assert!(!finds("日出", "海边日落"));
        assert!(finds("a", "A day"), "a one-letter word matches whole");
        assert!(!finds("d", "A day"), "but one letter is no prefix");
        assert!(finds("photographers", "photographers' meeting"), "longer than the token limit");
        assert!(!finds("photographic", "photographers' meeting"));
    }

    #[test]
    fn tokens_are_whole_words_and_prefixes() {
        let tokens = tokens(&words("Sunset at"));
        let expected: BTreeSet<String> = ["su", "sun", "suns", "sunse", "sunset", "at"].map(String::from).into();
        assert_eq!(tokens, expected);
    }

    #[test]
    fn long_names_index_their_words_first_then_short_prefixes() {
        let name = "Sunset over the harbour with fishing boats returning home, gulls circling above the old lighthouse";
        let name_words = words(name);
        let indexed = tokens(&name_words);
        assert_eq!(indexed.len(), MAX_NAME_TOKENS);
        for word in name_words.iter().take(MAX_NAME_TOKENS) {
            assert!(indexed.contains(&lookup_token(word)), "{word} is found whole");
        }
        for prefix in ["su", "ov", "ha", "wi"] {
            assert!(indexed.contains(prefix), "{prefix}: the shortest prefixes next");
        }
        assert!(!indexed.contains("sun"), "no room left for longer ones");
        let widest = words(&"ab".repeat(100));
        assert!(tokens(&widest).len() <= MAX_NAME_TOKENS);
        let many = words(&(0..100).map(|n| format!("w{n}")).collect::<Vec<_>>().join(" "));
        assert_eq!(tokens(&many).len(), MAX_NAME_TOKENS, "100 words of 2 characters");
    }

    #[test]
    fn queries_are_bounded() {
        assert_eq!(parse_query("   "), Ok(None));
        assert_eq!(
            parse_query("a b c d e f g h"),
            Ok(Some(["a", "b", "c", "d", "e", "f", "g", "h"].map(String::from).to_vec()))
        );
        assert_eq!(parse_query("a b c d e f g h i"), Err(QueryError::TooManyWords));
        assert_eq!(parse_query(&"x".repeat(201)), Err(QueryError::TooLong));
        assert_eq!(parse_query("sun Sun SUN"), Ok(Some(vec!["sun".to_string()])));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn every_word_and_long_prefix_of_a_name_finds_it(name in "\\PC{0,60}") {
                let name_words = words(&name);
                let indexed = tokens(&name_words);
                prop_assert!(indexed.len() <= MAX_NAME_TOKENS);
                if indexed.len() == MAX_NAME_TOKENS {
                    // Not all of them fit: its first words are found whole.
                    for word in name_words.iter().take(MAX_NAME_TOKENS) {
                        prop_assert!(indexed.contains(&lookup_token(word)), "{word:?} not indexed");
                    }
                    return Ok(());
                }
                for word in &name_words {
                    prop_assert!(!word.is_empty() && word.chars().all(char::is_alphanumeric));
                    prop_assert!(indexed.contains(&lookup_token(word)), "{word:?} not indexed");
                    prop_assert!(matches(std::slice::from_ref(word), &name_words));
                    let prefix: String = word.chars().take(2).collect();
                    if prefix.chars().count() == 2 {
                        prop_assert!(indexed.contains(&lookup_token(&prefix)));
                    }
                }
            }
        }
    }
}
