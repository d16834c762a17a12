//! All configuration: command-line flags with `PHOTOSHARE_*` environment fallbacks, in groups by concern (one
//! file each under `config/`), each group with its own checks and the settings it hands its part of the
//! service (`config.websocket.limits()`, …). The only module that reads the environment; AWS settings (region,
//! credentials, endpoints) come from the SDK's own chain.
//!
//! Parsing (`Config::from_args`, or clap in `main`) checks each flag alone; `Config::validate` the rules between
//! flags, with an error that names them. `app::Application::build` validates before anything else.

mod api;
mod events;
mod http;
mod observability;
mod processing;
mod storage;
mod uploads;
mod websocket;

use clap::{Args, Parser, Subcommand};

pub use self::api::{AccessSettings, ApiSettings};
pub use self::events::{EventSettings, EventSource};
pub use self::http::{HttpSettings, ShutdownSettings};
pub use self::observability::ObservabilitySettings;
pub use self::processing::ProcessingSettings;
pub use self::storage::{StorageSettings, StoreKind};
pub use self::uploads::UploadSettings;
pub use self::websocket::WebSocketSettings;
pub use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(name = "photoshare", version, about = "A GraphQL photo-sharing service")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Create the table and bucket if absent, then exit (idempotent).
    Setup,
    /// Print the GraphQL schema (SDL) and exit.
    Schema,
}

/// Every setting, by group; `photoshare --help` shows them under the same headings.
#[derive(Debug, Clone, Args)]
pub struct Config {
    #[command(flatten)]
    pub storage: StorageSettings,
    #[command(flatten)]
    pub events: EventSettings,
    #[command(flatten)]
    pub http: HttpSettings,
    #[command(flatten)]
    pub shutdown: ShutdownSettings,
    #[command(flatten)]
    pub websocket: WebSocketSettings,
    #[command(flatten)]
    pub uploads: UploadSettings,
    #[command(flatten)]
    pub processing: ProcessingSettings,
    #[command(flatten)]
    pub api: ApiSettings,
    #[command(flatten)]
    pub access: AccessSettings,
    #[command(flatten)]
    pub observability: ObservabilitySettings,
}

/// Two settings that contradict each other: which flags, and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Contradiction {
    /// The flags at fault, as typed on the command line (each has its `PHOTOSHARE_*` variable too).
    pub flags: [&'static str; 2],
    message: String,
}

impl Contradiction {
    fn new(flags: [&'static str; 2], message: impl Into<String>) -> Self {
        Self { flags, message: message.into() }
    }
}

impl Config {
    /// The configuration from the command line and environment, as `photoshare serve` would see it
    /// given `args` (without the program name). Each flag is checked; the rules between them are
    /// `validate`'s.
    pub fn from_args<I: IntoIterator<Item = S>, S: Into<std::ffi::OsString> + Clone>(
        args: I,
    ) -> Result<Self, clap::Error> {
        let all = std::iter::once(std::ffi::OsString::from("photoshare")).chain(args.into_iter().map(Into::into));
        Ok(Cli::try_parse_from(all)?.config)
    }

    /// The rules between settings, group by group: the first one broken.
    pub fn validate(&self) -> Result<(), Contradiction> {
        self.http.validate()?;
        self.shutdown.validate()?;
        self.websocket.validate()?;
        self.uploads.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contradiction(flags: &[&str]) -> Contradiction {
        let config = Config::from_args(flags).expect("each flag is valid alone");
        config.validate().expect_err("the flags contradict each other")
    }

    /// clap's own checks of the flags (no name used twice across groups), and docs/configuration.md's tables
    /// against them: every flag there, with its variable and default, and no other.
    #[test]
    fn the_flags_are_well_formed_and_documented() {
        let command = <Cli as clap::CommandFactory>::command();
        command.clone().debug_assert();
        let mut documented = Vec::new();
        for row in include_str!("../docs/configuration.md").lines().filter(|line| line.starts_with("| `--")) {
            let cells: Vec<&str> = row.split(" | ").collect();
            let flag = cells[0].trim_start_matches("| `--").trim_end_matches('`');
            let arg = command.get_arguments().find(|arg| arg.get_long() == Some(flag));
            let arg = arg.unwrap_or_else(|| panic!("--{flag} is documented but is no flag"));
            let env = arg.get_env().map(|env| format!("`{}`", env.to_string_lossy()));
            assert_eq!(env.as_deref().unwrap_or("none"), cells[1], "--{flag}'s variable");
            let defaults: Vec<_> = arg.get_default_values().iter().map(|v| v.to_string_lossy()).collect();
            if !defaults.is_empty() {
                assert_eq!(format!("`{}`", defaults.join(",")), cells[2], "--{flag}'s default");
            }
            documented.push(flag);
        }
        for arg in command.get_arguments() {
            let flag = arg.get_long().unwrap_or_default();
            assert!(documented.contains(&flag), "--{flag} is missing from docs/configuration.md");
        }
    }

    #[test]
    fn the_defaults_agree() {
        Config::from_args(Vec::<String>::new()).unwrap().validate().unwrap();
    }

    #[test]
    fn proxy_protocol_needs_trusted_proxies() {
        let error = contradiction(&["--proxy-protocol", "true"]);
        assert_eq!(error.flags, ["--proxy-protocol", "--trusted-proxies"]);
        assert!(error.to_string().contains("--proxy-protocol (PHOTOSHARE_PROXY_PROTOCOL) needs --trusted-proxies"));
        let config = Config::from_args(["--proxy-protocol", "true", "--trusted-proxies", "10.0.0.0/8"]).unwrap();
        config.validate().unwrap();
    }

    #[test]
    fn the_drain_ends_before_the_shutdown_deadline() {
        let error = contradiction(&["--drain-seconds", "20"]);
        assert_eq!(error.flags, ["--drain-seconds", "--shutdown-seconds"]);
        assert!(error.to_string().contains("--drain-seconds (20) must be less than --shutdown-seconds (20)"));
        Config::from_args(["--drain-seconds", "19"]).unwrap().validate().unwrap();
    }

    #[test]
    fn a_websocket_may_idle_longer_than_the_ping_interval() {
        let error = contradiction(&["--ws-idle-seconds", "25"]);
        assert_eq!(error.flags, ["--ws-idle-seconds", "--ws-ping-seconds"]);
        assert!(error.to_string().contains("--ws-idle-seconds (25) must be more than --ws-ping-seconds (25)"));
        Config::from_args(["--ws-idle-seconds", "26"]).unwrap().validate().unwrap();
    }

    #[test]
    fn an_upload_is_abandoned_only_after_its_ticket_expires() {
        let error = contradiction(&["--upload-ticket-seconds", "900", "--abandoned-upload-seconds", "900"]);
        assert_eq!(error.flags, ["--abandoned-upload-seconds", "--upload-ticket-seconds"]);
        assert!(
            error
                .to_string()
                .contains("--abandoned-upload-seconds (900) must be more than --upload-ticket-seconds (900)")
        );
        Config::from_args(["--abandoned-upload-seconds", "601"]).unwrap().validate().unwrap();
    }
}
