//! Logs: `tracing` to stderr, human-readable or JSON, filtered by `RUST_LOG` (default `info`). Client faults
//! are warnings and failures of the service errors: the embedded S3 endpoint (s3s) logs every refused request
//! (a bad signature, a malformed form) as an error, so its own lines are off by default and `http` logs its
//! refusals as warnings instead.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,s3s::ops=off"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
