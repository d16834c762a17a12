//! Per-request metrics: the root field asked for (from a fixed list, so a client cannot grow the label set),
//! the outcome (`ok` or the first error's code) and the time taken.

use async_graphql::Response;

use crate::domain::error::ErrorCode;
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
    // Errors async-graphql raises itself carry no code until `with_codes`: they are the client's.
    let code = code.as_deref().and_then(|c| ErrorCode::parse(c.trim_matches('"')));
    code.unwrap_or(ErrorCode::BadUserInput).as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_an_outcome_of_its_own() {
        for code in ErrorCode::ALL {
            let error = async_graphql::Error::from(match code {
                ErrorCode::RateLimited => {
                    use async_graphql::ErrorExtensions;
                    let limited =
                        async_graphql::Error::new("slow down").extend_with(|_, e| e.set("code", code.as_str()));
                    let response = Response::from_errors(vec![limited.into_server_error(Default::default())]);
                    assert_eq!(outcome(&response), "RATE_LIMITED");
                    continue;
                }
                ErrorCode::BadUserInput => crate::domain::error::ApiError::bad_input("x"),
                ErrorCode::NotFound => crate::domain::error::ApiError::NotFound("x".into()),
                ErrorCode::Unauthenticated => crate::domain::error::ApiError::Unauthenticated("x".into()),
                ErrorCode::UploadInvalid => crate::domain::error::ApiError::UploadInvalid("x".into()),
                ErrorCode::Unavailable => crate::domain::error::ApiError::Unavailable("x".into()),
                ErrorCode::Internal => crate::domain::error::ApiError::Internal(anyhow::anyhow!("x")),
            });
            let response = Response::from_errors(vec![error.into_server_error(Default::default())]);
            assert_eq!(outcome(&response), code.as_str());
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        let uncoded = Response::from_errors(vec![async_graphql::ServerError::new("syntax", None)]);
        assert_eq!(outcome(&uncoded), "BAD_USER_INPUT", "async-graphql's own errors are the client's");
    }

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
