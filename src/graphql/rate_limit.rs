//! Mutations per client address (`domain::rate_limit`): over the limit, `RATE_LIMITED` with
//! `extensions.retryAfter` in seconds.

use std::time::Instant;

use async_graphql::{Context, ErrorExtensions, Guard, Result};

use super::{client_ip, state};
use crate::domain::error::ErrorCode;

/// Guard on every mutation field.
pub struct MutationLimit;

impl Guard for MutationLimit {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let ip = client_ip(ctx)?;
        state(ctx)?.rate_limiter.take(ip, Instant::now()).map_err(|wait| {
            let seconds = wait.as_secs() + 1;
            async_graphql::Error::new(format!("too many changes from {ip}; retry in {seconds} s")).extend_with(
                |_, ext| {
                    ext.set("code", ErrorCode::RateLimited.as_str());
                    ext.set("retryAfter", seconds);
                },
            )
        })
    }
}
