//! Deleting a photo. At once, in one transaction: the photo item goes (so `photo(id)`, the gallery and time
//! search lose it, and name search skips its entries, whose photo is gone), its processing job goes, the
//! removal is announced on the event feed, and a trash item records what is left to remove. Afterwards,
//! step by step (`sweep_step`): the name-index entries with their counts (each step moves a counter on the
//! trash item in the same transaction, so no count is decremented twice), then the photo's partition
//! (comments, retry records) a page at a time, then the trash item itself. A share
//! link's own record stays until its TTL (7 days after its expiry, as for any link): its service link then
//! answers 410 Gone, as the README promises, rather than 404 as for a token never given out. A sweep cut by a crash is taken up
//! by whichever instance looks next; nothing of the photo is readable meanwhile, since every read of a
//! comment or an entry goes through the photo item.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Catalog, Event, Photo, keys, s, words};
use crate::catalog::attributes as attr;
use crate::table::{Check, Item, ItemExt, PK, Query, SK, TableError, TableResult, Value, Write};

/// Tokens cleared per transaction: two writes each and the trash item's, under DynamoDB's 100.
const TOKENS_PER_STEP: usize = 45;
/// Items of the photo's partition removed per transaction (DynamoDB takes 100 writes).
const ITEMS_PER_STEP: usize = 50;

/// A deleted photo whose leftovers are still being removed.
#[derive(Debug, Clone)]
pub struct Trashed {
    pub photo_id: Uuid,
    pub name: String,
    pub uploaded_at: DateTime<Utc>,
    /// The shard of each name token its entries are on (`Photo::name_shard`).
    name_shard: usize,
    /// The uploaded original's key in the bucket.
    pub object_key: String,
    tokens_done: usize,
}

/// How far a sweep got.
#[derive(Debug, PartialEq, Eq)]
pub enum Swept {
    /// Some leftovers went; call again.
    More,
    /// Nothing of the photo is left, the trash item neither.
    Done,
}

impl Trashed {
    fn to_item(photo: &Photo) -> Item {
        let key = keys::trash(photo.id);
        Item::from([
            (PK.into(), Value::S(key.pk)),
            (SK.into(), Value::S(key.sk)),
            (attr::NAME.into(), s(&photo.name)),
            (attr::UPLOADED_AT.into(), Value::S(keys::time(photo.uploaded_at))),
            (attr::OBJECT_KEY.into(), s(&photo.object_key)),
            (attr::TOKENS_DONE.into(), Value::N(0)),
            (attr::NAME_SHARD.into(), Value::N(photo.name_shard as i64)),
        ])
    }

    fn from_item(item: &Item) -> anyhow::Result<Self> {
        let at = item.string(attr::UPLOADED_AT)?;
        Ok(Self {
            photo_id: Uuid::try_parse(item.string(SK)?)?,
            name: item.string(attr::NAME)?.to_string(),
            uploaded_at: DateTime::parse_from_rfc3339(at)?.with_timezone(&Utc),
            object_key: item.string(attr::OBJECT_KEY)?.to_string(),
            // Trash items from before shards were kept: the first.
            name_shard: usize::try_from(item.opt_number(attr::NAME_SHARD).unwrap_or(0))?,
            tokens_done: usize::try_from(item.number(attr::TOKENS_DONE)?)?,
        })
    }
}

impl Catalog {
    /// Delete `photo` at once (see the module doc); `false` if it was deleted already.
    pub async fn remove_photo(&self, photo: &Photo) -> TableResult<bool> {
        let mut writes = vec![
            Write::DeleteExisting(keys::photo(photo.id)),
            Write::Delete(keys::gallery_entry(photo.id)),
            Write::PutIfAbsent(Trashed::to_item(photo)),
            Write::Delete(super::queue::job_key(photo, self.queue_shards)),
            Write::Delete(keys::unqueued_job(photo.id, self.queue_shards)),
        ];
        writes.extend(self.feed_entry(&Event::PhotoRemoved(photo.id), Utc::now()));
        match self.table.transact(writes).await {
            Ok(()) => Ok(true),
            Err(TableError::ConditionFailed) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Deleted photos whose leftovers are not all removed yet: at most `limit`.
    pub async fn trashed(&self, limit: usize) -> TableResult<Vec<Trashed>> {
        let items = self.table.query(&Query::partition(keys::TRASH, limit)).await?;
        Ok(items.iter().map(Trashed::from_item).collect::<anyhow::Result<_>>()?)
    }

    /// Remove the next part of what `trashed` left (see the module doc).
    pub async fn sweep_step(&self, trashed: &mut Trashed) -> TableResult<Swept> {
        let tokens: Vec<String> = words::tokens(&words::words(&trashed.name)).into_iter().collect();
        if trashed.tokens_done < tokens.len() {
            let next = &tokens[trashed.tokens_done..tokens.len().min(trashed.tokens_done + TOKENS_PER_STEP)];
            let mut writes = vec![Write::Update {
                key: keys::trash(trashed.photo_id),
                add: vec![(attr::TOKENS_DONE.into(), next.len() as i64)],
                set: vec![],
                checks: vec![Check::Equals(attr::TOKENS_DONE.into(), trashed.tokens_done as i64)],
            }];
            for token in next {
                writes.push(Write::Delete(keys::name_token(
                    token,
                    trashed.name_shard,
                    trashed.uploaded_at,
                    trashed.photo_id,
                )));
                // Unconditional: the step's only condition is the counter above, so a refused step always means
                // another instance made it.
                writes.push(Write::Increment {
                    key: keys::name_token_count(token, trashed.name_shard),
                    attr: attr::COUNT.into(),
                    by: -1,
                });
            }
            return match self.table.transact(writes).await {
                Ok(()) => {
                    trashed.tokens_done += next.len();
                    Ok(Swept::More)
                }
                // Another instance did this step: read where it got to.
                Err(TableError::ConditionFailed) => {
                    let item = self.table.get(&keys::trash(trashed.photo_id)).await?;
                    match item {
                        Some(item) => *trashed = Trashed::from_item(&item)?,
                        None => return Ok(Swept::Done),
                    }
                    Ok(Swept::More)
                }
                Err(error) => Err(error),
            };
        }
        let items = self.table.query(&Query::partition(keys::photo(trashed.photo_id).pk, ITEMS_PER_STEP)).await?;
        if !items.is_empty() {
            let mut writes = Vec::new();
            for item in &items {
                let (pk, sk) = (item.string(PK)?, item.string(SK)?);
                writes.push(Write::Delete(crate::table::Key::new(pk, sk)));
            }
            self.table.transact(writes).await?;
            return Ok(Swept::More);
        }
        self.table.transact(vec![Write::Delete(keys::trash(trashed.photo_id))]).await?;
        Ok(Swept::Done)
    }
}
