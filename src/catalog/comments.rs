//! Comments: each in its photo's partition, written in one transaction with the photo's `commentCount`, the
//! event feed entry and (for a client-supplied id) a retry record, so counts and timelines always agree and a
//! retried call never stores a comment twice.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use super::keys::{self, CommentCursor};
use super::photos::{FIRST_COMMENTS_ATTR, FIRST_COMMENTS_UNTIL, first_comments_value};
use super::{Catalog, Event, FIRST_COMMENTS, Page, Photo, parse_id, parse_time, s};
use crate::table::{Check, Index, Item, ItemExt, Key, PK, Query, SK, TTL, TableError, TableResult, Value, Write};

/// How long a client-supplied comment id stays remembered for retries.
const RETRY_RECORD_LIFETIME: chrono::Duration = chrono::Duration::days(1);
/// The photo's comment count attribute.
const COUNT: &str = "commentCount";
/// Transactions cancelled by a concurrent one on the same photo are tried again this many times.
const CONFLICT_RETRIES: u32 = 12;

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub id: Uuid,
    pub photo_id: Uuid,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub author_ip: String,
}

/// A validated comment to add.
#[derive(Debug, Clone)]
pub struct NewComment {
    pub photo_id: Uuid,
    pub body: String,
    pub author_ip: String,
    /// Makes retries idempotent: the same `client_id` on the same photo yields the same comment.
    pub client_id: Option<String>,
}

impl Comment {
    pub(super) fn to_item(&self) -> Item {
        let key = keys::comment(self.photo_id, self.created_at, self.id);
        Item::from([
            (PK.into(), Value::S(key.pk)),
            (SK.into(), Value::S(key.sk)),
            ("id".into(), Value::S(self.id.to_string())),
            ("photoId".into(), Value::S(self.photo_id.to_string())),
            ("body".into(), s(&self.body)),
            ("createdAt".into(), Value::S(keys::time(self.created_at))),
            ("authorIp".into(), s(&self.author_ip)),
        ])
    }

    pub(super) fn from_item(item: &Item) -> anyhow::Result<Self> {
        Ok(Self {
            id: parse_id(item)?,
            photo_id: Uuid::try_parse(item.string("photoId")?)?,
            body: item.string("body")?.to_string(),
            created_at: parse_time(item, "createdAt")?,
            author_ip: item.string("authorIp")?.to_string(),
        })
    }

    pub fn cursor(&self) -> CommentCursor {
        CommentCursor { photo_id: self.photo_id, created_at: self.created_at, id: self.id }
    }
}

/// How a new comment updates its photo's item, which keeps the first `FIRST_COMMENTS` comments of the
/// timeline: every other comment must sort after them, so a comment is never stamped earlier than the last
/// kept one, and a later one is refused (and stamped again) if it would sort before it.
enum CountWrite {
    /// The photo keeps its first comments already (or none: from before they were kept): add one to the count
    /// if it is at least `FIRST_COMMENTS` and the comment sorts after the last kept one (`not_before`).
    PastFirst { not_before: Option<DateTime<Utc>> },
    /// The photo, as read, keeps fewer: append the comment, if the count is still the one read.
    Append(Box<Photo>),
    /// A photo from before first comments were kept, with fewer than `FIRST_COMMENTS`: add one to the count.
    Count,
}

impl CountWrite {
    fn for_photo(photo: Photo) -> Self {
        let first = photo.comment_count < FIRST_COMMENTS as i64;
        match &photo.first_comments {
            Some(_) if first => Self::Append(Box::new(photo)),
            None if first => Self::Count,
            kept => Self::PastFirst { not_before: kept.as_ref().and_then(|k| k.last()).map(|c| c.created_at) },
        }
    }

    /// The comment's time: now, or just after the last kept comment if the clock says earlier.
    fn stamp(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let last_kept = match self {
            Self::PastFirst { not_before } => *not_before,
            Self::Append(photo) => photo.first_comments.as_ref().and_then(|k| k.last()).map(|c| c.created_at),
            Self::Count => None,
        };
        last_kept.map_or(now, |last| now.max(last + chrono::Duration::microseconds(1)))
    }

    fn write(&self, comment: &Comment) -> Write {
        let key = keys::photo(comment.photo_id);
        let sort_key = keys::comment(comment.photo_id, comment.created_at, comment.id).sk;
        match self {
            Self::PastFirst { .. } => Write::Update {
                key,
                add: vec![(COUNT.into(), 1)],
                set: Vec::new(),
                checks: vec![
                    Check::AtLeast(COUNT.into(), FIRST_COMMENTS as i64),
                    Check::AbsentOrBefore(FIRST_COMMENTS_UNTIL.into(), sort_key),
                ],
            },
            Self::Count => Write::Increment { key, attr: COUNT.into(), by: 1 },
            Self::Append(photo) => {
                let mut kept = photo.first_comments.clone().unwrap_or_default();
                kept.push(comment.clone());
                Write::Update {
                    key,
                    add: Vec::new(),
                    set: vec![
                        (COUNT.into(), Value::N(photo.comment_count + 1)),
                        (FIRST_COMMENTS_ATTR.into(), first_comments_value(&kept)),
                        (FIRST_COMMENTS_UNTIL.into(), Value::S(sort_key)),
                    ],
                    checks: vec![Check::Equals(COUNT.into(), photo.comment_count)],
                }
            }
        }
    }
}

impl Catalog {
    /// Add a comment; `None` if the photo does not exist (nothing is written then). A repeated `client_id`
    /// returns the comment stored the first time.
    ///
    /// The photo is read first (with the retry record of `client_id`, in the same call): its count and kept
    /// comments decide how the comment's transaction updates it (see `CountWrite`). If the photo changed in
    /// between, the conditions refuse the transaction and it is read and tried again.
    pub async fn add_comment(&self, new: NewComment) -> TableResult<Option<Comment>> {
        let mut backoff = Duration::from_millis(5);
        for attempt in 0..=CONFLICT_RETRIES {
            let (photo, earlier) = self.photo_and_request(new.photo_id, new.client_id.as_deref()).await?;
            if let Some(comment_sk) = earlier {
                let item = self.table.get(&Key::new(keys::photo(new.photo_id).pk, comment_sk)).await?;
                return Ok(item.as_ref().map(Comment::from_item).transpose()?);
            }
            let Some(photo) = photo else { return Ok(None) };
            let count_write = CountWrite::for_photo(photo);
            let comment = Comment {
                id: Uuid::new_v4(),
                photo_id: new.photo_id,
                body: new.body.clone(),
                created_at: count_write.stamp(Utc::now().trunc_subsecs(6)),
                author_ip: new.author_ip.clone(),
            };
            let mut writes = vec![
                count_write.write(&comment),
                Write::Put(comment.to_item()),
                Write::Put(Event::Comment(comment.clone()).to_item(comment.created_at)),
            ];
            if let Some(client_id) = &new.client_id {
                let key = keys::comment_request(new.photo_id, client_id);
                let comment_key = keys::comment(comment.photo_id, comment.created_at, comment.id);
                writes.push(Write::PutIfAbsent(Item::from([
                    (PK.into(), Value::S(key.pk)),
                    (SK.into(), Value::S(key.sk)),
                    ("commentSk".into(), Value::S(comment_key.sk)),
                    (TTL.into(), Value::N((comment.created_at + RETRY_RECORD_LIFETIME).timestamp())),
                ])));
            }
            match self.table.transact(writes).await {
                Ok(()) => return Ok(Some(comment)),
                // The photo changed since it was read (another comment came first) or is gone, or a concurrent
                // call with the same client id won: read again.
                Err(TableError::ConditionFailed) => {}
                Err(TableError::Conflict) if attempt < CONFLICT_RETRIES => {
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

    /// The photo, and the sort key of the comment stored for `client_id` if one was: one read.
    async fn photo_and_request(
        &self,
        photo_id: Uuid,
        client_id: Option<&str>,
    ) -> TableResult<(Option<Photo>, Option<String>)> {
        let photo_key = keys::photo(photo_id);
        let Some(client_id) = client_id else {
            let item = self.table.get(&photo_key).await?;
            return Ok((item.as_ref().map(Photo::from_item).transpose()?, None));
        };
        let request_key = keys::comment_request(photo_id, client_id);
        let (mut photo, mut earlier) = (None, None);
        for item in self.table.batch_get(&[photo_key.clone(), request_key.clone()]).await? {
            if item.opt_string(SK) == Some(request_key.sk.as_str()) {
                earlier = Some(item.string("commentSk")?.to_string());
            } else {
                photo = Some(Photo::from_item(&item)?);
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
