//! `GET /p/<id>`: the link `Photo.url` is until the photo is READY. 302 to the FULL rendition's view link once
//! it is READY, 503 with `Retry-After` while it is processing, 410 Gone when its processing failed, 404 for no
//! such photo (or a deleted one). No secret is in it: it opens what `photo(id) { url }` opens.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::domain::error::ApiError;
use crate::domain::photos::{self, Link};

pub(super) async fn open_photo(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let no_store = (header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return (StatusCode::NOT_FOUND, [no_store], "no such photo").into_response();
    };
    match photos::link(&shared.state.services, id).await {
        // The view link lasts at least 10 minutes: a browser may keep this answer one.
        Ok(Link::Redirect(url)) => match HeaderValue::from_str(&url) {
            Ok(location) => {
                let cache = HeaderValue::from_static("private, max-age=60");
                (StatusCode::FOUND, [(header::CACHE_CONTROL, cache), (header::LOCATION, location)]).into_response()
            }
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Ok(Link::Processing) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [no_store, (header::RETRY_AFTER, HeaderValue::from_static("2"))],
            "the photo is still being processed: open it again in a moment",
        )
            .into_response(),
        Ok(Link::Failed) => {
            (StatusCode::GONE, [no_store], "the photo could not be processed: it has no image").into_response()
        }
        Ok(Link::NotFound) => (StatusCode::NOT_FOUND, [no_store], "no such photo").into_response(),
        Err(error) => {
            let status = match error {
                ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            // Logs the cause (the conversion does).
            let _ = async_graphql::Error::from(error);
            (status, [no_store], "the photo cannot be opened right now; retry shortly").into_response()
        }
    }
}
