//! Processing photos into renditions, as items: what the photo item says about its renditions, and the work
//! queue. A photo recorded by `completeUpload` is PROCESSING and has a job item (`JOBS` / `<photo id>`) written
//! in the same transaction, so the work survives any process. An instance claims a job by a conditional write
//! of a lease (an expired lease, or none, may be taken), writing the same lease number on the photo; the
//! result commits only while the photo still carries that number, in one transaction with the job's removal
//! and the event that announces it. Two instances can race for a job only after a lease expired; the loser's
//! commit fails its condition and changes nothing (the objects both wrote are the same bytes at the same keys).
//!
//! The queue is one partition (`JOBS`) by default, which takes about six write units per photo: a thousand a
//! second is its limit, so `--queue-shards N` spreads jobs over `JOBS`, `JOBS#1`, … by photo id. A look at the
//! queue reads the shards it is given (the shard of a job just queued here; all, in random order, for the
//! periodic scan) until it has enough; a job is claimed, released and removed where it was found.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Catalog, Event, Photo, keys, s};
use crate::image_format::Rendition;
use crate::table::{Check, Item, ItemExt, Query, TableError, TableResult, Value, Write};

/// Where a photo is in its processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoStatus {
    Processing,
    Ready,
    Failed,
}

impl PhotoStatus {
    fn name(self) -> &'static str {
        match self {
            Self::Processing => "PROCESSING",
            Self::Ready => "READY",
            Self::Failed => "FAILED",
        }
    }
}

/// A rendition as stored: its object is at `blob::rendition_key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRendition {
    pub rendition: Rendition,
    pub width: u32,
    pub height: u32,
    pub size_bytes: u64,
}

/// What the photo item says about the photo's processing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Processing {
    pub status: Option<PhotoStatus>,
    /// Smallest first; empty until READY.
    pub renditions: Vec<StoredRendition>,
    /// ThumbHash, base64.
    pub placeholder: Option<String>,
    pub taken_at: Option<DateTime<Utc>>,
    pub camera: Option<String>,
    /// Why it FAILED.
    pub error: Option<String>,
}

/// Said of photos recorded before renditions existed: their originals are never served.
pub const BEFORE_RENDITIONS: &str = "recorded before renditions were made: upload the photo again";

impl Processing {
    pub fn processing() -> Self {
        Self { status: Some(PhotoStatus::Processing), ..Self::default() }
    }

    /// READY with every rendition `width` x `height`, `size_bytes` long: for photos recorded without
    /// processing (the benchmarks' datasets).
    pub fn ready_as(width: u32, height: u32, size_bytes: u64) -> Self {
        let renditions =
            Rendition::ALL.map(|rendition| StoredRendition { rendition, width, height, size_bytes }).to_vec();
        Self { status: Some(PhotoStatus::Ready), renditions, ..Self::default() }
    }

    /// The status as the API shows it: a photo from before processing existed is FAILED.
    pub fn status(&self) -> PhotoStatus {
        self.status.unwrap_or(PhotoStatus::Failed)
    }

    pub fn error(&self) -> Option<&str> {
        match self.status {
            None => Some(BEFORE_RENDITIONS),
            Some(_) => self.error.as_deref(),
        }
    }

    pub fn rendition(&self, rendition: Rendition) -> Option<&StoredRendition> {
        self.renditions.iter().find(|stored| stored.rendition == rendition)
    }

    /// The attributes to set on the photo item.
    pub(super) fn attributes(&self) -> Vec<(String, Value)> {
        let mut set = Vec::new();
        if let Some(status) = self.status {
            set.push(("status".to_string(), s(status.name())));
        }
        if !self.renditions.is_empty() {
            let compact: Vec<(String, u32, u32, u64)> = self
                .renditions
                .iter()
                .map(|r| (r.rendition.name().to_string(), r.width, r.height, r.size_bytes))
                .collect();
            set.push(("renditions".to_string(), Value::S(serde_json::to_string(&compact).unwrap_or_default())));
        }
        let optional = [
            ("placeholder", self.placeholder.clone()),
            ("takenAt", self.taken_at.map(keys::time)),
            ("camera", self.camera.clone()),
            ("processingError", self.error.clone()),
        ];
        set.extend(optional.into_iter().filter_map(|(name, value)| Some((name.to_string(), Value::S(value?)))));
        set
    }

    pub(super) fn from_item(item: &Item) -> anyhow::Result<Self> {
        let status = match item.opt_string("status") {
            None => None,
            Some("PROCESSING") => Some(PhotoStatus::Processing),
            Some("READY") => Some(PhotoStatus::Ready),
            Some("FAILED") => Some(PhotoStatus::Failed),
            Some(other) => anyhow::bail!("unknown photo status {other:?}"),
        };
        let renditions = match item.opt_string("renditions") {
            None => Vec::new(),
            // Names borrowed from the JSON: this program writes them, without escapes.
            Some(json) => serde_json::from_str::<Vec<(&str, u32, u32, u64)>>(json)?
                .into_iter()
                .map(|(name, width, height, size_bytes)| {
                    let rendition = Rendition::from_name(name).ok_or_else(|| anyhow::anyhow!("rendition {name:?}"))?;
                    Ok(StoredRendition { rendition, width, height, size_bytes })
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let taken_at =
            item.opt_string("takenAt").map(DateTime::parse_from_rfc3339).transpose()?.map(|t| t.with_timezone(&Utc));
        Ok(Self {
            status,
            renditions,
            placeholder: item.opt_string("placeholder").map(str::to_string),
            taken_at,
            camera: item.opt_string("camera").map(str::to_string),
            error: item.opt_string("processingError").map(str::to_string),
        })
    }
}

/// A job as read from the queue.
#[derive(Debug, Clone)]
pub struct Job {
    pub photo_id: Uuid,
    /// Tries begun so far (this one included, once claimed).
    pub attempts: i64,
    lease_until: Option<String>,
    /// Its item, in the queue partition it was found in.
    key: crate::table::Key,
}

/// A job this instance holds until `until`.
#[derive(Debug, Clone)]
pub struct Lease {
    pub photo_id: Uuid,
    pub attempts: i64,
    number: i64,
    /// Its job's item.
    job: crate::table::Key,
}

const LEASE: &str = "lease";
const LEASE_UNTIL: &str = "leaseUntil";
const ATTEMPTS: &str = "attempts";

/// The job item written with a new photo.
pub(super) fn new_job(photo_id: Uuid, shards: usize) -> Item {
    let key = keys::job(photo_id, shards);
    Item::from([
        (crate::table::PK.into(), Value::S(key.pk)),
        (crate::table::SK.into(), Value::S(key.sk)),
        (ATTEMPTS.into(), Value::N(0)),
    ])
}

/// At most `limit` items of the queue, from `from` and up to `to` (both inclusive) when given.
fn queue(shard: usize, limit: usize, from: Option<String>, to: Option<String>) -> Query {
    Query { sk_from: from, sk_to: to, ..Query::partition(keys::job_partition(shard), limit) }
}

impl Catalog {
    /// The queue shards, all of them, from a random one on.
    pub fn queue_shards(&self) -> Vec<usize> {
        let first = (Uuid::new_v4().as_u128() % self.queue_shards as u128) as usize;
        (0..self.queue_shards).map(|n| (first + n) % self.queue_shards).collect()
    }

    /// The queue shard of `photo_id`'s job.
    pub fn queue_shard_of(&self, photo_id: Uuid) -> usize {
        keys::shard_of(photo_id, self.queue_shards)
    }

    /// Jobs whose lease is free or expired at `now`: at most `limit`, looking at `shards` in turn until that
    /// many are found. In each, from the `4 * limit` items that follow a random point (wrapping around at its
    /// end), in one query or two. Photo ids are random, so instances look at different parts of a long queue
    /// and do not all find the same jobs leased by others.
    pub async fn due_jobs(&self, now: DateTime<Utc>, limit: usize, shards: &[usize]) -> TableResult<Vec<Job>> {
        let now = keys::time(now);
        let mut due = Vec::new();
        for &shard in shards {
            let wanted = (limit - due.len()) * 4;
            let start = Uuid::new_v4().to_string();
            let mut items = self.table.query(&queue(shard, wanted, Some(start.clone()), None)).await?;
            if items.len() < wanted {
                // From the front up to the random point (inclusive: no job has that id).
                items.extend(self.table.query(&queue(shard, wanted - items.len(), None, Some(start))).await?);
            }
            let jobs = items.iter().filter_map(|item| {
                let key = crate::table::key_of(item).ok()?;
                let photo_id = Uuid::try_parse(&key.sk).ok()?;
                let lease_until = item.opt_string(LEASE_UNTIL).map(str::to_string);
                let attempts = item.opt_number(ATTEMPTS).unwrap_or(0);
                Some(Job { photo_id, attempts, lease_until, key })
            });
            due.extend(jobs.filter(|job| job.lease_until.as_ref().is_none_or(|until| *until < now)));
            if due.len() >= limit {
                break;
            }
        }
        due.truncate(limit);
        Ok(due)
    }

    /// Photos waiting to be processed (or being processed), counted up to `limit` per shard, one query each.
    pub async fn queued_jobs(&self, limit: usize) -> TableResult<usize> {
        let mut queued = 0;
        for shard in 0..self.queue_shards {
            queued += self.table.query(&queue(shard, limit, None, None)).await?.len();
        }
        Ok(queued)
    }

    /// Take `job` until `until` if nobody holds it at `now`: `None` if another instance was first.
    pub async fn claim(&self, job: &Job, now: DateTime<Utc>, until: DateTime<Utc>) -> TableResult<Option<Lease>> {
        let number = i64::from(rand_u32()) + 1;
        let writes = vec![
            Write::Update {
                key: job.key.clone(),
                add: vec![(ATTEMPTS.into(), 1)],
                set: vec![(LEASE_UNTIL.into(), Value::S(keys::time(until))), (LEASE.into(), Value::N(number))],
                checks: vec![
                    Check::AbsentOrBefore(LEASE_UNTIL.into(), keys::time(now)),
                    Check::AtLeast(ATTEMPTS.into(), 0),
                ],
            },
            Write::Update {
                key: keys::photo(job.photo_id),
                add: vec![],
                set: vec![(LEASE.into(), Value::N(number))],
                checks: vec![Check::AtLeast("sizeBytes".into(), 0)],
            },
        ];
        match self.table.transact(writes).await {
            Ok(()) => {
                let job_key = job.key.clone();
                Ok(Some(Lease { photo_id: job.photo_id, attempts: job.attempts + 1, number, job: job_key }))
            }
            Err(TableError::ConditionFailed) => {
                // Taken by another instance; or left by a photo deleted while the queue had other shards, whose
                // deletion looked for its job elsewhere: that one goes now.
                if self.photo(job.photo_id).await?.is_none() {
                    self.table.transact(vec![Write::Delete(job.key.clone())]).await?;
                }
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Hand a job back for another try from `retry_at` (a transient failure): the lease is kept until then.
    pub async fn release(&self, lease: &Lease, retry_at: DateTime<Utc>) -> TableResult<()> {
        let write = Write::Update {
            key: lease.job.clone(),
            add: vec![],
            set: vec![(LEASE_UNTIL.into(), Value::S(keys::time(retry_at)))],
            checks: vec![Check::Equals(LEASE.into(), lease.number)],
        };
        match self.table.transact(vec![write]).await {
            Ok(()) | Err(TableError::ConditionFailed) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Record the outcome on the photo (READY with its renditions, or FAILED with a reason), remove the job
    /// and announce the change, in one transaction, while `lease` is still the photo's. The updated photo, or
    /// `None` if the lease was lost (another instance finished it) or the photo is gone.
    pub async fn finish_processing(
        &self,
        lease: &Lease,
        photo: &Photo,
        outcome: Processing,
        displayed: Option<(u32, u32)>,
    ) -> TableResult<Option<Photo>> {
        let mut updated = photo.clone();
        let mut set = outcome.attributes();
        if let Some((width, height)) = displayed {
            set.push(("width".into(), Value::N(i64::from(width))));
            set.push(("height".into(), Value::N(i64::from(height))));
            updated.width = Some(i64::from(width));
            updated.height = Some(i64::from(height));
        }
        if let Some(full) = outcome.rendition(Rendition::Full) {
            set.push(("sizeBytes".into(), Value::N(full.size_bytes as i64)));
            updated.size_bytes = full.size_bytes as i64;
        }
        updated.processing = outcome;
        let mut writes = vec![
            Write::Update {
                key: keys::photo(photo.id),
                add: vec![],
                set,
                checks: vec![Check::Equals(LEASE.into(), lease.number)],
            },
            Write::Delete(lease.job.clone()),
        ];
        writes.extend(self.feed_entry(&Event::PhotoUpdated(updated.clone()), Utc::now()));
        match self.table.transact(writes).await {
            Ok(()) => Ok(Some(updated)),
            Err(TableError::ConditionFailed) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

fn rand_u32() -> u32 {
    let mut bytes = [0u8; 4];
    // A lease number only has to differ between instances racing for one job; the clock is a fallback.
    if getrandom::fill(&mut bytes).is_err() {
        return Utc::now().timestamp_subsec_nanos();
    }
    u32::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::table::Table;
    use crate::table::embedded::EmbeddedTable;

    #[tokio::test]
    async fn a_due_job_behind_many_leased_ones_is_found() {
        let path = std::env::temp_dir().join(format!("photoshare-queue-{}.redb", Uuid::new_v4()));
        let table = Arc::new(EmbeddedTable::open(&path).unwrap());
        let catalog = Catalog::new(table.clone());
        let mut ids: Vec<Uuid> = (0..30).map(|_| Uuid::new_v4()).collect();
        ids.sort();
        // Every job but the last in key order is held by another instance for an hour.
        let held = keys::time(Utc::now() + chrono::Duration::hours(1));
        let jobs = ids.iter().enumerate().map(|(n, id)| {
            let mut job = new_job(*id, 1);
            if n < ids.len() - 1 {
                job.insert(LEASE_UNTIL.into(), Value::S(held.clone()));
            }
            job
        });
        table.put_many(jobs.collect()).await.unwrap();
        // Each look reads 8 items from a random point: about one look in four reaches the free job.
        let mut found = 0;
        for _ in 0..60 {
            let due = catalog.due_jobs(Utc::now(), 2, &[0]).await.unwrap();
            assert!(due.iter().all(|job| job.photo_id == ids[29]), "only the free job is due");
            found += due.len();
        }
        std::fs::remove_file(&path).ok();
        assert!(found > 0, "the free job behind 29 leased ones was never found");
    }
}
