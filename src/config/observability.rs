//! Observability settings: logs, traces, and where `/metrics` is served.

use std::net::SocketAddr;

use clap::Args;

use crate::telemetry::LogFormat;

/// What the service tells its operators, and where.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Observability")]
pub struct ObservabilitySettings {
    /// Log format.
    #[arg(long, global = true, env = "PHOTOSHARE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// An OpenTelemetry collector's OTLP/HTTP base URL (e.g. `http://127.0.0.1:4318`): one trace span per
    /// GraphQL operation with its table calls, sent there in batches. Off without it.
    #[arg(long, global = true, env = "PHOTOSHARE_OTLP_ENDPOINT", value_parser = otlp_endpoint)]
    pub otlp_endpoint: Option<String>,
    /// An address of its own for `/metrics` (e.g. `127.0.0.1:9464`, or a private interface's), which the
    /// public port then no longer serves: not everyone need see the queue's depth. Without it, `/metrics`
    /// is on the public port.
    #[arg(long, global = true, env = "PHOTOSHARE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// An OTLP/HTTP base URL: `http://` or `https://`, with a host.
fn otlp_endpoint(text: &str) -> Result<String, String> {
    let rest = text.strip_prefix("http://").or_else(|| text.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(text.to_string()),
        _ => Err("an OTLP endpoint is an http:// or https:// URL, such as http://127.0.0.1:4318".into()),
    }
}
