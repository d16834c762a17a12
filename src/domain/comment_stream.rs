//! The live streams of new and deleted comments (`commentAdded`, `commentRemoved`).
//!
//! **One photo's new comments** come in timeline order with none missed, whichever instance they were posted
//! to and whatever the engine loses. The stream keeps the last comment it sent (or the `after` cursor, or
//! the moment it began). Each event says which comment came just before it on the photo
//! (`AddedComment::previous`): when that is the last one sent, the comment is sent at once; otherwise some
//! comments did not arrive (published late, lost by the engine, or never published by an instance that died
//! after its commit), and the stream reads the timeline after its last comment first. It does the same
//! after the engine reconnects and when it falls behind. So the table is read only when something was
//! missed, and an idle stream reads nothing.
//!
//! **All photos' new comments** (no `photoId`) are what reaches this instance, in the order it arrives: the
//! comments posted here, and those the engine (or the table's feed) carries. When the engine's connection
//! was lost, or the subscriber fell behind, the subscription ends, so a client knows it may have missed some
//! and can read the photos it shows again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt, stream};
use uuid::Uuid;

use super::Services;
use super::error::{ApiError, ApiResult};
use super::events::{Listening, Notice, Topic};
use crate::catalog::{AddedComment, Catalog, Comment, Event, keys::CommentCursor};

/// Comments read per page when a stream catches up. The next page is read only once the socket has taken
/// this one, so a catch-up holds and sends at most a page at a time, however long it is.
const CATCH_UP_PAGE: usize = 100;
/// A timeline read may lag a commit slightly (DynamoDB's queries are eventually consistent): a catch-up that
/// has not reached the comment it knows precedes the one that revealed the gap reads again, this often at
/// most, a little later each time, then sends what it has.
const CATCH_UP_TRIES: u32 = 20;
const CATCH_UP_PAUSE: Duration = Duration::from_millis(25);

/// Comments posted from now on, on one photo or on every photo. With `after` (a comment's cursor; needs
/// `photo_id`), the comments posted after it come first, so a client that reconnects, to any instance,
/// misses nothing. A failed read is the stream's last item: the client resumes from what it got.
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
    let Some(photo_id) = photo_id else {
        let since = Utc::now();
        let listening = services.events.listen(Topic::Comments).await;
        return Ok(listening
            .events()
            .filter_map(move |notice| {
                std::future::ready(match &*notice {
                    Notice::Event(Event::Comment(AddedComment { comment, .. })) if comment.created_at >= since => {
                        Some(Ok(comment.clone()))
                    }
                    _ => None,
                })
            })
            .left_stream());
    };
    if services.catalog.photo(photo_id).await?.is_none() {
        return Err(ApiError::photo_not_found(photo_id));
    }
    // Listen first, then catch up: whatever commits in between arrives live, and what was sent already is
    // dropped from the live events by position (a photo's comment times grow in commit order).
    let since = Utc::now();
    let listening = services.events.listen(Topic::Photo(photo_id)).await;
    let follow = Follow {
        catalog: services.catalog.clone(),
        listening,
        // Before any comment: comments from `since` on are new.
        last: after.unwrap_or(CommentCursor { photo_id, created_at: since, id: Uuid::nil() }),
        pending: VecDeque::new(),
        catch_up: after.map(|_| CatchUp { reach: None, then: None, tries: 0 }),
        failed: false,
    };
    Ok(stream::unfold(follow, Follow::next).right_stream())
}

/// One photo's comment stream (see the module doc).
struct Follow {
    catalog: Catalog,
    listening: Listening,
    /// The last comment sent, or where the stream began.
    last: CommentCursor,
    /// Comments read or heard, to send in this order (those not after `last` are dropped).
    pending: VecDeque<Comment>,
    /// Set while the stream reads the timeline after `last`.
    catch_up: Option<CatchUp>,
    /// A read failed and was sent as the stream's last item.
    failed: bool,
}

struct CatchUp {
    /// The time of a comment known to be committed: reading stops short of it only while a read lags.
    reach: Option<DateTime<Utc>>,
    /// The comment that revealed the gap, sent after the catch-up.
    then: Option<Comment>,
    tries: u32,
}

impl Follow {
    async fn next(mut self) -> Option<(ApiResult<Comment>, Self)> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(comment) = self.pending.pop_front() {
                if position(&comment.cursor()) > position(&self.last) {
                    self.last = comment.cursor();
                    return Some((Ok(comment), self));
                }
                continue;
            }
            if let Some(mut catch_up) = self.catch_up.take() {
                let page = match self.catalog.list_comments(self.last.photo_id, CATCH_UP_PAGE, Some(self.last)).await {
                    Ok(page) => page,
                    Err(error) => {
                        self.failed = true;
                        return Some((Err(ApiError::from(error)), self));
                    }
                };
                let reached = page.items.last().map_or(self.last.created_at, |c| c.created_at);
                let short = catch_up.reach.is_some_and(|reach| reached < reach);
                let empty = page.items.is_empty();
                self.pending.extend(page.items);
                if page.has_next || (short && catch_up.tries < CATCH_UP_TRIES) {
                    if empty {
                        catch_up.tries += 1;
                        tokio::time::sleep(CATCH_UP_PAUSE * catch_up.tries).await;
                    }
                    self.catch_up = Some(catch_up);
                } else {
                    if short {
                        tracing::warn!(photo = %self.last.photo_id, "a comment's predecessor is not readable yet; sending on");
                    }
                    self.pending.extend(catch_up.then);
                }
                continue;
            }
            let notice = self.listening.next().await?;
            match &*notice {
                Notice::Missed => self.catch_up = Some(CatchUp { reach: None, then: None, tries: 0 }),
                Notice::Event(Event::Comment(AddedComment { comment, previous }))
                    if comment.photo_id == self.last.photo_id && position(&comment.cursor()) > position(&self.last) =>
                {
                    if previous.is_some_and(|previous| self.was_sent(previous)) {
                        self.pending.push_back(comment.clone());
                    } else {
                        let then = Some(comment.clone());
                        self.catch_up = Some(CatchUp { reach: *previous, then, tries: 0 });
                    }
                }
                _ => {}
            }
        }
    }

    /// Whether the comment at `time` (times are unique on a photo) is the last one sent, or came before it.
    fn was_sent(&self, time: DateTime<Utc>) -> bool {
        time < self.last.created_at || (time == self.last.created_at && !self.last.id.is_nil())
    }
}

/// Where a comment (or a cursor) sorts in its photo's timeline.
fn position(cursor: &CommentCursor) -> (DateTime<Utc>, Uuid) {
    (cursor.created_at, cursor.id)
}

/// Every comment deleted from now on, by id: on one photo, or on every photo when `photo_id` is `None`.
pub async fn removed(services: &Arc<Services>, photo_id: Option<Uuid>) -> impl Stream<Item = Uuid> + use<> {
    let topic = photo_id.map_or(Topic::Comments, Topic::Photo);
    services.events.listen(topic).await.events().filter_map(move |notice| {
        std::future::ready(match &*notice {
            Notice::Event(Event::CommentRemoved { photo_id: on, id })
                if photo_id.is_none_or(|wanted| wanted == *on) =>
            {
                Some(*id)
            }
            _ => None,
        })
    })
}
