//! GraphQL API settings: how long an operation may run, how long an answer is reused, what the schema tells
//! about itself; and access: who is an admin, how often one address may write.

use std::collections::HashSet;
use std::time::Duration;

use clap::Args;

use crate::domain::caller::OwnerKeyHash;
use crate::domain::rate_limit::RateLimiter;
use crate::state::ApiRules;

/// The GraphQL layer's settings: deadline, response cache, introspection (`state::ApiRules`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "GraphQL API")]
pub struct ApiSettings {
    /// Seconds a GraphQL query or mutation may take; then it fails with `UNAVAILABLE` (a backend is too slow).
    #[arg(long, global = true, env = "PHOTOSHARE_REQUEST_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub request_timeout_seconds: u64,
    /// Milliseconds an answer to a read-only `photos`/`photo` query may be served again to identical
    /// requests (0: never). A change through this instance to a photo it holds, or to which photos a list
    /// holds, ends it at once; this bounds how long a write through another instance may go unseen here.
    #[arg(long, global = true, env = "PHOTOSHARE_QUERY_CACHE_MILLIS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub query_cache_millis: u64,
    /// Answer introspection queries (GraphiQL needs them; production may turn them off).
    #[arg(long, global = true, env = "PHOTOSHARE_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// Suggest field names in validation errors ("did you mean …?").
    #[arg(long, global = true, env = "PHOTOSHARE_FIELD_SUGGESTIONS", default_value_t = true, action = clap::ArgAction::Set)]
    pub field_suggestions: bool,
}

impl ApiSettings {
    /// What the GraphQL layer enforces.
    pub fn rules(&self) -> ApiRules {
        ApiRules {
            request_timeout: Duration::from_secs(self.request_timeout_seconds),
            query_cache: Duration::from_millis(self.query_cache_millis),
            introspection: self.introspection,
            field_suggestions: self.field_suggestions,
        }
    }
}

/// Who may change anything, and how often one client address may write.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Access")]
pub struct AccessSettings {
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
}

impl AccessSettings {
    /// The mutation rate limit per client address.
    pub fn rate_limiter(&self) -> RateLimiter {
        RateLimiter::new(self.mutations_per_minute, self.mutation_burst)
    }

    /// The admins' owner keys, by hash (each checked by the parser: 64 hex digits).
    pub fn admins(&self) -> HashSet<OwnerKeyHash> {
        self.admin_key_sha256.iter().filter_map(|hash| OwnerKeyHash::from_hex(hash)).collect()
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
