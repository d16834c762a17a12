//! Per-request metrics: the root field asked for (from a fixed list, so a client cannot grow the label set),
//! the outcome (`ok` or the first error's code) and the time taken.

use async_graphql::Response;
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection};

/// Every root field of the schema (a test keeps this equal to `schema.graphql`).
pub const ROOT_FIELDS: &[&str] = &[
    "photos",
    "photo",
    "shareLink",
    "createUpload",
    "completeUpload",
    "addComment",
    "createShareLink",
    "revokeShareLink",
    "commentAdded",
    "photoAdded",
    "__schema",
    "__type",
    "__typename",
];

/// The first root field of the document's first operation, if it is one of the schema's.
pub fn root_field(document: &ExecutableDocument) -> &'static str {
    let first = document.operations.iter().next().and_then(|(_, op)| {
        op.node.selection_set.node.items.iter().find_map(|item| match &item.node {
            Selection::Field(field) => Some(field.node.name.node.to_string()),
            _ => None,
        })
    });
    first.and_then(|name| ROOT_FIELDS.iter().find(|known| **known == name).copied()).unwrap_or("other")
}

/// Whether the document's first operation is a subscription.
pub fn is_subscription(document: &ExecutableDocument) -> bool {
    document.operations.iter().next().is_some_and(|(_, op)| op.node.ty == OperationType::Subscription)
}

/// `ok`, or the code of the response's first error.
pub fn outcome(response: &Response) -> &'static str {
    let Some(error) = response.errors.first() else { return "ok" };
    let code = error.extensions.as_ref().and_then(|e| e.get("code")).map(|v| v.to_string());
    match code.as_deref().map(|c| c.trim_matches('"')) {
        Some("NOT_FOUND") => "NOT_FOUND",
        Some("UPLOAD_INVALID") => "UPLOAD_INVALID",
        Some("UNAVAILABLE") => "UNAVAILABLE",
        Some("RATE_LIMITED") => "RATE_LIMITED",
        Some("INTERNAL") => "INTERNAL",
        _ => "BAD_USER_INPUT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_fields_are_the_schemas() {
        let sdl = crate::graphql::sdl();
        let mut fields = Vec::new();
        for root in ["type Query {", "type Mutation {", "type Subscription {"] {
            let block = &sdl[sdl.find(root).expect("root type") + root.len()..];
            let block = &block[..block.find("\n}").expect("end of type")];
            let mut in_description = false;
            for line in block.lines().map(str::trim) {
                if line == "\"\"\"" {
                    in_description = !in_description;
                } else if !in_description && !line.is_empty() && !line.starts_with('"') {
                    fields.push(line.split(['(', ':']).next().unwrap_or_default().to_string());
                }
            }
        }
        let known: Vec<&str> = ROOT_FIELDS.iter().copied().filter(|f| !f.starts_with("__")).collect();
        assert_eq!(fields, known);
    }
}
