//! The processing queue: one job item per photo still to process (`JOBS` / `<photo id>`), written with the
//! photo. An instance claims a job by a conditional write of a lease (an expired lease, or none, may be
//! taken), writing the same lease number on the photo, whose outcome commits only while it still carries
//! that number (`catalog::processing`). A lease is short and renewed while the render runs (a conditional
//! write on its number), so one left by a crashed process runs out soon; it names the process that holds it,
//! so where one process owns the store (embedded mode) a lease of any other was left by one that ended and is
//! void at once. Two instances can race for a job only after a lease ran out; the loser's commit fails its
//! condition and changes nothing.
//!
//! Fair between clients: a job's sort key starts with who queued it (the owner key's hash, or the uploader's
//! address without one), so each client's jobs are together, oldest first, and a look at the queue goes round
//! from a position (after the client served last): it takes the first due job of each client it meets, reads
//! past the rest of that client's jobs, and wraps around at the end. One client's thousand queued photos
//! cost others one turn each, and a look reads about as many items as it takes (a window per client met).
//!
//! The queue is one partition (`JOBS`) by default, which takes about six write units per photo: a thousand a
//! second is its limit, so `--queue-shards N` spreads jobs over `JOBS`, `JOBS#1`, … by photo id, each with its
//! own round. A look at the queue reads the shards it is given (the shard of a job just queued here; all, in
//! random order, for the periodic scan) until it has enough; a job is claimed, released and removed where it
//! was found.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Catalog, Photo, keys};
use crate::catalog::attributes as attr;
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
    /// Who queued it, and the queue shard it was found on.
    queuer: String,
    pub shard: usize,
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
    /// Where the round of each shard whose look was cut short (many held jobs) should go on from.
    pub resume: Vec<(usize, String)>,
    /// Whether jobs may be due beyond those found: a client's later jobs passed over (one a round), or a look
    /// cut short. Without it, the queue held nothing else due when it was read.
    pub more_due: bool,
}

/// Who queued `photo`'s job: its owner, or without an owner key the address it came from.
fn queuer(photo: &Photo) -> String {
    match &photo.owner {
        Some(owner) => format!("o:{owner}"),
        None => format!("a:{}", photo.uploader_ip.replace('#', "")),
    }
}

/// `photo`'s job item's key.
pub(super) fn job_key(photo: &Photo, shards: usize) -> crate::table::Key {
    keys::job(photo.id, &queuer(photo), photo.uploaded_at, shards)
}

/// The job item written with a new photo.
pub(super) fn new_job(photo: &Photo, shards: usize) -> Item {
    let key = job_key(photo, shards);
    Item::from([
        (crate::table::PK.into(), Value::S(key.pk)),
        (crate::table::SK.into(), Value::S(key.sk)),
        (attr::ATTEMPTS.into(), Value::N(0)),
    ])
}

/// At most `limit` items of the queue, from `from` and up to `to` (both inclusive) when given.
fn queue(shard: usize, limit: usize, from: Option<String>, to: Option<String>) -> Query {
    Query { sk_from: from, sk_to: to, ..Query::partition(keys::job_partition(shard), limit) }
}

impl Job {
    fn from_item(item: &Item, now: &str, holder: &Holder, shard: usize) -> Option<Self> {
        let key = crate::table::key_of(item).ok()?;
        let (queuer, photo_id) = keys::job_parts(&key.sk)?;
        let queuer = queuer.to_string();
        let lease_until = item.opt_string(attr::LEASE_UNTIL).map(str::to_string);
        let holder_id = item.opt_string(attr::HOLDER).map(str::to_string);
        let held = lease_until.as_deref().is_some_and(|until| until >= now);
        let void = held && holder.sole && holder_id.as_deref() != Some(holder.id.as_str());
        Some(Self {
            photo_id,
            attempts: item.opt_number(attr::ATTEMPTS).unwrap_or(0),
            lease_until,
            lease: item.opt_number(attr::LEASE).unwrap_or(0),
            holder: holder_id,
            void,
            queuer,
            shard,
            key,
        })
    }

    /// The queue position after every job of its queuer: where a round that served it goes on.
    pub fn after_queuer(&self) -> String {
        keys::after_queuer(&self.queuer)
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

    /// Jobs `holder` may claim at `now`, at most one per queuer: at most `limit`, looking at `shards` in turn
    /// until that many are found, each from its position in `rounds` (from its start if none), in turn.
    pub async fn due_jobs(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        shards: &[usize],
        rounds: &HashMap<usize, String>,
        holder: &Holder,
    ) -> TableResult<Due> {
        let now = keys::time(now);
        let mut found = Due::default();
        let mut held_until: Option<String> = None;
        for &shard in shards {
            if found.jobs.len() >= limit {
                break;
            }
            let start = rounds.get(&shard).cloned();
            if let Some(cut) = self.round(shard, start, limit, &now, holder, &mut found, &mut held_until).await? {
                found.resume.push((shard, cut));
                found.more_due = true;
            }
        }
        found.held_until = held_until.and_then(|until| DateTime::parse_from_rfc3339(&until).ok()).map(|t| t.to_utc());
        Ok(found)
    }

    /// One round of shard `shard` from position `start`, wrapping around at the end back to it: the first due
    /// job of each queuer met is added to `found` until it holds `limit`. Reads windows of `4 * limit` items
    /// (at least 8), skipping past a queuer's other jobs once one is taken; at most `limit + 4` of them, and
    /// then the position it was cut at.
    #[allow(clippy::too_many_arguments)]
    async fn round(
        &self,
        shard: usize,
        start: Option<String>,
        limit: usize,
        now: &str,
        holder: &Holder,
        found: &mut Due,
        held_until: &mut Option<String>,
    ) -> TableResult<Option<String>> {
        let window = (4 * limit).max(8);
        let mut taken = HashSet::new();
        // From the front, one pass is a whole round; from a position, the pass to the end and one from the
        // front up to it.
        let (mut from, mut wrapped) = (start.clone(), start.is_none());
        for _ in 0..limit + 4 {
            let to = if wrapped { start.clone() } else { None };
            if from.as_ref().zip(to.as_ref()).is_some_and(|(from, to)| from > to) {
                // Skipped past the start: the round is over.
                return Ok(None);
            }
            let items = self.table.query(&queue(shard, window, from.clone(), to)).await?;
            for job in items.iter().filter_map(|item| Job::from_item(item, now, holder, shard)) {
                if taken.contains(&job.queuer) {
                    found.more_due |= job.due(now);
                    continue;
                }
                if job.due(now) {
                    taken.insert(job.queuer.clone());
                    found.jobs.push(job);
                    if found.jobs.len() >= limit {
                        found.more_due = true;
                        return Ok(None);
                    }
                } else if job.holder.as_deref() != Some(holder.id.as_str())
                    && let Some(until) = job.lease_until
                {
                    *held_until = Some(held_until.take().map_or(until.clone(), |earliest| earliest.min(until)));
                }
            }
            let last = items.last().and_then(|item| item.opt_string(crate::table::SK));
            match last {
                Some(sk) if items.len() == window => {
                    let queuer = keys::job_parts(sk).map_or(sk, |(queuer, _)| queuer);
                    // Past a queuer served in this round (its jobs not read may be due); otherwise on through its
                    // jobs (all held so far).
                    let served = taken.contains(queuer);
                    found.more_due |= served;
                    from = Some(if served { keys::after_queuer(queuer) } else { keys::after_job(sk) });
                }
                _ if wrapped => return Ok(None),
                _ => (from, wrapped) = (None, true),
            }
        }
        Ok(from)
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
            vec![
                Check::StringIs(attr::HOLDER.into(), job.holder.clone()),
                Check::Revision(attr::LEASE.into(), job.lease),
            ]
        } else {
            vec![Check::AbsentOrBefore(attr::LEASE_UNTIL.into(), keys::time(now))]
        };
        let writes = vec![
            Write::Update {
                key: job.key.clone(),
                add: vec![(attr::ATTEMPTS.into(), 1)],
                set: vec![
                    (attr::LEASE_UNTIL.into(), Value::S(keys::time(until))),
                    (attr::LEASE.into(), Value::N(number)),
                    (attr::HOLDER.into(), Value::S(holder.id.clone())),
                ],
                checks: [free, vec![Check::AtLeast(attr::ATTEMPTS.into(), 0)]].concat(),
            },
            Write::Update {
                key: keys::photo(job.photo_id),
                add: vec![],
                set: vec![(attr::LEASE.into(), Value::N(number))],
                checks: vec![Check::AtLeast(attr::SIZE_BYTES.into(), 0)],
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
            set: vec![(attr::LEASE_UNTIL.into(), Value::S(keys::time(until)))],
            checks: vec![Check::Equals(attr::LEASE.into(), lease.number)],
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
#[path = "queue_tests.rs"]
mod tests;
