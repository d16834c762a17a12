//! The table on local disk: a redb file holding items and the `gsi1` index, with DynamoDB's semantics
//! (byte-ordered sort keys, exclusive start keys, all-or-nothing conditional transactions).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use redb::{Database, TableDefinition};

use super::*;

mod encoding;
#[cfg(test)]
pub mod scratch;
mod writes;

use encoding::{SEP, decode, decode_only, internal, item_key, query_range};
use writes::{Change, Pending, write_loop};

/// Items by `pk \0 sk` (UTF-8; byte keys, compared without checking that they are).
const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items.bytes");
/// Index entries by `gsi1pk \0 gsi1sk \0 pk \0 sk`, each holding its item.
const GSI1_ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("gsi1.bytes");
/// What files written before 2026-12-03 hold instead: string keys (redb checks each is UTF-8 at every
/// comparison, a tenth of a gallery page's time), index entries without their items. `open` moves them.
const STR_ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("items");
const STR_GSI1_ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("gsi1");

/// A table of raw keys and values, read.
type ReadOnly = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

pub struct EmbeddedTable {
    db: Arc<Database>,
    stats: TableStats,
    /// Changes for the writer thread (see `write_loop`); `None` once dropped, which stops it.
    queue: Option<std::sync::mpsc::Sender<Pending>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for EmbeddedTable {
    fn drop(&mut self) {
        // The writer thread ends when its queue closes; wait for it, so the file is closed when this returns.
        self.queue.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// redb's page cache (its default is 1 GiB, which a playground on a laptop should not grow to).
const CACHE_BYTES: usize = 64 * 1024 * 1024;

impl EmbeddedTable {
    /// Open (or create) the store file at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .with_context(|| format!("opening the embedded table {}", path.display()))?;
        let txn = db.begin_write()?;
        move_str_tables(&txn)?;
        txn.open_table(ITEMS)?;
        txn.open_table(GSI1_ENTRIES)?;
        txn.commit()?;
        let db = Arc::new(db);
        let (queue, pending) = std::sync::mpsc::channel();
        let writer = {
            let db = db.clone();
            std::thread::Builder::new().name("photoshare-writer".into()).spawn(move || write_loop(&db, pending))?
        };
        Ok(Self { db, stats: TableStats::default(), queue: Some(queue), writer: Some(writer) })
    }

    /// A read transaction and its items table. Reads run on the calling task: a read is at most a page (about
    /// 100 items) from redb's cache, tens of microseconds, less than handing it to another thread costs.
    fn begin_read(&self) -> TableResult<(redb::ReadTransaction, ReadOnly)> {
        let txn = self.db.begin_read().map_err(internal)?;
        let items = txn.open_table(ITEMS).map_err(internal)?;
        Ok((txn, items))
    }

    /// `read(i, bytes)` of each item stored at `keys[i]`, in one read transaction; missing ones left out.
    fn read_each<T>(&self, keys: &[Key], mut read: impl FnMut(usize, &[u8]) -> TableResult<T>) -> TableResult<Vec<T>> {
        let raws = keys.iter().map(item_key).collect::<TableResult<Vec<_>>>()?;
        let (_txn, items) = self.begin_read()?;
        let mut found = Vec::with_capacity(raws.len());
        for (i, raw) in raws.iter().enumerate() {
            if let Some(value) = items.get(raw.as_bytes()).map_err(internal)? {
                found.push(read(i, value.value())?);
            }
        }
        self.stats.record(TableOp::BatchGet, found.len());
        Ok(found)
    }

    /// The items of `query`'s range, each read by `read`.
    fn read_range(&self, query: &Query, read: impl Fn(&[u8]) -> TableResult<Item>) -> TableResult<Vec<Item>> {
        let range = query_range(query)?;
        let (index, descending, limit) = (query.index, query.descending, query.limit.max(1));
        let txn = self.db.begin_read().map_err(internal)?;
        let bounds = (range.0.as_ref().map(String::as_bytes), range.1.as_ref().map(String::as_bytes));
        // An index entry holds its item (`writes::apply`): both are read alike.
        let table = txn.open_table(match index {
            Index::Table => ITEMS,
            Index::Gsi1 => GSI1_ENTRIES,
        });
        let table = table.map_err(internal)?.range::<&[u8]>(bounds).map_err(internal)?;
        let entries: Box<dyn Iterator<Item = _>> = if descending { Box::new(table.rev()) } else { Box::new(table) };
        let mut found = Vec::new();
        for entry in entries.take(limit) {
            let (_, value) = entry.map_err(internal)?;
            found.push(read(value.value())?);
        }
        self.stats.record(TableOp::Query, found.len());
        Ok(found)
    }

    /// Hands a change to the writer thread and waits for its outcome.
    async fn submit(&self, change: Change) -> TableResult<()> {
        let stopped = || internal(anyhow::anyhow!("the embedded table's writer has stopped"));
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.queue.as_ref().ok_or_else(stopped)?.send(Pending { change, done }).map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

/// Moves what a file from before byte keys holds (`STR_ITEMS`, `STR_GSI1_ENTRIES`) into the byte-keyed
/// tables, each index entry with its item, in `txn`: once, on the first open by this version.
fn move_str_tables(txn: &redb::WriteTransaction) -> anyhow::Result<()> {
    use redb::{ReadableTable as _, ReadableTableMetadata as _, TableHandle as _};
    if !txn.list_tables()?.any(|table| table.name() == STR_ITEMS.name()) {
        return Ok(());
    }
    let (mut items, mut index) = (txn.open_table(ITEMS)?, txn.open_table(GSI1_ENTRIES)?);
    let (old_items, old_index) = (txn.open_table(STR_ITEMS)?, txn.open_table(STR_GSI1_ENTRIES)?);
    for entry in old_items.iter()? {
        let (key, value) = entry?;
        items.insert(key.value().as_bytes(), value.value())?;
    }
    for entry in old_index.iter()? {
        let key = entry?.0.value().to_string();
        // `gpk \0 gsk \0 pk \0 sk`: the item's own key is the last two parts.
        let item_key = key.splitn(3, SEP).nth(2).unwrap_or_default();
        // Never written (an item and its entry change in one transaction), and unreadable before: left behind.
        let Some(item) = old_items.get(item_key)? else {
            tracing::warn!(entry = key, "index entry without its item, not moved");
            continue;
        };
        index.insert(key.as_bytes(), item.value())?;
    }
    let moved = (items.len()?, index.len()?);
    drop((items, index, old_items, old_index));
    txn.delete_table(STR_ITEMS)?;
    txn.delete_table(STR_GSI1_ENTRIES)?;
    tracing::info!(items = moved.0, index_entries = moved.1, "embedded table moved to byte keys");
    Ok(())
}

#[async_trait::async_trait]
impl Table for EmbeddedTable {
    async fn ensure_created(&self) -> TableResult<()> {
        Ok(())
    }

    async fn get(&self, key: &Key) -> TableResult<Option<Item>> {
        let raw = item_key(key)?;
        let (_txn, items) = self.begin_read()?;
        let found = items.get(raw.as_bytes()).map_err(internal)?.map(|v| decode(v.value())).transpose()?;
        self.stats.record(TableOp::Get, found.is_some() as usize);
        Ok(found)
    }

    async fn batch_get(&self, keys: &[Key]) -> TableResult<Vec<Item>> {
        self.read_each(keys, |_, bytes| decode(bytes))
    }

    async fn batch_get_kept(&self, keys: &[Key], kept: &[Option<Stored>]) -> TableResult<Vec<Found>> {
        self.read_each(keys, |i, bytes| match kept.get(i) {
            Some(Some(Stored(kept))) if **kept == *bytes => Ok(Found::Kept(i)),
            _ => Ok(Found::Item(decode(bytes)?, Some(Stored(bytes.into())))),
        })
    }

    async fn query(&self, query: &Query) -> TableResult<Vec<Item>> {
        self.read_range(query, decode)
    }

    async fn query_only(&self, query: &Query, only: &[&str]) -> TableResult<Vec<Item>> {
        self.read_range(query, |bytes| decode_only(bytes, only))
    }

    async fn transact(&self, writes: Vec<Write>) -> TableResult<()> {
        let outcome = self.submit(Change::Transact(writes)).await;
        // A refused transaction is a call too.
        self.stats.record(TableOp::Transact, 0);
        outcome
    }

    async fn put_many(&self, items: Vec<Item>) -> TableResult<()> {
        let outcome = self.submit(Change::Transact(items.into_iter().map(Write::Put).collect())).await;
        self.stats.record(TableOp::PutMany, 0);
        outcome
    }

    async fn add(&self, key: &Key, attr: &str, by: i64) -> TableResult<()> {
        let outcome = self.submit(Change::Add { key: key.clone(), attr: attr.to_string(), by }).await;
        self.stats.record(TableOp::Add, 0);
        outcome
    }

    fn stats(&self) -> &TableStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::encoding::{POSTCARD, encode};
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

    #[test]
    fn an_item_read_for_some_attributes_has_those_alone_and_as_stored() {
        let mut stored = item("GALLERY#0", "2026-11-28T10:00:00.000000Z#1", Some("2026-11-28T10:00:00.000000Z#1"));
        stored.insert("id".into(), Value::S("1f0e \"é\"".into()));
        stored.insert("count".into(), Value::N(-7));
        let only = ["id", "count", "absent"];
        let expected: Item = stored
            .iter()
            .filter(|(name, _)| only.contains(&name.as_str()))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        assert_eq!(expected.len(), 2);
        assert_eq!(decode_only(&encode(&stored).unwrap(), &only).unwrap(), expected);
        assert_eq!(decode_only(&serde_json::to_vec(&stored).unwrap(), &only).unwrap(), expected, "stored as JSON");
        assert!(decode_only(&[POSTCARD, 0x02, 0xff], &only).is_err(), "damaged bytes are an error, not a panic");
    }

    /// Writers that queue up are committed together, yet each one succeeds or fails alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grouped_changes_succeed_or_fail_each_on_its_own() {
        let scratch = scratch::Scratch::new();
        let table = &scratch.table;
        let racers = (0..50).map(|n| {
            let table = table.clone();
            tokio::spawn(async move {
                let claim = Write::PutIfAbsent(item("CLAIM", "only", None));
                let own = Write::Put(item("OWN", &format!("{n:02}"), None));
                let counter = Key::new("COUNT", "n");
                let (claimed, counted) = tokio::join!(table.transact(vec![claim, own]), table.add(&counter, "n", 1));
                (claimed, counted)
            })
        });
        let outcomes: Vec<_> = futures_util::future::join_all(racers).await.into_iter().map(Result::unwrap).collect();
        let won: Vec<usize> = (0..50).filter(|n| outcomes[*n].0.is_ok()).collect();
        assert_eq!(won.len(), 1, "one claim wins");
        assert!(outcomes.iter().all(|(claim, _)| claim.is_ok() || matches!(claim, Err(TableError::ConditionFailed))));
        let own = table.query(&query("OWN", Index::Table)).await.unwrap();
        assert_eq!(sks(&own), [format!("{:02}", won[0])], "a refused transaction wrote nothing");
        assert!(outcomes.iter().all(|(_, counted)| counted.is_ok()));
        let count = table.get(&Key::new("COUNT", "n")).await.unwrap().unwrap();
        assert_eq!(count.opt_number("n"), Some(50), "every add counted once");
    }

    #[tokio::test]
    async fn queries_follow_byte_order_bounds_and_start_keys() {
        let scratch = scratch::Scratch::new();
        let table = &scratch.table;
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

    /// A file written before byte keys (string keys, index entries without items) opens with all it held; an
    /// index entry whose item is missing does not stop it.
    #[tokio::test]
    async fn a_file_with_string_keys_is_moved_on_open() {
        let scratch = scratch::Scratch::new();
        let path = scratch.dir.join("old.redb");
        let old = item("P", "1", Some("2026"));
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            let (mut items, mut index) =
                (txn.open_table(STR_ITEMS).unwrap(), txn.open_table(STR_GSI1_ENTRIES).unwrap());
            items.insert("P\u{0}1", encode(&old).unwrap().as_slice()).unwrap();
            items.insert("P\u{0}2", encode(&item("P", "2", None)).unwrap().as_slice()).unwrap();
            index.insert("ALL\u{0}2026\u{0}P\u{0}1", [].as_slice()).unwrap();
            index.insert("ALL\u{0}2025\u{0}P\u{0}gone", [].as_slice()).unwrap();
            drop((items, index));
            txn.commit().unwrap();
        }
        let table = EmbeddedTable::open(&path).unwrap();
        assert_eq!(sks(&table.query(&query("P", Index::Table)).await.unwrap()), ["1", "2"]);
        assert_eq!(table.query(&query("ALL", Index::Gsi1)).await.unwrap(), [old]);
        table.transact(vec![Write::Delete(Key::new("P", "1"))]).await.unwrap();
        assert!(table.query(&query("ALL", Index::Gsi1)).await.unwrap().is_empty(), "the moved entry follows its item");
        drop(table);
        let reopened = EmbeddedTable::open(&path).unwrap();
        assert_eq!(sks(&reopened.query(&query("P", Index::Table)).await.unwrap()), ["2"], "moved once");
    }

    #[tokio::test]
    async fn an_item_stored_as_kept_is_not_decoded_again() {
        let scratch = scratch::Scratch::new();
        let table = &scratch.table;
        table.transact(vec![Write::Put(item("P", "1", None)), Write::Put(item("P", "2", None))]).await.unwrap();
        let keys = [Key::new("P", "1"), Key::new("P", "2"), Key::new("P", "absent")];
        let stored = |found: Vec<Found>| -> Vec<Option<Stored>> {
            found.into_iter().map(|f| if let Found::Item(_, stored) = f { stored } else { None }).collect()
        };
        let kept = stored(table.batch_get_kept(&keys[..2], &[None, None]).await.unwrap());
        assert!(kept.iter().all(Option::is_some), "the embedded table gives each item's stored form");
        let mut changed = item("P", "2", None);
        changed.insert("n".into(), Value::N(1));
        table.transact(vec![Write::Put(changed.clone())]).await.unwrap();
        let found = table.batch_get_kept(&keys, &[kept[0].clone(), kept[1].clone(), kept[0].clone()]).await.unwrap();
        assert!(matches!(found[0], Found::Kept(0)), "unchanged: not decoded");
        assert!(matches!(&found[1], Found::Item(item, Some(_)) if *item == changed), "changed: decoded");
        assert_eq!(found.len(), 2, "absent: left out, whatever was kept");
    }

    #[tokio::test]
    async fn failed_condition_writes_nothing_and_index_follows_items() {
        let scratch = scratch::Scratch::new();
        let table = &scratch.table;
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
