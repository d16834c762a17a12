//! Comments: what one may say and who may retry it, adding one (and telling subscribers), a photo's timeline.
//! The live streams are in `comment_stream`.

use uuid::Uuid;

use super::Services;
use super::caller::Caller;
use super::error::{ApiError, ApiResult};
use crate::catalog::{Comment, Event, NewComment, Page, Photo, RetryId, keys::CommentCursor};
use crate::text::CommentText;

const CLIENT_ID_MAX_CHARS: usize = 64;

/// A comment as asked for, checked: built only by `parse`.
#[derive(Debug)]
pub struct CommentRequest {
    photo_id: Uuid,
    body: CommentText,
    client_id: Option<String>,
}

impl CommentRequest {
    /// The body as `CommentText::parse` takes it; a `client_id` is 1–64 of `A-Z a-z 0-9 - _`.
    pub fn parse(photo_id: Uuid, body: &str, client_id: Option<String>) -> ApiResult<Self> {
        let body = CommentText::parse(body)?;
        if let Some(client_id) = &client_id {
            let valid = (1..=CLIENT_ID_MAX_CHARS).contains(&client_id.len())
                && client_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(ApiError::bad_input(format!(
                    "clientId must be 1 to {CLIENT_ID_MAX_CHARS} characters of A-Z, a-z, 0-9, '-' and '_'"
                )));
            }
        }
        Ok(Self { photo_id, body, client_id })
    }
}

/// Add `request` as `caller`'s comment: stored with the photo's count in one transaction, then published to
/// subscribers. A retry with the same caller's `clientId` returns the comment stored the first time.
pub async fn add(services: &Services, caller: &Caller, request: CommentRequest) -> ApiResult<Comment> {
    let retry = match request.client_id {
        Some(client_id) => Some(RetryId { scope: caller.retry_scope()?, client_id }),
        None => None,
    };
    let photo_id = request.photo_id;
    let author = caller.owner()?.map(|key| key.hex());
    let new = NewComment { photo_id, body: request.body, author_ip: caller.ip.to_string(), author, retry };
    let added = services.catalog.add_comment(new).await?;
    let added = added.ok_or_else(|| ApiError::photo_not_found(photo_id))?;
    let comment = added.comment.clone();
    services.events.committed(Event::Comment(added));
    Ok(comment)
}

/// `first` comments of `photo`'s timeline after `after`, oldest first. The first ones usually come with the
/// photo item itself, so a gallery page makes no query per photo.
pub async fn timeline(
    services: &Services,
    photo: &Photo,
    first: usize,
    after: Option<CommentCursor>,
) -> ApiResult<Page<Comment>> {
    if after.is_some_and(|cursor| cursor.photo_id != photo.id) {
        return Err(ApiError::bad_input("after: this cursor belongs to another photo's comments"));
    }
    if let Some(page) = kept_page(photo, first, after) {
        return Ok(page);
    }
    Ok(services.catalog.list_comments(photo.id, first, after).await?)
}

/// The page `timeline` answers from the photo item alone, without a table call, if it can.
pub fn kept_page(photo: &Photo, first: usize, after: Option<CommentCursor>) -> Option<Page<Comment>> {
    photo.first_comments(first).filter(|_| after.is_none())
}
