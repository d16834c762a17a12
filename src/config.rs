//! All configuration: command-line flags with `PHOTOSHARE_*` environment fallbacks. The only module that
//! reads the environment; AWS settings (region, credentials, endpoints) come from the SDK's own chain.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::client_ip::TrustedProxies;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// A redb file and an in-process S3 endpoint under the data directory: no AWS needed.
    Embedded,
    /// DynamoDB and S3 (or compatible servers), configured by the AWS SDK's standard chain.
    Aws,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Where photos and their records live.
    #[arg(long, global = true, env = "PHOTOSHARE_STORE", value_enum, default_value = "embedded")]
    pub store: StoreKind,
    /// Embedded store: the directory for the table file and the objects.
    #[arg(long, global = true, env = "PHOTOSHARE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, global = true, env = "PHOTOSHARE_LISTEN", default_value = "127.0.0.1:8888")]
    pub listen: SocketAddr,
    /// Base URL clients reach this service at (embedded mode signs upload and view links for it).
    /// Default: http://<listen address>, with 127.0.0.1 for an unspecified address.
    #[arg(long, global = true, env = "PHOTOSHARE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// DynamoDB table name (also the prefix of the events engine's channels, in both modes).
    #[arg(long, global = true, env = "PHOTOSHARE_TABLE", default_value = "photoshare")]
    pub table: String,
    /// A Valkey or Redis 7 server (`redis://host:port`, `rediss://` for TLS) through which instances hear
    /// of each other's writes, with no table polling. Without it, embedded mode delivers its own writes and
    /// AWS mode follows the table's event feed (about 500 events a second for the whole service at most).
    #[arg(long, global = true, env = "PHOTOSHARE_EVENTS_URL")]
    pub events_url: Option<String>,
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
    /// Seconds between WebSocket pings to subscribers: keeps quiet subscriptions open through load balancers
    /// (an ALB closes connections idle for 60 s by default).
    #[arg(long, global = true, env = "PHOTOSHARE_WS_PING_SECONDS", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ws_ping_seconds: u64,
    /// Seconds a client has to send a request's whole head (request line and headers): from connecting, or
    /// from the first byte of a later request on a kept-alive connection. Then the connection is closed.
    #[arg(long, global = true, env = "PHOTOSHARE_HEADER_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_seconds: u64,
    /// Seconds a kept-alive connection may wait idle for its next request (and a request in flight may move no
    /// byte). Above the load balancer's idle timeout (an ALB's is 60 s), so that it closes idle connections first.
    #[arg(long, global = true, env = "PHOTOSHARE_KEEP_ALIVE_SECONDS", default_value_t = 75, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub keep_alive_seconds: u64,
    /// Seconds a request body may take to start, or pause; after that many seconds it must also average 8 KiB/s.
    /// A GraphQL request's whole body must arrive within this time.
    #[arg(long, global = true, env = "PHOTOSHARE_BODY_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_seconds: u64,
    /// Seconds a WebSocket client has to send `connection_init` after connecting; then it is closed (4408).
    #[arg(long, global = true, env = "PHOTOSHARE_WS_INIT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ws_init_seconds: u64,
    /// Seconds a WebSocket may send nothing at all, not even the pong to a ping, before it is closed (checked
    /// at each ping). More than `--ws-ping-seconds`.
    #[arg(long, global = true, env = "PHOTOSHARE_WS_IDLE_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..=86_400))]
    pub ws_idle_seconds: u64,
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
    /// WebSockets one client address (an IPv6 client's /64) may hold open on one instance; more get 429.
    /// Clients behind one NAT share an address: each socket carries up to 100 subscriptions.
    #[arg(long, global = true, env = "PHOTOSHARE_WS_CONNECTIONS_PER_ADDRESS", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub ws_connections_per_address: u64,
    /// Seconds a GraphQL query or mutation may take; then it fails with `UNAVAILABLE` (a backend is too slow).
    #[arg(long, global = true, env = "PHOTOSHARE_REQUEST_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub request_timeout_seconds: u64,
    /// Milliseconds an answer to a read-only `photos`/`photo` query may be served again to identical
    /// requests (0: never). A change through this instance to a photo it holds, or to which photos a list
    /// holds, ends it at once; this bounds how long a write through another instance may go unseen here.
    #[arg(long, global = true, env = "PHOTOSHARE_QUERY_CACHE_MILLIS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub query_cache_millis: u64,
    /// Mutations a client address may make per minute on one instance, on average (0: no limit).
    #[arg(long, global = true, env = "PHOTOSHARE_MUTATIONS_PER_MINUTE", default_value_t = 120)]
    pub mutations_per_minute: u32,
    /// Mutations a client address may make at once before the per-minute rate applies.
    #[arg(long, global = true, env = "PHOTOSHARE_MUTATION_BURST", default_value_t = 30)]
    pub mutation_burst: u32,
    /// Admin owner keys, as the SHA-256 of each (64 hex digits), comma-separated: an admin may edit and
    /// delete any photo or comment. Only hashes are configured: `printf %s "$KEY" | sha256sum`.
    #[arg(long, global = true, env = "PHOTOSHARE_ADMIN_KEY_SHA256", value_delimiter = ',', value_parser = key_hash)]
    pub admin_key_sha256: Vec<String>,
    /// Answer introspection queries (GraphiQL needs them; production may turn them off).
    #[arg(long, global = true, env = "PHOTOSHARE_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// Suggest field names in validation errors ("did you mean …?").
    #[arg(long, global = true, env = "PHOTOSHARE_FIELD_SUGGESTIONS", default_value_t = true, action = clap::ArgAction::Set)]
    pub field_suggestions: bool,
    /// The load balancers and proxies in front of this service, as CIDR ranges or addresses, comma-separated
    /// (e.g. the VPC's range). Only their `X-Forwarded-For` and PROXY headers are believed; by default
    /// nobody's, and the TCP peer is the client.
    #[arg(long, global = true, env = "PHOTOSHARE_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<TrustedProxies>,
    /// Expect a PROXY protocol (v1 or v2) header on connections from the trusted proxies (an NLB, or a
    /// classic ELB with proxy protocol on). Other peers are served as they are.
    #[arg(long, global = true, env = "PHOTOSHARE_PROXY_PROTOCOL", default_value_t = false, action = clap::ArgAction::Set)]
    pub proxy_protocol: bool,
    /// On SIGTERM or Ctrl-C, seconds `/readyz` answers 503 while requests are still served, so load balancers
    /// stop sending new ones before the port closes. Counts towards `--shutdown-seconds`.
    #[arg(long, global = true, env = "PHOTOSHARE_DRAIN_SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub drain_seconds: u64,
    /// Seconds from SIGTERM or Ctrl-C to exit at the latest: draining, then requests in flight finish and
    /// WebSockets are closed (1001). Match the load balancer's deregistration delay.
    #[arg(long, global = true, env = "PHOTOSHARE_SHUTDOWN_SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_seconds: u64,
    /// Log format.
    #[arg(long, global = true, env = "PHOTOSHARE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// An OpenTelemetry collector's OTLP/HTTP base URL (e.g. `http://127.0.0.1:4318`): one trace span per
    /// GraphQL operation with its table calls, sent there in batches. Off without it.
    #[arg(long, global = true, env = "PHOTOSHARE_OTLP_ENDPOINT", value_parser = otlp_endpoint)]
    pub otlp_endpoint: Option<String>,
}

impl Config {
    /// The configuration from the command line and environment, as `photoshare serve` would see it
    /// given `args` (without the program name).
    pub fn from_args<I: IntoIterator<Item = S>, S: Into<std::ffi::OsString> + Clone>(
        args: I,
    ) -> Result<Self, clap::Error> {
        let all = std::iter::once(std::ffi::OsString::from("photoshare")).chain(args.into_iter().map(Into::into));
        Ok(Cli::try_parse_from(all)?.config)
    }
}

/// An OTLP/HTTP base URL: `http://` or `https://`, with a host.
fn otlp_endpoint(text: &str) -> Result<String, String> {
    let rest = text.strip_prefix("http://").or_else(|| text.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(text.to_string()),
        _ => Err("an OTLP endpoint is an http:// or https:// URL, such as http://127.0.0.1:4318".into()),
    }
}

/// A SHA-256 written as 64 hex digits (lowercased).
fn key_hash(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err("an admin key's SHA-256 is 64 hex digits (printf %s \"$KEY\" | sha256sum)".into())
    }
}
