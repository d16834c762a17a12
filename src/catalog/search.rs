//! Finding photos by name words and upload time, on keys and indexes only. A time range bounds the sort key
//! of the `gsi1` feed; a name picks the partition of its rarest word's token (by the token counts) and checks
//! the other words on each entry, so a page reads about what it returns plus what that word's partition holds
//! beyond the other words' matches.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::future::try_join_all;
use uuid::Uuid;

use super::keys::{self, PhotoCursor};
use super::words;
use super::{Catalog, Page, Photo, s};
use crate::table::{GSI1_SK, Index, Item, ItemExt, PK, Query, SK, TableResult, Value};

/// A validated search: every part optional, all parts must hold.
#[derive(Debug, Clone, Default)]
pub struct PhotoFilter {
    /// Normalised query words (see `words::words`).
    pub words: Option<Vec<String>>,
    pub uploaded_from: Option<DateTime<Utc>>,
    pub uploaded_to: Option<DateTime<Utc>>,
}

/// The entry of `photo` in `token`'s partition, carrying the name's words for checking the other query words.
pub(super) fn token_entry(token: &str, photo: &Photo, words: &str) -> Item {
    let key = keys::name_token(token, photo.uploaded_at, photo.id);
    Item::from([
        (PK.into(), Value::S(key.pk)),
        (SK.into(), Value::S(key.sk)),
        ("id".into(), Value::S(photo.id.to_string())),
        ("words".into(), s(words)),
    ])
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
        let count_keys: Vec<_> = tokens.iter().map(|token| keys::name_token_count(token)).collect();
        try_join_all(count_keys.iter().map(|key| self.table.add(key, "count", 1))).await?;
        Ok(())
    }

    /// Bulk-load recorded photos with their name index (imports and benchmarks): batched writes, no events, no
    /// per-photo transaction. Token counts are set to this batch's totals, so load into an empty table.
    pub async fn load_photos(&self, photos: &[Photo]) -> TableResult<()> {
        let mut items = Vec::new();
        let mut counts: HashMap<String, i64> = HashMap::new();
        for photo in photos {
            items.push(photo.to_item());
            items.push(photo.gallery_entry(self.gallery_shards));
            let words = words::words(&photo.name);
            let joined = words.join(" ");
            for token in words::tokens(&words) {
                items.push(token_entry(&token, photo, &joined));
                *counts.entry(token).or_default() += 1;
            }
        }
        for (token, count) in counts {
            let key = keys::name_token_count(&token);
            items.push(Item::from([
                (PK.into(), Value::S(key.pk)),
                (SK.into(), Value::S(key.sk)),
                ("count".into(), Value::N(count)),
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
    ) -> TableResult<Page<Photo>> {
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
    ) -> TableResult<Page<Photo>> {
        let (sk_from, range_to) = keys::feed_range(filter.uploaded_from, filter.uploaded_to);
        // After a cursor: up to its own entry (inclusive on every store, and dropped below), so any shard can
        // be read from that position whether or not the cursor's photo is on it.
        let after_sk = after.map(|cursor| cursor.feed_sk());
        let sk_to = match (range_to, &after_sk) {
            (Some(to), Some(after)) => Some(to.min(after.clone())),
            (to, after) => to.or_else(|| after.clone()),
        };
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
        let shards = queries.iter().map(|query| self.table.query(query));
        let mut entries: Vec<(String, Uuid)> = Vec::new();
        for items in try_join_all(shards).await? {
            for item in items {
                let sk = item.string(GSI1_SK)?.to_string();
                if Some(&sk) != after_sk.as_ref() {
                    entries.push((sk, Uuid::try_parse(item.string("id")?).map_err(anyhow::Error::from)?));
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

    async fn photos_by_name(
        &self,
        words: &[String],
        filter: &PhotoFilter,
        first: usize,
        after: Option<PhotoCursor>,
    ) -> TableResult<Page<Photo>> {
        // The rarest lookup token; a token no photo has means no match at all.
        let lookups: Vec<String> = words.iter().map(|w| words::lookup_token(w)).collect();
        let count_keys: Vec<_> = lookups.iter().map(|t| keys::name_token_count(t)).collect();
        let counts: HashMap<String, i64> = self
            .table
            .batch_get(&count_keys)
            .await?
            .iter()
            .filter_map(|item| Some((item.opt_string(PK)?.to_string(), item.opt_number("count")?)))
            .collect();
        let rarest = lookups
            .iter()
            .map(|token| (counts.get(&keys::name_token_count(token).pk).copied().unwrap_or(0), token))
            .min();
        let Some((count, token)) = rarest.filter(|(count, _)| *count > 0) else {
            return Ok(Page { items: Vec::new(), has_next: false });
        };
        tracing::debug!(token, count, "name search partition");

        let (sk_from, sk_to) = keys::feed_range(filter.uploaded_from, filter.uploaded_to);
        let partition = keys::name_token_count(token).pk;
        let mut start_after = after.map(|cursor| {
            Item::from([(PK.into(), Value::S(partition.clone())), (SK.into(), Value::S(cursor.feed_sk()))])
        });
        let mut found: Vec<Photo> = Vec::new();
        loop {
            let query = Query {
                index: Index::Table,
                pk: partition.clone(),
                sk_from: Some(sk_from.clone()),
                sk_to: sk_to.clone(),
                descending: true,
                limit: first + 1 - found.len(),
                start_after: start_after.take(),
            };
            let entries = self.table.query(&query).await?;
            let exhausted = entries.len() < query.limit;
            let mut candidates: Vec<(Uuid, String)> = Vec::new();
            for entry in &entries {
                let name_words: Vec<String> = entry.string("words")?.split(' ').map(str::to_string).collect();
                if words::matches(words, &name_words) {
                    candidates.push((
                        Uuid::try_parse(entry.string("id")?).map_err(anyhow::Error::from)?,
                        entry.string(SK)?.to_string(),
                    ));
                }
            }
            if !candidates.is_empty() {
                let ids: Vec<Uuid> = candidates.iter().map(|(id, _)| *id).collect();
                let mut photos = self.photos(&ids).await?;
                for (id, sk) in candidates {
                    // An entry whose photo was not recorded at this time is left from an unfinished upload.
                    if let Some(photo) = photos.remove(&id).filter(|p| p.cursor().feed_sk() == sk) {
                        found.push(photo);
                    }
                }
            }
            if found.len() > first || exhausted {
                let has_next = found.len() > first;
                found.truncate(first);
                return Ok(Page { items: found, has_next });
            }
            start_after = entries.last().cloned();
        }
    }
}
