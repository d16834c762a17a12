//! Start-up: bind first (so tests can use port 0 and embedded mode can sign for the real address), build
//! the backends the configuration asks for, then serve until a shutdown signal and stop gracefully
//! (`http::shutdown`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::net::TcpListener;

use crate::aws::{self, AwsOptions};
use crate::blob::{BlobStore, embedded};
use crate::catalog::Catalog;
use crate::config::{Config, StoreKind};
use crate::domain::caller::OwnerKeyHash;
use crate::domain::events::EventHub;
use crate::domain::rate_limit::RateLimiter;
use crate::domain::{Limits, Services};
use crate::http::Edge;
use crate::http::connection::ConnectionLimits;
use crate::http::listener::EdgeListener;
use crate::http::shutdown::{self, Lifecycle, ShutdownTimings};
use crate::http::ws::WsLimits;
use crate::state::{ApiLimits, AppState};
use crate::table::{Table, dynamo::DynamoTable, embedded::EmbeddedTable};

pub struct Application {
    listener: EdgeListener,
    router: axum::Router,
    state: Arc<AppState>,
    lifecycle: Arc<Lifecycle>,
    timings: ShutdownTimings,
    connections: ConnectionLimits,
    processing: crate::domain::processing::Settings,
}

/// The backends a configuration asks for.
pub struct Backends {
    pub table: Arc<dyn Table>,
    pub blobs: BlobStore,
    /// Embedded mode's S3 endpoint, to be served on the service's own port.
    pub object_store: Option<s3s::service::S3Service>,
}

impl Backends {
    /// Connect to (embedded: open) the table and bucket. `public_url` is where clients reach this service.
    /// With traces exported, every table call is a span (`table::traced`).
    pub async fn connect(config: &Config, public_url: &str) -> anyhow::Result<Self> {
        let mut backends = Self::connect_store(config, public_url).await?;
        if config.otlp_endpoint.is_some() {
            backends.table = Arc::new(crate::table::traced::Traced(backends.table));
        }
        Ok(backends)
    }

    async fn connect_store(config: &Config, public_url: &str) -> anyhow::Result<Self> {
        match config.store {
            StoreKind::Embedded => {
                std::fs::create_dir_all(&config.data_dir)
                    .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
                let table = EmbeddedTable::open(&config.data_dir.join("photoshare.redb"))?;
                let keys = embedded::LocalKeys::load_or_create(&config.data_dir)?;
                let object_store = embedded::service(&config.data_dir.join("objects"), &config.bucket, &keys)?;
                let credentials = aws_credential_types::Credentials::new(
                    keys.access_key_id.clone(),
                    keys.secret_access_key.clone(),
                    None,
                    None,
                    "photoshare-embedded",
                );
                let provider = SharedCredentialsProvider::new(credentials);
                let s3 = aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::Config::builder()
                        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                        .region(aws_sdk_s3::config::Region::new("us-east-1"))
                        .credentials_provider(provider.clone())
                        .endpoint_url(public_url)
                        .force_path_style(true)
                        .timeout_config(aws::timeouts())
                        .retry_config(aws::retries())
                        .build(),
                );
                Ok(Self {
                    table: Arc::new(table),
                    blobs: BlobStore::new(s3, &config.bucket, provider, "us-east-1"),
                    object_store: Some(object_store),
                })
            }
            StoreKind::Aws => {
                let options = AwsOptions {
                    dynamodb_endpoint: config.dynamodb_endpoint.clone(),
                    s3_endpoint: config.s3_endpoint.clone(),
                    s3_path_style: config.s3_path_style,
                };
                let sdk = aws::sdk_config().await;
                let table = DynamoTable::new(aws::dynamodb_client(&sdk, &options), &config.table);
                let provider = sdk.credentials_provider().context("no AWS credentials found by the SDK's chain")?;
                let region = sdk.region().map(|r| r.to_string()).context("no AWS region configured (AWS_REGION)")?;
                let blobs = BlobStore::new(aws::s3_client(&sdk, &options), &config.bucket, provider, region);
                Ok(Self { table: Arc::new(table), blobs, object_store: None })
            }
        }
    }

    /// Create the table and bucket if absent.
    pub async fn ensure_created(&self) -> anyhow::Result<()> {
        self.table.ensure_created().await.context("creating the table")?;
        // The embedded object store made its bucket folder already, and is not being served right now.
        if self.object_store.is_none() {
            self.blobs.ensure_bucket().await.context("creating the bucket")?;
        }
        Ok(())
    }
}

fn default_public_url(addr: SocketAddr) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}", addr.port())
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let trusted_proxies = Arc::new(config.trusted_proxies.clone().unwrap_or_default());
        if config.proxy_protocol && trusted_proxies.is_empty() {
            anyhow::bail!(
                "--proxy-protocol (PHOTOSHARE_PROXY_PROTOCOL) needs --trusted-proxies (PHOTOSHARE_TRUSTED_PROXIES): \
                 PROXY headers are read only from the load balancer's addresses"
            );
        }
        if config.ws_idle_seconds <= config.ws_ping_seconds {
            anyhow::bail!(
                "--ws-idle-seconds ({}) must be more than --ws-ping-seconds ({}): a client answers each ping, so a \
                 socket is quiet at least that long",
                config.ws_idle_seconds,
                config.ws_ping_seconds
            );
        }
        if config.abandoned_upload_seconds <= config.upload_ticket_seconds {
            anyhow::bail!(
                "--abandoned-upload-seconds ({}) must be more than --upload-ticket-seconds ({}): a file sent with a \
                 valid ticket is not abandoned yet",
                config.abandoned_upload_seconds,
                config.upload_ticket_seconds
            );
        }
        if config.drain_seconds >= config.shutdown_seconds {
            anyhow::bail!(
                "--drain-seconds ({}) must be less than --shutdown-seconds ({}): requests in flight need time to \
                 finish after the drain",
                config.drain_seconds,
                config.shutdown_seconds
            );
        }
        let listener =
            TcpListener::bind(config.listen).await.with_context(|| format!("listening on {}", config.listen))?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| default_public_url(listener.local_addr().unwrap_or(config.listen)));
        let backends = Backends::connect(&config, &public_url).await?;
        if config.store == StoreKind::Embedded {
            // The embedded store is ours to create; AWS resources come from `photoshare setup` or deploy/.
            backends.table.ensure_created().await?;
        }
        let events = EventHub::new();
        let catalog = Catalog::new(backends.table)
            .with_gallery_shards(config.gallery_shards as usize)
            .with_queue_shards(config.queue_shards as usize)
            .with_name_shards(config.name_shards as usize);
        let catalog = match &config.events_url {
            Some(url) => {
                events.relay_through(url, &config.table)?;
                catalog.without_feed()
            }
            None => catalog,
        };
        if config.store == StoreKind::Aws && config.events_url.is_none() {
            events.follow_feed(catalog.clone());
        }
        let services = Arc::new(Services {
            catalog,
            events,
            blobs: backends.blobs,
            limits: Limits {
                max_upload_bytes: config.max_upload_bytes,
                upload_ticket: Duration::from_secs(config.upload_ticket_seconds),
                view_url: Duration::from_secs(config.view_url_seconds),
                abandoned_upload: Duration::from_secs(config.abandoned_upload_seconds),
            },
            processing: Arc::default(),
            public_url: public_url.clone(),
            admins: config.admin_key_sha256.iter().filter_map(|hash| OwnerKeyHash::from_hex(hash)).collect(),
            deletion: Arc::default(),
        });
        let processing = crate::domain::processing::Settings {
            jobs: usize::try_from(config.processing_jobs).unwrap_or(1),
            scan: Duration::from_secs(config.processing_scan_seconds),
            lease: Duration::from_secs(config.processing_lease_seconds),
            sole: config.store == StoreKind::Embedded,
        };
        let state = Arc::new(AppState {
            services,
            limits: ApiLimits {
                request_timeout: Duration::from_secs(config.request_timeout_seconds),
                query_cache: Duration::from_millis(config.query_cache_millis),
                introspection: config.introspection,
                field_suggestions: config.field_suggestions,
            },
            rate_limiter: RateLimiter::new(config.mutations_per_minute, config.mutation_burst),
            metrics: Arc::default(),
        });
        let api = crate::graphql::Api::new(state.clone());
        let lifecycle = Lifecycle::new();
        let edge = Edge {
            trusted_proxies: trusted_proxies.clone(),
            lifecycle: lifecycle.clone(),
            ws: WsLimits {
                ping_every: Duration::from_secs(config.ws_ping_seconds),
                init_within: Duration::from_secs(config.ws_init_seconds),
                idle: Duration::from_secs(config.ws_idle_seconds),
                per_address: usize::try_from(config.ws_connections_per_address).unwrap_or(usize::MAX),
            },
            body_timeout: Duration::from_secs(config.body_timeout_seconds),
        };
        let router = crate::http::router(api, state.clone(), backends.object_store, edge);
        let listener = EdgeListener::new(listener, config.proxy_protocol, trusted_proxies.clone())?;
        let timings = ShutdownTimings {
            drain: Duration::from_secs(config.drain_seconds),
            deadline: Duration::from_secs(config.shutdown_seconds),
        };
        tracing::info!(
            %public_url,
            store = ?config.store,
            %trusted_proxies,
            proxy_protocol = config.proxy_protocol,
            events = match (&config.events_url, config.store) {
                (Some(_), _) => "engine",
                (None, StoreKind::Aws) => "table feed",
                (None, StoreKind::Embedded) => "this instance",
            },
            "photoshare ready"
        );
        let connections = ConnectionLimits {
            header: Duration::from_secs(config.header_timeout_seconds),
            keep_alive: Duration::from_secs(config.keep_alive_seconds),
            body: Duration::from_secs(config.body_timeout_seconds),
        };
        Ok(Self { listener, router, state, lifecycle, timings, connections, processing })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Serve until `shutdown` completes, then drain and stop (see `http::shutdown`).
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        // Processing runs while the instance serves (embedded mode's object store is this server): a job cut
        // off by the stop is finished by the next instance once its lease runs out.
        let worker = crate::domain::processing::spawn(self.state.services.clone(), self.processing);
        let sweeper = crate::domain::deletion::spawn(self.state.services.clone(), self.processing.scan);
        let served =
            shutdown::serve(self.listener, self.router, self.lifecycle, self.timings, self.connections, shutdown).await;
        worker.abort();
        sweeper.abort();
        served
    }

    /// Serve until SIGTERM or Ctrl-C, then drain and stop; a second signal stops at once.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let lifecycle = self.lifecycle.clone();
        let (first, first_received) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = first.send(());
            shutdown_signal().await;
            lifecycle.hurry();
        });
        self.run_until_stopped(async {
            let _ = first_received.await;
        })
        .await
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    let signal = tokio::select! { _ = ctrl_c => "SIGINT", _ = terminate => "SIGTERM" };
    tracing::info!(signal, "signal received");
}
