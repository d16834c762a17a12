//! Automatic persisted queries, Apollo's protocol: a client sends `extensions.persistedQuery = { version: 1,
//! sha256Hash }` without the query; if this instance knows the hash it runs that query, otherwise it answers
//! `PERSISTED_QUERY_NOT_FOUND` and the client sends the query with its hash once, which registers it (after
//! the hash is checked and the document passed the limits). Queries then travel as a 64-character hash, in a
//! GET a CDN can cache. The store is per instance and bounded (a client whose hash was evicted, or that lands
//! on another instance, registers it again); async-graphql's `ApolloPersistedQueries` extension is not used
//! because extensions cost a third of a request's CPU time here (docs/benchmarks.md, "Load").

use sha2::{Digest, Sha256};

use crate::domain::error::ApiError;

/// Bytes of query text kept in all (a query is at most 16 KiB: `limits::MAX_QUERY_BYTES`).
const CAPACITY_BYTES: u64 = 4 * 1024 * 1024;
const ESTIMATED_QUERIES: usize = 1024;

/// What the request's `persistedQuery` extension asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hash([u8; 32]);

/// Registered queries by their SHA-256.
pub struct PersistedQueries {
    queries: quick_cache::sync::Cache<[u8; 32], String, QueryBytes>,
}

#[derive(Clone)]
struct QueryBytes;

impl quick_cache::Weighter<[u8; 32], String> for QueryBytes {
    fn weight(&self, _hash: &[u8; 32], query: &String) -> u64 {
        query.len() as u64 + 32
    }
}

impl Default for PersistedQueries {
    fn default() -> Self {
        Self { queries: quick_cache::sync::Cache::with_weighter(ESTIMATED_QUERIES, CAPACITY_BYTES, QueryBytes) }
    }
}

/// The hash a request's extensions name, if they have a `persistedQuery`; an error saying what is wrong with it.
pub fn requested(extensions: &serde_json::Map<String, serde_json::Value>) -> Result<Option<Hash>, ApiError> {
    let Some(persisted) = extensions.get("persistedQuery") else { return Ok(None) };
    let shape = "extensions.persistedQuery must be { \"version\": 1, \"sha256Hash\": \"<64 hex digits>\" }";
    let persisted = persisted.as_object().ok_or_else(|| ApiError::bad_input(shape))?;
    match persisted.get("version").and_then(serde_json::Value::as_i64) {
        Some(1) => {}
        Some(version) => {
            return Err(ApiError::bad_input(format!("persistedQuery version {version} is not supported: use 1")));
        }
        None => return Err(ApiError::bad_input(shape)),
    }
    let hex =
        persisted.get("sha256Hash").and_then(serde_json::Value::as_str).ok_or_else(|| ApiError::bad_input(shape))?;
    let mut hash = [0u8; 32];
    hex::decode_to_slice(hex, &mut hash).map_err(|_| ApiError::bad_input(shape))?;
    Ok(Some(Hash(hash)))
}

impl PersistedQueries {
    /// The query to run for `hash`: the one sent, after checking that `hash` is its SHA-256 (then it is
    /// yours to [`Self::register`] once it passed the limits), or the registered one if none was sent.
    pub fn query(&self, hash: Hash, sent: Option<String>) -> Result<String, ApiError> {
        match sent {
            Some(query) if Sha256::digest(query.as_bytes()).as_slice() == hash.0 => Ok(query),
            Some(_) => Err(ApiError::bad_input(
                "persistedQuery.sha256Hash is not the SHA-256 of the query: hash the query text exactly as sent",
            )),
            None => self.queries.get(&hash.0).ok_or(ApiError::PersistedQueryNotFound),
        }
    }

    /// Keep `query` (whose SHA-256 is `hash`, checked by [`Self::query`]) for requests that send only the hash.
    pub fn register(&self, hash: Hash, query: &str) {
        if self.queries.peek(&hash.0).is_none() {
            self.queries.insert(hash.0, query.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn extensions(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_query_is_registered_under_its_own_hash_only() {
        let store = PersistedQueries::default();
        let query = "{ photos { nodes { id } } }";
        let hex = hex::encode(Sha256::digest(query));
        let hash = requested(&extensions(json!({ "persistedQuery": { "version": 1, "sha256Hash": hex } })))
            .unwrap()
            .expect("a persisted query");
        assert!(matches!(store.query(hash, None), Err(ApiError::PersistedQueryNotFound)));
        assert!(matches!(store.query(hash, Some("{ __typename }".into())), Err(ApiError::BadUserInput(_))));
        assert_eq!(store.query(hash, Some(query.into())).unwrap(), query);
        store.register(hash, query);
        assert_eq!(store.query(hash, None).unwrap(), query);
    }

    #[test]
    fn malformed_extensions_say_what_is_expected() {
        assert_eq!(requested(&extensions(json!({}))).unwrap(), None);
        for bad in [
            json!({ "persistedQuery": "abc" }),
            json!({ "persistedQuery": { "version": 1 } }),
            json!({ "persistedQuery": { "version": 1, "sha256Hash": "xyz" } }),
            json!({ "persistedQuery": { "sha256Hash": "00".repeat(32) } }),
            json!({ "persistedQuery": { "version": 2, "sha256Hash": "00".repeat(32) } }),
        ] {
            assert!(matches!(requested(&extensions(bad)), Err(ApiError::BadUserInput(_))));
        }
    }

    #[test]
    fn the_store_is_bounded() {
        let store = PersistedQueries::default();
        let query = "x".repeat(16 * 1024);
        for n in 0u32..1_000 {
            let mut hash = [0u8; 32];
            hash[..4].copy_from_slice(&n.to_be_bytes());
            store.register(Hash(hash), &query);
        }
        assert!(store.queries.weight() <= CAPACITY_BYTES);
    }
}
