//! Deleting photos and comments (who may: `owners`). A photo: what goes at once (the photo from every read, its objects from the bucket, so no link handed out before serves
//! it) and the sweeper that removes what it leaves in the table (comments, retry records, name-index entries
//! and counts) in the background, resumably (see `catalog::deletion`). A comment: its author, the photo's
//! owner or an admin deletes it, with the photo's count, in one transaction (`catalog::comment_removal`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use uuid::Uuid;

use super::caller::Caller;
use super::error::{ApiError, ApiResult};
use super::{Services, owners, uploads};
use crate::blob;
use crate::catalog::{Event, Swept, Trashed};
use crate::image_format::Rendition;

/// The sweeper's wake-up, and how many looks it has made (the tests wait for the first, made at start).
#[derive(Debug, Default)]
pub struct Sweeper {
    pub wake: tokio::sync::Notify,
    pub looks: std::sync::atomic::AtomicU64,
}

/// Most steps one sweep of a photo takes in one look (a step removes 50 items: a photo with 500,000 comments).
const MAX_SWEEP_STEPS: usize = 10_000;
/// Deleted photos swept per look.
const SWEEP_BATCH: usize = 10;

/// Delete photo `id`: the caller must be its owner or an admin.
pub async fn delete_photo(services: &Services, caller: &Caller, id: Uuid) -> ApiResult<()> {
    let photo = owners::photo_to_change(services, caller, id, "delete").await?;
    if !services.catalog.remove_photo(&photo).await? {
        return Err(ApiError::photo_not_found(id));
    }
    services.events.committed(Event::PhotoRemoved(id));
    // The objects go before the answer, so no link handed out before serves the photo; the sweeper tries
    // again for any that could not be removed now.
    if let Err(error) = remove_objects(services, id, &photo.object_key).await {
        tracing::warn!(photo = %id, error = %error, "objects of a deleted photo left for the sweeper");
    }
    services.deletion.wake.notify_one();
    Ok(())
}

/// Delete comment `comment_id` of photo `photo_id`: the caller must be its author, the photo's owner or an
/// admin.
pub async fn delete_comment(services: &Services, caller: &Caller, photo_id: Uuid, comment_id: Uuid) -> ApiResult<()> {
    let comment = owners::comment_to_delete(services, caller, photo_id, comment_id).await?;
    if !services.catalog.remove_comment(&comment).await? {
        return Err(ApiError::comment_not_found(photo_id, comment_id));
    }
    services.events.committed(Event::CommentRemoved { photo_id, id: comment_id });
    Ok(())
}

/// The original and every rendition of photo `id` removed from the bucket (removing an absent one is fine).
pub(super) async fn remove_objects(services: &Services, id: Uuid, original: &str) -> Result<(), blob::BlobError> {
    let renditions = Rendition::ALL.map(|rendition| blob::rendition_key(id, rendition));
    let keys = std::iter::once(original.to_string()).chain(renditions);
    let removed = join_all(keys.map(|key| async move { services.blobs.delete(&key).await })).await;
    removed.into_iter().collect()
}

/// The sweeper: at start, when a photo is deleted here, and every `scan` (for deletions whose instance
/// stopped midway; backing off up to a minute while it finds nothing), it removes what deleted photos left; every quarter of `Rules::abandoned_upload` (at
/// most hourly) it removes abandoned uploads' files (`uploads::sweep_abandoned`).
pub fn spawn(services: Arc<Services>, scan: Duration) -> tokio::task::JoinHandle<()> {
    let abandoned_every =
        (services.rules.abandoned_upload / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    tokio::spawn(async move {
        let mut next_abandoned = tokio::time::Instant::now();
        // Looks back off while they find nothing (`processing::back_off`); a deletion here wakes it at once.
        let mut every = scan;
        loop {
            if tokio::time::Instant::now() >= next_abandoned {
                match uploads::sweep_abandoned(&services, services.rules.abandoned_upload).await {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "abandoned uploads removed"),
                    Err(error) => tracing::warn!(error = ?error, "abandoned uploads not swept; trying again later"),
                }
                next_abandoned = tokio::time::Instant::now() + abandoned_every;
            }
            let mut found_work = true;
            match services.catalog.trashed(SWEEP_BATCH).await {
                Ok(trashed) => {
                    found_work = !trashed.is_empty();
                    for photo in trashed {
                        if let Err(error) = sweep(&services, photo).await {
                            tracing::warn!(error = %error, "deleted photo not swept yet; trying again later");
                        }
                    }
                }
                Err(error) => tracing::warn!(error = %error, "cannot list deleted photos; trying again later"),
            }
            services.deletion.looks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            every = super::processing::back_off(every, scan, found_work);
            tokio::select! {
                () = services.deletion.wake.notified() => every = scan,
                () = tokio::time::sleep(every) => {}
                () = tokio::time::sleep_until(next_abandoned) => {}
            }
        }
    })
}

async fn sweep(services: &Services, mut trashed: Trashed) -> anyhow::Result<()> {
    remove_objects(services, trashed.photo_id, &trashed.object_key).await?;
    // Each step removes something or learns that another instance did; the bound is against a bug looping.
    for _ in 0..MAX_SWEEP_STEPS {
        if services.catalog.sweep_step(&mut trashed).await? == Swept::Done {
            tracing::info!(photo = %trashed.photo_id, "deleted photo swept");
            return Ok(());
        }
    }
    anyhow::bail!("deleted photo {} not swept in {MAX_SWEEP_STEPS} steps", trashed.photo_id)
}
