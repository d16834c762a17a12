//! The rules of photoshare, between the API (`graphql`, `http`) and storage (`catalog`, `blob`): what makes
//! an upload a photo, a comment acceptable, a share link valid, who a caller is, what is published to
//! subscribers. Functions here take the `Services` they use, never the API's state (its rate limiter and
//! metrics are the API's business).

pub mod caller;
pub mod comment_stream;
pub mod comments;
pub mod deletion;
pub mod error;
pub mod events;
pub mod exif_fields;
pub mod freshness;
pub mod image;
pub mod jpeg_entropy;
pub mod jpeg_scans;
pub mod opened;
pub mod owners;
pub mod photos;
pub mod png_rgb;
pub mod processing;
pub mod rate_limit;
pub mod render_budget;
pub mod renditions;
pub mod shares;
pub mod uploads;

use std::sync::Arc;
use std::time::Duration;

use crate::blob::BlobStore;
use crate::catalog::Catalog;
use events::EventHub;

/// What the domain's functions work with: storage, the event hub, and the rules' limits.
pub struct Services {
    pub catalog: Catalog,
    /// New photos and comments, for subscribers on this instance.
    pub events: Arc<EventHub>,
    pub blobs: BlobStore,
    pub rules: Rules,
    /// The processing queue's wake-up and counts (the work itself is in the table).
    pub processing: Arc<processing::Queue>,
    /// Where clients reach this service (for links it hands out).
    pub public_url: String,
    /// The owner keys (by hash) that may edit and delete anything.
    pub admins: std::collections::HashSet<caller::OwnerKeyHash>,
    /// The deletion sweeper's wake-up and looks: what a deleted photo leaves is removed in the background.
    pub deletion: Arc<deletion::Sweeper>,
}

/// Sizes and lifetimes of the domain's rules, from the configuration.
#[derive(Debug, Clone)]
pub struct Rules {
    pub max_upload_bytes: u64,
    pub upload_ticket: Duration,
    pub view_url: Duration,
    /// An upload's file not completed this long after it was written is removed.
    pub abandoned_upload: Duration,
}
