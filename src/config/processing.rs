//! Processing settings: how many photos this instance renders at once, and how it finds and holds work.

use std::time::Duration;

use clap::Args;

use crate::domain::processing::Settings;

/// The rendition worker (`domain::processing`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Processing")]
pub struct ProcessingSettings {
    /// Photos this instance processes into renditions at once (each on a core of the blocking pool; 0: none,
    /// for instances that only serve). One keeps a 2-core instance's other core for requests.
    #[arg(long, global = true, env = "PHOTOSHARE_PROCESSING_JOBS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=64))]
    pub processing_jobs: u64,
    /// Seconds between looks at the processing queue for work no instance holds (after a crash, a retry), and
    /// at deleted photos' leftovers; while a look finds nothing the wait doubles, up to a minute.
    #[arg(long, global = true, env = "PHOTOSHARE_PROCESSING_SCAN_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub processing_scan_seconds: u64,
    /// Seconds a claimed photo is this instance's, renewed every third of it while its render runs: a photo
    /// whose instance died (a crash, kill -9) is taken over by another within this long. In embedded mode a
    /// restarted instance takes over its predecessor's photos at once.
    #[arg(long, global = true, env = "PHOTOSHARE_PROCESSING_LEASE_SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub processing_lease_seconds: u64,
}

impl ProcessingSettings {
    /// How the worker runs; `sole`: this process alone uses the store (embedded mode).
    pub fn worker(&self, sole: bool) -> Settings {
        Settings {
            jobs: usize::try_from(self.processing_jobs).unwrap_or(1),
            scan: Duration::from_secs(self.processing_scan_seconds),
            lease: Duration::from_secs(self.processing_lease_seconds),
            sole,
        }
    }
}
