//! The HTTP surface: GraphQL, the playground app, GraphiQL and its assets, health, and (embedded mode) the S3
//! endpoint at the root, which must not be nested under a prefix: presigned signatures cover the exact path.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};

use crate::graphql::{self, PhotoSchema};
use crate::state::AppState;

mod playground;
mod share;
mod ws;

/// What the handlers share.
#[derive(Clone)]
struct Shared {
    schema: PhotoSchema,
    state: Arc<AppState>,
}

/// The router. `object_store` serves every path no route claims (embedded mode's S3 endpoint).
pub fn router(schema: PhotoSchema, state: Arc<AppState>, object_store: Option<s3s::service::S3Service>) -> Router {
    let router = Router::new()
        // The API needs no large bodies (photos go straight to storage).
        .route("/graphql", post(graphql_handler).get(graphql_handler).layer(DefaultBodyLimit::max(1024 * 1024)))
        .route("/graphql/ws", get(ws::graphql_ws))
        .route("/graphiql", get(graphiql))
        .route("/graphiql/assets/{file}", get(graphiql_asset))
        .route("/healthz", get(|| async { "ok" }))
        .route("/s/{token}", get(share::open_share))
        .route("/", get(playground::index))
        .route("/app/{file}", get(playground::asset))
        .with_state(Shared { schema, state });
    let router = match object_store {
        Some(s3) => router.fallback_service(axum::error_handling::HandleError::new(s3, object_store_error)),
        None => router,
    };
    // The API is public and uses no cookies: any origin may call it, and browsers may POST uploads to the
    // embedded object store from any page.
    router.layer(CorsLayer::new().allow_origin(Any).allow_methods(Any).allow_headers(Any).expose_headers(Any))
}

async fn object_store_error(error: s3s::HttpError) -> (StatusCode, &'static str) {
    tracing::error!(?error, "embedded object store failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "object store error")
}

/// The client's address: the TCP peer, IPv4-mapped IPv6 addresses shown as IPv4.
pub fn peer_ip(peer: SocketAddr) -> IpAddr {
    match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

async fn graphql_handler(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let mut request = request.into_inner();
    request.data = graphql::request_data(&shared.state, peer_ip(peer));
    graphql::with_codes(shared.schema.execute(request).await).into()
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
