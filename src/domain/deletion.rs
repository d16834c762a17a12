//! Deleting photos and comments. A photo: who may (the owner key it was uploaded with, or an admin), what
//! goes at once (the photo from every read, its objects from the bucket, so no link handed out before serves
//! it) and the sweeper that removes what it leaves in the table (comments, retry records, name-index entries
//! and counts) in the background, resumably (see `catalog::deletion`). A comment: its author, the photo's
//! owner or an admin deletes it, with the photo's count, in one transaction (`catalog::comment_removal`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use uuid::Uuid;

use super::{Services, uploads};
use super::caller::{Caller, OwnerKeyHash, Standing};
use super::error::{ApiError, ApiResult};
use crate::blob;
use crate::catalog::{Comment, Event, Photo, Swept, Trashed};
use crate::image_format::Rendition;

/// The sweeper's wake-up, and how many looks it has made (the tests wait for the first, made at start).
#[derive(Debug, Default)]
pub struct Sweeper {
    pub wake: tokio::sync::Notify,
    pub looks: std::sync::atomic::AtomicU64,
}

/// Deleted photos swept per look.
const SWEEP_BATCH: usize = 10;

/// The stored owner of `photo`, if it has one.
pub fn owner_of(photo: &Photo) -> Option<OwnerKeyHash> {
    photo.owner.as_deref().and_then(OwnerKeyHash::from_hex)
}

/// Whether `caller` may edit and delete `photo`; `UNAUTHENTICATED` for a malformed key.
pub fn may_change(services: &Services, caller: &Caller, photo: &Photo) -> ApiResult<bool> {
    Ok(caller.standing(&services.admins)?.may_change(owner_of(photo)))
}

/// Delete photo `id`: the caller must be its owner or an admin.
pub async fn delete_photo(services: &Services, caller: &Caller, id: Uuid) -> ApiResult<()> {
    let standing = caller.standing(&services.admins)?;
    if standing == Standing::Anonymous {
        return Err(ApiError::Unauthenticated(
            "deleting a photo needs the owner key it was uploaded with: send `Authorization: Bearer <key>`".into(),
        ));
    }
    let not_found = || ApiError::NotFound(format!("no photo with id {id}"));
    let photo = services.catalog.photo(id).await?.ok_or_else(not_found)?;
    if !standing.may_change(owner_of(&photo)) {
        return Err(ApiError::Forbidden(match photo.owner {
            None => "this photo was uploaded without an owner key: only an admin may delete it".into(),
            Some(_) => "only the photo's owner (the key it was uploaded with) or an admin may delete it".into(),
        }));
    }
    if !services.catalog.remove_photo(&photo).await? {
        return Err(not_found());
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

/// Whether `caller` may delete `comment` of `photo`: its author, the photo's owner or an admin.
pub fn may_delete_comment(services: &Services, caller: &Caller, photo: Option<&Photo>, comment: &Comment) -> ApiResult<bool> {
    let standing = caller.standing(&services.admins)?;
    let author = comment.author.as_deref().and_then(OwnerKeyHash::from_hex);
    Ok(standing.may_change(author) || photo.is_some_and(|photo| standing.may_change(owner_of(photo))))
}

/// Delete comment `comment_id` of photo `photo_id`: the caller must be its author, the photo's owner or an
/// admin.
pub async fn delete_comment(services: &Services, caller: &Caller, photo_id: Uuid, comment_id: Uuid) -> ApiResult<()> {
    if caller.standing(&services.admins)? == Standing::Anonymous {
        return Err(ApiError::Unauthenticated(
            "deleting a comment needs the owner key it was posted with, or the photo's: send `Authorization: Bearer <key>`"
                .into(),
        ));
    }
    let photo = services.catalog.photo(photo_id).await?;
    let photo = photo.ok_or_else(|| ApiError::NotFound(format!("no photo with id {photo_id}")))?;
    let not_found = || ApiError::NotFound(format!("no comment with id {comment_id} on photo {photo_id}"));
    let comment = services.catalog.comment(photo_id, comment_id).await?.ok_or_else(not_found)?;
    if !may_delete_comment(services, caller, Some(&photo), &comment)? {
        return Err(ApiError::Forbidden(
            "only the comment's author (the key it was posted with), the photo's owner or an admin may delete it".into(),
        ));
    }
    if !services.catalog.remove_comment(&comment).await? {
        return Err(not_found());
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
/// stopped midway), it removes what deleted photos left; every quarter of `Limits::abandoned_upload` (at
/// most hourly) it removes abandoned uploads' files (`uploads::sweep_abandoned`).
pub fn spawn(services: Arc<Services>, scan: Duration) -> tokio::task::JoinHandle<()> {
    let abandoned_every = (services.limits.abandoned_upload / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    tokio::spawn(async move {
        let mut next_abandoned = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_abandoned {
                match uploads::sweep_abandoned(&services, services.limits.abandoned_upload).await {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "abandoned uploads removed"),
                    Err(error) => tracing::warn!(error = ?error, "abandoned uploads not swept; trying again later"),
                }
                next_abandoned = tokio::time::Instant::now() + abandoned_every;
            }
            match services.catalog.trashed(SWEEP_BATCH).await {
                Ok(trashed) => {
                    for photo in trashed {
                        if let Err(error) = sweep(&services, photo).await {
                            tracing::warn!(error = %error, "deleted photo not swept yet; trying again later");
                        }
                    }
                }
                Err(error) => tracing::warn!(error = %error, "cannot list deleted photos; trying again later"),
            }
            services.deletion.looks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::select! {
                () = services.deletion.wake.notified() => {}
                () = tokio::time::sleep(scan) => {}
                () = tokio::time::sleep_until(next_abandoned) => {}
            }
        }
    })
}

async fn sweep(services: &Services, mut trashed: Trashed) -> anyhow::Result<()> {
    remove_objects(services, trashed.photo_id, &trashed.object_key).await?;
    while services.catalog.sweep_step(&mut trashed).await? == Swept::More {}
    tracing::info!(photo = %trashed.photo_id, "deleted photo swept");
    Ok(())
}
