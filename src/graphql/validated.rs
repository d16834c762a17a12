//! The schema, built twice: once validating every request by all of the spec's rules (`strict`), once
//! checking only the limits (`fast`: async-graphql's `ValidationMode::Fast` still counts depth and complexity
//! and refuses fragment cycles). A request runs on `strict` until its document has passed validation with
//! the same operation name and variables once; from then on on `fast`. Validation depends on nothing else
//! (the schema does not change while the process runs), so the second time it could only pass again: what a
//! client sees is the same, and a gallery page no longer pays for about 60 rules walking its ~200 fields.
//!
//! Mutations (their variables are new each time), requests whose document is not kept (`Parsed`),
//! subscriptions and anything over the WebSocket always run on `strict`.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use async_graphql::ValidationMode;

use super::{PhotoSchema, photo_answers, schema_builder};
use crate::state::AppState;

/// Distinct requests remembered as validated: each weighs 16 bytes.
const PASSED: usize = 16 * 1024;

pub struct Schemas {
    pub strict: PhotoSchema,
    fast: PhotoSchema,
    passed: quick_cache::sync::Cache<Asked, ()>,
    /// Hashes variables into keys, with keys of its own: nobody outside can make two sets collide.
    hasher: RandomState,
}

/// A request for a kept document: which one, and a hash of the operation name and variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Asked {
    pub document: u64,
    pub variables: u64,
}

impl Schemas {
    pub fn new(state: Arc<AppState>, answers: Arc<photo_answers::PhotoAnswers>) -> Self {
        let build = |mode| {
            let mut builder = schema_builder().validation_mode(mode);
            if !state.api.introspection {
                builder = builder.disable_introspection();
            }
            if !state.api.field_suggestions {
                builder = builder.disable_suggestions();
            }
            builder.data(state.clone()).data(answers.clone()).finish()
        };
        Self::from(build(ValidationMode::Strict), build(ValidationMode::Fast))
    }

    fn from(strict: PhotoSchema, fast: PhotoSchema) -> Self {
        Self { strict, fast, passed: quick_cache::sync::Cache::new(PASSED), hasher: RandomState::new() }
    }

    /// What `request` asks of kept document `document` (`variables`: its variables as JSON, if written already).
    pub fn asked(&self, document: u64, request: &async_graphql::Request, variables: Option<&str>) -> Asked {
        let variables = if request.variables.is_empty() && request.operation_name.is_none() {
            0
        } else {
            let written;
            let variables = match variables {
                Some(variables) => variables,
                None => {
                    written = serde_json::to_string(&request.variables).unwrap_or_default();
                    &written
                }
            };
            self.hasher.hash_one((&request.operation_name, variables))
        };
        Asked { document, variables }
    }

    /// The schema to run a request on.
    pub fn to_run(&self, asked: Option<Asked>) -> &PhotoSchema {
        match asked {
            Some(asked) if self.passed.get(&asked).is_some() => &self.fast,
            _ => &self.strict,
        }
    }

    /// Note how a request ran: it passed validation if no error is the request's (an error of a field has a
    /// path; a validation error has none).
    pub fn ran(&self, asked: Option<Asked>, response: &async_graphql::Response) {
        if let Some(asked) = asked
            && response.errors.iter().all(|error| !error.path.is_empty())
        {
            self.passed.insert(asked, ());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cacheable_key_variables(request: &async_graphql::Request) -> String {
        let key = crate::graphql::cacheable::Key::new(request, &request.variables).unwrap();
        key.variables().to_string()
    }

    #[test]
    fn a_request_runs_unchecked_only_once_it_has_passed_with_the_same_variables() {
        let schemas =
            Schemas::from(schema_builder().finish(), schema_builder().validation_mode(ValidationMode::Fast).finish());
        let query = "query($first: Int) { photos(first: $first) { nodes { id } } }";
        let request = |first: serde_json::Value| {
            let variables = async_graphql::Variables::from_json(serde_json::json!({ "first": first }));
            async_graphql::Request::new(query).variables(variables)
        };
        let (two, word) = (schemas.asked(1, &request(2.into()), None), schemas.asked(1, &request("two".into()), None));
        assert_ne!(two, word);
        let written = cacheable_key_variables(&request(2.into()));
        assert_eq!(two, schemas.asked(1, &request(2.into()), Some(&written)), "the cache key's text hashes the same");
        assert_ne!(two, schemas.asked(2, &request(2.into()), None), "another document");
        assert!(std::ptr::eq(schemas.to_run(Some(two)), &schemas.strict), "not yet validated");

        let refused = async_graphql::Response::from_errors(vec![async_graphql::ServerError::new("invalid", None)]);
        schemas.ran(Some(word), &refused);
        assert!(std::ptr::eq(schemas.to_run(Some(word)), &schemas.strict), "refused: validated again");
        let mut field_error = async_graphql::ServerError::new("no such photo", None);
        field_error.path = vec![async_graphql::PathSegment::Field("photos".into())];
        schemas.ran(Some(two), &async_graphql::Response::from_errors(vec![field_error]));
        assert!(!std::ptr::eq(schemas.to_run(Some(two)), &schemas.strict), "passed once");
        assert!(std::ptr::eq(schemas.to_run(None), &schemas.strict), "a document not kept");
    }
}
