//! What every request shares: the catalog, the bucket and the limits. Nothing here is per-instance state
//! that another instance would need: it is all in the table or the bucket.

use std::sync::Arc;
use std::time::Duration;

use crate::blob::BlobStore;
use crate::catalog::Catalog;
use crate::domain::events::EventHub;
use crate::domain::rate_limit::RateLimiter;
use crate::metrics::Metrics;

/// Limits and lifetimes from the configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_upload_bytes: u64,
    pub upload_ticket: Duration,
    pub view_url: Duration,
    /// WebSocket pings, timeouts and bounds.
    pub ws: crate::http::ws::WsLimits,
    /// Longest a GraphQL request's body may take to arrive.
    pub body_timeout: Duration,
    /// Longest a query or mutation may take.
    pub request_timeout: Duration,
    /// Longest a query's answer is served again (see `graphql::response_cache`); zero: never.
    pub query_cache: Duration,
    pub introspection: bool,
    pub field_suggestions: bool,
}

pub struct AppState {
    pub catalog: Catalog,
    /// New photos and comments, for subscribers on this instance.
    pub events: Arc<EventHub>,
    pub blobs: BlobStore,
    pub limits: Limits,
    /// Where clients reach this service (for links it hands out).
    pub public_url: String,
    /// Mutations per client address.
    pub rate_limiter: RateLimiter,
    pub metrics: Arc<Metrics>,
}
