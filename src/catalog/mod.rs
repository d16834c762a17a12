//! The photo catalog: photos, pending uploads, comments and the event feed as items of the single table, and
//! every access pattern the API needs, each a bounded number of table calls.

mod comment_removal;
mod comments;
mod deletion;
mod edits;
mod events;
pub mod keys;
mod photos;
mod processing;
mod search;
mod shares;
pub mod words;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::table::{Item, ItemExt, Table, Value};
pub use comments::{Comment, NewComment, RetryId};
pub use deletion::{Swept, Trashed};
pub use edits::EditError;
pub use events::Event;
pub use photos::{FIRST_COMMENTS, Photo, Upload};
pub use processing::{BEFORE_RENDITIONS, Job, Lease, PhotoStatus, Processing, StoredRendition};
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
    Ok(Uuid::try_parse(item.string("id")?)?)
}

/// The catalog over any [`Table`].
#[derive(Clone)]
pub struct Catalog {
    table: Arc<dyn Table>,
    /// Comments on one photo are written one at a time per instance (see `add_comment`).
    comment_writers: Arc<[tokio::sync::Mutex<()>]>,
}

/// Locks comment writers are spread over, by photo: a few photos may share one, which only costs them order.
const COMMENT_WRITER_LOCKS: usize = 256;

impl Catalog {
    pub fn new(table: Arc<dyn Table>) -> Self {
        let comment_writers = (0..COMMENT_WRITER_LOCKS).map(|_| tokio::sync::Mutex::new(())).collect();
        Self { table, comment_writers }
    }

    pub fn table(&self) -> &Arc<dyn Table> {
        &self.table
    }

    /// Whether the table answers: a read of an item that never exists.
    pub async fn probe(&self) -> crate::table::TableResult<()> {
        self.table.get(&keys::readiness_probe()).await.map(|_| ())
    }
}
