//! A request id per request: the caller's `x-request-id` when it is a plain token, else a new UUID. It names
//! the request's log span and is echoed in the response, so a client's report finds the server's logs.
//!
//! Not `tower-http`'s `SetRequestId`: it keeps whatever id the caller sent, and this one must not log or echo
//! arbitrary bytes (`tests/api/http.rs` sends a tab and a space); the check is the whole of the difference.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

/// The caller's id if it is safe to log and echo (1–64 of `A-Z a-z 0-9 - _ .`).
fn usable(value: &HeaderValue) -> Option<&str> {
    let id = value.to_str().ok()?;
    let plain = id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    (plain && (1..=64).contains(&id.len())).then_some(id)
}

pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = match request.headers().get(HEADER).and_then(usable) {
        Some(id) => id.to_string(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    request.headers_mut().insert(HEADER, value.clone());
    let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = next.run(request).instrument(span).await;
    response.headers_mut().insert(HEADER, value);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_are_kept() {
        assert_eq!(usable(&HeaderValue::from_static("abc-123_x.y")), Some("abc-123_x.y"));
        assert_eq!(usable(&HeaderValue::from_static("has space")), None);
        assert_eq!(usable(&HeaderValue::from_static("")), None);
        assert_eq!(usable(&HeaderValue::from_str(&"a".repeat(65)).unwrap()), None);
    }
}
