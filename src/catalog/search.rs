//! Finding photos by name words and upload time, on keys and indexes only. A time range bounds the sort key
//! of the `gsi1` feed; a name picks the partition of its rarest word's token (by the token counts) and checks
//! the other words on each entry, so a page reads about what it returns plus what that word's partition holds
//! beyond the other words' matches.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::try_join_all;
use uuid::Uuid;

use super::keys::{self, PhotoCursor};
use super::words;
use super::{Catalog, Page, Photo, s};
use crate::catalog::attributes as attr;
use crate::table::{GSI1_SK, Index, Item, ItemExt, PK, Query, SK, TableResult, Value};

/// A validated search: every part optional, all parts must hold.
#[derive(Debug, Clone, Default)]
pub struct PhotoFilter {
    /// Normalised query words (see `words::words`).
    pub words: Option<Vec<String>>,
    pub uploaded_from: Option<DateTime<Utc>>,
    pub uploaded_to: Option<DateTime<Utc>>,
}

/// The entry of `photo` on its shard of `token`, carrying the name's words for checking the other query words.
pub(super) fn token_entry(token: &str, photo: &Photo, words: &str) -> Item {
    let key = keys::name_token(token, photo.name_shard, photo.uploaded_at, photo.id);
    Item::from([
        (PK.into(), Value::S(key.pk)),
        (SK.into(), Value::S(key.sk)),
        (attr::ID.into(), Value::S(photo.id.to_string())),
        (attr::WORDS.into(), s(words)),
    ])
}

/// Where a name search stands on one shard of its token's partition.
struct ShardScan {
    partition: String,
    /// The last entry read, to go on after.
    last: Option<Item>,
    exhausted: bool,
}

impl ShardScan {
    fn last_sk(&self) -> Option<&str> {
        self.last.as_ref().and_then(|item| item.opt_string(SK))
    }
}

/// The sort keys a sharded listing reads between (`from..=to`), and the cursor's own, which it drops. After a
/// cursor, up to its own entry (inclusive on every store): any shard can be read from that position whether
/// or not the cursor's photo is on it.
fn sort_key_bounds(filter: &PhotoFilter, after: Option<PhotoCursor>) -> (String, Option<String>, Option<String>) {
    let (sk_from, range_to) = keys::feed_range(filter.uploaded_from, filter.uploaded_to);
    let after_sk = after.map(|cursor| cursor.feed_sk());
    let sk_to = match (range_to, &after_sk) {
        (Some(to), Some(after)) => Some(to.min(after.clone())),
        (to, after) => to.or_else(|| after.clone()),
    };
    (sk_from, sk_to, after_sk)
}

impl Catalog {
    /// Index the photo's name: one entry per token, and the tokens' counts. Written before the photo itself,
    /// so a recorded photo is always findable; entries of a photo that never got recorded are skipped on read.
    pub(super) async fn index_name(&self, photo: &Photo) -> TableResult<()> {
        let words = words::words(&photo.name);
        let tokens = words::tokens(&words);
        let joined = words.join(" ");
        let entries = tokens.iter().map(|token| token_entry(token, photo, &joined)).collect();
        self.table.put_many(entries).await?;
        let count_keys: Vec<_> = tokens.iter().map(|token| keys::name_token_count(token, photo.name_shard)).collect();
        try_join_all(count_keys.iter().map(|key| self.table.add(key, attr::COUNT, 1))).await?;
        Ok(())
    }

    /// Bulk-load recorded photos with their name index (imports and benchmarks): batched writes, no events, no
    /// per-photo transaction. Token counts are set to this batch's totals, so load into an empty table.
    pub async fn load_photos(&self, photos: &[Photo]) -> TableResult<()> {
        let mut items = Vec::new();
        let mut counts: HashMap<(String, usize), i64> = HashMap::new();
        for photo in photos {
            let photo = &self.placed(photo);
            items.push(photo.to_item());
            items.push(photo.gallery_entry(self.gallery_shards));
            let words = words::words(&photo.name);
            let joined = words.join(" ");
            for token in words::tokens(&words) {
                items.push(token_entry(&token, photo, &joined));
                *counts.entry((token, photo.name_shard)).or_default() += 1;
            }
        }
        for ((token, shard), count) in counts {
            let key = keys::name_token_count(&token, shard);
            items.push(Item::from([
                (PK.into(), Value::S(key.pk)),
                (SK.into(), Value::S(key.sk)),
                (attr::COUNT.into(), Value::N(count)),
            ]));
        }
        self.table.put_many(items).await
    }

    /// Photos matching `filter`, newest first, `first` of them after `after`.
    pub async fn search_photos(
        &self,
        filter: &PhotoFilter,
        first: usize,
        after: Option<PhotoCursor>,
    ) -> TableResult<Page<Arc<Photo>>> {
        match &filter.words {
            None => self.photos_in_range(filter, first, after).await,
            Some(words) => self.photos_by_name(words, filter, first, after).await,
        }
    }

    /// One query per gallery index shard, bounded by the time range and the cursor, each reading at most
    /// `first + 2` small entries; merged newest first, and the photos of the first `first` read in one batch.
    async fn photos_in_range(
        &self,
        filter: &PhotoFilter,
        first: usize,
        after: Option<PhotoCursor>,
    ) -> TableResult<Page<Arc<Photo>>> {
        let (sk_from, sk_to, after_sk) = sort_key_bounds(filter, after);
        let queries: Vec<Query> = (0..self.gallery_shards)
            .map(|shard| Query {
                index: Index::Gsi1,
                pk: keys::gallery_shard(shard),
                sk_from: Some(sk_from.clone()),
                sk_to: sk_to.clone(),
                descending: true,
                limit: first + 2,
                start_after: None,
            })
            .collect();
        let shards = queries.iter().map(|query| self.table.query_only(query, &[GSI1_SK, attr::ID]));
        let mut entries: Vec<(String, Uuid)> = Vec::new();
        for items in try_join_all(shards).await? {
            for item in items {
                let sk = item.string(GSI1_SK)?.to_string();
                if Some(&sk) != after_sk.as_ref() {
                    entries.push((sk, Uuid::try_parse(item.string(attr::ID)?).map_err(anyhow::Error::from)?));
                }
            }
        }
        entries.sort_unstable_by(|a, b| b.0.cmp(&a.0));
        let has_next = entries.len() > first;
        entries.truncate(first);
        let ids: Vec<Uuid> = entries.iter().map(|(_, id)| *id).collect();
        let mut photos = if ids.is_empty() { HashMap::new() } else { self.photos(&ids).await? };
        // A photo deleted since its entry was read is left out (its entry goes in the same transaction).
        let photos = ids.iter().filter_map(|id| photos.remove(id)).collect();
        Ok(Page { items: photos, has_next })
    }

    /// Photos whose names have every word of `words`, newest first: the rarest word's lookup token by the
    /// counts (summed over its shards), then its shards that have any, read newest first in steps of about
    /// their share of the page, merged, and each entry's words checked against the others. A match is only
    /// taken once every shard still being read has been read past it, so the merge is exact.
    async fn photos_by_name(
        &self,
        words: &[String],
        filter: &PhotoFilter,
        first: usize,
        after: Option<PhotoCursor>,
    ) -> TableResult<Page<Arc<Photo>>> {
        // The rarest lookup token; a token no photo has means no match at all.
        let lookups: Vec<String> = words.iter().map(|w| words::lookup_token(w)).collect();
        let count_keys: Vec<_> = lookups
            .iter()
            .flat_map(|token| (0..self.name_shards).map(move |shard| keys::name_token_count(token, shard)))
            .collect();
        let counts: HashMap<String, i64> = self
            .table
            .batch_get(&count_keys)
            .await?
            .iter()
            .filter_map(|item| Some((item.opt_string(PK)?.to_string(), item.opt_number(attr::COUNT)?)))
            .collect();
        let shard_count = |token: &str, shard| counts.get(&keys::name_token_partition(token, shard)).copied();
        let rarest = lookups
            .iter()
            .map(|token| ((0..self.name_shards).filter_map(|shard| shard_count(token, shard)).sum::<i64>(), token))
            .min();
        let Some((count, token)) = rarest.filter(|(count, _)| *count > 0) else {
            return Ok(Page { items: Vec::new(), has_next: false });
        };
        tracing::debug!(token, count, "name search partition");

        let (sk_from, sk_to, after_sk) = sort_key_bounds(filter, after);
        // A shard whose count is 0 has no entry (counts may run over, after an unfinished upload, never under).
        let mut scans: Vec<ShardScan> = (0..self.name_shards)
            .filter(|shard| shard_count(token, *shard).unwrap_or(0) > 0)
            .map(|shard| ShardScan {
                partition: keys::name_token_partition(token, shard),
                last: None,
                exhausted: false,
            })
            .collect();
        let mut found: Vec<(String, Arc<Photo>)> = Vec::new();
        loop {
            // Matches every shard still being read has gone past are in their final order: those at or above
            // the shallowest of those shards' positions (none before each has been read once).
            let positions: Vec<Option<&str>> =
                scans.iter().filter(|scan| !scan.exhausted).map(ShardScan::last_sk).collect();
            let settled = if positions.is_empty() {
                found.len()
            } else if positions.contains(&None) {
                0
            } else {
                let bound = positions.iter().flatten().max().copied().unwrap_or_default();
                found.iter().filter(|(sk, _)| sk.as_str() >= bound).count()
            };
            if settled > first || positions.is_empty() {
                found.sort_unstable_by(|a, b| b.0.cmp(&a.0));
                let has_next = found.len() > first;
                found.truncate(first);
                return Ok(Page { items: found.into_iter().map(|(_, photo)| photo).collect(), has_next });
            }
            let active: Vec<&mut ShardScan> = scans.iter_mut().filter(|scan| !scan.exhausted).collect();
            // Each shard's share of what is still needed (one more on each when there are several, so a
            // shard a little richer than the others rarely takes another round).
            let need = first + 1 - settled;
            let limit = if active.len() == 1 { need } else { need.div_ceil(active.len()) + 1 };
            let reads = active.into_iter().map(|scan| {
                let query = Query {
                    index: Index::Table,
                    pk: scan.partition.clone(),
                    sk_from: Some(sk_from.clone()),
                    sk_to: sk_to.clone(),
                    descending: true,
                    limit,
                    start_after: scan.last.clone(),
                };
                async move {
                    let entries = self.table.query(&query).await?;
                    scan.exhausted = entries.len() < limit;
                    scan.last = entries.last().cloned().or(scan.last.take());
                    TableResult::Ok(entries)
                }
            });
            let mut candidates: Vec<(Uuid, String)> = Vec::new();
            for entry in try_join_all(reads).await?.iter().flatten() {
                let sk = entry.string(SK)?;
                let name_words: Vec<String> = entry.string(attr::WORDS)?.split(' ').map(str::to_string).collect();
                if Some(sk) != after_sk.as_deref() && words::matches(words, &name_words) {
                    candidates
                        .push((Uuid::try_parse(entry.string(attr::ID)?).map_err(anyhow::Error::from)?, sk.into()));
                }
            }
            if !candidates.is_empty() {
                let ids: Vec<Uuid> = candidates.iter().map(|(id, _)| *id).collect();
                let mut photos = self.photos(&ids).await?;
                for (id, sk) in candidates {
                    // An entry whose photo was not recorded at this time is left from an unfinished upload.
                    if let Some(photo) = photos.remove(&id).filter(|p| p.cursor().feed_sk() == sk) {
                        found.push((sk, photo));
                    }
                }
            }
        }
    }
}
