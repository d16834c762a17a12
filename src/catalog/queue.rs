//! The processing queue: one job item per photo still to process (`JOBS` / `<photo id>`), written with the
//! photo. An instance claims a job by a conditional write of a lease (an expired lease, or none, may be
//! taken), writing the same lease number on the photo, whose outcome commits only while it still carries
//! that number (`catalog::processing`). A lease is short and renewed while the render runs (a conditional
//! write on its number), so one left by a crashed process runs out soon; it names the process that holds it,
//! so where one process owns the store (embedded mode) a lease of any other was left by one that ended and is
//! void at once. Two instances can race for a job only after a lease ran out; the loser's commit fails its
//! condition and changes nothing.
//!
//! The queue is one partition (`JOBS`) by default, which takes about six write units per photo: a thousand a
//! second is its limit, so `--queue-shards N` spreads jobs over `JOBS`, `JOBS#1`, … by photo id. A look at the
//! queue reads the shards it is given (the shard of a job just queued here; all, in random order, for the
//! periodic scan) until it has enough; a job is claimed, released and removed where it was found.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Catalog, keys};
use crate::table::{Check, Item, ItemExt, Query, TableError, TableResult, Value, Write};

/// A job as read from the queue.
#[derive(Debug, Clone)]
pub struct Job {
    pub photo_id: Uuid,
    /// Tries begun so far (this one included, once claimed).
    pub attempts: i64,
    lease_until: Option<String>,
    /// The lease's number (0: never leased) and the process that took it.
    lease: i64,
    holder: Option<String>,
    /// Due because its lease is another process's, void here (not because it ran out).
    void: bool,
    /// Its item, in the queue partition it was found in.
    key: crate::table::Key,
}

/// A job this instance holds until its lease runs out, unless renewed.
#[derive(Debug, Clone)]
pub struct Lease {
    pub photo_id: Uuid,
    pub attempts: i64,
    pub(super) number: i64,
    /// Its job's item.
    pub(super) job: crate::table::Key,
}

/// The process that takes leases, and whether leases of any other are void: where this process alone uses
/// the store (embedded mode), a lease of another was left by one that ended.
#[derive(Debug, Clone)]
pub struct Holder {
    pub id: String,
    pub sole: bool,
}

impl Holder {
    /// A new process's identity: a random id.
    pub fn new(sole: bool) -> Self {
        Self { id: Uuid::new_v4().simple().to_string(), sole }
    }
}

/// What a look at the queue found.
#[derive(Debug, Default)]
pub struct Due {
    pub jobs: Vec<Job>,
    /// When the first lease seen held by another runs out (unless renewed): a look then may take it over.
    pub held_until: Option<DateTime<Utc>>,
}

pub(super) const LEASE: &str = "lease";
const LEASE_UNTIL: &str = "leaseUntil";
const HOLDER: &str = "holder";
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

impl Job {
    fn from_item(item: &Item, now: &str, holder: &Holder) -> Option<Self> {
        let key = crate::table::key_of(item).ok()?;
        let photo_id = Uuid::try_parse(&key.sk).ok()?;
        let lease_until = item.opt_string(LEASE_UNTIL).map(str::to_string);
        let holder_id = item.opt_string(HOLDER).map(str::to_string);
        let held = lease_until.as_deref().is_some_and(|until| until >= now);
        let void = held && holder.sole && holder_id.as_deref() != Some(holder.id.as_str());
        Some(Self {
            photo_id,
            attempts: item.opt_number(ATTEMPTS).unwrap_or(0),
            lease_until,
            lease: item.opt_number(LEASE).unwrap_or(0),
            holder: holder_id,
            void,
            key,
        })
    }

    /// Whether it may be claimed: its lease ran out, there is none, or it is void.
    fn due(&self, now: &str) -> bool {
        self.void || self.lease_until.as_deref().is_none_or(|until| until < now)
    }
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

    /// Jobs `holder` may claim at `now`: at most `limit`, looking at `shards` in turn until that many are
    /// found. In each, from the `4 * limit` items that follow a random point (wrapping around at its end), in
    /// one query or two. Photo ids are random, so instances look at different parts of a long queue and do
    /// not all find the same jobs leased by others.
    pub async fn due_jobs(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        shards: &[usize],
        holder: &Holder,
    ) -> TableResult<Due> {
        let now = keys::time(now);
        let mut found = Due::default();
        let mut held_until: Option<String> = None;
        for &shard in shards {
            let wanted = (limit - found.jobs.len()) * 4;
            let start = Uuid::new_v4().to_string();
            let mut items = self.table.query(&queue(shard, wanted, Some(start.clone()), None)).await?;
            if items.len() < wanted {
                // From the front up to the random point (inclusive: no job has that id).
                items.extend(self.table.query(&queue(shard, wanted - items.len(), None, Some(start))).await?);
            }
            for job in items.iter().filter_map(|item| Job::from_item(item, &now, holder)) {
                if job.due(&now) {
                    found.jobs.push(job);
                } else if let Some(until) = job.lease_until {
                    held_until = Some(held_until.map_or(until.clone(), |earliest| earliest.min(until)));
                }
            }
            if found.jobs.len() >= limit {
                break;
            }
        }
        found.jobs.truncate(limit);
        found.held_until = held_until.and_then(|until| DateTime::parse_from_rfc3339(&until).ok()).map(|t| t.to_utc());
        Ok(found)
    }

    /// Photos waiting to be processed (or being processed), counted up to `limit` per shard, one query each.
    pub async fn queued_jobs(&self, limit: usize) -> TableResult<usize> {
        let mut queued = 0;
        for shard in 0..self.queue_shards {
            queued += self.table.query(&queue(shard, limit, None, None)).await?.len();
        }
        Ok(queued)
    }

    /// Take `job` for `holder` until `until` if nobody holds it at `now` (or its lease is void and unchanged
    /// since it was read): `None` if another instance was first.
    pub async fn claim(
        &self,
        job: &Job,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        holder: &Holder,
    ) -> TableResult<Option<Lease>> {
        let number = i64::from(rand_u32()) + 1;
        let free = if job.void {
            vec![Check::StringIs(HOLDER.into(), job.holder.clone()), Check::Revision(LEASE.into(), job.lease)]
        } else {
            vec![Check::AbsentOrBefore(LEASE_UNTIL.into(), keys::time(now))]
        };
        let writes = vec![
            Write::Update {
                key: job.key.clone(),
                add: vec![(ATTEMPTS.into(), 1)],
                set: vec![
                    (LEASE_UNTIL.into(), Value::S(keys::time(until))),
                    (LEASE.into(), Value::N(number)),
                    (HOLDER.into(), Value::S(holder.id.clone())),
                ],
                checks: [free, vec![Check::AtLeast(ATTEMPTS.into(), 0)]].concat(),
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

    /// Keep `lease` until `until`: `false` if it is no longer ours (taken over after it ran out, or the job is
    /// gone), and then what was rendered under it must not be committed.
    pub async fn renew(&self, lease: &Lease, until: DateTime<Utc>) -> TableResult<bool> {
        let write = Write::Update {
            key: lease.job.clone(),
            add: vec![],
            set: vec![(LEASE_UNTIL.into(), Value::S(keys::time(until)))],
            checks: vec![Check::Equals(LEASE.into(), lease.number)],
        };
        match self.table.transact(vec![write]).await {
            Ok(()) => Ok(true),
            Err(TableError::ConditionFailed) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Hand a job back for another try from `retry_at` (a transient failure): the lease is kept until then.
    pub async fn release(&self, lease: &Lease, retry_at: DateTime<Utc>) -> TableResult<()> {
        match self.renew(lease, retry_at).await {
            Ok(_) => Ok(()),
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

    fn catalog() -> (Catalog, Arc<EmbeddedTable>, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("photoshare-queue-{}.redb", Uuid::new_v4()));
        let table = Arc::new(EmbeddedTable::open(&path).unwrap());
        (Catalog::new(table.clone()), table, path)
    }

    #[tokio::test]
    async fn a_due_job_behind_many_leased_ones_is_found() {
        let (catalog, table, path) = catalog();
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
        let holder = Holder::new(false);
        for _ in 0..60 {
            let due = catalog.due_jobs(Utc::now(), 2, &[0], &holder).await.unwrap();
            assert!(due.jobs.iter().all(|job| job.photo_id == ids[29]), "only the free job is due");
            found += due.jobs.len();
        }
        std::fs::remove_file(&path).ok();
        assert!(found > 0, "the free job behind 29 leased ones was never found");
    }

    #[tokio::test]
    async fn a_lease_of_another_process_is_void_only_where_this_one_owns_the_store() {
        let (catalog, table, path) = catalog();
        let id = Uuid::new_v4();
        let mut photo = crate::catalog::photos::tests::photo(0, Some(Vec::new()));
        photo.id = id;
        catalog.record_photo(&photo).await.unwrap();
        let (ended, shared, sole) = (Holder::new(true), Holder::new(false), Holder::new(true));
        let now = Utc::now();
        let job = catalog.due_jobs(now, 1, &[0], &ended).await.unwrap().jobs.remove(0);
        let until = now + chrono::Duration::seconds(30);
        let first = catalog.claim(&job, now, until, &ended).await.unwrap().expect("claimed");

        let seen = catalog.due_jobs(now, 1, &[0], &shared).await.unwrap();
        assert!(seen.jobs.is_empty(), "held for another instance sharing the store");
        assert_eq!(seen.held_until.map(|t| keys::time(t)), Some(keys::time(until)), "until its lease runs out");

        let void = catalog.due_jobs(now, 1, &[0], &sole).await.unwrap().jobs.remove(0);
        let second = catalog.claim(&void, now, until, &sole).await.unwrap().expect("a void lease is taken over");
        assert!(catalog.claim(&void, now, until, &sole).await.unwrap().is_none(), "once");
        assert!(!catalog.renew(&first, until).await.unwrap(), "the first lease is lost");
        assert!(catalog.renew(&second, until).await.unwrap(), "the second is renewed");
        drop(table);
        std::fs::remove_file(&path).ok();
    }
}
