//! GraphQL over HTTP, the protocol's half (the transport's, content types and status codes, is
//! `http::graphql_http`): a request as the client sent it becomes one answer. Persisted queries are resolved
//! here, GET may run queries only (a mutation a browser could send cross-site from an `<img>` changes
//! nothing), an answer says whether it was executed or refused before execution (then it has no `data`, as
//! the GraphQL spec says), and which answers shared caches may keep, and for how long.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::parser::types::OperationType;
use bytes::Bytes;

use super::response_cache::{Computed, Flight, Holdings};
use super::{Api, observe, persisted, refused};
use crate::domain::error::{ApiError, ErrorCode};

/// Longest `max-age` an answer gets: short, as a write elsewhere shows within about a second.
const PUBLIC_MAX_AGE: Duration = Duration::from_secs(10);

/// A request's parameters as the client sent them (the HTTP layer checked their JSON types).
#[derive(Debug, Default)]
pub struct Incoming {
    pub query: Option<String>,
    pub operation_name: Option<String>,
    pub variables: serde_json::Map<String, serde_json::Value>,
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// How the request came: GET runs queries only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// How a request ended, for the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ran: the body has `data` (and perhaps errors of some fields).
    Executed,
    /// Refused before it ran, or stopped without any data: the body has `errors` only, the first with this code.
    Refused(ErrorCode),
    /// A mutation or subscription sent with GET: not run.
    NeedsPost,
}

/// The answer to one HTTP request.
pub struct Answer {
    /// The JSON response.
    pub body: Bytes,
    pub outcome: Outcome,
    /// How long shared caches (a CDN, the browser) may keep it: reads of photos over GET with no errors.
    pub max_age: Option<Duration>,
}

/// Whether `response` has no data to give: refused before execution (syntax, validation, variables) or
/// stopped before any field resolved (the deadline). Field errors during execution carry their path.
fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}

/// The code of a response's first error.
fn first_code(response: &async_graphql::Response) -> ErrorCode {
    ErrorCode::parse(observe::outcome(response)).unwrap_or(ErrorCode::BadUserInput)
}

#[derive(serde::Serialize)]
struct Errors<'a> {
    errors: &'a [async_graphql::ServerError],
}

impl Api {
    /// The answer to a query or mutation sent over HTTP. A read-only query asked again, identically, while
    /// the photos its answer holds are unchanged, is answered from the response cache without running it.
    pub async fn answer(&self, incoming: Incoming, method: Method, data: async_graphql::Data) -> Answer {
        let started = Instant::now();
        if let Err(error) = super::refuse_malformed_key(&data) {
            return self.finish("invalid", started, refused(error), false);
        }
        let persisted = match persisted::requested(&incoming.extensions) {
            Ok(persisted) => persisted,
            Err(error) => return self.refuse(error, started),
        };
        let query = match (persisted, incoming.query) {
            (Some(hash), sent) => match self.persisted.query(hash, sent) {
                Ok(query) => query,
                Err(error) => return self.refuse(error, started),
            },
            (None, Some(query)) => query,
            (None, None) => {
                let missing = "the request has no `query`: send the GraphQL document as a string";
                return self.refuse(ApiError::bad_input(missing), started);
            }
        };
        let variables = async_graphql::Variables::from_json(serde_json::Value::Object(incoming.variables));
        let mut request = async_graphql::Request::new(query).variables(variables);
        request.operation_name = incoming.operation_name;
        request.data = data;

        if request.query.len() > super::HEAVY_BYTES
            && let Err(error) = self.parse_off_runtime(&mut request).await
        {
            return self.finish("invalid", started, refused(error), false);
        }
        let admitted = match self.admit(&mut request) {
            Ok(admitted) => admitted,
            Err(error) => return self.finish("invalid", started, refused(error), false),
        };
        if method == Method::Get && admitted.kind != OperationType::Query {
            let message = "GET runs queries only: send mutations and subscriptions with POST (or over the WebSocket)";
            let mut answer = self.refuse(ApiError::bad_input(message), started);
            answer.outcome = Outcome::NeedsPost;
            return answer;
        }
        if let Some(hash) = persisted {
            self.persisted.register(hash, &request.query);
        }
        let public = method == Method::Get && admitted.public;

        // Read before any data is: an answer computed from data older than a change is begun at an earlier
        // tick than that change's, and never served after it. Changes count as they commit here, and as other
        // instances' events arrive (from the feed or the engine, while anyone here subscribes).
        let freshness = self.state.services.events.freshness();
        let since = freshness.now();
        let computed = Instant::now();
        // The flight this request leads, and where its execution notes the photos it holds.
        let mut leader = None;
        if let Some(key) = admitted.cache_key.clone() {
            let kept = match self.answers.get(&key, freshness) {
                Some(body) => Some(body),
                None => match self.answers.flight(key, since) {
                    Flight::Lead(lead) => {
                        let holdings = Arc::new(Holdings::default());
                        request.data.insert(holdings.clone());
                        leader = Some((lead, holdings));
                        None
                    }
                    Flight::Follow(follower) => follower.answer().await,
                },
            };
            if let Some(body) = kept {
                self.state.metrics.record_cached_answer();
                crate::telemetry::record_outcome("ok");
                self.state.metrics.record_request(admitted.operation, "ok", started.elapsed().as_secs_f64());
                return Answer { body, outcome: Outcome::Executed, max_age: self.public_max_age(public) };
            }
        }
        let response = self.run(&admitted, request, true).await;
        let keep = response.is_ok();
        let answer = self.finish(admitted.operation, started, response, public);
        if let Some((leader, holdings)) = leader {
            leader.land(computed, keep.then(|| Computed { body: answer.body.clone(), holdings }));
        }
        answer
    }

    /// The answer to a request refused before it ran (also by the HTTP layer, before it could be read).
    pub fn refuse(&self, error: ApiError, started: Instant) -> Answer {
        self.finish("invalid", started, super::error_response(error), false)
    }

    /// How long a shared cache may keep a `public` answer: never longer than the view links in it stay valid
    /// (nor than `PUBLIC_MAX_AGE`), counting the time it may have spent in the response cache.
    fn public_max_age(&self, public: bool) -> Option<Duration> {
        let links = crate::domain::photos::view_url_lasts_at_least(&self.state.services);
        let age = PUBLIC_MAX_AGE.min(links.saturating_sub(self.state.api.query_cache));
        (public && !age.is_zero()).then_some(age)
    }

    /// Record the request and serialise its response: without `data` when it has none to give.
    fn finish(
        &self,
        operation: &'static str,
        started: Instant,
        response: async_graphql::Response,
        public: bool,
    ) -> Answer {
        self.record(operation, started, &response);
        let (outcome, json) = if is_request_error(&response) {
            (Outcome::Refused(first_code(&response)), serde_json::to_vec(&Errors { errors: &response.errors }))
        } else {
            (Outcome::Executed, super::json::response(&response))
        };
        let max_age = self.public_max_age(public && response.errors.is_empty());
        match json {
            Ok(json) => Answer { body: Bytes::from(json), outcome, max_age },
            Err(error) => {
                tracing::error!(%error, "cannot serialise a response");
                let code = ErrorCode::Internal.as_str();
                let body = format!(r#"{{"errors":[{{"message":"internal error","extensions":{{"code":"{code}"}}}}]}}"#);
                Answer { body: Bytes::from(body), outcome: Outcome::Refused(ErrorCode::Internal), max_age: None }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_answers_without_data_are_request_errors() {
        let error = async_graphql::ServerError::new("boom", None);
        assert!(is_request_error(&async_graphql::Response::from_errors(vec![error.clone()])));
        let mut field_error = error.clone();
        field_error.path = vec![async_graphql::PathSegment::Field("photos".into())];
        assert!(!is_request_error(&async_graphql::Response::from_errors(vec![field_error])), "execution began");
        let data = async_graphql::Value::from_json(serde_json::json!({ "photo": null })).unwrap();
        assert!(!is_request_error(&async_graphql::Response::new(data)));
    }
}
