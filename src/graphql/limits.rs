//! Limits on what one request may ask, checked before anything runs (so a refused request costs no backend
//! call). Two kinds:
//!
//! - **Before validation** (`check_document`): the query text's size, and what the document asks for once its
//!   fragments are expanded: fields, fragment spreads and aliases. async-graphql's validation, depth and
//!   complexity checks walk every spread of every fragment again, so a 984-byte document whose fragments each
//!   spread the next one twice (`F0 { ...F1 ...F1 }`, 25 levels) cost 11 s of CPU and 3 GB before it was
//!   answered. Here each fragment is counted once and its count reused wherever it is spread, so the check
//!   costs one walk of the text as written, however much it would expand to.
//! - **During validation** (async-graphql's own, configured in `schema_builder`): nesting depth and complexity
//!   (a list field costs its `first` times its children).

use std::collections::HashMap;

use async_graphql::ServerError;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use crate::text;

/// Deep enough for GraphiQL's own introspection query (about 15 levels).
pub const MAX_DEPTH: usize = 16;
/// A gallery page of 20 photos with their first 3 comments costs about 700; 100 photos with 50 comments
/// each would cost over 25,000.
pub const MAX_COMPLEXITY: usize = 10_000;
pub const MAX_ALIASES: usize = 30;
/// Largest query text: the playground's biggest document is under 1 KiB, GraphiQL's introspection 1.5 KiB.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Fields a document may select once its fragments are expanded (GraphiQL's introspection selects 181).
pub const MAX_FIELDS: u64 = 1_000;
/// Fragment spreads once expanded (GraphiQL's introspection has 10).
pub const MAX_SPREADS: u64 = 100;
/// Directives on one field (`@include` and `@skip` are the only ones).
pub const MAX_DIRECTIVES: usize = 4;

/// GraphiQL's own introspection query (graphql-js `getIntrospectionQuery`): the deepest, widest document a
/// legitimate client sends, which the limits above admit (unit test). Tests and benches send it too.
pub const INTROSPECTION_QUERY: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name }
  subscriptionType { name } types { ...FullType } directives { name description locations args { ...InputValue } } } }
fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description
  args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason } inputFields { ...InputValue }
  interfaces { ...TypeRef } enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef } }
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";

/// The hostile document these limits were made for: `levels` fragments, each spreading the next one twice, so
/// that it expands to 2^levels `__typename` fields (24 levels: 984 bytes). Tests and benches send it.
pub fn fragment_bomb(levels: usize) -> String {
    let mut query = String::from("query { ...F0 }");
    for level in 0..levels {
        query.push_str(&format!(" fragment F{level} on Query {{ ...F{next} ...F{next} }}", next = level + 1));
    }
    query + &format!(" fragment F{levels} on Query {{ __typename }}")
}

/// Complexity of a paged list field: `first` items (default `default`) of `child` each.
pub fn paged(first: Option<i32>, default: i32, child: usize) -> usize {
    usize::try_from(first.unwrap_or(default)).unwrap_or(0).max(1).saturating_mul(child)
}

/// What a selection set asks for, with its fragments expanded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub fields: u64,
    pub spreads: u64,
    pub aliases: u64,
}

impl Cost {
    fn add(&mut self, other: Cost) {
        self.fields = self.fields.saturating_add(other.fields);
        self.spreads = self.spreads.saturating_add(other.spreads);
        self.aliases = self.aliases.saturating_add(other.aliases);
    }
}

/// Counts a document's cost, each fragment once.
struct Counter<'a> {
    document: &'a ExecutableDocument,
    /// Each fragment's cost once counted; `None` while it is being counted (so a spread of it then is a cycle).
    fragments: HashMap<&'a str, Option<Cost>>,
    /// Selections looked at: at most the number written in the document.
    visited: u64,
}

impl<'a> Counter<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Result<Cost, ServerError> {
        let mut cost = Cost::default();
        for item in &set.items {
            self.visited += 1;
            match &item.node {
                Selection::Field(field) => {
                    cost.add(Cost { fields: 1, spreads: 0, aliases: u64::from(field.node.alias.is_some()) });
                    cost.add(self.selection_set(&field.node.selection_set.node)?);
                }
                Selection::InlineFragment(fragment) => cost.add(self.selection_set(&fragment.node.selection_set.node)?),
                Selection::FragmentSpread(spread) => {
                    cost.add(Cost { fields: 0, spreads: 1, aliases: 0 });
                    cost.add(self.fragment(spread.node.fragment_name.node.as_str())?);
                }
            }
        }
        Ok(cost)
    }

    fn fragment(&mut self, name: &'a str) -> Result<Cost, ServerError> {
        match self.fragments.get(name) {
            Some(Some(cost)) => return Ok(*cost),
            Some(None) => {
                return Err(refusal(format!("fragment {} spreads itself: remove the cycle", text::quote(name))));
            }
            None => {}
        }
        // An unknown fragment costs nothing here; validation names it.
        let Some((key, definition)) = self.document.fragments.get_key_value(name) else { return Ok(Cost::default()) };
        self.fragments.insert(key.as_str(), None);
        let cost = self.selection_set(&definition.node.selection_set.node)?;
        self.fragments.insert(key.as_str(), Some(cost));
        Ok(cost)
    }
}

/// What `document` asks for, all its operations together, with every fragment expanded (counted once each),
/// and how many selections were looked at to find out.
pub fn cost(document: &ExecutableDocument) -> Result<(Cost, u64), ServerError> {
    let mut counter = Counter { document, fragments: HashMap::new(), visited: 0 };
    let mut total = Cost::default();
    for (_, operation) in document.operations.iter() {
        total.add(counter.selection_set(&operation.node.selection_set.node)?);
    }
    // Fragments no operation spreads are still validated: count them too (once).
    for name in document.fragments.keys() {
        counter.fragment(name.as_str())?;
    }
    Ok((total, counter.visited))
}

/// Refuses query text over `MAX_QUERY_BYTES`, or with more than `MAX_SPREADS` fragment spreads written in it,
/// before it is parsed: parsing costs about a third of a microsecond per byte, so a bomb of 200 levels
/// (8 KB) would take milliseconds just to be parsed and refused.
pub fn check_text(query: &str) -> Result<(), ServerError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(refusal(format!(
            "the query is {} bytes; at most {MAX_QUERY_BYTES} are allowed: send a smaller document",
            query.len()
        )));
    }
    let spreads = written_spreads(query);
    if spreads > MAX_SPREADS {
        return Err(refusal(format!("the query has {spreads} fragment spreads; at most {MAX_SPREADS} are allowed")));
    }
    Ok(())
}

/// How many `...` the text has outside strings and comments: each is a fragment spread (named or inline).
fn written_spreads(query: &str) -> u64 {
    let bytes = query.as_bytes();
    let (mut count, mut at) = (0, 0);
    while at < bytes.len() {
        match bytes[at] {
            b'#' => at += bytes[at..].iter().position(|b| *b == b'\n').unwrap_or(bytes.len() - at),
            b'"' if bytes[at..].starts_with(b"\"\"\"") => {
                let rest = &bytes[at + 3..];
                let mut end = 0;
                while end < rest.len() && !(rest[end..].starts_with(b"\"\"\"") && (end == 0 || rest[end - 1] != b'\\'))
                {
                    end += 1;
                }
                at += 3 + end + 3;
            }
            b'"' => {
                at += 1;
                while at < bytes.len() && bytes[at] != b'"' && bytes[at] != b'\n' {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
                at += 1;
            }
            b'.' if bytes[at..].starts_with(b"...") => {
                count += 1;
                at += 3;
            }
            _ => at += 1,
        }
    }
    count
}

/// Refuses documents that would expand to more than `MAX_FIELDS` fields, `MAX_SPREADS` fragment spreads or
/// `MAX_ALIASES` aliases; the cost when they do not.
pub fn check_document(document: &ExecutableDocument) -> Result<Cost, ServerError> {
    let (cost, _) = cost(document)?;
    let over = |what: &str, count: u64, max: u64| {
        refusal(format!("the query selects {count} {what} once its fragments are expanded; at most {max} are allowed"))
    };
    if cost.spreads > MAX_SPREADS {
        return Err(over("fragment spreads", cost.spreads, MAX_SPREADS));
    }
    if cost.fields > MAX_FIELDS {
        return Err(over("fields", cost.fields, MAX_FIELDS));
    }
    if cost.aliases > MAX_ALIASES as u64 {
        return Err(refusal(format!("the query uses {} aliases; at most {MAX_ALIASES} are allowed", cost.aliases)));
    }
    Ok(cost)
}

fn refusal(message: String) -> ServerError {
    ServerError::new(message, None)
}

/// Refuse an operation whose required variables (non-null, no default) were not sent: variable coercion is
/// part of the request, not of execution (async-graphql would report it from the first field using one,
/// as if execution had begun).
pub fn required_variables(
    operation: Option<&async_graphql::parser::types::OperationDefinition>,
    variables: &async_graphql::Variables,
) -> Result<(), async_graphql::ServerError> {
    let definitions = operation.map(|operation| operation.variable_definitions.as_slice()).unwrap_or_default();
    for definition in definitions {
        let (name, ty) = (&definition.node.name.node, &definition.node.var_type.node);
        let sent = variables.get(name).is_some_and(|value| *value != async_graphql::Value::Null);
        if !ty.nullable && definition.node.default_value.is_none() && !sent {
            let message = format!("variable ${name} ({ty}) is required: send it in `variables`");
            return Err(async_graphql::ServerError::new(message, Some(definition.pos)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphiqls_introspection_is_within_every_limit() {
        let document = async_graphql::parser::parse_query(INTROSPECTION_QUERY).unwrap();
        let cost = check_document(&document).expect("admitted");
        assert_eq!((cost.fields, cost.spreads), (181, 10), "the figures the limits' docs quote");
        assert!(INTROSPECTION_QUERY.len() < MAX_QUERY_BYTES);
        assert_eq!(fragment_bomb(24).len(), 984);
    }

    #[test]
    fn a_fragment_bomb_is_counted_without_expanding_it() {
        for levels in [25, 60] {
            let document = async_graphql::parser::parse_query(fragment_bomb(levels)).unwrap();
            let (cost, visited) = cost(&document).unwrap();
            assert_eq!(cost.fields, if levels < 64 { 1 << levels } else { u64::MAX });
            assert!(visited <= 2 * levels as u64 + 2, "{levels} levels: {visited} selections looked at");
            let refused = check_document(&document).unwrap_err();
            assert!(
                refused.message.contains("fragment spreads") && refused.message.contains("at most 100"),
                "{}",
                refused.message
            );
        }
    }

    #[test]
    fn wide_fragments_are_refused_by_their_fields() {
        let fields = (0..40).map(|i| format!("f{i}: __typename")).collect::<Vec<_>>().join(" ");
        let query = format!(
            "{{ ...A ...A }} fragment A on Query {{ ...B ...B ...B ...B }} fragment B on Query {{ {} }}",
            "__typename ".repeat(200)
        );
        let document = async_graphql::parser::parse_query(query).unwrap();
        let refused = check_document(&document).unwrap_err();
        assert!(refused.message.contains("1600 fields"), "{}", refused.message);
        let aliased =
            async_graphql::parser::parse_query(format!("{{ ...A ...A }} fragment A on Query {{ {fields} }}")).unwrap();
        assert!(check_document(&aliased).unwrap_err().message.contains("80 aliases"));
    }

    #[test]
    fn cycles_are_refused_and_unknown_fragments_left_to_validation() {
        let cycle =
            async_graphql::parser::parse_query("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
                .unwrap();
        assert!(check_document(&cycle).unwrap_err().message.contains("spreads itself"));
        let unknown = async_graphql::parser::parse_query("{ ...Missing }").unwrap();
        assert_eq!(check_document(&unknown).unwrap().fields, 0);
    }

    #[test]
    fn query_text_is_bounded() {
        assert!(check_text(&" ".repeat(MAX_QUERY_BYTES)).is_ok());
        assert!(check_text(&" ".repeat(MAX_QUERY_BYTES + 1)).unwrap_err().message.contains("at most 16384"));
        let refused = check_text(&fragment_bomb(200)).unwrap_err();
        assert!(refused.message.contains("401 fragment spreads"), "{}", refused.message);
        assert!(check_text(&fragment_bomb(40)).is_ok(), "81 written spreads: the expanded count refuses it");
    }

    #[test]
    fn spreads_are_counted_outside_strings_and_comments() {
        assert_eq!(written_spreads("{ ...A ... on Query { x } }"), 2);
        assert_eq!(written_spreads("{ a(s: \"...\\\"...\") # ... ...\n ...B }"), 1);
        assert_eq!(written_spreads("{ a(s: \"\"\" ... \\\"\"\" ... \"\"\") ...C }"), 1);
        assert_eq!(written_spreads("\"unterminated ..."), 0);
    }
}
