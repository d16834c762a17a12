//! Photos: pages of the gallery or of a search (its rules: page sizes, name words, time ranges), the link a
//! photo is viewed with, edits by its owner, and the streams of new, updated and removed photos.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use futures_util::{Stream, StreamExt};

use super::caller::Caller;
use super::error::{ApiError, ApiResult};
use super::events::{Notice, Topic};
use super::{Services, owners};
use crate::blob;
use crate::catalog::words::{self, QueryError};
use crate::catalog::{EditError, Event, Page, Photo, PhotoFilter, PhotoStatus, keys::PhotoCursor};
use crate::image_format::{ImageFormat, Rendition};
use crate::text::{self, PhotoDescription, PhotoName};

/// Most items a page may ask for.
pub const MAX_PAGE: i32 = 100;
/// View links are signed for the start of the current window, so a photo's `url` stays the same (and
/// cacheable by browsers) for this long.
const VIEW_URL_WINDOW: TimeDelta = TimeDelta::minutes(5);

/// The least time a view link handed out stays valid: signed at the start of the current window, it lasts
/// `Rules::view_url` from there (`--view-url-seconds` is at least 600, the window 300).
pub fn view_url_lasts_at_least(services: &Services) -> std::time::Duration {
    let window = VIEW_URL_WINDOW.to_std().unwrap_or_default();
    services.rules.view_url.saturating_sub(window)
}

/// The start of the current window: every view link handed out in it is the same.
pub fn view_url_window() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(VIEW_URL_WINDOW).unwrap_or(now)
}

/// A page size argument, checked.
pub fn page_size(argument: &str, first: i32) -> ApiResult<usize> {
    if !(1..=MAX_PAGE).contains(&first) {
        return Err(ApiError::bad_input(format!("{argument} must be between 1 and {MAX_PAGE}, not {first}")));
    }
    Ok(first as usize)
}

/// A search filter, checked: name words (case- and accent-insensitive; empty means none) and an upload time
/// range, either end open.
pub fn filter(
    name: Option<&str>,
    uploaded_from: Option<DateTime<Utc>>,
    uploaded_to: Option<DateTime<Utc>>,
) -> ApiResult<PhotoFilter> {
    let words = match name.map(words::parse_query).transpose() {
        Ok(words) => words.flatten(),
        Err(QueryError::TooLong) => {
            return Err(ApiError::bad_input(format!(
                "filter.name must be at most {} characters",
                words::MAX_QUERY_CHARS
            )));
        }
        Err(QueryError::TooManyWords) => {
            return Err(ApiError::bad_input(format!("filter.name may have at most {} words", words::MAX_QUERY_WORDS)));
        }
    };
    if let (Some(from), Some(to)) = (uploaded_from, uploaded_to)
        && from > to
    {
        return Err(ApiError::bad_input("filter.uploadedFrom must not be later than filter.uploadedTo"));
    }
    Ok(PhotoFilter { words, uploaded_from, uploaded_to })
}

/// Photos matching `filter`, newest first: `first` of them after `after`.
pub async fn page(
    services: &Services,
    filter: &PhotoFilter,
    first: usize,
    after: Option<PhotoCursor>,
) -> ApiResult<Page<Arc<Photo>>> {
    Ok(services.catalog.search_photos(filter, first, after).await?)
}

/// An edit as asked for, checked: a new name, a new description (`Some(None)` clears it), or both.
#[derive(Debug)]
pub struct PhotoEdit {
    name: Option<PhotoName>,
    description: Option<Option<PhotoDescription>>,
}

impl PhotoEdit {
    /// An empty name is refused (null keeps it); an empty description clears it.
    pub fn parse(name: Option<&str>, description: Option<&str>) -> ApiResult<Self> {
        let name = name.map(PhotoName::parse).transpose()?;
        let description = description.map(|text| text::unless_empty(PhotoDescription::parse(text))).transpose()?;
        if name.is_none() && description.is_none() {
            return Err(ApiError::bad_input("give a name or a description to change (an empty description clears it)"));
        }
        Ok(Self { name, description })
    }
}

/// Edit photo `id`: the caller must be its owner or an admin. Its search entries follow the new name in the
/// same commit; subscribers hear `photoUpdated`.
pub async fn edit(services: &Services, caller: &Caller, id: uuid::Uuid, edit: PhotoEdit) -> ApiResult<Photo> {
    owners::photo_to_change(services, caller, id, "edit").await?;
    let description = edit.description.as_ref().map(Option::as_ref);
    match services.catalog.edit_photo(id, edit.name.as_ref(), description).await {
        Ok((photo, revision)) => {
            services.events.committed(Event::PhotoEdited { photo: photo.clone(), revision });
            Ok(photo)
        }
        Err(EditError::NotFound) => Err(ApiError::photo_not_found(id)),
        Err(EditError::TooManyChanges) => Err(ApiError::bad_input(
            "this name changes more search entries than one edit can: change fewer words at a time",
        )),
        Err(EditError::Table(error)) => Err(error.into()),
    }
}

/// The file name a browser saves a rendition as: the photo's name, as a JPEG (what every rendition is).
pub fn download_name(photo: &Photo) -> String {
    format!("{}.{}", photo.name, RENDITION_FORMAT.extension())
}

/// What renditions are encoded as.
pub const RENDITION_FORMAT: ImageFormat = ImageFormat::Jpeg;

/// A link to view `rendition` of `photo` for at least `Rules::view_url` less the window (the bucket is
/// private). The original upload is never linked: it may carry GPS and camera metadata. While the photo is
/// PROCESSING the link is already the rendition's, and answers 404 until the photo is READY.
pub async fn view_url(services: &Services, photo: &Photo, rendition: Rendition) -> ApiResult<String> {
    let window_start = view_url_window();
    let file_name = download_name(photo);
    let key = blob::rendition_key(photo.id, rendition);
    let lasts = services.rules.view_url;
    let url = services.blobs.window_view_url(&key, RENDITION_FORMAT, &file_name, window_start, lasts).await?;
    Ok(url)
}

/// The photo once its processing has ended (READY or FAILED), waiting at most `wait` while it is PROCESSING;
/// `None` when there is no such photo. The end is heard from the events (whichever instance rendered it), and
/// the photo is read again each second besides, so a lost event costs a second, not the whole wait.
pub async fn processed_within(services: &Services, id: uuid::Uuid, wait: Duration) -> ApiResult<Option<Photo>> {
    let deadline = Instant::now() + wait;
    let processing =
        |photo: &Option<Photo>| photo.as_ref().is_some_and(|p| p.processing.status() == PhotoStatus::Processing);
    let photo = services.catalog.photo(id).await?;
    if !processing(&photo) {
        return Ok(photo);
    }
    // Listening before the next read: an end between the two is heard.
    let mut listening = services.events.listen(Topic::Photos).await;
    loop {
        let photo = services.catalog.photo(id).await?;
        if !processing(&photo) || Instant::now() >= deadline {
            return Ok(photo);
        }
        let heard = async {
            while let Some(notice) = listening.next().await {
                match &*notice {
                    Notice::Event(Event::PhotoUpdated(photo)) if photo.id == id => return,
                    Notice::Missed => return,
                    _ => {}
                }
            }
            std::future::pending::<()>().await
        };
        let _ = tokio::time::timeout_at(deadline.min(Instant::now() + Duration::from_secs(1)), heard).await;
    }
}

/// `Photo.url`: the FULL rendition's view link once the photo is READY; before that, the service link
/// `/p/<id>` (`link`), which opens the photo as soon as it is READY, so a link handed out early never 404s.
pub async fn url(services: &Services, photo: &Photo) -> ApiResult<String> {
    match photo.processing.status() {
        PhotoStatus::Ready => view_url(services, photo, Rendition::Full).await,
        PhotoStatus::Processing | PhotoStatus::Failed => {
            Ok(format!("{}/p/{}", services.public_url.trim_end_matches('/'), photo.id))
        }
    }
}

/// What the service link `/p/<id>` answers now.
pub enum Link {
    /// READY: the FULL rendition's view link.
    Redirect(String),
    /// Its renditions are still being made: open it again in a moment.
    Processing,
    /// Its processing failed: there is no image to open, nor will be.
    Failed,
    /// No such photo (or deleted).
    NotFound,
}

pub async fn link(services: &Services, id: uuid::Uuid) -> ApiResult<Link> {
    let Some(photo) = services.catalog.photo(id).await? else { return Ok(Link::NotFound) };
    Ok(match photo.processing.status() {
        PhotoStatus::Ready => Link::Redirect(view_url(services, &photo, Rendition::Full).await?),
        PhotoStatus::Processing => Link::Processing,
        PhotoStatus::Failed => Link::Failed,
    })
}

/// Every photo whose processing ends (READY or FAILED) or that is edited from now on: all, or `id`'s.
pub async fn updated(services: &Arc<Services>, id: Option<uuid::Uuid>) -> impl Stream<Item = Photo> + use<> {
    services.events.listen(Topic::Photos).await.events().filter_map(move |notice| {
        std::future::ready(match &*notice {
            Notice::Event(Event::PhotoUpdated(photo) | Event::PhotoEdited { photo, .. })
                if id.is_none_or(|id| id == photo.id) =>
            {
                Some(photo.clone())
            }
            _ => None,
        })
    })
}

/// Every photo uploaded from now on.
pub async fn added(services: &Arc<Services>) -> impl Stream<Item = Photo> + use<> {
    let since = Utc::now();
    services.events.listen(Topic::Photos).await.events().filter_map(move |notice| {
        std::future::ready(match &*notice {
            Notice::Event(Event::Photo(photo)) if photo.uploaded_at >= since => Some(photo.clone()),
            _ => None,
        })
    })
}

/// Every photo deleted from now on, by id.
pub async fn removed(services: &Arc<Services>) -> impl Stream<Item = uuid::Uuid> + use<> {
    services.events.listen(Topic::Photos).await.events().filter_map(move |notice| {
        std::future::ready(match &*notice {
            Notice::Event(Event::PhotoRemoved(id)) => Some(*id),
            _ => None,
        })
    })
}
