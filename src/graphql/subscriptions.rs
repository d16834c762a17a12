//! Live updates over WebSocket (`/graphql/ws`, graphql-transport-ws): new comments and new photos, from
//! whichever instance they were posted to.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::{Context, ID, Result, Subscription};
use chrono::Utc;
use futures_util::{Stream, StreamExt, stream};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::comments::Comment;
use super::photos::{Photo, decode_after};
use super::{parse_id, state};
use crate::catalog::{self, Event, keys::CommentCursor};
use crate::error::ApiError;

/// Comments replayed per read when a subscriber resumes after a cursor.
const REPLAY_PAGE: usize = 100;

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
    ) -> Result<impl Stream<Item = Comment> + use<>> {
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
        // Listen first, then replay: whatever commits in between arrives live, and the ids drop repeats.
        let since = Utc::now();
        let receiver = state.events.subscribe();
        let mut replayed = Vec::new();
        let mut cursor = after;
        while let Some(position) = cursor {
            let page = state
                .catalog
                .list_comments(position.photo_id, REPLAY_PAGE, Some(position))
                .await
                .map_err(ApiError::from)?;
            cursor = page.has_next.then(|| page.items.last().map(|c| c.cursor())).flatten();
            replayed.extend(page.items);
        }
        let replayed_ids: HashSet<_> = replayed.iter().map(|c| c.id).collect();
        // What the feed re-reads from before the subscription is not news: after `after`, a comment is new if
        // it sorts after it (comment times grow in commit order); otherwise if it was posted since subscribing.
        let is_new = move |c: &catalog::Comment| match after {
            Some(cursor) => (c.created_at, c.id) > (cursor.created_at, cursor.id),
            None => c.created_at >= since,
        };
        let live = live(receiver).filter_map(move |event| {
            let comment = match &*event {
                Event::Comment(c)
                    if photo_id.is_none_or(|id| id == c.photo_id) && is_new(c) && !replayed_ids.contains(&c.id) =>
                {
                    Some(Comment(c.clone()))
                }
                _ => None,
            };
            std::future::ready(comment)
        });
        Ok(stream::iter(replayed.into_iter().map(Comment)).chain(live))
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
