//! The HTTP surface: GraphQL, the playground app, GraphiQL and its assets, health and metrics (metrics on a
//! port of their own with `--metrics-listen`: `serve_metrics`), and (embedded mode) the S3 endpoint at the root,
//! which must not be nested under a prefix: presigned signatures cover the exact path. Also who the client is
//! behind proxies, and how the server stops.

pub mod connection;
mod health;
mod links;
pub mod listener;
mod proxy_protocol;
pub mod shutdown;

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};

use self::listener::Peer;
use self::shutdown::Lifecycle;
use crate::client_ip::TrustedProxies;
use crate::domain::rate_limit::RateLimiter;
use crate::graphql::Api;
use crate::state::AppState;

mod graphql_http;
mod playground;
mod request_id;
pub mod ws;
mod ws_protocol;

/// The HTTP layer's place in the network and in the instance's life.
pub struct Edge {
    /// Whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<TrustedProxies>,
    pub lifecycle: Arc<Lifecycle>,
    /// WebSocket timings and bounds.
    pub ws: ws::WsLimits,
    /// Longest a GraphQL request's body may take to arrive.
    pub body_timeout: std::time::Duration,
    /// Whether `/metrics` is served here; not when it has a listener of its own (`serve_metrics`).
    pub metrics_here: bool,
}

/// What the handlers share. Cloned for every request (axum's state, each middleware's): one reference count,
/// not one per part (a dozen atomic counts bounced between cores cost the `{ __typename }` floor about 4%).
#[derive(Clone)]
struct Shared(Arc<SharedParts>);

impl std::ops::Deref for Shared {
    type Target = SharedParts;

    fn deref(&self) -> &SharedParts {
        &self.0
    }
}

struct SharedParts {
    api: Api,
    state: Arc<AppState>,
    trusted_proxies: Arc<TrustedProxies>,
    lifecycle: Arc<Lifecycle>,
    readiness: Arc<health::Readiness>,
    ws: ws::WsLimits,
    body_timeout: std::time::Duration,
    /// Share-link opens counted per client address (`share`).
    share_opens: Arc<RateLimiter>,
    /// WebSockets open per client address (`ws`).
    open_sockets: Arc<ws::OpenSockets>,
}

/// The router. `object_store` serves every path no route claims (embedded mode's S3 endpoint).
pub fn router(api: Api, state: Arc<AppState>, object_store: Option<s3s::service::S3Service>, edge: Edge) -> Router {
    let lifecycle = edge.lifecycle.clone();
    // A 404 of our own when metrics are served elsewhere: the embedded object store would answer for a bucket.
    let metrics = match edge.metrics_here {
        true => get(metrics).with_state(state.clone()),
        false => get(StatusCode::NOT_FOUND),
    };
    let shared = Shared(Arc::new(SharedParts {
        api,
        state,
        trusted_proxies: edge.trusted_proxies,
        lifecycle: edge.lifecycle,
        readiness: Default::default(),
        ws: edge.ws,
        body_timeout: edge.body_timeout,
        share_opens: Arc::new(RateLimiter::new(links::OPENS_COUNTED_PER_MINUTE, links::OPENS_COUNTED_BURST)),
        open_sockets: Default::default(),
    }));
    let router = Router::new()
        // The API needs no large bodies (photos go straight to storage).
        .route("/graphql", post(graphql_http::handler).get(graphql_http::handler))
        .route("/graphql/ws", get(ws::graphql_ws))
        .route("/graphiql", get(graphiql))
        .route("/graphiql/assets/{file}", get(graphiql_asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", metrics)
        .route("/s/{token}", get(links::open_share))
        .route("/p/{id}", get(links::open_photo))
        .route("/", get(playground::index))
        .route("/app/{file}", get(playground::asset))
        .with_state(shared);
    let router = match object_store {
        Some(s3) => {
            let store = Router::new()
                .fallback_service(axum::error_handling::HandleError::new(s3, object_store_error))
                .layer(axum::middleware::map_response(log_object_store_refusal));
            router.fallback_service(store)
        }
        None => router,
    };
    // The API is public and uses no cookies: any origin may call it, and browsers may POST uploads to the
    // embedded object store from any page.
    router
        .layer(axum::middleware::from_fn(request_id::request_id))
        .layer(CorsLayer::new().allow_origin(Any).allow_methods(Any).allow_headers(Any).expose_headers(Any))
        .layer(axum::middleware::from_fn_with_state(lifecycle, shutdown::close_connections_while_draining))
}

/// A refusal of the embedded object store is the client's fault (a warning); its failures are errors. The
/// request's span names the method and path.
async fn log_object_store_refusal(response: Response) -> Response {
    let status = response.status();
    if status.is_client_error() {
        tracing::warn!(%status, "embedded object store refused a request");
    } else if status.is_server_error() {
        tracing::error!(%status, "embedded object store failed a request");
    }
    response
}

async fn object_store_error(error: s3s::HttpError) -> (StatusCode, &'static str) {
    tracing::error!(?error, "embedded object store failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "object store error")
}

impl Shared {
    /// The client's address: the peer (or whom its PROXY header names), unless that is a trusted proxy;
    /// then what the proxies' `X-Forwarded-For` entries say (see [`client_ip`]).
    fn client_ip(&self, peer: Peer, headers: &HeaderMap) -> IpAddr {
        let forwarded_for = headers.get_all("x-forwarded-for").iter().filter_map(|value| value.to_str().ok());
        self.trusted_proxies.client_ip(peer.source.ip(), forwarded_for)
    }
}

/// Serve `/metrics` alone on `listener` (`--metrics-listen`), with the public port's connection `limits`, until
/// the instance stops accepting connections (`shutdown`).
pub async fn serve_metrics(
    listener: listener::EdgeListener,
    state: Arc<AppState>,
    lifecycle: Arc<Lifecycle>,
    limits: connection::ConnectionLimits,
) -> std::io::Result<()> {
    let router = Router::new().route("/metrics", get(metrics)).with_state(state);
    let mut phase = lifecycle.watch();
    let closing = async move {
        let _ = phase.wait_for(|phase| *phase >= shutdown::Phase::Closing).await;
    };
    connection::serve(listener, router, limits, closing).await
}

/// Prometheus metrics of this instance.
async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let gauges = crate::metrics::Gauges {
        table: state.services.catalog.table().stats(),
        subscriptions: state.services.events.subscribers(),
        processing: &state.services.processing.counts,
        engine: state.services.events.engine().map(|engine| engine.stats()),
    };
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], state.metrics.render(&gauges))
}

/// GraphiQL's page loads its scripts and styles from this server only, and talks to this server only
/// (`'self'` covers its WebSocket too); its editor sets styles from script, which `style-src` allows.
const GRAPHIQL_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async fn graphiql() -> impl IntoResponse {
    let policy = (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(GRAPHIQL_POLICY));
    ([policy], Html(include_str!("../../playground/graphiql/index.html")))
}

/// The vendored GraphiQL files, embedded in the binary so it works offline.
const GRAPHIQL_ASSETS: &[(&str, &str, &[u8])] = &[
    ("react.production.min.js", "text/javascript", include_bytes!("../../playground/graphiql/react.production.min.js")),
    (
        "react-dom.production.min.js",
        "text/javascript",
        include_bytes!("../../playground/graphiql/react-dom.production.min.js"),
    ),
    ("graphiql.min.js", "text/javascript", include_bytes!("../../playground/graphiql/graphiql.min.js")),
    ("graphiql.min.css", "text/css", include_bytes!("../../playground/graphiql/graphiql.min.css")),
    ("graphql-ws.min.js", "text/javascript", include_bytes!("../../playground/graphiql/graphql-ws.min.js")),
    ("page.css", "text/css", include_bytes!("../../playground/graphiql/page.css")),
    ("start.js", "text/javascript", include_bytes!("../../playground/graphiql/start.js")),
];

async fn graphiql_asset(Path(file): Path<String>) -> Result<Response, Infallible> {
    let Some((_, content_type, bytes)) = GRAPHIQL_ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
    ];
    Ok((headers, *bytes).into_response())
}
