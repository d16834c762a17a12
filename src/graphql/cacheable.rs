//! Which answers may be kept and shared (`response_cache`, and HTTP caches through `over_http`): queries of
//! photos that no field makes the caller's own, each under the request exactly as it was sent.

use async_graphql::parser::types::{ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet};

use super::contract::{self, Made};

/// Root fields whose answers are a function of the stored photos and comments. Not `shareLink`: its `opens`
/// counts visits, which are not GraphQL writes. These answers are also `public` to HTTP caches
/// (`over_http`): a field that depends on the caller must make its answer uncacheable here first.
pub(super) const CACHEABLE_ROOTS: &[&str] = &["photos", "photo"];
/// Nor answers to larger requests (query text and variables): keys stay small too.
const MAX_KEY_BYTES: usize = 8 * 1024;

/// What identifies an answer: the request exactly as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    query: String,
    operation_name: Option<String>,
    /// The variables as JSON (they are kept in name order, so equal variables give equal text).
    variables: String,
}

impl Key {
    /// What it weighs in the cache.
    pub fn bytes(&self) -> usize {
        self.query.len() + self.variables.len()
    }

    /// The variables as JSON.
    pub fn variables(&self) -> &str {
        &self.variables
    }

    /// The key of `request` (with these `variables`), whose operation [`is_cacheable`]; none for a request
    /// too large to keep.
    pub fn new(request: &async_graphql::Request, variables: &async_graphql::Variables) -> Option<Self> {
        if request.query.len() > MAX_KEY_BYTES {
            return None;
        }
        let variables = serde_json::to_string(variables).ok()?;
        (request.query.len() + variables.len() <= MAX_KEY_BYTES).then(|| Self {
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables,
        })
    }
}

/// Whether the operation that runs is a query asking only for [`CACHEABLE_ROOTS`] (directly, not through
/// fragments: clients rarely spread fragments at the root, and checking them is not worth it), and its
/// document nowhere asks for a field made by who asks (`contract::Made::Caller`; `caller_fields`:
/// `asks_for_caller_fields`, counted once per document).
pub fn is_cacheable(operation: Option<&OperationDefinition>, caller_fields: bool) -> bool {
    let Some(operation) = operation else { return false };
    !caller_fields
        && operation.ty == OperationType::Query
        && operation.selection_set.node.items.iter().all(|item| match &item.node {
            Selection::Field(field) => CACHEABLE_ROOTS.contains(&field.node.name.node.as_str()),
            _ => false,
        })
}

/// Whether any operation or fragment of `document` selects a field made by who asks (the
/// document's depth is bounded by `limits` before this runs).
pub fn asks_for_caller_fields(document: &ExecutableDocument) -> bool {
    fn any(set: &SelectionSet) -> bool {
        set.items.iter().any(|item| match &item.node {
            Selection::Field(field) => {
                contract::is(&field.node.name.node, Made::Caller) || any(&field.node.selection_set.node)
            }
            Selection::InlineFragment(inline) => any(&inline.node.selection_set.node),
            Selection::FragmentSpread(_) => false,
        })
    }
    document.operations.iter().any(|(_, operation)| any(&operation.node.selection_set.node))
        || document.fragments.values().any(|fragment| any(&fragment.node.selection_set.node))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub fn key(query: &str) -> Option<Key> {
        let document = async_graphql::parser::parse_query(query).expect("query parses");
        let operation = crate::graphql::observe::selected(&document, None);
        let request = async_graphql::Request::new(query);
        is_cacheable(operation, asks_for_caller_fields(&document))
            .then(|| Key::new(&request, &request.variables))
            .flatten()
    }

    #[test]
    fn only_queries_of_photos_are_cacheable() {
        assert!(key("{ photos(first: 2) { nodes { id } } }").is_some());
        assert!(key("query P { photo(id: \"x\") { name } }").is_some());
        assert!(key("{ __typename }").is_none(), "nothing to save");
        assert!(key("{ photos(first: 2) { nodes { id viewerCanEdit } } }").is_none(), "the caller's own");
        let spread =
            "{ photo(id: \"x\") { ...F } } fragment F on Photo { comments(first: 1) { nodes { viewerCanDelete } } }";
        assert!(key(spread).is_none(), "the caller's own, through a fragment");
        assert!(key("{ shareLink(token: \"t\") { opens } }").is_none(), "opens changes without a GraphQL write");
        assert!(key("{ photos { nodes { id } } shareLink(token: \"t\") { opens } }").is_none());
        assert!(key("mutation { revokeShareLink(token: \"t\") }").is_none());
        assert!(key("subscription { photoAdded { id } }").is_none());
        assert!(key("{ ...Root } fragment Root on Query { photos { nodes { id } } }").is_none());
    }

    #[test]
    fn the_named_operation_decides() {
        let query = "query A { photos { nodes { id } } } mutation B { revokeShareLink(token: \"t\") }";
        let document = async_graphql::parser::parse_query(query).expect("query parses");
        let selected = |name| crate::graphql::observe::selected(&document, Some(name));
        assert!(is_cacheable(selected("A"), false));
        assert!(!is_cacheable(selected("B"), false));
    }

    #[test]
    fn variables_are_part_of_the_key() {
        let query = "query($first: Int) { photos(first: $first) { nodes { id } } }";
        let with = |first: i32| {
            let variables = async_graphql::Variables::from_json(serde_json::json!({ "first": first }));
            let request = async_graphql::Request::new(query).variables(variables);
            Key::new(&request, &request.variables).expect("a key")
        };
        assert_eq!(with(2), with(2));
        assert_ne!(with(2), with(3));
    }

    #[test]
    fn large_requests_are_not_kept() {
        let padded = format!("{{ photos {{ nodes {{ id }} }} }} #{}", "x".repeat(MAX_KEY_BYTES));
        assert!(key(&padded).is_none(), "a long query text");
        let variables = async_graphql::Variables::from_json(serde_json::json!({ "pad": "x".repeat(MAX_KEY_BYTES) }));
        let request = async_graphql::Request::new("{ photos { nodes { id } } }").variables(variables);
        assert!(Key::new(&request, &request.variables).is_none());
    }
}
