//! The photo catalog: photos, pending uploads, comments and the event feed as items of the single table, and
//! every access pattern the API needs, each a bounded number of table calls.

mod attributes;
mod comment_removal;
mod comments;
mod decoded;
mod deletion;
mod edits;
mod events;
pub mod keys;
mod photos;
mod processing;
mod queue;
mod search;
mod shares;
pub mod words;

use crate::catalog::attributes as attr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::table::{Item, ItemExt, Table, Value};
pub use comments::{AddedComment, Comment, NewComment, RetryId};
pub use deletion::{Swept, Trashed};
pub use edits::EditError;
pub use events::Event;
pub use photos::{FIRST_COMMENTS, Photo, Upload};
pub use processing::{BEFORE_RENDITIONS, PhotoStatus, Processing, StoredRendition};
pub use queue::{Due, Holder, Job, Lease};
pub use search::PhotoFilter;
pub use shares::Share;

/// One page of a listing, in order, and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
}

fn s(value: &str) -> Value {
    Value::S(value.to_string())
}

fn parse_time(item: &Item, attr: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(item.string(attr)?)?.with_timezone(&Utc))
}

fn parse_id(item: &Item) -> anyhow::Result<Uuid> {
    Ok(Uuid::try_parse(item.string(attr::ID)?)?)
}

/// The catalog over any [`Table`].
#[derive(Clone)]
pub struct Catalog {
    table: Arc<dyn Table>,
    /// Comments on one photo are written one at a time per instance (see `add_comment`).
    comment_writers: Arc<[tokio::sync::Mutex<()>]>,
    /// Each recently commented photo's latest comment time as this instance last committed or read it: a
    /// comment's first try is then conditional on it, with no read (see `add_comment`).
    latest_comments: Arc<quick_cache::sync::Cache<Uuid, DateTime<Utc>>>,
    /// Photos as last decoded, with the stored form they came from (see `decoded`).
    decoded: Arc<decoded::DecodedPhotos>,
    /// Whether every write also puts an entry in the table's event feed (see `events`).
    feed: bool,
    /// Partitions the gallery index is spread over (see `keys`).
    gallery_shards: usize,
    /// Partitions the processing queue is spread over (see `processing`).
    queue_shards: usize,
    /// Partitions each name token is spread over (see `keys`, `search`).
    name_shards: usize,
}

/// Locks comment writers are spread over, by photo: a few photos may share one, which only costs them order.
const COMMENT_WRITER_LOCKS: usize = 256;
/// Photos whose latest comment time is remembered (32 bytes each).
const LATEST_COMMENTS: usize = 16_384;

impl Catalog {
    pub fn new(table: Arc<dyn Table>) -> Self {
        let comment_writers = (0..COMMENT_WRITER_LOCKS).map(|_| tokio::sync::Mutex::new(())).collect();
        let latest_comments = Arc::new(quick_cache::sync::Cache::new(LATEST_COMMENTS));
        Self {
            table,
            comment_writers,
            latest_comments,
            decoded: Arc::new(decoded::DecodedPhotos::new()),
            feed: true,
            gallery_shards: 1,
            queue_shards: 1,
            name_shards: 1,
        }
    }

    /// Spread the gallery index over `shards` partitions (`--gallery-shards`): each takes 1/`shards` of the
    /// uploads, and a gallery page costs one query per shard. Growing it later is safe (entries stay where
    /// they were written, and every shard up to the setting is read); shrinking it hides photos on the
    /// shards no longer read.
    pub fn with_gallery_shards(mut self, shards: usize) -> Self {
        self.gallery_shards = shards.max(1);
        self
    }

    /// Spread the processing queue over `shards` partitions (`--queue-shards`): each takes 1/`shards` of the
    /// jobs' writes (about six units a photo). Changing it is safe: a job is claimed where it was found.
    pub fn with_queue_shards(mut self, shards: usize) -> Self {
        self.queue_shards = shards.max(1);
        self
    }

    /// Spread each name token over `shards` partitions (`--name-shards`): each takes 1/`shards` of the
    /// token's entries and count updates, and a name search reads every shard's count of its words and
    /// queries the shards of its rarest one that have it. Growing it later is safe (a photo's entries stay on
    /// the shard it recorded); shrinking it hides the entries on the shards no longer read.
    pub fn with_name_shards(mut self, shards: usize) -> Self {
        self.name_shards = shards.max(1);
        self
    }

    /// A catalog that writes no event feed: instances hear of each other's writes through an engine
    /// (`domain::events`), and the feed's partition per minute would only cost write capacity.
    pub fn without_feed(mut self) -> Self {
        self.feed = false;
        self
    }

    pub fn table(&self) -> &Arc<dyn Table> {
        &self.table
    }

    /// Whether the table answers: a read of an item that never exists.
    pub async fn probe(&self) -> crate::table::TableResult<()> {
        self.table.get(&keys::readiness_probe()).await.map(|_| ())
    }
}
