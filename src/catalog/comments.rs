//! Comments: each in its photo's partition, written in one transaction with the photo's `commentCount`, the
//! event feed entry and (for a client-supplied id) a retry record, so counts and timelines always agree and a
//! retried call never stores a comment twice.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use super::keys::{self, CommentCursor};
use super::photos::first_comments_value;
use super::{Catalog, Event, FIRST_COMMENTS, Page, Photo, parse_id, parse_time, s};
use crate::catalog::attributes as attr;
use crate::table::{Check, Index, Item, ItemExt, Key, PK, Query, SK, TTL, TableError, TableResult, Value, Write};
use crate::text::CommentText;

/// How long a client-supplied comment id stays remembered for retries.
const RETRY_RECORD_LIFETIME: chrono::Duration = chrono::Duration::days(1);
/// Transactions cancelled by a concurrent one on the same photo are tried again this many times.
const CONFLICT_RETRIES: u32 = 12;
/// Most reads and transactions one comment makes: each refused one means another comment on the photo
/// committed, so this bounds how many concurrent commenters on one photo a comment outlasts.
const ATTEMPTS: u32 = 200;

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub id: Uuid,
    pub photo_id: Uuid,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub author_ip: String,
    /// The SHA-256 (hex) of the owner key the comment was posted with, if any.
    pub author: Option<String>,
}

/// A validated comment to add.
#[derive(Debug, Clone)]
pub struct NewComment {
    pub photo_id: Uuid,
    pub body: CommentText,
    pub author_ip: String,
    pub author: Option<String>,
    /// Makes retries idempotent: the same id from the same caller on the same photo yields the same comment.
    pub retry: Option<RetryId>,
}

/// An id a client chose for its call, so that retrying it stores one comment.
#[derive(Debug, Clone)]
pub struct RetryId {
    /// Whose id it is (see `caller::Caller::retry_scope`).
    pub scope: String,
    pub client_id: String,
}

impl Comment {
    pub(super) fn to_item(&self) -> Item {
        let key = keys::comment(self.photo_id, self.created_at, self.id);
        let mut item = Item::from([
            (PK.into(), Value::S(key.pk)),
            (SK.into(), Value::S(key.sk)),
            (attr::ID.into(), Value::S(self.id.to_string())),
            (attr::PHOTO_ID.into(), Value::S(self.photo_id.to_string())),
            (attr::BODY.into(), s(&self.body)),
            (attr::CREATED_AT.into(), Value::S(keys::time(self.created_at))),
            (attr::AUTHOR_IP.into(), s(&self.author_ip)),
        ]);
        if let Some(author) = &self.author {
            item.insert(attr::AUTHOR_KEY.into(), s(author));
        }
        item
    }

    pub(super) fn from_item(item: &Item) -> anyhow::Result<Self> {
        Ok(Self {
            id: parse_id(item)?,
            photo_id: Uuid::try_parse(item.string(attr::PHOTO_ID)?)?,
            body: item.string(attr::BODY)?.to_string(),
            created_at: parse_time(item, attr::CREATED_AT)?,
            author_ip: item.string(attr::AUTHOR_IP)?.to_string(),
            author: item.opt_string(attr::AUTHOR_KEY).map(str::to_string),
        })
    }

    pub fn cursor(&self) -> CommentCursor {
        CommentCursor { photo_id: self.photo_id, created_at: self.created_at, id: self.id }
    }
}

/// How a new comment updates its photo's item.
///
/// Comment times on a photo only grow in commit order: every comment sets the photo's `lastCommentAt` to its
/// own time, on condition that it is still the one read, and is stamped after it. So the timeline's order is
/// the order comments committed in, a subscriber that resumes `after` the last comment it saw never misses
/// one stamped earlier that committed later, and each comment knows exactly which one came before it
/// (`AddedComment::previous`). The photo item also keeps the timeline's first `FIRST_COMMENTS` comments, so
/// a gallery page shows them without a query per photo.
struct CountWrite {
    kind: CountKind,
    /// The photo's `lastCommentAt` as read (or remembered): the write holds only while it is still so.
    stored: Option<DateTime<Utc>>,
    /// The photo's latest comment time: `stored`, or its last kept comment's, for photos from before
    /// `lastCommentAt` was kept.
    last_comment_at: Option<DateTime<Utc>>,
}

enum CountKind {
    /// The photo keeps its first comments already (or none: from before they were kept): add one to the count
    /// if it is at least `FIRST_COMMENTS`.
    PastFirst,
    /// The photo, as read, keeps fewer: append the comment, if the count is still the one read.
    Append(Box<Photo>),
    /// A photo from before first comments were kept, with fewer than `FIRST_COMMENTS`: add one to the count.
    Count,
}

impl CountWrite {
    fn for_photo(item: &Item) -> anyhow::Result<Self> {
        let photo = Photo::from_item(item)?;
        let last_kept = photo.first_comments.as_ref().and_then(|kept| kept.last()).map(|c| c.created_at);
        let stored = match item.opt_string(attr::LAST_COMMENT_AT) {
            Some(_) => Some(parse_time(item, attr::LAST_COMMENT_AT)?),
            None => None,
        };
        let first = photo.comment_count < FIRST_COMMENTS as i64;
        let kind = match &photo.first_comments {
            Some(_) if first => CountKind::Append(Box::new(photo)),
            None if first => CountKind::Count,
            _ => CountKind::PastFirst,
        };
        Ok(Self { kind, stored, last_comment_at: stored.or(last_kept) })
    }

    /// The comment's time: now, or just after the photo's latest comment if the clock says earlier.
    fn stamp(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.last_comment_at.map_or(now, |last| now.max(last + chrono::Duration::microseconds(1)))
    }

    fn write(&self, comment: &Comment) -> Write {
        let key = keys::photo(comment.photo_id);
        let sort_key = keys::comment(comment.photo_id, comment.created_at, comment.id).sk;
        let unchanged = Check::StringIs(attr::LAST_COMMENT_AT.into(), self.stored.map(keys::time));
        let mut set = vec![(attr::LAST_COMMENT_AT.to_string(), Value::S(keys::time(comment.created_at)))];
        match &self.kind {
            CountKind::PastFirst => Write::Update {
                key,
                add: vec![(attr::COMMENT_COUNT.into(), 1)],
                set,
                checks: vec![
                    Check::AtLeast(attr::COMMENT_COUNT.into(), FIRST_COMMENTS as i64),
                    Check::AbsentOrBefore(attr::FIRST_COMMENTS_UNTIL.into(), sort_key),
                    unchanged,
                ],
            },
            CountKind::Count => {
                Write::Update { key, add: vec![(attr::COMMENT_COUNT.into(), 1)], set, checks: vec![unchanged] }
            }
            CountKind::Append(photo) => {
                let mut kept = photo.first_comments.clone().unwrap_or_default();
                kept.push(comment.clone());
                set.extend([
                    (attr::COMMENT_COUNT.into(), Value::N(photo.comment_count + 1)),
                    (attr::FIRST_COMMENTS.into(), first_comments_value(&kept)),
                    (attr::FIRST_COMMENTS_UNTIL.into(), Value::S(sort_key)),
                ]);
                Write::Update {
                    key,
                    add: Vec::new(),
                    set,
                    checks: vec![Check::Equals(attr::COMMENT_COUNT.into(), photo.comment_count), unchanged],
                }
            }
        }
    }
}

/// A comment as added, with the time of the photo's comment just before it in the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct AddedComment {
    pub comment: Comment,
    /// The latest comment time the photo had when this one committed: no comment lies between the two.
    /// `None` when not known: the photo's first comment, one from before the time was kept, or a retry
    /// answered with the comment stored the first time.
    pub previous: Option<DateTime<Utc>>,
}

impl Catalog {
    /// Add a comment; `None` if the photo does not exist (nothing is written then). A repeated retry id (the
    /// same caller's `clientId`) returns the comment stored the first time.
    ///
    /// The first try assumes the photo keeps its first comments already and that its latest comment is the
    /// one this instance last saw (with no read). If the photo is not remembered, or the conditions refuse the
    /// try, the photo is read (with the retry record of `retry`, in the same call): its count, kept comments
    /// and latest comment time decide the comment's time and how the transaction updates the photo (see
    /// `CountWrite`), and it is tried again.
    pub async fn add_comment(&self, new: NewComment) -> TableResult<Option<AddedComment>> {
        let mut backoff = Duration::from_millis(5);
        let mut conflicts = 0;
        // Writers of one photo's comments on this instance take turns: each commits at its first or second try
        // instead of racing the others for the photo's `lastCommentAt` (a refused transaction still costs write
        // capacity). Writers on other instances can still come first; the conditions handle that.
        let lock = &self.comment_writers[new.photo_id.as_u128() as usize % self.comment_writers.len()];
        let _turn = lock.lock().await;
        // Most photos have their first comments already: try that without reading, and read if it was not so.
        let remembered = self.latest_comments.get(&new.photo_id);
        let mut count_write =
            CountWrite { kind: CountKind::PastFirst, stored: remembered, last_comment_at: remembered };
        let mut read = remembered.is_none();
        for _ in 0..ATTEMPTS {
            if read {
                let (photo, earlier) = self.photo_and_request(new.photo_id, new.retry.as_ref()).await?;
                if let Some(comment_sk) = earlier {
                    let item = self.table.get(&Key::new(keys::photo(new.photo_id).pk, comment_sk)).await?;
                    let comment = item.as_ref().map(Comment::from_item).transpose()?;
                    return Ok(comment.map(|comment| AddedComment { comment, previous: None }));
                }
                let Some(photo) = photo else {
                    self.latest_comments.remove(&new.photo_id);
                    return Ok(None);
                };
                count_write = CountWrite::for_photo(&photo)?;
            }
            let created_at = count_write.stamp(Utc::now().trunc_subsecs(6));
            let comment = Comment {
                id: keys::new_comment_id(created_at),
                photo_id: new.photo_id,
                body: new.body.as_str().to_string(),
                created_at,
                author_ip: new.author_ip.clone(),
                author: new.author.clone(),
            };
            let mut writes = vec![count_write.write(&comment), Write::Put(comment.to_item())];
            let added = AddedComment { comment: comment.clone(), previous: count_write.stored };
            writes.extend(self.feed_entry(&Event::Comment(added), comment.created_at));
            if let Some(retry) = &new.retry {
                let key = keys::comment_request(new.photo_id, &retry.scope, &retry.client_id);
                let comment_key = keys::comment(comment.photo_id, comment.created_at, comment.id);
                writes.push(Write::PutIfAbsent(Item::from([
                    (PK.into(), Value::S(key.pk)),
                    (SK.into(), Value::S(key.sk)),
                    (attr::COMMENT_SK.into(), Value::S(comment_key.sk)),
                    (TTL.into(), Value::N((comment.created_at + RETRY_RECORD_LIFETIME).timestamp())),
                ])));
            }
            match self.table.transact(writes).await {
                Ok(()) => {
                    self.latest_comments.insert(new.photo_id, comment.created_at);
                    return Ok(Some(AddedComment { comment, previous: count_write.stored }));
                }
                // The photo is not as assumed or read (another comment committed first), or is gone, or a
                // concurrent call with the same client id won: read it.
                Err(TableError::ConditionFailed) => read = true,
                Err(TableError::Conflict) if conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                    // Jitter spreads out writers that collided on the same photo.
                    let jitter = Duration::from_micros(u64::from(Uuid::new_v4().as_fields().1) % 5_000);
                    tokio::time::sleep(backoff + jitter).await;
                    backoff = (backoff * 2).min(Duration::from_millis(200));
                }
                Err(e) => return Err(e),
            }
        }
        Err(TableError::Conflict)
    }

    /// The photo's item, and the sort key of the comment stored for `retry` if one was: one read.
    async fn photo_and_request(
        &self,
        photo_id: Uuid,
        retry: Option<&RetryId>,
    ) -> TableResult<(Option<Item>, Option<String>)> {
        let photo_key = keys::photo(photo_id);
        let Some(retry) = retry else {
            return Ok((self.table.get(&photo_key).await?, None));
        };
        let request_key = keys::comment_request(photo_id, &retry.scope, &retry.client_id);
        let (mut photo, mut earlier) = (None, None);
        for item in self.table.batch_get(&[photo_key.clone(), request_key.clone()]).await? {
            if item.opt_string(SK) == Some(request_key.sk.as_str()) {
                earlier = Some(item.string(attr::COMMENT_SK)?.to_string());
            } else {
                photo = Some(item);
            }
        }
        Ok((photo, earlier))
    }

    /// A photo's comments, oldest first, `first` of them after `after`: one query reading `first + 1` items.
    pub async fn list_comments(
        &self,
        photo_id: Uuid,
        first: usize,
        after: Option<CommentCursor>,
    ) -> TableResult<Page<Comment>> {
        let start_after = after.map(|cursor| {
            let key = cursor.key();
            Item::from([(PK.into(), Value::S(key.pk)), (SK.into(), Value::S(key.sk))])
        });
        let query = Query {
            index: Index::Table,
            pk: keys::photo(photo_id).pk,
            sk_from: Some(keys::COMMENTS_FROM.into()),
            sk_to: Some(keys::COMMENTS_TO.into()),
            descending: false,
            limit: first + 1,
            start_after,
        };
        let items = self.table.query(&query).await?;
        let has_next = items.len() > first;
        let comments = items.iter().take(first).map(Comment::from_item).collect::<anyhow::Result<_>>()?;
        Ok(Page { items: comments, has_next })
    }
}
