//! The field contract: what each field of an answer that may be kept is made of. Two caches decide by it:
//! the response cache shares an answer between callers only when no field of it depends on the caller
//! (`cacheable`), and a photo's answer is kept by its record only when no field of it reads beyond that record
//! (`photo_answers`). Every field of every type a cacheable root (`photos`, `photo`) can reach is in [`FIELDS`]; a
//! unit test walks the built schema and fails on a field that is not, so a new field is classified before it
//! can be cached.

/// What a field's value is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    /// The stored record alone (the photo item, with the comments it keeps, or the page listed): the same for
    /// every caller while the record is. View links are signed for the request's view-link window, which every
    /// kept answer's key holds.
    Record,
    /// The record when the page asked for is one the photo item keeps (`domain::comments::kept_page`), a
    /// table read otherwise: the resolver says which (`photo_answers::reads_beyond_the_record`).
    RecordOrBeyond,
    /// More than the record (another photo, the table): shared like `Record`, but a photo answer with it in
    /// is not kept by its record.
    Beyond,
    /// Who asks: an answer with it is the caller's own, never kept nor shared.
    Caller,
}

use Made::*;

/// Every field of the types a cacheable root reaches: (type, field, what it is made of).
pub const FIELDS: &[(&str, &str, Made)] = &[
    ("PhotoConnection", "pageInfo", Record),
    ("PhotoConnection", "edges", Record),
    ("PhotoConnection", "nodes", Record),
    ("PhotoEdge", "node", Record),
    ("PhotoEdge", "cursor", Record),
    ("PageInfo", "hasPreviousPage", Record),
    ("PageInfo", "hasNextPage", Record),
    ("PageInfo", "startCursor", Record),
    ("PageInfo", "endCursor", Record),
    ("Photo", "id", Record),
    ("Photo", "name", Record),
    ("Photo", "description", Record),
    ("Photo", "contentType", Record),
    ("Photo", "sizeBytes", Record),
    ("Photo", "width", Record),
    ("Photo", "height", Record),
    ("Photo", "uploadedAt", Record),
    ("Photo", "uploaderIp", Record),
    ("Photo", "url", Record),
    ("Photo", "viewerCanEdit", Caller),
    ("Photo", "status", Record),
    ("Photo", "image", Record),
    ("Photo", "images", Record),
    ("Photo", "placeholder", Record),
    ("Photo", "takenAt", Record),
    ("Photo", "camera", Record),
    ("Photo", "processingError", Record),
    ("Photo", "commentCount", Record),
    ("Photo", "comments", RecordOrBeyond),
    ("Image", "size", Record),
    ("Image", "url", Record),
    ("Image", "width", Record),
    ("Image", "height", Record),
    ("Image", "contentType", Record),
    ("Image", "sizeBytes", Record),
    ("CommentConnection", "pageInfo", Record),
    ("CommentConnection", "edges", Record),
    ("CommentConnection", "nodes", Record),
    ("CommentEdge", "node", Record),
    ("CommentEdge", "cursor", Record),
    ("Comment", "id", Record),
    ("Comment", "photoId", Record),
    ("Comment", "body", Record),
    ("Comment", "createdAt", Record),
    ("Comment", "authorIp", Record),
    ("Comment", "cursor", Record),
    ("Comment", "viewerCanDelete", Caller),
    ("Comment", "photo", Beyond),
];

/// Whether a field of this name, on any type above, is made as `made`. Documents are checked by field name
/// (no types at hand before validation), so a name made two ways counts as both: at worst an answer that could
/// be kept is not.
pub fn is(name: &str, made: Made) -> bool {
    FIELDS.iter().any(|&(_, field, m)| field == name && m == made)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};

    use super::*;

    /// The object types of the built schema with their fields and the named type each returns.
    fn schema_objects() -> HashMap<String, Vec<(String, String)>> {
        let sdl = crate::graphql::sdl();
        let document = async_graphql::parser::parse_schema(&sdl).expect("the SDL parses");
        fn named(ty: &Type) -> String {
            match &ty.base {
                BaseType::Named(name) => name.to_string(),
                BaseType::List(inner) => named(inner),
            }
        }
        let mut objects = HashMap::new();
        for definition in document.definitions {
            if let TypeSystemDefinition::Type(ty) = definition {
                if let TypeKind::Object(object) = &ty.node.kind {
                    let fields =
                        object.fields.iter().map(|f| (f.node.name.node.to_string(), named(&f.node.ty.node))).collect();
                    objects.insert(ty.node.name.node.to_string(), fields);
                }
            }
        }
        objects
    }

    /// Every (type, field) an answer of a cacheable root can hold, walking return types from the roots.
    fn reachable() -> BTreeSet<(String, String)> {
        let objects = schema_objects();
        let roots = &objects["Query"];
        let mut types: Vec<String> = crate::graphql::cacheable::CACHEABLE_ROOTS
            .iter()
            .map(|root| {
                roots.iter().find(|(name, _)| name == root).expect("a cacheable root is a Query field").1.clone()
            })
            .collect();
        let mut seen = BTreeSet::new();
        let mut fields = BTreeSet::new();
        while let Some(ty) = types.pop() {
            if !seen.insert(ty.clone()) {
                continue;
            }
            for (field, returns) in objects.get(&ty).into_iter().flatten() {
                fields.insert((ty.clone(), field.clone()));
                types.push(returns.clone());
            }
        }
        fields
    }

    #[test]
    fn every_field_a_cached_answer_can_hold_is_classified() {
        let classified: BTreeSet<(String, String)> =
            FIELDS.iter().map(|&(ty, field, _)| (ty.to_string(), field.to_string())).collect();
        let reachable = reachable();
        let unclassified: Vec<_> = reachable.difference(&classified).collect();
        assert!(
            unclassified.is_empty(),
            "fields a cached answer can hold, not in contract::FIELDS (say what each is made of): {unclassified:?}"
        );
        let stale: Vec<_> = classified.difference(&reachable).collect();
        assert!(stale.is_empty(), "contract::FIELDS names fields the schema does not have there: {stale:?}");
    }

    #[test]
    fn the_caller_fields_and_those_beyond_the_record_are_the_known_ones() {
        let names = |made| FIELDS.iter().filter(|f| f.2 == made).map(|f| f.1).collect::<Vec<_>>();
        assert_eq!(names(Caller), ["viewerCanEdit", "viewerCanDelete"]);
        assert_eq!(names(Beyond), ["photo"]);
        assert!(is("viewerCanDelete", Caller) && !is("name", Caller) && is("photo", Beyond));
    }
}
