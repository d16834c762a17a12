//! A DynamoDB-shaped storage primitive: items in partitions, sorted by a sort key, with one global secondary
//! index, conditional transactions and counters. The catalog writes every access pattern once against this
//! trait; [`dynamo`] runs it on DynamoDB and [`embedded`] on a local redb file with the same semantics.

pub mod dynamo;
pub mod embedded;
pub mod traced;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Partition key attribute of every item.
pub const PK: &str = "pk";
/// Sort key attribute of every item.
pub const SK: &str = "sk";
/// Partition key of the global secondary index `gsi1`.
pub const GSI1_PK: &str = "gsi1pk";
/// Sort key of the global secondary index `gsi1`.
pub const GSI1_SK: &str = "gsi1sk";
/// Name of the only global secondary index (projection: all attributes).
pub const GSI1: &str = "gsi1";
/// Attribute DynamoDB's TTL deletes expired items by (epoch seconds).
pub const TTL: &str = "ttl";

/// An attribute value: the two DynamoDB types the catalog needs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    S(String),
    N(i64),
}

/// An item: attribute name to value, keys included.
pub type Item = BTreeMap<String, Value>;

/// The primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }
}

/// Which key a query walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// The table's own `pk` / `sk`.
    Table,
    /// `gsi1pk` / `gsi1sk`.
    Gsi1,
}

/// One page request on one partition, like DynamoDB's Query.
#[derive(Debug, Clone)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    /// Inclusive lower bound of the sort key.
    pub sk_from: Option<String>,
    /// Inclusive upper bound of the sort key.
    pub sk_to: Option<String>,
    /// Highest sort key first.
    pub descending: bool,
    /// At most this many items (at least 1).
    pub limit: usize,
    /// Resume after this item (exclusive), given by all its key attributes, like `ExclusiveStartKey`.
    pub start_after: Option<Item>,
}

impl Query {
    /// The first `limit` items of table partition `pk`, in sort-key order.
    pub fn partition(pk: impl Into<String>, limit: usize) -> Self {
        Self {
            index: Index::Table,
            pk: pk.into(),
            sk_from: None,
            sk_to: None,
            descending: false,
            limit,
            start_after: None,
        }
    }
}

/// One write of a transaction. Every write of a transaction happens, or none does.
#[derive(Debug, Clone)]
pub enum Write {
    /// Store the item, replacing any item with its key.
    Put(Item),
    /// Store the item only if no item has its key; otherwise the transaction fails with `ConditionFailed`.
    PutIfAbsent(Item),
    /// Update an existing item: add to number attributes and set others, if every check holds; otherwise (or
    /// if the item is absent) fail with `ConditionFailed`.
    Update { key: Key, add: Vec<(String, i64)>, set: Vec<(String, Value)>, checks: Vec<Check> },
    /// Remove the item if present.
    Delete(Key),
    /// Remove the item; if it is absent the transaction fails with `ConditionFailed`.
    DeleteExisting(Key),
    /// Add `by` to the number `attr` of the item at `key`, creating the item (and attribute) if absent.
    Increment { key: Key, attr: String, by: i64 },
}

/// A condition on an attribute of the item a write updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The number attribute is present and equals this.
    Equals(String, i64),
    /// The number attribute is present and at least this.
    AtLeast(String, i64),
    /// The string attribute is absent, or sorts (byte order) before this.
    AbsentOrBefore(String, String),
    /// The number attribute is absent (as if it were 0) and this is 0, or it equals this.
    Revision(String, i64),
    /// The string attribute equals this, or is absent for `None`.
    StringIs(String, Option<String>),
}

impl Check {
    /// Whether the check holds for `item`.
    pub fn holds(&self, item: &Item) -> bool {
        match self {
            Self::Equals(attr, value) => item.opt_number(attr) == Some(*value),
            Self::AtLeast(attr, least) => item.opt_number(attr).is_some_and(|n| n >= *least),
            Self::AbsentOrBefore(attr, bound) => item.opt_string(attr).is_none_or(|s| s < bound.as_str()),
            Self::Revision(attr, revision) => item.opt_number(attr).unwrap_or(0) == *revision,
            Self::StringIs(attr, expected) => item.opt_string(attr) == expected.as_deref(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A condition of a transaction did not hold; nothing was written.
    #[error("a write condition failed")]
    ConditionFailed,
    /// A concurrent transaction on the same items won; nothing was written and trying again is safe.
    #[error("a concurrent transaction conflicted")]
    Conflict,
    /// The backend could not be reached or refused for load; the caller may retry.
    #[error("table backend unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type TableResult<T> = Result<T, TableError>;

/// The storage primitive the catalog is written against.
#[async_trait::async_trait]
pub trait Table: Send + Sync + 'static {
    /// Create the table (and its index) if absent. Idempotent.
    async fn ensure_created(&self) -> TableResult<()>;
    async fn get(&self, key: &Key) -> TableResult<Option<Item>>;
    /// The items found for `keys`, in no particular order; missing ones are left out.
    async fn batch_get(&self, keys: &[Key]) -> TableResult<Vec<Item>>;
    /// `batch_get` for a caller that keeps what it decodes from items: `kept[i]` is the stored form of the
    /// item it last decoded for `keys[i]`, if any. An item still stored exactly so comes back as
    /// `Found::Kept(i)`, not decoded again; any other as `Found::Item`, with its stored form if the table has
    /// one to compare (the embedded table's bytes; DynamoDB's items are decoded from JSON on every read).
    async fn batch_get_kept(&self, keys: &[Key], kept: &[Option<Stored>]) -> TableResult<Vec<Found>> {
        let _ = kept;
        Ok(self.batch_get(keys).await?.into_iter().map(|item| Found::Item(item, None)).collect())
    }
    async fn query(&self, query: &Query) -> TableResult<Vec<Item>>;
    /// `query`, each item with the attributes named in `only` alone: for listings of many small entries that
    /// need a few attributes of each. The embedded table does not copy the others; DynamoDB's items come
    /// whole (this default), as its entries are small and a projection saves no read capacity.
    async fn query_only(&self, query: &Query, only: &[&str]) -> TableResult<Vec<Item>> {
        let mut items = self.query(query).await?;
        for item in &mut items {
            item.retain(|name, _| only.contains(&name.as_str()));
        }
        Ok(items)
    }
    async fn transact(&self, writes: Vec<Write>) -> TableResult<()>;
    /// Store many items, replacing any with the same keys; not atomic as a whole (BatchWriteItem).
    async fn put_many(&self, items: Vec<Item>) -> TableResult<()>;
    /// Add `by` to the number `attr` of the item at `key`, creating the item (and attribute) if absent.
    async fn add(&self, key: &Key, attr: &str, by: i64) -> TableResult<()>;
    /// Calls and items read so far, for tests and metrics.
    fn stats(&self) -> &TableStats;
}

/// An item's exact stored form, to hand back to [`Table::batch_get_kept`]: equal only while the item is
/// unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored(Arc<[u8]>);

impl Stored {
    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What [`Table::batch_get_kept`] found for one of its keys.
#[derive(Debug)]
pub enum Found {
    /// The item of key number `i`, stored exactly as the caller's kept form.
    Kept(usize),
    /// An item, with its stored form when the table has one.
    Item(Item, Option<Stored>),
}

/// The kinds of table call, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableOp {
    Get,
    BatchGet,
    Query,
    Transact,
    PutMany,
    Add,
}

impl TableOp {
    pub const ALL: [TableOp; 6] = [Self::Get, Self::BatchGet, Self::Query, Self::Transact, Self::PutMany, Self::Add];

    /// The DynamoDB operation it is.
    pub fn name(self) -> &'static str {
        match self {
            Self::Get => "GetItem",
            Self::BatchGet => "BatchGetItem",
            Self::Query => "Query",
            Self::Transact => "TransactWriteItems",
            Self::PutMany => "BatchWriteItem",
            Self::Add => "UpdateItem",
        }
    }
}

/// Counters of the work a table did: cost must follow what a request returns, not the table's size.
#[derive(Debug, Default)]
pub struct TableStats {
    calls: AtomicU64,
    items_read: AtomicU64,
    by_op: [AtomicU64; 6],
    /// Write calls finished (whatever their outcome): a reader that saw this count unchanged across its
    /// reads saw no write of this instance land in between.
    writes: AtomicU64,
}

impl TableStats {
    pub fn record(&self, op: TableOp, items_read: usize) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.items_read.fetch_add(items_read as u64, Ordering::Relaxed);
        self.by_op[op as usize].fetch_add(1, Ordering::Relaxed);
        if matches!(op, TableOp::Transact | TableOp::PutMany | TableOp::Add) {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Write calls finished so far: recorded after the write landed (or failed).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Calls of one kind so far.
    pub fn calls_of(&self, op: TableOp) -> u64 {
        self.by_op[op as usize].load(Ordering::Relaxed)
    }
    /// Backend calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
    /// Items the backend read so far (DynamoDB: `ScannedCount` and items returned by gets).
    pub fn items_read(&self) -> u64 {
        self.items_read.load(Ordering::Relaxed)
    }
}

/// Attribute accessors that turn a malformed item into an error instead of a panic.
pub trait ItemExt {
    fn string(&self, attr: &str) -> anyhow::Result<&str>;
    fn number(&self, attr: &str) -> anyhow::Result<i64>;
    fn opt_string(&self, attr: &str) -> Option<&str>;
    fn opt_number(&self, attr: &str) -> Option<i64>;
}

impl ItemExt for Item {
    fn string(&self, attr: &str) -> anyhow::Result<&str> {
        self.opt_string(attr).ok_or_else(|| anyhow::anyhow!("item lacks string attribute `{attr}`"))
    }
    fn number(&self, attr: &str) -> anyhow::Result<i64> {
        self.opt_number(attr).ok_or_else(|| anyhow::anyhow!("item lacks number attribute `{attr}`"))
    }
    fn opt_string(&self, attr: &str) -> Option<&str> {
        match self.get(attr) {
            Some(Value::S(s)) => Some(s),
            _ => None,
        }
    }
    fn opt_number(&self, attr: &str) -> Option<i64> {
        match self.get(attr) {
            Some(Value::N(n)) => Some(*n),
            _ => None,
        }
    }
}

/// The primary key of an item, if it has one.
pub fn key_of(item: &Item) -> anyhow::Result<Key> {
    Ok(Key::new(item.string(PK)?, item.string(SK)?))
}
