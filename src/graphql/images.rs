//! The types of a photo's renditions and processing as the API shows them: `Image` (with its link), `ImageSize`
//! and `PhotoStatus`, and `image`/`images`, which the `Photo` fields of the same names (in `photos.rs`) call.

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, Result};

use super::services;
use crate::catalog::{self, StoredRendition};
use crate::domain::photos;
use crate::image_format::Rendition;

/// Where a photo is in its processing.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum PhotoStatus {
    /// Its renditions are being made: `image` is null, `images` empty, `url` answers 404 until READY.
    Processing,
    Ready,
    /// It could not be processed: `processingError` says why. Nothing of it is served.
    Failed,
}

impl From<catalog::PhotoStatus> for PhotoStatus {
    fn from(status: catalog::PhotoStatus) -> Self {
        match status {
            catalog::PhotoStatus::Processing => Self::Processing,
            catalog::PhotoStatus::Ready => Self::Ready,
            catalog::PhotoStatus::Failed => Self::Failed,
        }
    }
}

/// A rendition's size.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ImageSize {
    /// Longest side at most 400 px.
    Thumbnail,
    /// Longest side at most 1600 px.
    Preview,
    /// The photo's own size.
    Full,
}

impl ImageSize {
    pub fn rendition(self) -> Rendition {
        match self {
            Self::Thumbnail => Rendition::Thumbnail,
            Self::Preview => Rendition::Preview,
            Self::Full => Rendition::Full,
        }
    }

    fn of(rendition: Rendition) -> Self {
        match rendition {
            Rendition::Thumbnail => Self::Thumbnail,
            Rendition::Preview => Self::Preview,
            Rendition::Full => Self::Full,
        }
    }
}

/// One rendition of a photo: upright, JPEG, without any metadata (no GPS, no camera, no times).
pub struct Image {
    pub photo: Arc<catalog::Photo>,
    pub stored: StoredRendition,
}

#[Object]
impl Image {
    async fn size(&self) -> ImageSize {
        ImageSize::of(self.stored.rendition)
    }
    /// A short-lived link to it, with the lifetime rules of `Photo.url`.
    async fn url(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(photos::view_url(services(ctx)?, &self.photo, self.stored.rendition).await?)
    }
    /// Width as displayed, in pixels.
    async fn width(&self) -> u32 {
        self.stored.width
    }
    /// Height as displayed, in pixels.
    async fn height(&self) -> u32 {
        self.stored.height
    }
    /// `image/jpeg`.
    async fn content_type(&self) -> &str {
        photos::RENDITION_FORMAT.mime()
    }
    async fn size_bytes(&self) -> u64 {
        self.stored.size_bytes
    }
}

/// The photo's renditions, smallest first (empty until READY).
pub fn images(photo: &Arc<catalog::Photo>) -> Vec<Image> {
    photo.processing.renditions.iter().map(|stored| Image { photo: photo.clone(), stored: *stored }).collect()
}

/// One rendition, if the photo is READY.
pub fn image(photo: &Arc<catalog::Photo>, size: ImageSize) -> Option<Image> {
    let stored = photo.processing.rendition(size.rendition())?;
    Some(Image { photo: photo.clone(), stored: *stored })
}
