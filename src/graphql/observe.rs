//! Per-request metrics: the root field asked for (from a fixed list, so a client cannot grow the label set),
//! the outcome (`ok` or the first error's code) and the time taken.

use async_graphql::Response;

use async_graphql::parser::types::{ExecutableDocument, OperationDefinition, OperationType, Selection};

use crate::domain::error::ErrorCode;

/// Every root field of the schema (a test keeps this equal to `schema.graphql`).
pub const ROOT_FIELDS: &[&str] = &[
    "photos",
    "photo",
    "shareLink",
    "createUpload",
    "completeUpload",
    "updatePhoto",
    "deletePhoto",
    "addComment",
    "deleteComment",
    "createShareLink",
    "revokeShareLink",
    "commentAdded",
    "commentRemoved",
    "photoAdded",
    "photoUpdated",
    "photoRemoved",
    "__schema",
    "__type",
    "__typename",
];

/// The operation a request runs: the one `operation_name` names, or the document's first.
pub fn selected<'d>(document: &'d ExecutableDocument, operation_name: Option<&str>) -> Option<&'d OperationDefinition> {
    let operation = match operation_name {
        Some(name) => document.operations.iter().find(|(n, _)| n.is_some_and(|n| n.as_str() == name)),
        None => document.operations.iter().next(),
    };
    operation.map(|(_, operation)| &operation.node)
}

/// The first root field of the operation, if it is one of the schema's.
pub fn root_field(operation: Option<&OperationDefinition>) -> &'static str {
    let first = operation.and_then(|op| {
        op.selection_set.node.items.iter().find_map(|item| match &item.node {
            Selection::Field(field) => Some(field.node.name.node.as_str()),
            _ => None,
        })
    });
    first.and_then(|name| ROOT_FIELDS.iter().find(|known| **known == name).copied()).unwrap_or("other")
}

/// The operation's type (a query when there is none: async-graphql then refuses the request itself).
pub fn operation_type(operation: Option<&OperationDefinition>) -> OperationType {
    operation.map_or(OperationType::Query, |op| op.ty)
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
                ErrorCode::Forbidden => crate::domain::error::ApiError::Forbidden("x".into()),
                ErrorCode::UploadInvalid => crate::domain::error::ApiError::UploadInvalid("x".into()),
                ErrorCode::PhotoProcessing => crate::domain::error::ApiError::PhotoProcessing("x".into()),
                ErrorCode::Unavailable => crate::domain::error::ApiError::Unavailable("x".into()),
                ErrorCode::Internal => crate::domain::error::ApiError::Internal(anyhow::anyhow!("x")),
                ErrorCode::PersistedQueryNotFound => crate::domain::error::ApiError::PersistedQueryNotFound,
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
