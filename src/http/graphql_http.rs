//! `/graphql` as the GraphQL-over-HTTP spec has it, the transport's half (the protocol's is
//! `graphql::over_http`):
//! - the answer's media type follows `Accept`: `application/json` when the client accepts it, sends `*/*` or
//!   no `Accept` at all, `application/graphql-response+json` when it ranks that first; neither acceptable: 406;
//! - under `application/json` every GraphQL answer is 200; under `application/graphql-response+json` one
//!   without `data` (refused before execution) gets the 4xx or 5xx its error code says;
//! - a malformed `Authorization` refuses any operation with `UNAUTHENTICATED` (401 under
//!   `application/graphql-response+json`) and `WWW-Authenticate: Bearer error="invalid_token"` (an operation
//!   that needs a key sent without one: `WWW-Authenticate: Bearer`);
//! - `POST` bodies must be `application/json` (or `application/graphql-response+json`): anything else, which a
//!   browser can send cross-site without a preflight (text/plain, forms, multipart), is 415 and never runs;
//! - `GET` takes `query`, `operationName`, and `variables` and `extensions` as JSON, and runs queries only (405
//!   with `Allow: POST` otherwise); its answers carry `Cache-Control` (`public, max-age` for reads of photos,
//!   `no-store` for everything else) and `Vary: Accept`.
//!
//! Malformed requests (JSON that is not an object, a `query` that is not a string, `variables` or `extensions`
//! that are not objects) are 400 under both media types, with a coded error that says what to fix.

use std::time::Duration;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method as HttpMethod, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tracing::Instrument;

use super::listener::Peer;
use super::{Shared, connection};
use crate::domain::caller::Caller;
use crate::domain::error::{ApiError, ErrorCode};
use crate::graphql;
use crate::graphql::over_http::{Answer, Incoming, Method, Outcome};
use crate::telemetry;

/// Largest GraphQL request body: the API needs no large bodies (photos go straight to storage).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The media types an answer can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    Json,
    GraphqlResponse,
}

impl MediaType {
    fn essence(self) -> &'static str {
        match self {
            MediaType::Json => "application/json",
            MediaType::GraphqlResponse => "application/graphql-response+json",
        }
    }

    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::Json => "application/json; charset=utf-8",
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        })
    }
}

/// The media type to answer in, by `Accept` (RFC 9110 §12.5.1): for each type, the quality of the most
/// specific range that matches it; the best quality wins, then the range listed first; `application/json`
/// when nothing tells them apart (`*/*`) or there is no `Accept`. `None`: the client accepts neither.
fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let ranges: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|range| !range.is_empty())
        .collect();
    if ranges.is_empty() {
        return Some(MediaType::Json);
    }
    // (quality in thousandths, specificity, minus the position listed): larger is better.
    let score = |media: MediaType| -> Option<(u16, u8, isize)> {
        let (kind, subtype) = media.essence().split_once('/').unwrap_or_default();
        let mut best: Option<(u16, u8, isize)> = None;
        for (position, range) in ranges.iter().enumerate() {
            let mut parts = range.split(';');
            let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let specificity = match name.split_once('/') {
                Some((k, s)) if k == kind && s == subtype => 2,
                Some((k, "*")) if k == kind => 1,
                Some(("*", "*")) => 0,
                _ => continue,
            };
            let quality = parts
                .filter_map(|parameter| parameter.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .map_or(1000, |q| (q.clamp(0.0, 1.0) * 1000.0).round() as u16);
            if best.is_none_or(|(_, s, _)| specificity > s) {
                best = Some((quality, specificity, -(position as isize)));
            }
        }
        best.filter(|(quality, _, _)| *quality > 0)
    };
    match (score(MediaType::GraphqlResponse), score(MediaType::Json)) {
        (Some(response), Some(json)) if response > json => Some(MediaType::GraphqlResponse),
        (_, Some(_)) => Some(MediaType::Json),
        (Some(_), None) => Some(MediaType::GraphqlResponse),
        (None, None) => None,
    }
}

/// The status of an answer refused before it ran, under `application/graphql-response+json`.
fn refusal_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadUserInput | ErrorCode::UploadInvalid | ErrorCode::PersistedQueryNotFound => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable | ErrorCode::PhotoProcessing => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub async fn handler(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    request: axum::extract::Request,
) -> Response {
    let started = std::time::Instant::now();
    let Some(media) = negotiate(request.headers()) else {
        let message = "the Accept header allows neither application/json nor application/graphql-response+json";
        let answer = shared.api.refuse(ApiError::bad_input(message), started);
        return respond(MediaType::Json, StatusCode::NOT_ACCEPTABLE, answer);
    };
    let client_ip = shared.client_ip(peer, request.headers());
    let authorization = request.headers().get(header::AUTHORIZATION).cloned();
    let span = telemetry::operation_span(Some(request.headers()));
    // HEAD is GET without the body (axum answers it from the GET route), as a CDN may send it.
    let method =
        if matches!(*request.method(), HttpMethod::GET | HttpMethod::HEAD) { Method::Get } else { Method::Post };
    let incoming = match method {
        Method::Get => from_query_string(&request),
        Method::Post => from_body(request, shared.body_timeout).await,
    };
    match incoming {
        Ok(incoming) => {
            let caller = Caller::new(client_ip, authorization.as_ref().map(HeaderValue::as_bytes));
            let malformed_key = caller.owner().is_err();
            let data = graphql::request_data(&shared.state, caller);
            let answer = shared.api.answer(incoming, method, data).instrument(span).await;
            let unauthenticated = answer.outcome == Outcome::Refused(ErrorCode::Unauthenticated);
            let status = match answer.outcome {
                Outcome::Executed => StatusCode::OK,
                Outcome::NeedsPost => StatusCode::METHOD_NOT_ALLOWED,
                Outcome::Refused(_) if media == MediaType::Json => StatusCode::OK,
                Outcome::Refused(code) => refusal_status(code),
            };
            let mut response = respond(media, status, answer);
            if unauthenticated {
                // RFC 6750 §3: the scheme, and when the key sent is malformed, that it is not one.
                let challenge = if malformed_key { "Bearer error=\"invalid_token\"" } else { "Bearer" };
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            }
            response
        }
        Err((status, error)) => respond(media, status, shared.api.refuse(error, started)),
    }
}

fn respond(media: MediaType, status: StatusCode, answer: Answer) -> Response {
    let cache_control = match answer.max_age {
        Some(age) => HeaderValue::from_str(&format!("public, max-age={}", age.as_secs()))
            .unwrap_or(HeaderValue::from_static("no-store")),
        None => HeaderValue::from_static("no-store"),
    };
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, media.header());
    headers.insert(header::CACHE_CONTROL, cache_control);
    headers.append(header::VARY, HeaderValue::from_static("accept"));
    if answer.outcome == Outcome::NeedsPost {
        headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

type Refusal = (StatusCode, ApiError);

fn bad(message: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, ApiError::bad_input(message))
}

/// A GET's parameters: `query` and `operationName` as they are, `variables` and `extensions` as JSON objects.
fn from_query_string(request: &axum::extract::Request) -> Result<Incoming, Refusal> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(request.uri())
        .map_err(|e| bad(format!("the query string is not a GraphQL request: {e}")))?;
    let parameter = |name: &str| pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
    let object = |name: &str| -> Result<Map<String, Value>, Refusal> {
        let Some(text) = parameter(name) else { return Ok(Map::new()) };
        let json = serde_json::from_str(&text).map_err(|_| bad(format!("{name} must be a JSON object")))?;
        object_or_null(name, json)
    };
    let incoming = Incoming {
        query: parameter("query"),
        operation_name: parameter("operationName").filter(|name| !name.is_empty()),
        variables: object("variables")?,
        extensions: object("extensions")?,
    };
    with_query(incoming)
}

/// A request has its query, or a persisted query's hash instead.
fn with_query(incoming: Incoming) -> Result<Incoming, Refusal> {
    if incoming.query.is_none() && !incoming.extensions.contains_key("persistedQuery") {
        return Err(bad("the request has no `query`: send the GraphQL document as a string"));
    }
    Ok(incoming)
}

fn object_or_null(name: &str, value: Value) -> Result<Map<String, Value>, Refusal> {
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(bad(format!("{name} must be a JSON object (or null), e.g. {{\"first\": 20}}"))),
    }
}

/// A POST's JSON body of at most `MAX_BODY_BYTES`, arriving within `body_timeout`.
async fn from_body(request: axum::extract::Request, body_timeout: Duration) -> Result<Incoming, Refusal> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset_ok = parts
        .filter_map(|parameter| parameter.trim().split_once('='))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .all(|(_, value)| value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8"));
    if ![MediaType::Json.essence(), MediaType::GraphqlResponse.essence()].contains(&essence.as_str()) || !charset_ok {
        let message = format!(
            "send the request as Content-Type: application/json (UTF-8), not {}: other bodies are refused, so \
             that no web page can make a browser change anything here",
            if content_type.is_empty() { "without one".to_string() } else { crate::text::quote(content_type) }
        );
        return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, ApiError::bad_input(message)));
    }
    let too_slow = || {
        let message = format!("the request body did not arrive within {} s: send it at once", body_timeout.as_secs());
        (StatusCode::REQUEST_TIMEOUT, ApiError::bad_input(message))
    };
    let body = tokio::time::timeout(body_timeout, axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES))
        .await
        .map_err(|_| too_slow())?
        .map_err(|error| {
            if connection::is_too_slow(&error) {
                return too_slow();
            }
            let message =
                format!("the request body is over {MAX_BODY_BYTES} bytes: send a smaller query (photos go to storage)");
            (StatusCode::PAYLOAD_TOO_LARGE, ApiError::bad_input(message))
        })?;
    let json: Value = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("the body is not JSON ({e}): send {{\"query\": \"…\", \"variables\": {{…}}}}")))?;
    let mut fields = match json {
        Value::Object(fields) => fields,
        Value::Array(_) => return Err(bad("batched requests are not supported: send one operation per request")),
        _ => return Err(bad("the body must be a JSON object with a `query` string")),
    };
    let mut string = |name: &str| match fields.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(bad(format!("{name} must be a string"))),
    };
    let (query, operation_name) = (string("query")?, string("operationName")?);
    with_query(Incoming {
        query,
        operation_name,
        variables: object_or_null("variables", fields.remove("variables").unwrap_or(Value::Null))?,
        extensions: object_or_null("extensions", fields.remove("extensions").unwrap_or(Value::Null))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<MediaType> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        negotiate(&headers)
    }

    #[test]
    fn the_answer_follows_accept() {
        use MediaType::{GraphqlResponse, Json};
        assert_eq!(negotiate(&HeaderMap::new()), Some(Json), "no Accept: application/json");
        assert_eq!(accept("application/json"), Some(Json));
        assert_eq!(accept("*/*"), Some(Json));
        assert_eq!(accept("application/*"), Some(Json));
        assert_eq!(accept("application/graphql-response+json"), Some(GraphqlResponse));
        assert_eq!(accept("application/graphql-response+json, application/json;q=0.9"), Some(GraphqlResponse));
        assert_eq!(accept("application/json, application/graphql-response+json"), Some(Json), "listed first");
        assert_eq!(accept("application/graphql-response+json, application/json"), Some(GraphqlResponse));
        assert_eq!(accept("application/json;q=0.5, application/graphql-response+json"), Some(GraphqlResponse));
        assert_eq!(accept("application/graphql-response+json;q=0, */*"), Some(Json));
        assert_eq!(accept("text/html, */*;q=0.1"), Some(Json));
        assert_eq!(accept("APPLICATION/JSON; charset=utf-8"), Some(Json));
        assert_eq!(accept("text/html"), None);
        assert_eq!(accept("application/json;q=0"), None);
    }
}
