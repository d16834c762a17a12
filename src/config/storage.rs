//! Storage settings: which store, its names, and how many partitions its busiest keys are spread over.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};

use crate::aws::AwsOptions;
use crate::catalog::Catalog;
use crate::table::Table;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// A redb file and an in-process S3 endpoint under the data directory: no AWS needed.
    Embedded,
    /// DynamoDB and S3 (or compatible servers), configured by the AWS SDK's standard chain.
    Aws,
}

/// Where photos and their records live.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Storage")]
pub struct StorageSettings {
    /// Where photos and their records live.
    #[arg(long, global = true, env = "PHOTOSHARE_STORE", value_enum, default_value = "embedded")]
    pub store: StoreKind,
    /// Embedded store: the directory for the table file and the objects.
    #[arg(long, global = true, env = "PHOTOSHARE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// DynamoDB table name (also the prefix of the events engine's channels, in both modes).
    #[arg(long, global = true, env = "PHOTOSHARE_TABLE", default_value = "photoshare")]
    pub table: String,
    /// S3 bucket name.
    #[arg(long, global = true, env = "PHOTOSHARE_BUCKET", default_value = "photoshare")]
    pub bucket: String,
    /// Path-style S3 addressing (for local S3-compatible servers).
    #[arg(long, global = true, env = "PHOTOSHARE_S3_PATH_STYLE", default_value_t = false, action = clap::ArgAction::Set)]
    pub s3_path_style: bool,
    /// DynamoDB endpoint override (otherwise the SDK chain, e.g. AWS_ENDPOINT_URL_DYNAMODB).
    #[arg(long, global = true)]
    pub dynamodb_endpoint: Option<String>,
    /// S3 endpoint override (otherwise the SDK chain, e.g. AWS_ENDPOINT_URL_S3).
    #[arg(long, global = true)]
    pub s3_endpoint: Option<String>,
    /// Partitions the gallery index is spread over: each takes 1/N of the uploads (one holds about 1,000 a
    /// second), and a gallery or time-range page costs N queries plus one batch read. Grow it freely; never
    /// shrink it (photos on the shards no longer read would leave the gallery).
    #[arg(long, global = true, env = "PHOTOSHARE_GALLERY_SHARDS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub gallery_shards: u64,
    /// Partitions the processing queue is spread over: each takes 1/N of its writes (about six units per
    /// photo; one holds about 160 uploads a second). A look at the queue reads the shard of a job queued here,
    /// the periodic scan reads all. Safe to change at any time.
    #[arg(long, global = true, env = "PHOTOSHARE_QUEUE_SHARDS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=128))]
    pub queue_shards: u64,
    /// Partitions each name token (a word or a prefix of one) is spread over: each takes 1/N of the uploads
    /// and renames with that token (one holds about 1,000 a second), and a name search reads N counts per
    /// word and queries the rarest word's shards that have it. Grow it freely; never shrink it (photos
    /// indexed on the shards no longer read would leave name search).
    #[arg(long, global = true, env = "PHOTOSHARE_NAME_SHARDS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub name_shards: u64,
}

impl StorageSettings {
    /// Whether this process alone uses its store (embedded mode).
    pub fn is_embedded(&self) -> bool {
        self.store == StoreKind::Embedded
    }

    /// Where the AWS clients connect (AWS mode).
    pub fn aws_options(&self) -> AwsOptions {
        AwsOptions {
            dynamodb_endpoint: self.dynamodb_endpoint.clone(),
            s3_endpoint: self.s3_endpoint.clone(),
            s3_path_style: self.s3_path_style,
        }
    }

    /// The single-table design over `table`, with its partitions as configured (the ranges above keep each
    /// count within `usize`).
    pub fn catalog(&self, table: Arc<dyn Table>) -> Catalog {
        let shards = |count: u64| usize::try_from(count).unwrap_or(1);
        Catalog::new(table)
            .with_gallery_shards(shards(self.gallery_shards))
            .with_queue_shards(shards(self.queue_shards))
            .with_name_shards(shards(self.name_shards))
    }
}
