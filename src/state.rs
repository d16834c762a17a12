//! What the API layers (`graphql`, `http`) share: the domain's services, and what only the API needs (its
//! limits, the mutation rate limiter, metrics). Nothing here is per-instance state that another instance would
//! need: it is all in the table or the bucket.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::Services;
use crate::domain::rate_limit::RateLimiter;
use crate::metrics::Metrics;

/// The GraphQL layer's rules (deadline, response cache, introspection), from the configuration.
#[derive(Debug, Clone)]
pub struct ApiRules {
    /// Longest a query or mutation may take.
    pub request_timeout: Duration,
    /// Longest a query's answer is served again (see `graphql::response_cache`); zero: never.
    pub query_cache: Duration,
    pub introspection: bool,
    pub field_suggestions: bool,
}

pub struct AppState {
    pub services: Arc<Services>,
    pub api: ApiRules,
    /// Mutations per client address.
    pub rate_limiter: RateLimiter,
    pub metrics: Arc<Metrics>,
}
