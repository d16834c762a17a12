//! How the embedded table lays out keys and items in redb: `pk \0 sk` item keys, index entries after their
//! index keys, items as postcard (older JSON items still read), and a query as a byte-string range.

use std::ops::Bound;

use crate::table::*;

pub(super) const SEP: char = '\0';
/// The byte after `SEP`: an exclusive upper bound for everything that continues with `SEP`.
pub(super) const AFTER_SEP: char = '\u{1}';

pub(super) fn internal(e: impl Into<anyhow::Error>) -> TableError {
    TableError::Internal(e.into())
}

pub(super) fn check_key_part(part: &str) -> TableResult<()> {
    if part.contains(SEP) {
        return Err(internal(anyhow::anyhow!("key part contains NUL: {part:?}")));
    }
    Ok(())
}

pub(super) fn item_key(key: &Key) -> TableResult<String> {
    check_key_part(&key.pk)?;
    check_key_part(&key.sk)?;
    Ok(format!("{}{SEP}{}", key.pk, key.sk))
}

pub(super) fn index_entry(item: &Item) -> TableResult<Option<String>> {
    let (Some(gpk), Some(gsk)) = (item.opt_string(GSI1_PK), item.opt_string(GSI1_SK)) else {
        return Ok(None);
    };
    check_key_part(gpk)?;
    check_key_part(gsk)?;
    let key = key_of(item).map_err(internal)?;
    Ok(Some(format!("{gpk}{SEP}{gsk}{SEP}{}", item_key(&key)?)))
}

/// The first byte of an item stored with postcard (a compact binary serde format: decoding a page of items
/// as JSON was a seventh of a gallery request's CPU time). Items stored by earlier versions are JSON objects,
/// which start with `{`, and are still read.
pub(super) const POSTCARD: u8 = 1;

pub(super) fn decode(bytes: &[u8]) -> TableResult<Item> {
    match bytes.split_first() {
        Some((&POSTCARD, rest)) => postcard::from_bytes(rest).map_err(internal),
        _ => serde_json::from_slice(bytes).map_err(internal),
    }
}

/// `decode`, with the attributes named in `only` alone: the others are read past without being copied (a
/// gallery page's index entries are five strings, of which the catalog reads two).
pub(super) fn decode_only(bytes: &[u8], only: &[&str]) -> TableResult<Item> {
    use serde::de::DeserializeSeed;
    let Some((&POSTCARD, rest)) = bytes.split_first() else {
        let mut item = decode(bytes)?;
        item.retain(|name, _| only.contains(&name.as_str()));
        return Ok(item);
    };
    Only(only).deserialize(&mut postcard::Deserializer::from_bytes(rest)).map_err(internal)
}

/// An attribute value as stored, borrowed from the bytes: `Value`'s layout.
#[derive(serde::Deserialize)]
enum Borrowed<'a> {
    S(&'a str),
    N(i64),
}

/// Reads an item, keeping the attributes it names.
struct Only<'a>(&'a [&'a str]);

impl<'de> serde::de::DeserializeSeed<'de> for Only<'_> {
    type Value = Item;
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Item, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Only<'_> {
    type Value = Item;
    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an item")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
        let mut item = Item::new();
        while let Some((name, value)) = map.next_entry::<&'de str, Borrowed<'de>>()? {
            if self.0.contains(&name) {
                let value = match value {
                    Borrowed::S(text) => Value::S(text.to_string()),
                    Borrowed::N(number) => Value::N(number),
                };
                item.insert(name.to_string(), value);
            }
        }
        Ok(item)
    }
}

pub(super) fn encode(item: &Item) -> TableResult<Vec<u8>> {
    postcard::to_extend(item, vec![POSTCARD]).map_err(internal)
}

/// The byte-string range of `query` in the items or index table, start key applied.
pub(super) fn query_range(query: &Query) -> TableResult<(Bound<String>, Bound<String>)> {
    check_key_part(&query.pk)?;
    let prefix = format!("{}{SEP}", query.pk);
    let lower = match &query.sk_from {
        Some(from) => Bound::Included(format!("{prefix}{from}")),
        None => Bound::Included(prefix.clone()),
    };
    let upper = match &query.sk_to {
        Some(to) => Bound::Excluded(format!("{prefix}{to}{AFTER_SEP}")),
        None => Bound::Excluded(format!("{}{AFTER_SEP}", query.pk)),
    };
    let Some(start) = &query.start_after else {
        return Ok((lower, upper));
    };
    let start = match query.index {
        Index::Table => item_key(&key_of(start).map_err(internal)?)?,
        Index::Gsi1 => index_entry(start)?.ok_or_else(|| internal(anyhow::anyhow!("start key lacks index keys")))?,
    };
    // Narrow the range to after (or before, when descending) the start key.
    Ok(if query.descending {
        let narrower = match &upper {
            Bound::Excluded(u) | Bound::Included(u) => start < *u,
            Bound::Unbounded => true,
        };
        (lower, if narrower { Bound::Excluded(start) } else { upper })
    } else {
        let narrower = match &lower {
            Bound::Included(l) => start >= *l,
            Bound::Excluded(l) => start > *l,
            Bound::Unbounded => true,
        };
        (if narrower { Bound::Excluded(start) } else { lower }, upper)
    })
}
