//! Limits on what one request may ask, checked before anything runs (so a refused request costs no backend
//! call): nesting depth, complexity (a list field costs its `first` times its children), and aliases.

use async_graphql::ServerError;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// Deep enough for GraphiQL's own introspection query (about 15 levels).
pub const MAX_DEPTH: usize = 16;
/// A gallery page of 20 photos with their first 3 comments costs about 700; 100 photos with 50 comments
/// each would cost over 25,000.
pub const MAX_COMPLEXITY: usize = 10_000;
pub const MAX_ALIASES: usize = 30;

/// Complexity of a paged list field: `first` items (default `default`) of `child` each.
pub fn paged(first: Option<i32>, default: i32, child: usize) -> usize {
    usize::try_from(first.unwrap_or(default)).unwrap_or(0).max(1).saturating_mul(child)
}

fn aliases(selection_set: &SelectionSet) -> usize {
    selection_set
        .items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Refuses documents with more than `MAX_ALIASES` aliased fields (alias-multiplied work).
pub fn check_aliases(document: &ExecutableDocument) -> Result<(), ServerError> {
    let count: usize = document.operations.iter().map(|(_, op)| aliases(&op.node.selection_set.node)).sum::<usize>()
        + document.fragments.values().map(|f| aliases(&f.node.selection_set.node)).sum::<usize>();
    if count > MAX_ALIASES {
        return Err(ServerError::new(
            format!("the query uses {count} aliases; at most {MAX_ALIASES} are allowed"),
            None,
        ));
    }
    Ok(())
}
