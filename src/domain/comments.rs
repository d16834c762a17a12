//! Comments: what one may say and who may retry it, adding one (and telling subscribers), a photo's timeline,
//! and the live stream of new comments, resumable after a cursor.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use futures_util::{Stream, StreamExt, stream};
use uuid::Uuid;

use super::caller::Caller;
use super::error::{ApiError, ApiResult};
use super::events;
use super::{Services, text};
use crate::catalog::{Catalog, Comment, Event, NewComment, Page, Photo, RetryId, keys::CommentCursor};

pub const BODY_MAX_CHARS: usize = 2_000;
const CLIENT_ID_MAX_CHARS: usize = 64;
/// Comments replayed per read when a subscriber resumes after a cursor. The next page is read only once the
/// socket has taken this one, so a replay holds and sends at most a page at a time, however long it is.
const REPLAY_PAGE: usize = 100;

/// A comment as asked for, checked: built only by `parse`.
#[derive(Debug)]
pub struct CommentRequest {
    photo_id: Uuid,
    body: String,
    client_id: Option<String>,
}

impl CommentRequest {
    /// The body is trimmed, 1 to 2,000 characters, not only invisible ones, without control characters or
    /// bidi overrides; a `client_id` is 1–64 of `A-Z a-z 0-9 - _`.
    pub fn parse(photo_id: Uuid, body: &str, client_id: Option<String>) -> ApiResult<Self> {
        let body = text::multi_line(body);
        let length = body.chars().count();
        if length > 0 && text::is_blank(&body) {
            return Err(ApiError::bad_input("body has no visible characters: write something a reader can see"));
        }
        if length == 0 || length > BODY_MAX_CHARS {
            return Err(ApiError::bad_input(format!(
                "body must be 1 to {BODY_MAX_CHARS} characters after trimming, not {length}"
            )));
        }
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
    let comment = services.catalog.add_comment(new).await?;
    let comment = comment.ok_or_else(|| ApiError::photo_not_found(photo_id))?;
    services.events.committed(Event::Comment(comment.clone()));
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
    if let Some(page) = photo.first_comments(first).filter(|_| after.is_none()) {
        return Ok(page);
    }
    Ok(services.catalog.list_comments(photo.id, first, after).await?)
}

/// What a replay reads next.
struct Replay {
    catalog: Catalog,
    /// Where the next page starts; `None` when the replay is done.
    next: Option<CommentCursor>,
    page: VecDeque<Comment>,
    /// The last comment sent (the `after` cursor before any): live comments up to it were replayed already.
    last: Arc<Mutex<CommentCursor>>,
}

/// The comments after `after`, read a page at a time as the subscriber takes them; a failed read is the
/// stream's last item.
fn replay(
    catalog: Catalog,
    after: CommentCursor,
    last: Arc<Mutex<CommentCursor>>,
) -> impl Stream<Item = ApiResult<Comment>> {
    let start = Replay { catalog, next: Some(after), page: VecDeque::new(), last };
    stream::unfold(start, |mut replay| async move {
        loop {
            if let Some(comment) = replay.page.pop_front() {
                *replay.last.lock().unwrap_or_else(|p| p.into_inner()) = comment.cursor();
                return Some((Ok(comment), replay));
            }
            let position = replay.next.take()?;
            match replay.catalog.list_comments(position.photo_id, REPLAY_PAGE, Some(position)).await {
                Ok(page) => {
                    replay.next = page.has_next.then(|| page.items.last().map(|c| c.cursor())).flatten();
                    replay.page = page.items.into();
                }
                Err(error) => return Some((Err(ApiError::from(error)), replay)),
            }
        }
    })
}

/// Comments posted from now on, on one photo or on every photo. With `after` (a comment's cursor; needs
/// `photo_id`), the comments posted after it come first, so a client that reconnects, to any instance,
/// misses nothing. A failed replay read is the stream's last item: the client resumes from what it got.
pub async fn live(
    services: Arc<Services>,
    photo_id: Option<Uuid>,
    after: Option<CommentCursor>,
) -> ApiResult<impl Stream<Item = ApiResult<Comment>> + use<>> {
    if let Some(cursor) = after
        && photo_id != Some(cursor.photo_id)
    {
        return Err(ApiError::bad_input("after: pass the photoId of the photo this comment cursor belongs to"));
    }
    if let Some(id) = photo_id
        && services.catalog.photo(id).await?.is_none()
    {
        return Err(ApiError::photo_not_found(id));
    }
    // Listen first, then replay: whatever commits in between arrives live, and what was replayed already
    // is dropped from the live events by position (a photo's comment times grow in commit order).
    let since = Utc::now();
    let receiver = services.events.subscribe();
    let last = after.map(|cursor| Arc::new(Mutex::new(cursor)));
    let replayed = match (&last, after) {
        (Some(last), Some(cursor)) => replay(services.catalog.clone(), cursor, last.clone()).left_stream(),
        _ => stream::empty().right_stream(),
    };
    // What the feed re-reads from before the subscription is not news: after `after`, a comment is new if
    // it sorts after the last one sent; otherwise if it was posted since subscribing.
    let is_new = move |c: &Comment| match &last {
        Some(last) => {
            let last = *last.lock().unwrap_or_else(|p| p.into_inner());
            (c.created_at, c.id) > (last.created_at, last.id)
        }
        None => c.created_at >= since,
    };
    let live = events::stream(receiver).filter_map(move |event| {
        let comment = match &*event {
            Event::Comment(c) if photo_id.is_none_or(|id| id == c.photo_id) && is_new(c) => Some(Ok(c.clone())),
            _ => None,
        };
        std::future::ready(comment)
    });
    Ok(replayed.chain(live).scan(false, |failed, item| {
        std::future::ready((!*failed).then(|| {
            *failed = item.is_err();
            item
        }))
    }))
}

/// Every comment deleted from now on, by id: on one photo, or on every photo when `photo_id` is `None`.
pub fn removed(services: &Arc<Services>, photo_id: Option<Uuid>) -> impl Stream<Item = Uuid> + use<> {
    events::stream(services.events.subscribe()).filter_map(move |event| {
        std::future::ready(match &*event {
            Event::CommentRemoved { photo_id: on, id } if photo_id.is_none_or(|wanted| wanted == *on) => Some(*id),
            _ => None,
        })
    })
}
