//! Photo answers kept by what they are made of. A `Photo` resolved for one field of one kept document, with
//! the same variables, from an equal record, in the same view-link window, is the same JSON every time: so
//! each such answer is kept, and a request that reads the same record again takes it instead of resolving its
//! fields. A gallery page of 20 photos resolves about 200 fields; after a comment on one of them, the next page
//! resolves that photo's fields alone.
//!
//! Nothing here can go stale: the record read for this request is compared with the one the kept answer was
//! made from (all of it: a new comment, an edit or processing changes it), so this holds with the response
//! cache off too. Not kept: answers with an error in them; answers that read anything beyond the record (by
//! the field contract, `contract::FIELDS`: a selection with a field made beyond the record, such as
//! `Comment.photo`, is known from the document; a comment page past the kept first comments is flagged by its
//! resolver); documents asking for a caller's own fields; mutations and subscriptions. View links are signed for the start of
//! their window (`domain::photos::view_url_window`, taken when the request begins), which is part of the key: a
//! kept link was signed in that window or later, so it lasts at least as long as the one the request would sign.
//!
//! An answer is kept as the JSON it is written as (`json`), once per record and selection, and every request
//! that takes it gets it spliced into its own JSON as it is (a `Value::Binary`): a kept answer is neither
//! copied as a tree of values nor written again. So these answers are for HTTP alone (`json` writes them), and
//! not kept where async-graphql merges answers: it merges two answers of one response key by walking both as
//! objects. Which fields are not kept is worked out once per document (`unkept_fields`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::parser::types::{ExecutableDocument, Field, Selection as Item, SelectionSet};
use async_graphql::{ContextSelectionSet, OutputType, Pos, Positioned, ServerResult, Value};
use bytes::Bytes;
use uuid::Uuid;

use super::contract::{self, Made};
use super::validated::Asked;
use crate::catalog;
use crate::domain::photos;

/// What the kept answers may weigh (`Weight`: their JSON and records): a few MB, a few thousand gallery photos.
const KEPT_BYTES: u64 = 8 * 1024 * 1024;

/// The photo answers kept, by what makes them.
pub struct PhotoAnswers {
    kept: quick_cache::sync::Cache<Key, Arc<Fragment>, Weight>,
}

/// The document a query runs, for its photo answers: set on a request only when they may be kept.
#[derive(Clone)]
pub struct Selection {
    /// The kept document, and what the request asks of it.
    asked: Asked,
    /// The view-link window when the request began, in seconds.
    window: i64,
    /// The document's `unkept_fields`.
    unkept: Arc<HashSet<Pos>>,
}

impl Selection {
    /// The selection of a request asking `asked` of a kept document whose `unkept_fields` are `unkept`.
    pub fn new(asked: Asked, unkept: &Arc<HashSet<Pos>>) -> Self {
        Self { asked, window: photos::view_url_window().timestamp(), unkept: unkept.clone() }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    photo: Uuid,
    asked: Asked,
    /// Where the field returning the photo is in the document: its selection.
    field: (usize, usize),
    /// The view-link window, in seconds.
    window: i64,
}

struct Fragment {
    photo: Arc<catalog::Photo>,
    /// The answer, written as JSON.
    json: Bytes,
    bytes: u64,
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<Key, Arc<Fragment>> for Weight {
    fn weight(&self, _: &Key, fragment: &Arc<Fragment>) -> u64 {
        fragment.bytes
    }
}

tokio::task_local! {
    /// Set while a photo's fields resolve: whether one of them read more than the record.
    static BEYOND: Arc<AtomicBool>;
}

/// Called by a field of a photo that reads more than its record only for some arguments
/// (`contract::Made::RecordOrBeyond`), when it does: the photo's answer is not kept.
pub fn reads_beyond_the_record() {
    let _ = BEYOND.try_with(|beyond| beyond.store(true, Ordering::Relaxed));
}

impl PhotoAnswers {
    pub fn new() -> Self {
        let kept = quick_cache::sync::Cache::with_weighter(4096, KEPT_BYTES, Weight);
        Self { kept }
    }

    /// `photo` resolved as `resolve` does, or as it was before from an equal record: then, and when it is
    /// kept now, as its JSON (a `Value::Binary`, which `json` writes as it is).
    pub async fn resolve<T: OutputType>(
        &self,
        photo: &Arc<catalog::Photo>,
        fields: &T,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let Some(selection) = ctx.data_opt::<Selection>().filter(|s| !s.unkept.contains(&field.pos)) else {
            return fields.resolve(ctx, field).await;
        };
        let key = Key {
            photo: photo.id,
            asked: selection.asked,
            field: (field.pos.line, field.pos.column),
            window: selection.window,
        };
        if let Some(kept) = self.kept.get(&key).filter(|kept| Arc::ptr_eq(&kept.photo, photo) || kept.photo == *photo) {
            return Ok(Value::Binary(kept.json.clone()));
        }
        let errors = || ctx.query_env.errors.lock().ok().map(|errors| errors.len());
        let before = errors();
        let beyond = Arc::new(AtomicBool::new(false));
        let value = BEYOND.scope(beyond.clone(), fields.resolve(ctx, field)).await?;
        // Another field's error in between only means this answer is not kept this time.
        if beyond.load(Ordering::Relaxed) || before.is_none() || errors() != before {
            return Ok(value);
        }
        let mut json = Vec::new();
        if super::json::value(&mut json, &value).is_err() {
            return Ok(value);
        }
        let json = Bytes::from(json);
        let bytes = json.len() as u64 + record_weight(photo) + std::mem::size_of::<(Key, Fragment)>() as u64;
        self.kept.insert(key, Arc::new(Fragment { photo: photo.clone(), json: json.clone(), bytes }));
        Ok(Value::Binary(json))
    }
}

/// The fields whose answers are not kept: those async-graphql merges (`merged_fields`), and those with a field
/// made beyond the record anywhere under them (`contract::Made::Beyond`).
pub fn unkept_fields(document: &ExecutableDocument) -> HashSet<Pos> {
    /// Whether `set` selects a field made beyond the record, at any depth; each field with one under it is
    /// put in `unkept`.
    fn beyond(document: &ExecutableDocument, set: &SelectionSet, spreads: u64, unkept: &mut HashSet<Pos>) -> bool {
        if spreads > super::limits::MAX_SPREADS {
            return true;
        }
        let mut found = false;
        for item in &set.items {
            found |= match &item.node {
                Item::Field(field) => {
                    let under = beyond(document, &field.node.selection_set.node, spreads, unkept);
                    if under {
                        unkept.insert(field.pos);
                    }
                    under || contract::is(&field.node.name.node, Made::Beyond)
                }
                Item::InlineFragment(inline) => beyond(document, &inline.node.selection_set.node, spreads + 1, unkept),
                Item::FragmentSpread(spread) => document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .is_some_and(|fragment| beyond(document, &fragment.node.selection_set.node, spreads + 1, unkept)),
            };
        }
        found
    }
    let mut unkept = merged_fields(document);
    for (_, operation) in document.operations.iter() {
        beyond(document, &operation.node.selection_set.node, 0, &mut unkept);
    }
    unkept
}

/// The fields async-graphql merges answers of: those sharing a response key with another field of their
/// selection set (through fragments too), and every field under them. Directives and type conditions are not
/// looked at: at worst, a few answers that could be kept are not. `limits::check_document` has bounded the
/// document as expanded (and refused cycles) before this walks it.
fn merged_fields(document: &ExecutableDocument) -> HashSet<Pos> {
    fn walk<'a>(document: &'a ExecutableDocument, set: &'a SelectionSet, under: bool, merged: &mut HashSet<Pos>) {
        let mut by_key = HashMap::<&str, Vec<&'a Positioned<Field>>>::new();
        collect(document, set, &mut by_key, 0);
        for fields in by_key.values() {
            let here = under || fields.len() > 1;
            for field in fields {
                if here {
                    merged.insert(field.pos);
                }
                walk(document, &field.node.selection_set.node, here, merged);
            }
        }
    }
    fn collect<'a>(
        document: &'a ExecutableDocument,
        set: &'a SelectionSet,
        by_key: &mut HashMap<&'a str, Vec<&'a Positioned<Field>>>,
        depth: u64,
    ) {
        if depth > super::limits::MAX_SPREADS {
            return;
        }
        for item in &set.items {
            match &item.node {
                Item::Field(field) => by_key.entry(field.node.response_key().node.as_str()).or_default().push(field),
                Item::InlineFragment(inline) => collect(document, &inline.node.selection_set.node, by_key, depth + 1),
                Item::FragmentSpread(spread) => {
                    if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                        collect(document, &fragment.node.selection_set.node, by_key, depth + 1);
                    }
                }
            }
        }
    }
    let mut merged = HashSet::new();
    for (_, operation) in document.operations.iter() {
        walk(document, &operation.node.selection_set.node, false, &mut merged);
    }
    merged
}

/// About the bytes a photo record takes in memory.
fn record_weight(photo: &catalog::Photo) -> u64 {
    let text = |s: &str| s.len() as u64;
    let comments = photo.first_comments.iter().flatten().map(|c| text(&c.body) + text(&c.author_ip) + 64).sum::<u64>();
    std::mem::size_of::<catalog::Photo>() as u64
        + text(&photo.name)
        + photo.description.as_deref().map_or(0, text)
        + text(&photo.uploader_ip)
        + text(&photo.object_key)
        + comments
        + 256
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields `merged_fields` finds in `query`, by response key and place.
    fn merged(query: &str) -> Vec<(String, Pos)> {
        let document = async_graphql::parser::parse_query(query).expect("query parses");
        let merged = merged_fields(&document);
        let mut names = Vec::new();
        fn visit(set: &SelectionSet, merged: &HashSet<Pos>, names: &mut Vec<(String, Pos)>) {
            for item in &set.items {
                match &item.node {
                    Item::Field(field) => {
                        if merged.contains(&field.pos) {
                            names.push((field.node.response_key().node.to_string(), field.pos));
                        }
                        visit(&field.node.selection_set.node, merged, names);
                    }
                    Item::InlineFragment(inline) => visit(&inline.node.selection_set.node, merged, names),
                    Item::FragmentSpread(_) => {}
                }
            }
        }
        for (_, operation) in document.operations.iter() {
            visit(&operation.node.selection_set.node, &merged, &mut names);
        }
        for fragment in document.fragments.values() {
            visit(&fragment.node.selection_set.node, &merged, &mut names);
        }
        names.sort();
        names.dedup();
        names
    }

    #[test]
    fn photos_with_a_field_beyond_their_record_under_them_are_not_kept() {
        let query = "{ photos { nodes { id comments { nodes { photo { name } } } } } photo(id: \"1\") { name } }";
        let document = async_graphql::parser::parse_query(query).expect("query parses");
        let unkept = unkept_fields(&document);
        let at = |needle: &str| {
            let column = query.find(needle).expect("in the query") + 1;
            Pos { line: 1, column }
        };
        for outer in ["photos {", "nodes { id", "comments {", "nodes { photo"] {
            assert!(unkept.contains(&at(outer)), "{outer} holds Comment.photo");
        }
        assert!(!unkept.contains(&at("photo { name } } }")), "the inner photo is made of its own record");
        assert!(!unkept.contains(&at("photo(id")), "a photo without such a field is kept");
        let spread = "{ photo(id: \"1\") { ...F } } fragment F on Photo { comments { nodes { photo { id } } } }";
        let document = async_graphql::parser::parse_query(spread).expect("query parses");
        assert!(unkept_fields(&document).contains(&Pos { line: 1, column: 3 }), "through a fragment too");
    }

    #[test]
    fn fields_merged_by_response_key_are_found_with_what_is_under_them() {
        assert!(merged("{ photos { edges { node { id name } } } }").is_empty());
        let twice = merged("{ photos { edges { node { id ...A } } } }\nfragment A on Photo { id name }");
        let names: Vec<&str> = twice.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["id", "id"], "merged within the photo's own answer: that answer may be kept");
        let query = "{ photos { edges { node { id } } ...More } }\nfragment More on PhotoConnection { edges { node { name } } }";
        let found = merged(query);
        let names: Vec<&str> = found.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["edges", "edges", "id", "name", "node", "node"], "{found:?}");
        let aliased = "{ a: photo(id: \"1\") { name } b: photo(id: \"1\") { name } }";
        assert!(merged(aliased).is_empty(), "aliases are different response keys");
        let same = "{ photo(id: \"1\") { name } photo(id: \"1\") { id } }";
        assert_eq!(merged(same).len(), 4, "both photos and their fields");
        let inline = "{ photo(id: \"1\") { name } ... on Query { photo(id: \"1\") { id } } }";
        assert_eq!(merged(inline).len(), 4, "through an inline fragment");
    }
}
