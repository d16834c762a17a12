//! The HTTP surface: GraphQL, the playground app, GraphiQL and its assets, health and metrics, and (embedded
//! mode) the S3 endpoint at the root, which must not be nested under a prefix: presigned signatures cover the
//! exact path. Also who the client is behind proxies, and how the server stops.

pub mod client_ip;
mod health;
pub mod listener;
mod proxy_protocol;
pub mod shutdown;

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};

use self::client_ip::TrustedProxies;
use self::listener::Peer;
use self::shutdown::Lifecycle;
use crate::graphql::{self, PhotoSchema};
use crate::state::AppState;

mod playground;
mod request_id;
mod share;
mod ws;

/// The HTTP layer's place in the network and in the instance's life.
pub struct Edge {
    /// Whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<TrustedProxies>,
    pub lifecycle: Arc<Lifecycle>,
}

/// What the handlers share.
#[derive(Clone)]
struct Shared {
    schema: PhotoSchema,
    state: Arc<AppState>,
    trusted_proxies: Arc<TrustedProxies>,
    lifecycle: Arc<Lifecycle>,
    readiness: Arc<health::Readiness>,
}

/// The router. `object_store` serves every path no route claims (embedded mode's S3 endpoint).
pub fn router(
    schema: PhotoSchema,
    state: Arc<AppState>,
    object_store: Option<s3s::service::S3Service>,
    edge: Edge,
) -> Router {
    let lifecycle = edge.lifecycle.clone();
    let shared = Shared {
        schema,
        state,
        trusted_proxies: edge.trusted_proxies,
        lifecycle: edge.lifecycle,
        readiness: Default::default(),
    };
    let router = Router::new()
        // The API needs no large bodies (photos go straight to storage).
        .route("/graphql", post(graphql_handler).get(graphql_handler).layer(DefaultBodyLimit::max(1024 * 1024)))
        .route("/graphql/ws", get(ws::graphql_ws))
        .route("/graphiql", get(graphiql))
        .route("/graphiql/assets/{file}", get(graphiql_asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics))
        .route("/s/{token}", get(share::open_share))
        .route("/", get(playground::index))
        .route("/app/{file}", get(playground::asset))
        .with_state(shared);
    let router = match object_store {
        Some(s3) => router.fallback_service(axum::error_handling::HandleError::new(s3, object_store_error)),
        None => router,
    };
    // The API is public and uses no cookies: any origin may call it, and browsers may POST uploads to the
    // embedded object store from any page.
    router
        .layer(axum::middleware::from_fn(request_id::request_id))
        .layer(CorsLayer::new().allow_origin(Any).allow_methods(Any).allow_headers(Any).expose_headers(Any))
        .layer(axum::middleware::from_fn_with_state(lifecycle, shutdown::close_connections_while_draining))
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

async fn graphql_handler(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let mut request = request.into_inner();
    request.data = graphql::request_data(&shared.state, shared.client_ip(peer, &headers));
    graphql::with_codes(shared.schema.execute(request).await).into()
}

/// Prometheus metrics of this instance.
async fn metrics(State(shared): State<Shared>) -> impl IntoResponse {
    let gauges = crate::metrics::Gauges {
        table: shared.state.catalog.table().stats(),
        subscriptions: shared.state.events.subscribers(),
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], shared.state.metrics.render(&gauges))
}

async fn graphiql() -> Html<&'static str> {
    Html(include_str!("../../playground/graphiql/index.html"))
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
