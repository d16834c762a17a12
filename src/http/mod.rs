//! The HTTP surface: GraphQL, the playground app, GraphiQL and its assets, health and metrics, and (embedded
//! mode) the S3 endpoint at the root, which must not be nested under a prefix: presigned signatures cover the
//! exact path. Also who the client is behind proxies, and how the server stops.

pub mod connection;
mod health;
pub mod listener;
mod proxy_protocol;
pub mod shutdown;

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};

use self::listener::Peer;
use self::shutdown::Lifecycle;
use crate::client_ip::TrustedProxies;
use crate::domain::caller::Caller;
use crate::domain::error::ApiError;
use crate::domain::rate_limit::RateLimiter;
use crate::graphql::{self, Api};
use crate::state::AppState;

mod playground;
mod request_id;
mod share;
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
}

/// What the handlers share.
#[derive(Clone)]
struct Shared {
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
    let shared = Shared {
        api,
        state,
        trusted_proxies: edge.trusted_proxies,
        lifecycle: edge.lifecycle,
        readiness: Default::default(),
        ws: edge.ws,
        body_timeout: edge.body_timeout,
        share_opens: Arc::new(RateLimiter::new(share::OPENS_COUNTED_PER_MINUTE, share::OPENS_COUNTED_BURST)),
        open_sockets: Default::default(),
    };
    let router = Router::new()
        // The API needs no large bodies (photos go straight to storage).
        .route("/graphql", post(graphql_handler).get(graphql_handler))
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

/// Largest GraphQL request body: the API needs no large bodies (photos go straight to storage).
const MAX_BODY_BYTES: usize = 1024 * 1024;

async fn graphql_handler(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    request: axum::extract::Request,
) -> Response {
    let client_ip = shared.client_ip(peer, request.headers());
    let authorization = request.headers().get(header::AUTHORIZATION).cloned();
    let started = std::time::Instant::now();
    let (status, body) = match parse_request(request, shared.body_timeout).await {
        Ok(mut request) => {
            let caller = Caller::new(client_ip, authorization.as_ref().map(HeaderValue::as_bytes));
            request.data = graphql::request_data(&shared.state, caller);
            (StatusCode::OK, shared.api.answer(request).await)
        }
        Err((status, error)) => (status, shared.api.refuse(error, started)),
    };
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/graphql-response+json"))], body)
        .into_response()
}

/// One GraphQL request from a GET query string or a POST body of at most `MAX_BODY_BYTES`; a bad one is a
/// GraphQL error with a code (and an HTTP status) that says what to fix.
async fn parse_request(
    request: axum::extract::Request,
    body_timeout: std::time::Duration,
) -> Result<async_graphql::Request, (StatusCode, ApiError)> {
    let bad = |message: String| (StatusCode::BAD_REQUEST, ApiError::BadUserInput(message));
    if request.method() == axum::http::Method::GET {
        let query = request.uri().query().unwrap_or_default();
        return async_graphql::http::parse_query_string(query)
            .map_err(|e| bad(format!("the query string is not a GraphQL request: {e}")));
    }
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let too_slow = || {
        let message = format!("the request body did not arrive within {} s: send it at once", body_timeout.as_secs());
        (StatusCode::REQUEST_TIMEOUT, ApiError::BadUserInput(message))
    };
    let body = tokio::time::timeout(body_timeout, axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES))
        .await
        .map_err(|_| too_slow())?
        .map_err(|error| {
            if connection::is_too_slow(&error) {
                return too_slow();
            }
            let message =
                format!("the request body is over {MAX_BODY_BYTES} bytes: send a smaller query (photos go to storage)");
            (StatusCode::PAYLOAD_TOO_LARGE, ApiError::BadUserInput(message))
        })?;
    // No GraphQL multipart uploads: photos go straight to storage with an upload ticket.
    let options = async_graphql::http::MultipartOptions::default().max_num_files(0).max_file_size(0);
    let batch = async_graphql::http::receive_batch_body(content_type, body.as_ref(), options)
        .await
        .map_err(|e| bad(format!("the body is not a GraphQL request (JSON with a `query`): {e}")))?;
    batch.into_single().map_err(|_| bad("batched requests are not supported: send one operation per request".into()))
}

/// Prometheus metrics of this instance.
async fn metrics(State(shared): State<Shared>) -> impl IntoResponse {
    let gauges = crate::metrics::Gauges {
        table: shared.state.services.catalog.table().stats(),
        subscriptions: shared.state.services.events.subscribers(),
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], shared.state.metrics.render(&gauges))
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
