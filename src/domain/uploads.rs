//! The upload flow. Step 1 hands out a ticket (a presigned POST pinned to one key, type and size range) and
//! records it; step 2 checks what arrived in the bucket and records the photo exactly once, with its size as
//! displayed (EXIF orientation applied) when the header settles the orientation (`image::orientation`).

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use super::Services;
use crate::blob::{self, UploadForm};
use crate::catalog::{Event, Photo, Processing, Upload};
use crate::domain::caller::OwnerKeyHash;
use crate::domain::error::{ApiError, ApiResult};
use crate::domain::image::{self, Sniff};
use crate::domain::renditions;
use crate::image_format::ImageFormat;
use crate::text::{self, PhotoDescription, PhotoName};

/// Bytes read per look at an object's headers.
const SNIFF_WINDOW: u64 = 64 * 1024;
/// Most header windows read before giving up on finding a JPEG's size.
const SNIFF_MAX_READS: usize = 8;

/// A validated request for an upload ticket: built only by `parse`.
#[derive(Debug, Clone)]
pub struct NewUpload {
    format: ImageFormat,
    name: PhotoName,
    description: Option<PhotoDescription>,
}

impl NewUpload {
    /// Without a name (or an empty one), the photo is named after the file: its stem, or the whole file
    /// name when the stem shows nothing (".jpg", "\u{200b}.jpg").
    pub fn parse(
        file_name: &str,
        content_type: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> ApiResult<Self> {
        let format = ImageFormat::from_mime(content_type).ok_or_else(|| {
            let accepted: Vec<_> = ImageFormat::ALL.iter().map(|format| format.mime()).collect();
            ApiError::bad_input(format!(
                "contentType must be {}, not {}",
                accepted.join(" or "),
                text::quote(content_type)
            ))
        })?;
        let file_name = text::single_line(file_name);
        // Browsers on some systems send a whole path: keep its last part.
        let base = file_name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
        if text::is_blank(base) || base.chars().count() > 255 {
            return Err(ApiError::bad_input("fileName must be 1 to 255 characters, e.g. \"sunset.jpg\""));
        }
        let name = match name.map(|name| text::unless_empty(PhotoName::parse(name))).transpose()?.flatten() {
            Some(name) => name,
            None => {
                let stem = base.rsplit_once('.').map_or(base, |(stem, _)| stem);
                PhotoName::parse(stem).or_else(|_| PhotoName::parse(base))?
            }
        };
        let description = description.map(|text| text::unless_empty(PhotoDescription::parse(text))).transpose()?;
        Ok(Self { format, name, description: description.flatten() })
    }
}

/// A ticket handed to the client.
pub struct Ticket {
    pub upload_id: Uuid,
    pub form: UploadForm,
    pub expires_at: DateTime<Utc>,
    pub max_bytes: u64,
}

/// A ticket for `request`; the photo it becomes is owned by `owner` (the caller's key, if it sent one).
pub async fn create(
    services: &Services,
    request: NewUpload,
    uploader_ip: String,
    owner: Option<OwnerKeyHash>,
) -> ApiResult<Ticket> {
    let id = Uuid::new_v4();
    // Where the file lands; completion copies it out, so whatever stays there is abandoned (`sweep`).
    let object_key = blob::pending_key(id, request.format);
    let expires_at = Utc::now().trunc_subsecs(0) + services.rules.upload_ticket;
    let max_bytes = services.rules.max_upload_bytes;
    let form = services.blobs.upload_form(&object_key, request.format, max_bytes, expires_at).await?;
    let upload = Upload {
        id,
        object_key,
        format: request.format,
        name: request.name,
        description: request.description,
        uploader_ip,
        expires_at,
        owner: owner.map(|key| key.hex()),
    };
    services.catalog.put_upload(&upload).await?;
    Ok(Ticket { upload_id: id, form, expires_at, max_bytes })
}

/// Check the uploaded object and record the photo. Completing again returns the same photo.
pub async fn complete(services: &Services, upload_id: Uuid) -> ApiResult<Photo> {
    if let Some(photo) = services.catalog.photo(upload_id).await? {
        return Ok(photo);
    }
    let upload = services.catalog.upload(upload_id).await?.ok_or_else(|| {
        ApiError::NotFound(format!("no upload with uploadId {upload_id}: ask createUpload for a ticket"))
    })?;
    if services.blobs.head(&upload.object_key).await?.is_none() {
        return Err(ApiError::UploadInvalid(
            "nothing was uploaded for this ticket yet: POST the file to the ticket's url first".into(),
        ));
    }
    // The file is copied out of the ticket's reach first, and the copy is what is checked and kept: a second
    // POST through the ticket can change neither.
    let kept = blob::object_key(upload.id, upload.format);
    if kept != upload.object_key {
        services.blobs.copy(&upload.object_key, &kept).await?;
    }
    let Some(object) = services.blobs.head(&kept).await? else {
        return Err(ApiError::Unavailable("the uploaded file could not be copied: try completeUpload again".into()));
    };
    let info = match inspect(services, &kept, upload.format, object.size_bytes).await? {
        Ok(info) => info,
        Err(reason) => {
            // The bytes are not a photo we accept: remove them, keep the ticket for a retry until it expires.
            services.blobs.delete(&kept).await?;
            if kept != upload.object_key {
                services.blobs.delete(&upload.object_key).await?;
            }
            return Err(ApiError::UploadInvalid(reason));
        }
    };
    // As displayed (the orientation applied), when the header settles it; processing sets it otherwise.
    let (width, height) = match info.orientation {
        Some(orientation) => {
            let (width, height) = image::displayed(info.image.width, info.image.height, orientation);
            (Some(i64::from(width)), Some(i64::from(height)))
        }
        None => (None, None),
    };
    let photo = Photo {
        id: upload.id,
        name: upload.name.into_string(),
        description: upload.description.map(PhotoDescription::into_string),
        format: info.image.format(),
        size_bytes: object.size_bytes,
        width,
        height,
        uploaded_at: Utc::now().trunc_subsecs(6),
        uploader_ip: upload.uploader_ip,
        object_key: kept.clone(),
        comment_count: 0,
        first_comments: Some(Vec::new()),
        processing: Processing::processing(),
        owner: upload.owner,
        name_shard: 0,
    };
    let (photo, created) = services.catalog.record_photo(&photo).await?;
    if created {
        services.events.committed(Event::Photo(photo.clone()));
        services.processing.queued(services.catalog.queue_shard_of(photo.id));
    }
    if kept != upload.object_key
        && let Err(error) = services.blobs.delete(&upload.object_key).await
    {
        tracing::warn!(upload = %upload_id, error = %error, "the pending copy of an upload is left for the sweep");
    }
    Ok(photo)
}

/// Remove abandoned uploads: objects under the pending prefix last written more than `age` ago (whose
/// tickets expired without a completion, or whose completion could not remove them). Returns how many.
pub async fn sweep_abandoned(services: &Services, age: std::time::Duration) -> ApiResult<usize> {
    let before = Utc::now() - age;
    let (mut removed, mut after) = (0, None);
    loop {
        let (keys, next) = services.blobs.written_before(blob::PENDING_PREFIX, before, after).await?;
        for key in keys {
            services.blobs.delete(&key).await?;
            removed += 1;
        }
        match next {
            Some(next) => after = Some(next),
            None => return Ok(removed),
        }
    }
}

/// What `inspect` found: the image, and its orientation if its first window settles it.
struct Inspected {
    image: image::ImageInfo,
    orientation: Option<image::Orientation>,
}

/// What image the object is, or why it is not acceptable. Backend failures are errors of their own: they
/// must not get a good upload deleted.
async fn inspect(
    services: &Services,
    key: &str,
    format: ImageFormat,
    size: i64,
) -> ApiResult<Result<Inspected, String>> {
    let max = services.rules.max_upload_bytes;
    if size < 1 || size as u64 > max {
        return Ok(Err(format!("the file is {size} bytes; photos must be 1 to {max} bytes")));
    }
    let head = services.blobs.read_range(key, 0, SNIFF_WINDOW).await?;
    let mut sniffed = image::sniff(&head);
    for _ in 0..SNIFF_MAX_READS {
        match sniffed {
            Sniff::Image(info) if info.format() == format => {
                let inspected = Inspected { image: info, orientation: image::orientation(&head) };
                let refusal = renditions::refusal_before_decoding(info, inspected.orientation);
                return Ok(refusal.map_or(Ok(inspected), Err));
            }
            Sniff::Image(info) => {
                let reason = format!("the file is {}, but the ticket was for {format}", info.format());
                return Ok(Err(reason));
            }
            Sniff::ReadFrom(offset) if offset < size as u64 => {
                let window = services.blobs.read_range(key, offset, SNIFF_WINDOW).await?;
                sniffed = image::walk_jpeg(&window, offset);
            }
            Sniff::ReadFrom(_) | Sniff::NotImage => break,
        }
    }
    Ok(Err("the file is not a readable JPEG, PNG or WebP image".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(file_name: &str, name: Option<&str>) -> String {
        NewUpload::parse(file_name, "image/jpeg", name, None).unwrap().name.into_string()
    }

    #[test]
    fn without_a_name_the_file_names_the_photo() {
        assert_eq!(named("C:\\Users\\me\\sunset.jpg", None), "sunset");
        assert_eq!(named("pier.jpg", Some(" \n ")), "pier", "an empty name is none");
        assert_eq!(named(".jpg", None), ".jpg");
        assert_eq!(named("\u{200b}.jpg", None), "\u{200b}.jpg", "a stem showing nothing names nothing");
        assert_eq!(named("pier.jpg", Some(" Pier at dusk ")), "Pier at dusk");
        let refused = NewUpload::parse(&format!("{}.jpg", "a".repeat(201)), "image/jpeg", None, None).unwrap_err();
        assert_eq!(format!("{refused:?}"), "BadUserInput(\"name must be at most 200 characters\")");
    }
}
