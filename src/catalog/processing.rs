//! Processing photos into renditions, as items: what the photo item says about its renditions, and how a
//! render's outcome is committed. A photo recorded by `completeUpload` is PROCESSING and has a job item in the
//! queue (`catalog::queue`) written in the same transaction, so the work survives any process. The outcome
//! commits only while the photo still carries the number of the lease it was rendered under, in one
//! transaction with the job's removal and the event that announces it: an instance whose lease was taken
//! over commits nothing (the objects both wrote are the same bytes at the same keys).

use super::queue::Lease;
use super::{Catalog, Event, Photo, keys, s};
use crate::catalog::attributes as attr;
use crate::image_format::Rendition;
use crate::table::{Check, Item, ItemExt, TableError, TableResult, Value, Write};
use chrono::{DateTime, Utc};

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
            set.push((attr::STATUS.to_string(), s(status.name())));
        }
        if !self.renditions.is_empty() {
            let compact: Vec<(String, u32, u32, u64)> = self
                .renditions
                .iter()
                .map(|r| (r.rendition.name().to_string(), r.width, r.height, r.size_bytes))
                .collect();
            set.push((attr::RENDITIONS.to_string(), Value::S(serde_json::to_string(&compact).unwrap_or_default())));
        }
        let optional = [
            (attr::PLACEHOLDER, self.placeholder.clone()),
            (attr::TAKEN_AT, self.taken_at.map(keys::time)),
            (attr::CAMERA, self.camera.clone()),
            (attr::PROCESSING_ERROR, self.error.clone()),
        ];
        set.extend(optional.into_iter().filter_map(|(name, value)| Some((name.to_string(), Value::S(value?)))));
        set
    }

    pub(super) fn from_item(item: &Item) -> anyhow::Result<Self> {
        let status = match item.opt_string(attr::STATUS) {
            None => None,
            Some("PROCESSING") => Some(PhotoStatus::Processing),
            Some("READY") => Some(PhotoStatus::Ready),
            Some("FAILED") => Some(PhotoStatus::Failed),
            Some(other) => anyhow::bail!("unknown photo status {other:?}"),
        };
        let renditions = match item.opt_string(attr::RENDITIONS) {
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
        let taken_at = item
            .opt_string(attr::TAKEN_AT)
            .map(DateTime::parse_from_rfc3339)
            .transpose()?
            .map(|t| t.with_timezone(&Utc));
        Ok(Self {
            status,
            renditions,
            placeholder: item.opt_string(attr::PLACEHOLDER).map(str::to_string),
            taken_at,
            camera: item.opt_string(attr::CAMERA).map(str::to_string),
            error: item.opt_string(attr::PROCESSING_ERROR).map(str::to_string),
        })
    }
}

impl Catalog {
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
            set.push((attr::WIDTH.into(), Value::N(i64::from(width))));
            set.push((attr::HEIGHT.into(), Value::N(i64::from(height))));
            updated.width = Some(i64::from(width));
            updated.height = Some(i64::from(height));
        }
        if let Some(full) = outcome.rendition(Rendition::Full) {
            set.push((attr::SIZE_BYTES.into(), Value::N(full.size_bytes as i64)));
            updated.size_bytes = full.size_bytes as i64;
        }
        updated.processing = outcome;
        let mut writes = vec![
            Write::Update {
                key: keys::photo(photo.id),
                add: vec![],
                set,
                checks: vec![Check::Equals(attr::LEASE.into(), lease.number)],
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
