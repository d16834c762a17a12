//! The service's own links, which redirect to a fresh presigned GET of a photo's FULL rendition:
//!
//! - `GET /s/<token>`, a share's service link: 302 while the share is valid; 410 Gone once it expired, was
//!   revoked or its photo was deleted (or its processing failed); 503 with `Retry-After` while its photo is
//!   still processing (links are made for READY photos: only older ones can be); 404 for a token the service
//!   never gave out (or whose record's TTL, 7 days after expiry, has passed). Each open is counted (a table
//!   write) up to `OPENS_COUNTED_PER_MINUTE` per client address; past that the link still redirects, uncounted.
//! - `GET /p/<id>`, what `Photo.url` is until the photo is READY: 302 once it is READY, 503 with `Retry-After`
//!   while it is processing, 410 Gone when its processing failed, 404 for no such photo (or a deleted one). No
//!   secret is in it: it opens what `photo(id) { url }` opens.

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::listener::Peer;
use crate::domain::error::{ApiError, ApiResult};
use crate::domain::photos::{self, Link};
use crate::domain::shares::{self, Open};

/// Opens counted per client address and minute, after a burst of `OPENS_COUNTED_BURST`.
pub(super) const OPENS_COUNTED_PER_MINUTE: u32 = 30;
pub(super) const OPENS_COUNTED_BURST: u32 = 10;

const NO_STORE: (header::HeaderName, HeaderValue) = (header::CACHE_CONTROL, HeaderValue::from_static("no-store"));

pub(super) async fn open_share(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let counted = shared.share_opens.take(shared.client_ip(peer, &headers), std::time::Instant::now()).is_ok();
    let opened = shares::open(&shared.state.services, &token, counted).await;
    // The redirect is to a link that ends with the share: not to be kept.
    answer(opened, "the share link", NO_STORE.1, |open| match open {
        Open::Redirect(url) => Ok(url),
        Open::Gone => Err((StatusCode::GONE, "this share link has expired or was revoked")),
        Open::PhotoDeleted => Err((StatusCode::GONE, "the photo of this share link was deleted")),
        Open::Processing => Err(PROCESSING),
        Open::PhotoFailed => Err((StatusCode::GONE, "the photo of this share link could not be processed")),
        Open::NotFound => Err((StatusCode::NOT_FOUND, "no such share link")),
    })
}

pub(super) async fn open_photo(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return (StatusCode::NOT_FOUND, [NO_STORE], "no such photo").into_response();
    };
    let linked = photos::link(&shared.state.services, id).await;
    // The view link lasts at least 10 minutes: a browser may keep this answer one.
    answer(linked, "the photo", HeaderValue::from_static("private, max-age=60"), |link| match link {
        Link::Redirect(url) => Ok(url),
        Link::Processing => Err(PROCESSING),
        Link::Failed => Err((StatusCode::GONE, "the photo could not be processed: it has no image")),
        Link::NotFound => Err((StatusCode::NOT_FOUND, "no such photo")),
    })
}

const PROCESSING: (StatusCode, &str) =
    (StatusCode::SERVICE_UNAVAILABLE, "the photo is still being processed: open it again in a moment");

/// The response to what a link found: a redirect (kept as `cache` says), a refusal, or a failure of a backend
/// (logged, without what the link holds).
fn answer<T>(
    found: ApiResult<T>,
    what: &str,
    cache: HeaderValue,
    decide: impl FnOnce(T) -> Result<String, (StatusCode, &'static str)>,
) -> Response {
    let found = match found {
        Ok(found) => found,
        Err(error) => {
            let status = match error {
                ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            // Logs the cause (the conversion does).
            let _ = async_graphql::Error::from(error);
            return (status, [NO_STORE], format!("{what} cannot be opened right now; retry shortly")).into_response();
        }
    };
    match decide(found) {
        Ok(url) => match HeaderValue::from_str(&url) {
            Ok(location) => {
                (StatusCode::FOUND, [(header::CACHE_CONTROL, cache), (header::LOCATION, location)]).into_response()
            }
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Err(refusal @ (StatusCode::SERVICE_UNAVAILABLE, _)) => {
            (refusal.0, [NO_STORE, (header::RETRY_AFTER, HeaderValue::from_static("2"))], refusal.1).into_response()
        }
        Err((status, text)) => (status, [NO_STORE], text).into_response(),
    }
}
