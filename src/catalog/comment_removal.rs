//! Deleting a comment. The comment, its photo's `commentCount` and, when it was one of them, the photo's kept
//! first comments change in one transaction, on the condition that the count is still the one read, so the
//! count stays the timeline's length and the kept comments its first ones while others comment at the same
//! time. The removal is announced on the event feed in the same transaction.

use crate::catalog::attributes as attr;
use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::photos::first_comments_value;
use super::{Catalog, Comment, Event, FIRST_COMMENTS, Photo, keys};
use crate::table::{Check, TableError, TableResult, Value, Write};

/// Reads and transactions one deletion makes at most (each refused one means a comment committed meanwhile).
const ATTEMPTS: u32 = 50;

impl Catalog {
    /// Comment `id` on photo `photo_id`, if there is one: one read for ids that carry their time, a walk of
    /// the timeline for comments from before they did.
    pub async fn comment(&self, photo_id: Uuid, id: Uuid) -> TableResult<Option<Comment>> {
        if let Some(key) = keys::comment_by_id(photo_id, id) {
            let item = self.table.get(&key).await?;
            return Ok(item.as_ref().map(Comment::from_item).transpose()?);
        }
        let mut after = None;
        loop {
            let page = self.list_comments(photo_id, 100, after).await?;
            if let Some(found) = page.items.iter().find(|comment| comment.id == id) {
                return Ok(Some(found.clone()));
            }
            if !page.has_next {
                return Ok(None);
            }
            after = page.items.last().map(Comment::cursor);
        }
    }

    /// Delete `comment`; `false` if it (or its photo) is gone already.
    pub async fn remove_comment(&self, comment: &Comment) -> TableResult<bool> {
        let key = keys::comment(comment.photo_id, comment.created_at, comment.id);
        let mut backoff = Duration::from_millis(5);
        let lock = &self.comment_writers[comment.photo_id.as_u128() as usize % self.comment_writers.len()];
        let _turn = lock.lock().await;
        for _ in 0..ATTEMPTS {
            let Some(photo) = self.photo(comment.photo_id).await? else { return Ok(false) };
            let mut writes = vec![Write::DeleteExisting(key.clone()), self.count_without(&photo, comment).await?];
            let removed = Event::CommentRemoved { photo_id: comment.photo_id, id: comment.id };
            writes.extend(self.feed_entry(&removed, Utc::now()));
            match self.table.transact(writes).await {
                Ok(()) => return Ok(true),
                Err(TableError::ConditionFailed) if self.table.get(&key).await?.is_none() => return Ok(false),
                Err(TableError::ConditionFailed | TableError::Conflict) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(100));
                }
                Err(error) => return Err(error),
            }
        }
        Err(TableError::Conflict)
    }

    /// The photo's update for one comment less, as `photo` was read.
    async fn count_without(&self, photo: &Photo, comment: &Comment) -> TableResult<Write> {
        let key = keys::photo(photo.id);
        let read_count = Check::Equals(attr::COMMENT_COUNT.into(), photo.comment_count);
        let kept = photo.first_comments.as_ref().filter(|kept| kept.iter().any(|c| c.id == comment.id));
        let Some(kept) = kept else {
            return Ok(Write::Update {
                key,
                add: vec![(attr::COMMENT_COUNT.into(), -1)],
                set: vec![],
                checks: vec![read_count],
            });
        };
        // One of the kept first comments: the timeline's first ones without it, with the next one if any.
        let mut rest: Vec<Comment> = kept.iter().filter(|c| c.id != comment.id).cloned().collect();
        if photo.comment_count > FIRST_COMMENTS as i64
            && let Some(last) = kept.last()
        {
            rest.extend(self.list_comments(photo.id, 1, Some(last.cursor())).await?.items);
        }
        let until =
            rest.last().map_or(keys::COMMENTS_FROM.to_string(), |c| keys::comment(photo.id, c.created_at, c.id).sk);
        let set = vec![
            (attr::COMMENT_COUNT.into(), Value::N(photo.comment_count - 1)),
            (attr::FIRST_COMMENTS.into(), first_comments_value(&rest)),
            (attr::FIRST_COMMENTS_UNTIL.into(), Value::S(until)),
        ];
        Ok(Write::Update { key, add: vec![], set, checks: vec![read_count] })
    }
}
