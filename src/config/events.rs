//! Events settings: how instances hear of each other's writes (for subscribers and the response cache).

use clap::Args;

use super::StoreKind;

/// How writes elsewhere reach this instance.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Events")]
pub struct EventSettings {
    /// A Valkey or Redis 7 server (`redis://host:port`, `rediss://` for TLS) through which instances hear
    /// of each other's writes, with no table polling. Without it, embedded mode delivers its own writes and
    /// AWS mode follows the table's event feed (about 500 events a second for the whole service at most).
    #[arg(long, global = true, env = "PHOTOSHARE_EVENTS_URL")]
    pub events_url: Option<String>,
}

/// Where an instance's events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource<'a> {
    /// The events engine at this URL: every instance publishes its writes there.
    Engine(&'a str),
    /// The table's event feed (AWS mode without an engine).
    TableFeed,
    /// This instance's own writes only (embedded mode without an engine: one instance).
    ThisInstance,
}

impl EventSettings {
    /// Where events come from with the store `store`.
    pub fn source(&self, store: StoreKind) -> EventSource<'_> {
        match (&self.events_url, store) {
            (Some(url), _) => EventSource::Engine(url),
            (None, StoreKind::Aws) => EventSource::TableFeed,
            (None, StoreKind::Embedded) => EventSource::ThisInstance,
        }
    }
}

impl std::fmt::Display for EventSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Engine(_) => "engine",
            Self::TableFeed => "table feed",
            Self::ThisInstance => "this instance",
        })
    }
}
