//! Live updates over WebSocket (`/graphql/ws`, graphql-transport-ws): new comments and new photos, from
//! whichever instance they were posted to.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_graphql::{Context, ID, Result, Subscription};
use chrono::Utc;
use futures_util::{Stream, StreamExt, stream};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::comments::Comment;
use super::photos::{Photo, decode_after};
use super::{parse_id, state};
use crate::catalog::{self, Catalog, Event, keys::CommentCursor};
use crate::domain::error::ApiError;

/// Comments replayed per read when a subscriber resumes after a cursor. The next page is read only once the
/// socket has taken this one, so a replay holds and sends at most a page at a time, however long it is.
const REPLAY_PAGE: usize = 100;

/// What a replay reads next.
struct Replay {
    catalog: Catalog,
    /// Where the next page starts; `None` when the replay is done.
    next: Option<CommentCursor>,
    page: VecDeque<catalog::Comment>,
    /// The last comment sent (the `after` cursor before any): live comments up to it were replayed already.
    last: Arc<Mutex<CommentCursor>>,
}

/// The comments after `after`, read a page at a time as the subscriber takes them; a failed read is the
/// stream's last item.
fn replay(
    catalog: Catalog,
    after: CommentCursor,
    last: Arc<Mutex<CommentCursor>>,
) -> impl Stream<Item = Result<Comment>> {
    let start = Replay { catalog, next: Some(after), page: VecDeque::new(), last };
    stream::unfold(start, |mut replay| async move {
        loop {
            if let Some(comment) = replay.page.pop_front() {
                *replay.last.lock().unwrap_or_else(|p| p.into_inner()) = comment.cursor();
                return Some((Ok(Comment(comment)), replay));
            }
            let position = replay.next.take()?;
            match replay.catalog.list_comments(position.photo_id, REPLAY_PAGE, Some(position)).await {
                Ok(page) => {
                    replay.next = page.has_next.then(|| page.items.last().map(|c| c.cursor())).flatten();
                    replay.page = page.items.into();
                }
                Err(error) => return Some((Err(ApiError::from(error).into()), replay)),
            }
        }
    })
}

/// The live events of this instance's hub, until the subscriber falls too far behind (it is then
/// disconnected, and can resume with `after`).
fn live(receiver: Receiver<Arc<Event>>) -> impl Stream<Item = Arc<Event>> {
    stream::unfold(receiver, |mut receiver| async move {
        match receiver.recv().await {
            Ok(event) => Some((event, receiver)),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "subscriber fell behind; closing its subscription");
                None
            }
            Err(RecvError::Closed) => None,
        }
    })
}

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Comments posted from now on, on one photo or on every photo when `photoId` is null. With `after` (a
    /// comment's `cursor`; needs `photoId`), the comments posted after it are sent first, so a client that
    /// reconnects, to any instance, misses nothing.
    async fn comment_added(
        &self,
        ctx: &Context<'_>,
        photo_id: Option<ID>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Comment>> + use<>> {
        let state = state(ctx)?.clone();
        let photo_id = photo_id.map(|id| parse_id("photoId", &id)).transpose()?;
        let after = decode_after(after, CommentCursor::decode)?;
        if let Some(cursor) = after
            && photo_id != Some(cursor.photo_id)
        {
            return Err(
                ApiError::bad_input("after: pass the photoId of the photo this comment cursor belongs to").into()
            );
        }
        if let Some(id) = photo_id
            && state.catalog.photo(id).await.map_err(ApiError::from)?.is_none()
        {
            return Err(ApiError::NotFound(format!("no photo with id {id}")).into());
        }
        // Listen first, then replay: whatever commits in between arrives live, and what was replayed already
        // is dropped from the live events by position (a photo's comment times grow in commit order).
        let since = Utc::now();
        let receiver = state.events.subscribe();
        let last = after.map(|cursor| Arc::new(Mutex::new(cursor)));
        let replayed = match (&last, after) {
            (Some(last), Some(cursor)) => replay(state.catalog.clone(), cursor, last.clone()).left_stream(),
            _ => stream::empty().right_stream(),
        };
        // What the feed re-reads from before the subscription is not news: after `after`, a comment is new if
        // it sorts after the last one sent; otherwise if it was posted since subscribing.
        let is_new = move |c: &catalog::Comment| match &last {
            Some(last) => {
                let last = *last.lock().unwrap_or_else(|p| p.into_inner());
                (c.created_at, c.id) > (last.created_at, last.id)
            }
            None => c.created_at >= since,
        };
        let live = live(receiver).filter_map(move |event| {
            let comment = match &*event {
                Event::Comment(c) if photo_id.is_none_or(|id| id == c.photo_id) && is_new(c) => {
                    Some(Ok(Comment(c.clone())))
                }
                _ => None,
            };
            std::future::ready(comment)
        });
        // A failed replay read ends the subscription (after its error): the client resumes from what it got.
        Ok(replayed.chain(live).scan(false, |failed, item| {
            std::future::ready((!*failed).then(|| {
                *failed = item.is_err();
                item
            }))
        }))
    }

    /// Every photo uploaded from now on.
    async fn photo_added(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Photo> + use<>> {
        let since = Utc::now();
        let receiver = state(ctx)?.events.subscribe();
        Ok(live(receiver).filter_map(move |event| {
            std::future::ready(match &*event {
                Event::Photo(photo) if photo.uploaded_at >= since => Some(Photo(photo.clone())),
                _ => None,
            })
        }))
    }
}
