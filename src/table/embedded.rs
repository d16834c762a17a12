//! The table on local disk: a redb file holding items and the `gsi1` index, with DynamoDB's semantics
//! (byte-ordered sort keys, exclusive start keys, all-or-nothing conditional transactions).

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use redb::{Database, ReadableTable, TableDefinition};

use super::*;

/// Items by `pk \0 sk`.
const ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("items");
/// Index entries by `gsi1pk \0 gsi1sk \0 pk \0 sk`, empty values.
const GSI1_ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("gsi1");
const SEP: char = '\0';
/// The byte after `SEP`: an exclusive upper bound for everything that continues with `SEP`.
const AFTER_SEP: char = '\u{1}';

pub struct EmbeddedTable {
    db: Arc<Database>,
    stats: TableStats,
    /// redb has one writer at a time: writers wait here, not in a blocking-pool thread each (64 concurrent
    /// writers held 64 threads).
    writer: tokio::sync::Mutex<()>,
}

impl EmbeddedTable {
    /// Open (or create) the store file at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let db = Database::create(path).with_context(|| format!("opening the embedded table {}", path.display()))?;
        let txn = db.begin_write()?;
        txn.open_table(ITEMS)?;
        txn.open_table(GSI1_ENTRIES)?;
        txn.commit()?;
        Ok(Self { db: Arc::new(db), stats: TableStats::default(), writer: tokio::sync::Mutex::new(()) })
    }

    /// Reads run on the calling task: a read is at most a page (about 100 items) from redb's cache, tens of
    /// microseconds, less than handing it to another thread costs.
    fn read<T>(&self, work: impl FnOnce(&Database) -> TableResult<T>) -> TableResult<T> {
        work(&self.db)
    }

    /// Writes (which wait for the disk) run on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> TableResult<T> + Send + 'static,
    ) -> TableResult<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|e| TableError::Internal(anyhow::anyhow!("embedded table task failed: {e}")))?
    }
}

fn internal(e: impl Into<anyhow::Error>) -> TableError {
    TableError::Internal(e.into())
}

fn check_key_part(part: &str) -> TableResult<()> {
    if part.contains(SEP) {
        return Err(internal(anyhow::anyhow!("key part contains NUL: {part:?}")));
    }
    Ok(())
}

fn item_key(key: &Key) -> TableResult<String> {
    check_key_part(&key.pk)?;
    check_key_part(&key.sk)?;
    Ok(format!("{}{SEP}{}", key.pk, key.sk))
}

fn index_entry(item: &Item) -> TableResult<Option<String>> {
    let (Some(gpk), Some(gsk)) = (item.opt_string(GSI1_PK), item.opt_string(GSI1_SK)) else {
        return Ok(None);
    };
    check_key_part(gpk)?;
    check_key_part(gsk)?;
    let key = key_of(item).map_err(internal)?;
    Ok(Some(format!("{gpk}{SEP}{gsk}{SEP}{}", item_key(&key)?)))
}

/// The first byte of an item stored with postcard (a compact binary serde format: decoding a page of items
/// as JSON was a seventh of a gallery request's CPU time). Items stored by earlier versions are JSON objects,
/// which start with `{`, and are still read.
const POSTCARD: u8 = 1;

fn decode(bytes: &[u8]) -> TableResult<Item> {
    match bytes.split_first() {
        Some((&POSTCARD, rest)) => postcard::from_bytes(rest).map_err(internal),
        _ => serde_json::from_slice(bytes).map_err(internal),
    }
}

fn encode(item: &Item) -> TableResult<Vec<u8>> {
    postcard::to_extend(item, vec![POSTCARD]).map_err(internal)
}

/// The byte-string range of `query` in the items or index table, start key applied.
fn query_range(query: &Query) -> TableResult<(Bound<String>, Bound<String>)> {
    check_key_part(&query.pk)?;
    let prefix = format!("{}{SEP}", query.pk);
    let lower = match &query.sk_from {
        Some(from) => Bound::Included(format!("{prefix}{from}")),
        None => Bound::Included(prefix.clone()),
    };
    let upper = match &query.sk_to {
        Some(to) => Bound::Excluded(format!("{prefix}{to}{AFTER_SEP}")),
        None => Bound::Excluded(format!("{}{AFTER_SEP}", query.pk)),
    };
    let Some(start) = &query.start_after else {
        return Ok((lower, upper));
    };
    let start = match query.index {
        Index::Table => item_key(&key_of(start).map_err(internal)?)?,
        Index::Gsi1 => index_entry(start)?.ok_or_else(|| internal(anyhow::anyhow!("start key lacks index keys")))?,
    };
    // Narrow the range to after (or before, when descending) the start key.
    Ok(if query.descending {
        let narrower = match &upper {
            Bound::Excluded(u) | Bound::Included(u) => start < *u,
            Bound::Unbounded => true,
        };
        (lower, if narrower { Bound::Excluded(start) } else { upper })
    } else {
        let narrower = match &lower {
            Bound::Included(l) => start >= *l,
            Bound::Excluded(l) => start > *l,
            Bound::Unbounded => true,
        };
        (if narrower { Bound::Excluded(start) } else { lower }, upper)
    })
}

#[async_trait::async_trait]
impl Table for EmbeddedTable {
    async fn ensure_created(&self) -> TableResult<()> {
        Ok(())
    }

    async fn get(&self, key: &Key) -> TableResult<Option<Item>> {
        let raw = item_key(key)?;
        let found = self.read(move |db| {
            let txn = db.begin_read().map_err(internal)?;
            let items = txn.open_table(ITEMS).map_err(internal)?;
            items.get(raw.as_str()).map_err(internal)?.map(|v| decode(v.value())).transpose()
        })?;
        self.stats.record(TableOp::Get, found.is_some() as usize);
        Ok(found)
    }

    async fn batch_get(&self, keys: &[Key]) -> TableResult<Vec<Item>> {
        let raws = keys.iter().map(item_key).collect::<TableResult<Vec<_>>>()?;
        let found = self.read(move |db| {
            let txn = db.begin_read().map_err(internal)?;
            let items = txn.open_table(ITEMS).map_err(internal)?;
            let mut found = Vec::with_capacity(raws.len());
            for raw in &raws {
                if let Some(v) = items.get(raw.as_str()).map_err(internal)? {
                    found.push(decode(v.value())?);
                }
            }
            Ok(found)
        })?;
        self.stats.record(TableOp::BatchGet, found.len());
        Ok(found)
    }

    async fn query(&self, query: &Query) -> TableResult<Vec<Item>> {
        let range = query_range(query)?;
        let (index, descending, limit) = (query.index, query.descending, query.limit.max(1));
        let found = self.read(move |db| {
            let txn = db.begin_read().map_err(internal)?;
            let items = txn.open_table(ITEMS).map_err(internal)?;
            let bounds = (range.0.as_ref().map(String::as_str), range.1.as_ref().map(String::as_str));
            let table = match index {
                Index::Table => items.range::<&str>(bounds),
                Index::Gsi1 => txn.open_table(GSI1_ENTRIES).map_err(internal)?.range::<&str>(bounds),
            }
            .map_err(internal)?;
            let entries: Box<dyn Iterator<Item = _>> = if descending { Box::new(table.rev()) } else { Box::new(table) };
            let mut found = Vec::new();
            for entry in entries.take(limit) {
                let (key, value) = entry.map_err(internal)?;
                let item = match index {
                    Index::Table => decode(value.value())?,
                    Index::Gsi1 => {
                        // `gpk \0 gsk \0 pk \0 sk`: the item's own key is the last two parts.
                        let key = key.value();
                        let item_key = key.splitn(3, SEP).nth(2).unwrap_or_default();
                        let value = items
                            .get(item_key)
                            .map_err(internal)?
                            .ok_or_else(|| internal(anyhow::anyhow!("index entry without item: {item_key:?}")))?;
                        decode(value.value())?
                    }
                };
                found.push(item);
            }
            Ok(found)
        })?;
        self.stats.record(TableOp::Query, found.len());
        Ok(found)
    }

    async fn transact(&self, writes: Vec<Write>) -> TableResult<()> {
        let _writer = self.writer.lock().await;
        let result = self
            .blocking(move |db| {
                let txn = db.begin_write().map_err(internal)?;
                {
                    let mut items = txn.open_table(ITEMS).map_err(internal)?;
                    let mut index = txn.open_table(GSI1_ENTRIES).map_err(internal)?;
                    for write in writes {
                        let (key, new_item) = match write {
                            Write::Put(item) => (key_of(&item).map_err(internal)?, Some(item)),
                            Write::PutIfAbsent(item) => {
                                let key = key_of(&item).map_err(internal)?;
                                if items.get(item_key(&key)?.as_str()).map_err(internal)?.is_some() {
                                    return Err(TableError::ConditionFailed);
                                }
                                (key, Some(item))
                            }
                            Write::Update { key, add, set, checks } => {
                                let raw = item_key(&key)?;
                                let Some(old) = items.get(raw.as_str()).map_err(internal)? else {
                                    return Err(TableError::ConditionFailed);
                                };
                                let mut item = decode(old.value())?;
                                if !checks.iter().all(|check| check.holds(&item)) {
                                    return Err(TableError::ConditionFailed);
                                }
                                for (attr, by) in add {
                                    let current = item.opt_number(&attr).unwrap_or(0);
                                    item.insert(attr, Value::N(current + by));
                                }
                                item.extend(set);
                                (key, Some(item))
                            }
                            Write::Delete(key) => (key, None),
                        };
                        let raw = item_key(&key)?;
                        let old =
                            items.remove(raw.as_str()).map_err(internal)?.map(|v| decode(v.value())).transpose()?;
                        if let Some(entry) = old.as_ref().map(index_entry).transpose()?.flatten() {
                            index.remove(entry.as_str()).map_err(internal)?;
                        }
                        if let Some(item) = new_item {
                            items.insert(raw.as_str(), encode(&item)?.as_slice()).map_err(internal)?;
                            if let Some(entry) = index_entry(&item)? {
                                index.insert(entry.as_str(), [].as_slice()).map_err(internal)?;
                            }
                        }
                    }
                }
                // Dropping an uncommitted write transaction (the early returns above) aborts it: nothing is written.
                txn.commit().map_err(internal)
            })
            .await;
        // A refused transaction is a call too.
        self.stats.record(TableOp::Transact, 0);
        result
    }

    async fn put_many(&self, items: Vec<Item>) -> TableResult<()> {
        self.transact(items.into_iter().map(Write::Put).collect()).await
    }

    async fn add(&self, key: &Key, attr: &str, by: i64) -> TableResult<()> {
        let (key, attr) = (key.clone(), attr.to_string());
        let _writer = self.writer.lock().await;
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(internal)?;
            {
                let mut items = txn.open_table(ITEMS).map_err(internal)?;
                let raw = item_key(&key)?;
                let existing = items.get(raw.as_str()).map_err(internal)?.map(|v| decode(v.value())).transpose()?;
                let mut item = existing.unwrap_or_else(|| {
                    Item::from([(PK.to_string(), Value::S(key.pk.clone())), (SK.to_string(), Value::S(key.sk.clone()))])
                });
                let current = item.opt_number(&attr).unwrap_or(0);
                item.insert(attr, Value::N(current + by));
                items.insert(raw.as_str(), encode(&item)?.as_slice()).map_err(internal)?;
            }
            txn.commit().map_err(internal)
        })
        .await?;
        self.stats.record(TableOp::Add, 0);
        Ok(())
    }

    fn stats(&self) -> &TableStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pk: &str, sk: &str, gsk: Option<&str>) -> Item {
        let mut item = Item::new();
        item.insert(PK.into(), Value::S(pk.into()));
        item.insert(SK.into(), Value::S(sk.into()));
        if let Some(gsk) = gsk {
            item.insert(GSI1_PK.into(), Value::S("ALL".into()));
            item.insert(GSI1_SK.into(), Value::S(gsk.into()));
        }
        item
    }

    fn sks(items: &[Item]) -> Vec<&str> {
        items.iter().map(|i| i.opt_string(SK).unwrap_or_default()).collect()
    }

    fn query(pk: &str, index: Index) -> Query {
        Query { index, pk: pk.into(), sk_from: None, sk_to: None, descending: false, limit: 100, start_after: None }
    }

    #[test]
    fn items_round_trip_and_items_stored_as_json_are_still_read() {
        let mut stored = item("PHOTO#1", "META", Some("2026-11-28T10:00:00.000000Z#1"));
        stored.insert("commentCount".into(), Value::N(-3));
        stored.insert("name".into(), Value::S("海边日落 \u{0} \"quoted\"".into()));
        let bytes = encode(&stored).unwrap();
        assert_eq!(bytes[0], POSTCARD);
        assert_eq!(decode(&bytes).unwrap(), stored);
        // What versions before postcard wrote.
        assert_eq!(decode(&serde_json::to_vec(&stored).unwrap()).unwrap(), stored);
        assert!(decode(&[POSTCARD, 0xff]).is_err(), "damaged bytes are an error, not a panic");
    }

    #[tokio::test]
    async fn queries_follow_byte_order_bounds_and_start_keys() {
        let dir = std::env::temp_dir().join(format!("photoshare-table-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let table = EmbeddedTable::open(&dir.join("t.redb")).unwrap();
        let writes = ["a", "b", "b2", "c"].iter().map(|sk| Write::Put(item("P", sk, None))).collect();
        table.transact(writes).await.unwrap();
        table.transact(vec![Write::Put(item("PX", "a", None))]).await.unwrap();

        assert_eq!(sks(&table.query(&query("P", Index::Table)).await.unwrap()), ["a", "b", "b2", "c"]);
        let bounded = Query { sk_from: Some("b".into()), sk_to: Some("b".into()), ..query("P", Index::Table) };
        assert_eq!(sks(&table.query(&bounded).await.unwrap()), ["b"]);
        let after_b = Query { start_after: Some(item("P", "b", None)), ..query("P", Index::Table) };
        assert_eq!(sks(&table.query(&after_b).await.unwrap()), ["b2", "c"]);
        let before_b2 = Query { descending: true, limit: 1, ..after_b.clone() };
        let before_b2 = Query { start_after: Some(item("P", "b2", None)), ..before_b2 };
        assert_eq!(sks(&table.query(&before_b2).await.unwrap()), ["b"]);
    }

    #[tokio::test]
    async fn failed_condition_writes_nothing_and_index_follows_items() {
        let dir = std::env::temp_dir().join(format!("photoshare-table-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let table = EmbeddedTable::open(&dir.join("t.redb")).unwrap();
        table.transact(vec![Write::PutIfAbsent(item("P", "1", Some("2026")))]).await.unwrap();
        let clash = vec![Write::Put(item("Q", "1", Some("2027"))), Write::PutIfAbsent(item("P", "1", None))];
        assert!(matches!(table.transact(clash).await, Err(TableError::ConditionFailed)));
        assert!(table.get(&Key::new("Q", "1")).await.unwrap().is_none());

        let by_time = Query { descending: true, ..query("ALL", Index::Gsi1) };
        assert_eq!(sks(&table.query(&by_time).await.unwrap()), ["1"]);
        table.transact(vec![Write::Delete(Key::new("P", "1"))]).await.unwrap();
        assert!(table.query(&by_time).await.unwrap().is_empty());
    }
}
