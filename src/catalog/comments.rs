//! Comments: each in its photo's partition, written in one transaction with the photo's `commentCount`, the
//! event feed entry and (for a client-supplied id) a retry record, so counts and timelines always agree and a
//! retried call never stores a comment twice.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use super::keys::{self, CommentCursor};
use super::{Catalog, Event, Page, parse_id, parse_time, s};
use crate::table::{Index, Item, ItemExt, PK, Query, SK, TTL, TableError, TableResult, Value, Write};

/// How long a client-supplied comment id stays remembered for retries.
const RETRY_RECORD_LIFETIME: chrono::Duration = chrono::Duration::days(1);
/// Transactions cancelled by a concurrent one on the same photo are tried again this many times.
const CONFLICT_RETRIES: u32 = 12;
/// The photo's attribute holding its latest comment's time.
const LAST_COMMENT_AT: &str = "lastCommentAt";

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

impl Catalog {
    /// Add a comment; `None` if the photo does not exist (nothing is written then). A repeated `client_id`
    /// returns the comment stored the first time.
    ///
    /// Comment times on a photo only grow in commit order: the transaction advances the photo's
    /// `lastCommentAt` and fails if another comment with a later time committed first, and the comment is then
    /// stamped after that one. So the timeline's order is the order comments committed in, and a client that
    /// resumes `after` the last comment it saw can never miss one stamped earlier that committed later.
    pub async fn add_comment(&self, new: NewComment) -> TableResult<Option<Comment>> {
        if let Some(client_id) = &new.client_id
            && let Some(existing) = self.comment_by_request(new.photo_id, client_id).await?
        {
            return Ok(Some(existing));
        }
        let mut backoff = Duration::from_millis(5);
        let mut after: Option<DateTime<Utc>> = None;
        for attempt in 0..=CONFLICT_RETRIES * 4 {
            let now = Utc::now().trunc_subsecs(6);
            let created_at = match after {
                Some(last) if last >= now => last + chrono::Duration::microseconds(1),
                _ => now,
            };
            let comment = Comment {
                id: Uuid::new_v4(),
                photo_id: new.photo_id,
                body: new.body.clone(),
                created_at,
                author_ip: new.author_ip.clone(),
            };
            let mut writes = vec![
                Write::Advance {
                    key: keys::photo(new.photo_id),
                    counter: "commentCount".into(),
                    by: 1,
                    marker: LAST_COMMENT_AT.into(),
                    to: keys::time(created_at),
                },
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
                // The photo is missing, a concurrent call with the same client id won, or a later comment
                // committed first: tell which.
                Err(TableError::ConditionFailed) => {
                    if let Some(client_id) = &new.client_id
                        && let Some(existing) = self.comment_by_request(new.photo_id, client_id).await?
                    {
                        return Ok(Some(existing));
                    }
                    let Some(photo) = self.table.get(&keys::photo(new.photo_id)).await? else { return Ok(None) };
                    after = Some(parse_time(&photo, LAST_COMMENT_AT)?);
                }
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

    async fn comment_by_request(&self, photo_id: Uuid, client_id: &str) -> TableResult<Option<Comment>> {
        let Some(request) = self.table.get(&keys::comment_request(photo_id, client_id)).await? else {
            return Ok(None);
        };
        let key = crate::table::Key::new(keys::photo(photo_id).pk, request.string("commentSk")?);
        let item = self.table.get(&key).await?;
        Ok(item.as_ref().map(Comment::from_item).transpose()?)
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
