//! Start-up: bind first (so tests can use port 0 and embedded mode can sign for the real address), build
//! the backends the configuration asks for, then serve until a shutdown signal and stop gracefully
//! (`http::shutdown`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::net::TcpListener;

use crate::aws;
use crate::blob::{BlobStore, embedded};
use crate::config::{Config, EventSource, StorageSettings, StoreKind};
use crate::domain::Services;
use crate::domain::events::EventHub;
use crate::http::Edge;
use crate::http::connection::ConnectionLimits;
use crate::http::listener::EdgeListener;
use crate::http::shutdown::{self, Lifecycle, ShutdownTimings};
use crate::state::AppState;
use crate::table::{Table, dynamo::DynamoTable, embedded::EmbeddedTable};

/// A service bound to its port and wired, not yet serving: `run_until_stopped` serves it.
pub struct Application {
    /// The public port, bound at build time so that port 0 works and embedded mode signs for the real address.
    listener: EdgeListener,
    /// Every route of the public port (`http::router`).
    router: axum::Router,
    /// What the API layers share; tests read its counters.
    state: Arc<AppState>,
    /// Where the instance is in its life (serving, draining, closing), shared with the handlers.
    lifecycle: Arc<Lifecycle>,
    /// When each step of a shutdown happens.
    timings: ShutdownTimings,
    /// How long a connection may take over each step.
    connections: ConnectionLimits,
    /// How the rendition worker runs, started with the server.
    processing: crate::domain::processing::Settings,
    /// `/metrics`' own port (`--metrics-listen`), bound at build time like the public one; `None`: `/metrics`
    /// is on the public port.
    metrics: Option<EdgeListener>,
}

/// The backends a configuration asks for.
pub struct Backends {
    /// Where the records live (DynamoDB or redb), behind the table trait.
    pub table: Arc<dyn Table>,
    /// Where the photos' bytes live (S3, or the embedded endpoint through the same client).
    pub blobs: BlobStore,
    /// Embedded mode's S3 endpoint, to be served on the service's own port.
    pub object_store: Option<s3s::service::S3Service>,
}

impl Backends {
    /// Connect to (embedded: open) the table and bucket. `public_url` is where clients reach this service.
    /// With traces exported, every table call is a span (`table::traced`).
    pub async fn connect(config: &Config, public_url: &str) -> anyhow::Result<Self> {
        let mut backends = Self::connect_store(&config.storage, public_url).await?;
        if config.observability.otlp_endpoint.is_some() {
            backends.table = Arc::new(crate::table::traced::Traced(backends.table));
        }
        Ok(backends)
    }

    async fn connect_store(storage: &StorageSettings, public_url: &str) -> anyhow::Result<Self> {
        match storage.store {
            StoreKind::Embedded => {
                let data_dir = &storage.data_dir;
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
                let table = EmbeddedTable::open(&data_dir.join("photoshare.redb"))?;
                let keys = embedded::LocalKeys::load_or_create(data_dir)?;
                let object_store = embedded::service(&data_dir.join("objects"), &storage.bucket, &keys)?;
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
                    blobs: BlobStore::new(s3, &storage.bucket, provider, "us-east-1"),
                    object_store: Some(object_store),
                })
            }
            StoreKind::Aws => {
                let options = storage.aws_options();
                let sdk = aws::sdk_config().await;
                let table = DynamoTable::new(aws::dynamodb_client(&sdk, &options), &storage.table);
                let provider = sdk.credentials_provider().context("no AWS credentials found by the SDK's chain")?;
                let region = sdk.region().map(|r| r.to_string()).context("no AWS region configured (AWS_REGION)")?;
                let blobs = BlobStore::new(aws::s3_client(&sdk, &options), &storage.bucket, provider, region);
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

impl Application {
    /// Check the configuration, bind the port, connect the backends and wire the layers; nothing is served
    /// until `run_until_stopped`.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        let listen = config.http.listen;
        let listener = TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
        let public_url = config.http.public_url(listener.local_addr().unwrap_or(listen));
        let Backends { table, blobs, object_store } = Backends::connect(&config, &public_url).await?;
        if config.storage.is_embedded() {
            // The embedded store is ours to create; AWS resources come from `photoshare setup` or deploy/.
            table.ensure_created().await?;
        }
        let state = Arc::new(AppState {
            services: services(&config, table, blobs, &public_url)?,
            api: config.api.rules(),
            rate_limiter: config.access.rate_limiter(),
            metrics: Arc::default(),
        });
        let metrics = metrics_listener(&config).await?;
        let lifecycle = Lifecycle::new();
        let edge = Edge {
            trusted_proxies: config.http.trusted_proxies(),
            lifecycle: lifecycle.clone(),
            ws: config.websocket.limits(),
            body_timeout: config.http.body_timeout(),
            metrics_here: metrics.is_none(),
        };
        let api = crate::graphql::Api::new(state.clone());
        let router = crate::http::router(api, state.clone(), object_store, edge);
        let listener = EdgeListener::new(listener, config.http.proxy_protocol, config.http.trusted_proxies())?;
        log_ready(&config, &public_url);
        Ok(Self {
            listener,
            router,
            state,
            lifecycle,
            timings: config.shutdown.timings(),
            connections: config.http.connections(),
            processing: config.processing.worker(config.storage.is_embedded()),
            metrics,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// Where `/metrics` is served when it has a port of its own (`--metrics-listen`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(EdgeListener::local_addr)
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
        let metrics = self.metrics.map(|listener| {
            let serve =
                crate::http::serve_metrics(listener, self.state.clone(), self.lifecycle.clone(), self.connections);
            tokio::spawn(serve)
        });
        let served =
            shutdown::serve(self.listener, self.router, self.lifecycle, self.timings, self.connections, shutdown).await;
        worker.abort();
        sweeper.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
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

/// The domain's services: the catalog over `table`, events from where the configuration says, the bucket.
fn services(
    config: &Config,
    table: Arc<dyn Table>,
    blobs: BlobStore,
    public_url: &str,
) -> anyhow::Result<Arc<Services>> {
    let events = EventHub::new();
    let mut catalog = config.storage.catalog(table);
    match config.events.source(config.storage.store) {
        EventSource::Engine(url) => {
            events.connect_engine(url, &config.storage.table)?;
            // The engine tells every instance of every write: the table's feed is not needed.
            catalog = catalog.without_feed();
        }
        EventSource::TableFeed => {
            events.follow_feed(catalog.clone());
        }
        EventSource::ThisInstance => {}
    }
    Ok(Arc::new(Services {
        catalog,
        events,
        blobs,
        rules: config.uploads.rules(),
        processing: Arc::default(),
        public_url: public_url.to_string(),
        admins: config.access.admins(),
        deletion: Arc::default(),
    }))
}

/// `/metrics`' own port, if `--metrics-listen` asks for one.
async fn metrics_listener(config: &Config) -> anyhow::Result<Option<EdgeListener>> {
    let Some(address) = config.observability.metrics_listen else { return Ok(None) };
    let listener = TcpListener::bind(address).await.with_context(|| format!("listening on {address} for /metrics"))?;
    // No proxy stands in front of it: each peer is who it is.
    Ok(Some(EdgeListener::new(listener, false, Arc::default())?))
}

/// One line saying how this instance runs.
fn log_ready(config: &Config, public_url: &str) {
    tracing::info!(
        %public_url,
        store = ?config.storage.store,
        trusted_proxies = %config.http.trusted_proxies(),
        proxy_protocol = config.http.proxy_protocol,
        events = %config.events.source(config.storage.store),
        metrics_listen = ?config.observability.metrics_listen,
        "photoshare ready"
    );
}
