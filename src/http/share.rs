//! `GET /s/<token>`: a share's service link. 302 to a fresh presigned GET while the share is valid, 410 Gone
//! once it expired, was revoked or its photo was deleted (or its processing failed), 503 with `Retry-After`
//! while its photo is still processing (links are made for READY photos: only older ones can be), 404 for a token the service never gave out (or
//! whose record's TTL, 7 days after expiry, has passed). Each open is counted (a table
//! write) up to `OPENS_COUNTED_PER_MINUTE` per client address; past that the link still redirects, uncounted.

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::listener::Peer;
use crate::domain::error::ApiError;
use crate::domain::shares::{self, Open};

/// Opens counted per client address and minute, after a burst of `OPENS_COUNTED_BURST`.
pub(super) const OPENS_COUNTED_PER_MINUTE: u32 = 30;
pub(super) const OPENS_COUNTED_BURST: u32 = 10;

pub(super) async fn open_share(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let no_store = (header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let counted = shared.share_opens.take(shared.client_ip(peer, &headers), std::time::Instant::now()).is_ok();
    match shares::open(&shared.state.services, &token, counted).await {
        Ok(Open::Redirect(url)) => match HeaderValue::from_str(&url) {
            Ok(location) => (StatusCode::FOUND, [no_store, (header::LOCATION, location)]).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Ok(Open::Gone) => (StatusCode::GONE, [no_store], "this share link has expired or was revoked").into_response(),
        Ok(Open::PhotoDeleted) => {
            (StatusCode::GONE, [no_store], "the photo of this share link was deleted").into_response()
        }
        Ok(Open::Processing) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [no_store, (header::RETRY_AFTER, HeaderValue::from_static("2"))],
            "the photo of this share link is still being processed: open it again in a moment",
        )
            .into_response(),
        Ok(Open::PhotoFailed) => {
            (StatusCode::GONE, [no_store], "the photo of this share link could not be processed").into_response()
        }
        Ok(Open::NotFound) => (StatusCode::NOT_FOUND, [no_store], "no such share link").into_response(),
        Err(error) => {
            let status = match error {
                ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            // Logs the cause (the conversion does) without the token.
            let _ = async_graphql::Error::from(error);
            (status, "the share link cannot be opened right now; retry shortly").into_response()
        }
    }
}
