//! Upload and view-link settings: how large a photo may be, and how long the links handed out stay valid.

use std::time::Duration;

use clap::Args;

use super::Contradiction;
use crate::domain::Rules;

/// The sizes and lifetimes of the domain's upload and view rules (`domain::Rules`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Uploads and view links")]
pub struct UploadSettings {
    /// Largest photo accepted, in bytes.
    #[arg(long, global = true, env = "PHOTOSHARE_MAX_UPLOAD_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub max_upload_bytes: u64,
    /// How long an upload ticket stays valid, in seconds.
    #[arg(long, global = true, env = "PHOTOSHARE_UPLOAD_TICKET_SECONDS", default_value_t = 600)]
    pub upload_ticket_seconds: u64,
    /// Seconds after which a file sent with an upload ticket but never completed is removed from the bucket
    /// (by the service's sweep, and in AWS by the bucket's lifecycle rule after a day). More than
    /// `--upload-ticket-seconds`.
    #[arg(long, global = true, env = "PHOTOSHARE_ABANDONED_UPLOAD_SECONDS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(2..))]
    pub abandoned_upload_seconds: u64,
    /// How long a `Photo.url` view link stays valid, in seconds (at least 600: links are reused for
    /// 5-minute windows so browsers can cache them).
    #[arg(long, global = true, env = "PHOTOSHARE_VIEW_URL_SECONDS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(600..=604_800))]
    pub view_url_seconds: u64,
}

impl UploadSettings {
    /// A file sent with a ticket still valid is not abandoned yet: the sweep must wait longer than a ticket
    /// lives.
    pub fn validate(&self) -> Result<(), Contradiction> {
        if self.abandoned_upload_seconds <= self.upload_ticket_seconds {
            return Err(Contradiction::new(
                ["--abandoned-upload-seconds", "--upload-ticket-seconds"],
                format!(
                    "--abandoned-upload-seconds ({}) must be more than --upload-ticket-seconds ({}): a file sent \
                     with a valid ticket is not abandoned yet",
                    self.abandoned_upload_seconds, self.upload_ticket_seconds
                ),
            ));
        }
        Ok(())
    }

    /// What the domain's upload and view rules enforce.
    pub fn rules(&self) -> Rules {
        Rules {
            max_upload_bytes: self.max_upload_bytes,
            upload_ticket: Duration::from_secs(self.upload_ticket_seconds),
            view_url: Duration::from_secs(self.view_url_seconds),
            abandoned_upload: Duration::from_secs(self.abandoned_upload_seconds),
        }
    }
}
