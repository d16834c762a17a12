//! Per-request metrics: the root field asked for (from a fixed list, so a client cannot grow the label set),
//! the outcome (`ok` or the first error's code) and the time taken.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest};
use async_graphql::parser::types::{ExecutableDocument, Selection};
use async_graphql::{Response, ServerResult, Variables};

use crate::metrics::Metrics;

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

pub struct Observe(pub Arc<Metrics>);

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ObserveRequest { metrics: self.0.clone(), operation: Mutex::new("invalid") })
    }
}

struct ObserveRequest {
    metrics: Arc<Metrics>,
    operation: Mutex<&'static str>,
}

/// The first root field of the document's first operation, if it is one of the schema's.
fn root_field(document: &ExecutableDocument) -> &'static str {
    let first = document.operations.iter().next().and_then(|(_, op)| {
        op.node.selection_set.node.items.iter().find_map(|item| match &item.node {
            Selection::Field(field) => Some(field.node.name.node.to_string()),
            _ => None,
        })
    });
    first.and_then(|name| ROOT_FIELDS.iter().find(|known| **known == name).copied()).unwrap_or("other")
}

#[async_trait::async_trait]
impl Extension for ObserveRequest {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let outcome = response
            .errors
            .first()
            .map(|error| {
                let code = error.extensions.as_ref().and_then(|e| e.get("code")).map(|v| v.to_string());
                match code.as_deref().map(|c| c.trim_matches('"')) {
                    Some("NOT_FOUND") => "NOT_FOUND",
                    Some("UPLOAD_INVALID") => "UPLOAD_INVALID",
                    Some("UNAVAILABLE") => "UNAVAILABLE",
                    Some("RATE_LIMITED") => "RATE_LIMITED",
                    Some("INTERNAL") => "INTERNAL",
                    _ => "BAD_USER_INPUT",
                }
            })
            .unwrap_or("ok");
        let operation = *self.operation.lock().unwrap_or_else(|p| p.into_inner());
        self.metrics.record_request(operation, outcome, started.elapsed().as_secs_f64());
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        *self.operation.lock().unwrap_or_else(|p| p.into_inner()) = root_field(&document);
        Ok(document)
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
