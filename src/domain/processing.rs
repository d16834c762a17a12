//! The processing worker: turns PROCESSING photos into READY (or FAILED) ones, off the request path.
//!
//! Work comes from the table's queue (`catalog::queue`), never from memory: a job written with a photo is
//! done by whichever instance claims it, after a crash or a deploy too. This instance looks for due jobs at
//! once on the shard of one it queued, and at every shard every `scan` (backing off up to a minute while the
//! queue is empty), however many it queues meanwhile (for
//! other instances' jobs whose lease ran out, and retries), and again when a lease it saw held by another
//! process runs out. A lease is renewed every third of its length while its render runs (`Renewal`); one lost
//! leaves the render uncommitted. Renders run on the blocking pool, at most `jobs` at once: the CPU is shared with serving, and
//! with the default of one job a 2-core instance always keeps a core for requests. A transient failure
//! (storage unavailable) is retried after 5 s, then 30 s; the third failure, or any problem with the file
//! itself, ends FAILED with the reason. Each look takes jobs round-robin across the clients that queued them
//! (`catalog::queue`), and after taking one the worker looks again as soon as a render ends, so a client that
//! queued a hundred slow photos delays another client's photo by one render, not a hundred.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::Services;
use super::renditions::{self, Rendered};
use crate::blob;
use crate::catalog::{Event, Holder, Lease, Photo, PhotoStatus, Processing, StoredRendition};

/// Tries before a photo whose storage keeps failing is FAILED.
pub const MAX_ATTEMPTS: i64 = 3;

/// How the worker runs, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Photos processed at once on this instance; 0: this instance processes none.
    pub jobs: usize,
    /// How often to look for due jobs when none was queued here.
    pub scan: Duration,
    /// How long a claimed job is this instance's before another may take it, unless renewed (every third of
    /// it while the render runs).
    pub lease: Duration,
    /// Whether this process alone uses the store (embedded mode): leases of any other process were left by one
    /// that ended, and are void at once.
    pub sole: bool,
}

/// Longest wait between an idle instance's background looks (at the processing queue, at deleted photos):
/// while they find nothing, the wait doubles from the configured scan up to this (or the scan, if longer).
pub const IDLE_LOOKS_AT_MOST: Duration = Duration::from_secs(60);

/// The next wait between background looks: doubled (up to the cap) after one that found nothing, back to
/// `scan` after one that found work.
pub fn back_off(every: Duration, scan: Duration, found_work: bool) -> Duration {
    if found_work { scan } else { (every * 2).min(scan.max(IDLE_LOOKS_AT_MOST)) }
}

/// Upper bounds of the render-time histogram, in seconds.
pub const RENDER_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Counts for `/metrics`.
#[derive(Debug, Default)]
pub struct Counts {
    pub ready: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    /// Milliseconds spent rendering, in all.
    pub render_ms: AtomicU64,
    /// Renders per bucket of `RENDER_BUCKETS` (cumulative: a render counts in every bucket it fits).
    pub render_buckets: [AtomicU64; RENDER_BUCKETS.len()],
    pub renders: AtomicU64,
    pub running: AtomicU64,
    /// Photos in the queue (all instances'), counted up to 1,000 at start and at every periodic scan.
    pub queued: AtomicU64,
    /// Looks at the queue so far (the first is made at start).
    pub scans: AtomicU64,
}

/// The worker's shared parts: wake it when a job is queued here.
#[derive(Debug, Default)]
pub struct Queue {
    wake: Notify,
    /// Queue shards of jobs queued here since the last look: a look when woken reads those only.
    hinted: std::sync::Mutex<Vec<usize>>,
    /// Where each queue shard's round goes on: after the queuer served last (`catalog::queue`).
    rounds: std::sync::Mutex<std::collections::HashMap<usize, String>>,
    pub counts: Counts,
}

impl Queue {
    /// A job was queued on queue shard `shard` (a photo was recorded): look there now rather than at the next
    /// scan.
    pub fn queued(&self, shard: usize) {
        self.hint(&[shard]);
        self.wake.notify_one();
    }

    /// The round of shard `shard` goes on from `position`.
    fn go_on(&self, shard: usize, position: String) {
        self.rounds.lock().unwrap_or_else(|p| p.into_inner()).insert(shard, position);
    }

    /// Shards the next look reads (with those hinted meanwhile).
    fn hint(&self, shards: &[usize]) {
        self.hinted.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(shards);
    }

    /// The shards a look reads: every one for the periodic scan (or when nothing was hinted), otherwise those
    /// of the jobs queued here meanwhile.
    fn shards_to_look_at(&self, catalog: &crate::catalog::Catalog, periodic: bool) -> Vec<usize> {
        let mut hinted = std::mem::take(&mut *self.hinted.lock().unwrap_or_else(|p| p.into_inner()));
        if periodic || hinted.is_empty() {
            return catalog.queue_shards();
        }
        hinted.sort_unstable();
        hinted.dedup();
        hinted
    }
}

/// Run the worker until the runtime ends.
pub fn spawn(services: Arc<Services>, settings: Settings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if settings.jobs == 0 {
            // This instance only serves: its one look at the queue is the decision not to.
            services.processing.counts.scans.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let permits = Arc::new(Semaphore::new(settings.jobs));
        let holder = Arc::new(Holder::new(settings.sole));
        // When the next look reads every shard: a deadline, so that jobs queued here (each waking the worker for
        // its own shard) cannot put off the look that finds other instances' jobs and retries. The first look
        // at start is one. While the queue is empty they back off (`back_off`); a job queued here wakes the
        // worker at once and brings them back to every `scan`.
        let (mut next_scan, mut every) = (tokio::time::Instant::now(), settings.scan);
        loop {
            let periodic = tokio::time::Instant::now() >= next_scan;
            let mut queue_empty = false;
            if periodic {
                match services.catalog.queued_jobs(1_000).await {
                    Ok(queued) => {
                        services.processing.counts.queued.store(queued as u64, Ordering::Relaxed);
                        queue_empty = queued == 0;
                    }
                    Err(error) => tracing::warn!(error = %error, "cannot count the processing queue"),
                }
            }
            // A look needs a free permit: wait for a render to end rather than look and give up (a give-up
            // that a render ending at the same moment could not see would leave the job to the next scan).
            let Ok(first) = permits.clone().acquire_owned().await else { return };
            let looked = claim_due(&services, &permits, first, settings, &holder, periodic).await;
            let looked = looked.unwrap_or_else(|error| {
                tracing::warn!(error = %error, "processing queue unavailable; trying again at the next scan");
                Looked::default()
            });
            services.processing.counts.scans.fetch_add(1, Ordering::Relaxed);
            if periodic {
                every = back_off(every, settings.scan, !queue_empty || looked.claimed);
                next_scan = tokio::time::Instant::now() + every;
            }
            if let Some(until) = looked.held_until {
                // Another process holds a job: look again once its lease runs out, in case that process ended.
                let wait = (until - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(100);
                next_scan = next_scan.min(tokio::time::Instant::now() + wait);
            }
            if !looked.more {
                // Otherwise a job was taken, or more were due than permits were free: look again (at the same
                // shards) once a permit is free.
                tokio::select! {
                    () = services.processing.wake.notified() => {
                        every = settings.scan;
                        next_scan = next_scan.min(tokio::time::Instant::now() + every);
                    }
                    () = tokio::time::sleep_until(next_scan) => {}
                }
            }
        }
    })
}

/// What a look at the queue found.
#[derive(Debug, Default)]
struct Looked {
    /// A job was taken, or more were due than could be taken: the next look (at the shards looked at, hinted
    /// again) comes as soon as a permit is free, for the next queuer's turn.
    more: bool,
    claimed: bool,
    /// When the first lease held by another process runs out.
    held_until: Option<chrono::DateTime<Utc>>,
}

/// Claim due jobs for the free permits (`first` and any other free now), each processed on a task of its own
/// that holds its permit to the end.
async fn claim_due(
    services: &Arc<Services>,
    permits: &Arc<Semaphore>,
    first: OwnedSemaphorePermit,
    settings: Settings,
    holder: &Arc<Holder>,
    periodic: bool,
) -> anyhow::Result<Looked> {
    let mut free = vec![first];
    while let Ok(permit) = permits.clone().try_acquire_owned() {
        free.push(permit);
    }
    let now = Utc::now();
    let shards = services.processing.shards_to_look_at(&services.catalog, periodic);
    let rounds = services.processing.rounds.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let due = services.catalog.due_jobs(now, free.len() + 1, &shards, &rounds, holder).await?;
    for (shard, position) in due.resume {
        services.processing.go_on(shard, position);
    }
    let mut looked = Looked { more: false, claimed: false, held_until: due.held_until };
    let until = now + chrono::Duration::from_std(settings.lease).unwrap_or(chrono::Duration::seconds(20));
    for job in due.jobs {
        if free.is_empty() {
            services.processing.hint(&shards);
            looked.more = true;
            break;
        }
        let Some(lease) = services.catalog.claim(&job, now, until, holder).await? else { continue };
        services.processing.go_on(job.shard, job.after_queuer());
        // Others' turns, or this client's next job: look again at this shard once a render ends.
        (looked.more, looked.claimed) = (due.more_due, true);
        if due.more_due {
            services.processing.hint(&[job.shard]);
        }
        let permit = free.pop();
        let services = services.clone();
        tokio::spawn(async move {
            services.processing.counts.running.fetch_add(1, Ordering::Relaxed);
            let renewal = Renewal::start(&services, &lease, settings.lease);
            if let Err(error) = process(&services, &lease, &renewal).await {
                tracing::warn!(photo = %lease.photo_id, error = %error, "processing a photo failed; it will be retried");
            }
            drop(renewal);
            services.processing.counts.running.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    Ok(looked)
}

/// A lease kept while its render runs: renewed every third of its length, so a process that ends (a crash, a
/// kill) leaves it for others within one length. Lost when a renewal finds it taken over, or when renewals
/// failed until it ran out: then the render's result is not committed. Renewals stop when dropped.
struct Renewal {
    lost: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Renewal {
    fn start(services: &Arc<Services>, lease: &Lease, length: Duration) -> Self {
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (services, lease, flag) = (services.clone(), lease.clone(), lost.clone());
        let task = tokio::spawn(async move {
            let mut held_until = tokio::time::Instant::now() + length;
            loop {
                tokio::time::sleep(length / 3).await;
                let asked = tokio::time::Instant::now();
                let until = Utc::now() + chrono::Duration::from_std(length).unwrap_or(chrono::Duration::seconds(20));
                match services.catalog.renew(&lease, until).await {
                    Ok(true) => held_until = asked + length,
                    Ok(false) => {
                        tracing::warn!(photo = %lease.photo_id, "lease taken over; this render is not committed");
                        break;
                    }
                    Err(error) if tokio::time::Instant::now() >= held_until => {
                        tracing::warn!(photo = %lease.photo_id, %error, "lease ran out unrenewed; this render is not committed");
                        break;
                    }
                    Err(error) => tracing::warn!(photo = %lease.photo_id, %error, "lease not renewed; trying again"),
                }
            }
            flag.store(true, Ordering::Relaxed);
        });
        Self { lost, task }
    }

    fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Process one claimed photo to its end, or hand it back for a retry.
async fn process(services: &Services, lease: &Lease, renewal: &Renewal) -> anyhow::Result<()> {
    let Some(photo) = services.catalog.photo(lease.photo_id).await? else {
        tracing::warn!(photo = %lease.photo_id, "a processing job for a photo that does not exist");
        return Ok(());
    };
    if photo.processing.status() != PhotoStatus::Processing {
        return Ok(());
    }
    // Any failure of storage, the table included (a commit that conflicted), is retried.
    let attempt = async {
        match render_and_store(services, &photo, renewal).await? {
            None => return Ok(()),
            Some(Ok(rendered)) => {
                let displayed = rendered.size();
                let outcome = Processing {
                    status: Some(PhotoStatus::Ready),
                    renditions: rendered
                        .renditions
                        .iter()
                        .map(|r| StoredRendition {
                            rendition: r.rendition,
                            width: r.width,
                            height: r.height,
                            size_bytes: r.jpeg.len() as u64,
                        })
                        .collect(),
                    placeholder: Some(rendered.placeholder),
                    taken_at: rendered.taken_at,
                    camera: rendered.camera,
                    error: None,
                };
                finish(services, lease, &photo, outcome, Some(displayed)).await?;
                services.processing.counts.ready.fetch_add(1, Ordering::Relaxed);
            }
            Some(Err(reason)) => {
                tracing::info!(photo = %photo.id, %reason, "a photo cannot be processed");
                fail(services, lease, &photo, reason).await?;
            }
        }
        anyhow::Ok(())
    };
    let Err(error) = attempt.await else { return Ok(()) };
    if lease.attempts >= MAX_ATTEMPTS {
        // The cause is for the logs; clients see what happened and what to do.
        tracing::warn!(photo = %photo.id, error = %error, "processing failed for good");
        let reason = format!("storage failed {MAX_ATTEMPTS} times while processing the photo: upload it again");
        return fail(services, lease, &photo, reason).await;
    }
    let wait = if lease.attempts <= 1 { 5 } else { 30 };
    services.catalog.release(lease, Utc::now() + chrono::Duration::seconds(wait)).await?;
    services.processing.counts.retried.fetch_add(1, Ordering::Relaxed);
    Err(error)
}

/// The renditions, stored: the file's problem as `Ok(Some(Err(reason)))`, storage's as `Err`; `Ok(None)` if the
/// lease was lost meanwhile (nothing is stored nor committed: the job is another's).
async fn render_and_store(
    services: &Services,
    photo: &Photo,
    renewal: &Renewal,
) -> anyhow::Result<Option<Result<Rendered, String>>> {
    let bytes = services.blobs.read_all(&photo.object_key, services.rules.max_upload_bytes).await?;
    let started = Instant::now();
    let rendered = tokio::task::spawn_blocking(move || renditions::render(&bytes)).await?;
    let counts = &services.processing.counts;
    let elapsed = started.elapsed();
    counts.render_ms.fetch_add(elapsed.as_millis() as u64, Ordering::Relaxed);
    counts.renders.fetch_add(1, Ordering::Relaxed);
    for (bound, count) in RENDER_BUCKETS.iter().zip(&counts.render_buckets) {
        if elapsed.as_secs_f64() <= *bound {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }
    if renewal.lost() {
        return Ok(None);
    }
    let rendered = match rendered {
        Ok(rendered) => rendered,
        Err(reason) => return Ok(Some(Err(reason))),
    };
    for encoded in &rendered.renditions {
        let key = blob::rendition_key(photo.id, encoded.rendition);
        services.blobs.put(&key, encoded.jpeg.clone(), "image/jpeg").await?;
    }
    Ok((!renewal.lost()).then_some(Ok(rendered)))
}

async fn fail(services: &Services, lease: &Lease, photo: &Photo, reason: String) -> anyhow::Result<()> {
    let outcome = Processing { status: Some(PhotoStatus::Failed), error: Some(reason), ..Processing::default() };
    finish(services, lease, photo, outcome, None).await?;
    services.processing.counts.failed.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

async fn finish(
    services: &Services,
    lease: &Lease,
    photo: &Photo,
    outcome: Processing,
    displayed: Option<(u32, u32)>,
) -> anyhow::Result<()> {
    match services.catalog.finish_processing(lease, photo, outcome, displayed).await? {
        Some(updated) => services.events.committed(Event::PhotoUpdated(updated)),
        // Deleted while it was processed: what was just stored must not outlive it.
        None if services.catalog.photo(photo.id).await?.is_none() => {
            super::deletion::remove_objects(services, photo.id, &photo.object_key).await?;
        }
        None => tracing::info!(photo = %photo.id, "another instance finished this photo first"),
    }
    Ok(())
}
