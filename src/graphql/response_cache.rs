//! Answers to read-only queries, kept for a moment: many clients ask for the same gallery page or photo at
//! once, and executing one costs about ten times the HTTP round trip (async-graphql resolves and serialises
//! every field on its own). An answer is reused only while nothing was written through this instance since
//! it was computed (the table's write count and the events delivered are its generation) and for at most
//! the configured lifetime, which bounds how long a write made through another instance may stay unseen
//! (index reads on DynamoDB are eventually consistent anyway). While this instance has subscribers, it also
//! follows the event feed, and another instance's new photo or comment ends the cached answers before a
//! subscriber here hears of it.
//!
//! Only operations whose root fields are all in [`CACHEABLE_ROOTS`] are kept: their answers depend on the
//! stored data alone (not on the caller, nor on the clock: `Photo.url` links are signed per 5-minute window).
//!
//! A write ends every kept answer, and the requests that come next all miss at once: they make one
//! execution (`flight`). The first computes the answer; the others wait for it, if it began at their
//! generation or later (so it includes any write they made). Under a stream of writes, executions follow
//! the writes, not the reads.
//!
//! Kept in a `quick_cache` bounded by bytes: its S3-FIFO eviction keeps the gallery's few hot answers while a
//! client asks one-off queries by the thousand (the hand-written map it replaced started over when full).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_graphql::parser::types::{ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet};
use bytes::Bytes;
use tokio::sync::watch;

/// Root fields whose answers are a function of the stored photos and comments. Not `shareLink`: its `opens`
/// counts visits, which are not GraphQL writes. These answers are also `public` to HTTP caches
/// (`over_http`): a field that depends on the caller must make its answer uncacheable here first.
const CACHEABLE_ROOTS: &[&str] = &["photos", "photo"];
/// Bytes of answers and their keys kept in all.
const CAPACITY_BYTES: u64 = 4 * 1024 * 1024;
/// About how many answers that is (a gallery page of 20 is about 10 KB).
const ESTIMATED_ENTRIES: usize = 256;
/// Larger answers are not kept.
const MAX_ANSWER_BYTES: usize = 32 * 1024;
/// Nor answers to larger requests (query text and variables): keys stay small too.
const MAX_KEY_BYTES: usize = 8 * 1024;

/// What identifies an answer: the request exactly as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    query: String,
    operation_name: Option<String>,
    /// The variables as JSON (they are kept in name order, so equal variables give equal text).
    variables: String,
}

impl Key {
    /// The key of `request` (with these `variables`), whose operation [`is_cacheable`]; none for a request
    /// too large to keep.
    pub fn new(request: &async_graphql::Request, variables: &async_graphql::Variables) -> Option<Self> {
        if request.query.len() > MAX_KEY_BYTES {
            return None;
        }
        let variables = serde_json::to_string(variables).ok()?;
        (request.query.len() + variables.len() <= MAX_KEY_BYTES).then(|| Self {
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables,
        })
    }
}

/// Fields whose value depends on who asks: a document with any of them gets answers for its caller alone.
const CALLER_FIELDS: &[&str] = &["viewerCanEdit", "viewerCanDelete"];

/// Whether the operation that runs is a query asking only for [`CACHEABLE_ROOTS`] (directly, not through
/// fragments: clients rarely spread fragments at the root, and checking them is not worth it), and the
/// document nowhere asks for a [`CALLER_FIELDS`] field.
pub fn is_cacheable(document: &ExecutableDocument, operation: Option<&OperationDefinition>) -> bool {
    let Some(operation) = operation else { return false };
    !asks_for_caller_fields(document)
        && operation.ty == OperationType::Query
        && operation.selection_set.node.items.iter().all(|item| match &item.node {
            Selection::Field(field) => CACHEABLE_ROOTS.contains(&field.node.name.node.as_str()),
            _ => false,
        })
}

/// Whether any operation or fragment of `document` selects a field that depends on the caller (the
/// document's depth is bounded by `limits` before this runs).
fn asks_for_caller_fields(document: &ExecutableDocument) -> bool {
    fn any(set: &SelectionSet) -> bool {
        set.items.iter().any(|item| match &item.node {
            Selection::Field(field) => {
                CALLER_FIELDS.contains(&field.node.name.node.as_str()) || any(&field.node.selection_set.node)
            }
            Selection::InlineFragment(inline) => any(&inline.node.selection_set.node),
            Selection::FragmentSpread(_) => false,
        })
    }
    document.operations.iter().any(|(_, operation)| any(&operation.node.selection_set.node))
        || document.fragments.values().any(|fragment| any(&fragment.node.selection_set.node))
}

#[derive(Clone)]
struct Entry {
    body: Bytes,
    /// The generation when the answer's execution began.
    generation: u128,
    /// When its execution began: its data is no older than this.
    computed: Instant,
}

/// An entry weighs its bytes.
#[derive(Clone)]
struct Bytesize;

impl quick_cache::Weighter<Key, Entry> for Bytesize {
    fn weight(&self, key: &Key, entry: &Entry) -> u64 {
        (key.query.len() + key.variables.len() + entry.body.len()) as u64 + 1
    }
}

pub struct ResponseCache {
    lifetime: Duration,
    entries: quick_cache::sync::Cache<Key, Entry, Bytesize>,
    /// Answers being computed, by key: the generation each began at, and where its answer will be.
    flights: std::sync::Mutex<Flights>,
}

/// Answers being computed: the generation each began at, and where its answer will be.
type Flights = HashMap<Key, (u128, watch::Receiver<Option<Bytes>>)>;

/// What a request whose answer is not kept does (`ResponseCache::flight`).
pub enum Flight<'a> {
    /// Compute it, and `land` it for those waiting.
    Lead(Leader<'a>),
    /// Wait for the answer another request is computing, from data at least as new as this request's.
    Follow(Follower),
}

/// The request computing an answer others may wait for. Dropped without landing (it failed, or its client
/// went away), it lets them go and compute their own.
pub struct Leader<'a> {
    cache: &'a ResponseCache,
    key: Key,
    generation: u128,
    answer: watch::Sender<Option<Bytes>>,
}

impl Leader<'_> {
    /// The answer computed from `computed` on: kept, and handed to every request waiting for it. `None` (an
    /// answer with errors) is not kept, and they compute their own.
    pub fn land(self, computed: Instant, body: Option<Bytes>) {
        if let Some(body) = body {
            self.cache.put(self.key.clone(), self.generation, computed, body.clone());
            self.answer.send_replace(Some(body));
        }
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut flights = self.cache.flights.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Another flight of this key began at a later generation (never at the same one while this one is up).
        if flights.get(&self.key).is_some_and(|(began, _)| *began == self.generation) {
            flights.remove(&self.key);
        }
    }
}

pub struct Follower(watch::Receiver<Option<Bytes>>);

impl Follower {
    /// The leader's answer; `None` if it had none to give.
    pub async fn answer(mut self) -> Option<Bytes> {
        self.0.wait_for(Option::is_some).await.ok().and_then(|answer| answer.clone())
    }
}

impl ResponseCache {
    /// Answers live at most `lifetime`; zero turns the cache off.
    pub fn new(lifetime: Duration) -> Self {
        let entries = quick_cache::sync::Cache::with_weighter(ESTIMATED_ENTRIES, CAPACITY_BYTES, Bytesize);
        Self { lifetime, entries, flights: Default::default() }
    }

    pub fn enabled(&self) -> bool {
        !self.lifetime.is_zero()
    }

    /// The answer to `key`, if one was computed at `generation` less than a lifetime ago.
    pub fn get(&self, key: &Key, generation: u128) -> Option<Bytes> {
        let entry = self.entries.get(key)?;
        (entry.generation == generation && entry.computed.elapsed() < self.lifetime).then(|| entry.body.clone())
    }

    /// For a request at `generation` whose answer `get` did not have: wait for the same answer being computed
    /// from data at least as new (a computation that began at an older generation may miss this request's
    /// own write), or compute it. When a write ends a hot answer, the requests that come for it next make one
    /// execution, not one each.
    pub fn flight(&self, key: Key, generation: u128) -> Flight<'_> {
        let mut flights = self.flights.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((began, answer)) = flights.get(&key)
            && *began >= generation
        {
            return Flight::Follow(Follower(answer.clone()));
        }
        let (sender, receiver) = watch::channel(None);
        flights.insert(key.clone(), (generation, receiver));
        Flight::Lead(Leader { cache: self, key, generation, answer: sender })
    }

    /// Keep `body`, the answer to `key` whose execution began at `computed`, at `generation` (both read
    /// before any data was). An answer of an earlier generation does not replace a later one (two racing puts
    /// may still leave the older: that costs a miss, never a stale answer, as `get` asks for its generation).
    pub fn put(&self, key: Key, generation: u128, computed: Instant, body: Bytes) {
        if !self.enabled() || body.len() > MAX_ANSWER_BYTES {
            return;
        }
        if self.entries.peek(&key).is_some_and(|kept| kept.generation > generation) {
            return;
        }
        self.entries.insert(key, Entry { body, generation, computed });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(query: &str) -> Option<Key> {
        let document = async_graphql::parser::parse_query(query).expect("query parses");
        let operation = crate::graphql::observe::selected(&document, None);
        let request = async_graphql::Request::new(query);
        is_cacheable(&document, operation).then(|| Key::new(&request, &request.variables)).flatten()
    }

    #[test]
    fn only_queries_of_photos_are_cacheable() {
        assert!(key("{ photos(first: 2) { nodes { id } } }").is_some());
        assert!(key("query P { photo(id: \"x\") { name } }").is_some());
        assert!(key("{ __typename }").is_none(), "nothing to save");
        assert!(key("{ photos(first: 2) { nodes { id viewerCanEdit } } }").is_none(), "the caller's own");
        let spread =
            "{ photo(id: \"x\") { ...F } } fragment F on Photo { comments(first: 1) { nodes { viewerCanDelete } } }";
        assert!(key(spread).is_none(), "the caller's own, through a fragment");
        assert!(key("{ shareLink(token: \"t\") { opens } }").is_none(), "opens changes without a GraphQL write");
        assert!(key("{ photos { nodes { id } } shareLink(token: \"t\") { opens } }").is_none());
        assert!(key("mutation { revokeShareLink(token: \"t\") }").is_none());
        assert!(key("subscription { photoAdded { id } }").is_none());
        assert!(key("{ ...Root } fragment Root on Query { photos { nodes { id } } }").is_none());
    }

    #[test]
    fn the_named_operation_decides() {
        let query = "query A { photos { nodes { id } } } mutation B { revokeShareLink(token: \"t\") }";
        let document = async_graphql::parser::parse_query(query).expect("query parses");
        assert!(is_cacheable(&document, crate::graphql::observe::selected(&document, Some("A"))));
        assert!(!is_cacheable(&document, crate::graphql::observe::selected(&document, Some("B"))));
    }

    #[test]
    fn an_answer_is_reused_only_at_its_generation_and_within_its_lifetime() {
        let cache = ResponseCache::new(Duration::from_millis(200));
        let key = key("{ photos { nodes { id } } }").expect("cacheable");
        cache.put(key.clone(), 7, Instant::now(), Bytes::from_static(b"{}"));
        assert_eq!(cache.get(&key, 7).as_deref(), Some(&b"{}"[..]));
        assert_eq!(cache.get(&key, 8), None, "a write happened since");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(cache.get(&key, 7), None, "older than its lifetime");
    }

    #[test]
    fn the_lifetime_counts_from_when_execution_began() {
        let cache = ResponseCache::new(Duration::from_millis(200));
        let key = key("{ photos { nodes { id } } }").expect("cacheable");
        let long_ago = Instant::now() - Duration::from_millis(300);
        cache.put(key.clone(), 1, long_ago, Bytes::from_static(b"{}"));
        assert_eq!(cache.get(&key, 1), None, "its data is older than the lifetime");
    }

    #[test]
    fn a_slower_older_answer_does_not_replace_a_newer_one() {
        let cache = ResponseCache::new(Duration::from_secs(60));
        let key = key("{ photos { nodes { id } } }").expect("cacheable");
        cache.put(key.clone(), 2, Instant::now(), Bytes::from_static(b"new"));
        cache.put(key.clone(), 1, Instant::now(), Bytes::from_static(b"old"));
        assert_eq!(cache.get(&key, 2).as_deref(), Some(&b"new"[..]));
    }

    #[test]
    fn a_flood_of_one_off_queries_keeps_the_hot_answer_and_stays_bounded() {
        let cache = ResponseCache::new(Duration::from_secs(60));
        let hot = key("{ photos(first: 20) { nodes { id } } }").expect("cacheable");
        let page = Bytes::from(vec![b'x'; 10_000]);
        cache.put(hot.clone(), 1, Instant::now(), page.clone());
        for _ in 0..3 {
            assert!(cache.get(&hot, 1).is_some());
        }
        for n in 0..5_000 {
            let one_off = key(&format!("{{ photo(id: \"{n}\") {{ name }} }}")).expect("cacheable");
            cache.put(one_off, 1, Instant::now(), page.clone());
            if n % 100 == 0 {
                assert!(cache.get(&hot, 1).is_some(), "the gallery page is still kept after {n} one-off answers");
            }
        }
        assert!(cache.entries.weight() <= CAPACITY_BYTES, "{} bytes kept", cache.entries.weight());
    }

    #[test]
    fn variables_are_part_of_the_key() {
        let query = "query($first: Int) { photos(first: $first) { nodes { id } } }";
        let with = |first: i32| {
            let variables = async_graphql::Variables::from_json(serde_json::json!({ "first": first }));
            let request = async_graphql::Request::new(query).variables(variables);
            Key::new(&request, &request.variables).expect("a key")
        };
        assert_eq!(with(2), with(2));
        assert_ne!(with(2), with(3));
    }

    #[test]
    fn large_requests_are_not_kept() {
        let padded = format!("{{ photos {{ nodes {{ id }} }} }} #{}", "x".repeat(MAX_KEY_BYTES));
        assert!(key(&padded).is_none(), "a long query text");
        let variables = async_graphql::Variables::from_json(serde_json::json!({ "pad": "x".repeat(MAX_KEY_BYTES) }));
        let request = async_graphql::Request::new("{ photos { nodes { id } } }").variables(variables);
        assert!(Key::new(&request, &request.variables).is_none());
    }

    #[tokio::test]
    async fn requests_that_miss_together_wait_for_one_execution_from_data_as_new_as_theirs() {
        let cache = ResponseCache::new(Duration::from_secs(60));
        let key = key("{ photos { nodes { id } } }").expect("cacheable");
        let Flight::Lead(leader) = cache.flight(key.clone(), 5) else { panic!("the first computes") };
        let Flight::Follow(same) = cache.flight(key.clone(), 5) else { panic!("the same generation waits") };
        let Flight::Follow(older) = cache.flight(key.clone(), 4) else { panic!("an older one waits too") };
        let waiting = tokio::spawn(async move { (same.answer().await, older.answer().await) });
        leader.land(Instant::now(), Some(Bytes::from_static(b"page")));
        let (same, older) = waiting.await.unwrap();
        assert_eq!((same.as_deref(), older.as_deref()), (Some(&b"page"[..]), Some(&b"page"[..])));
        assert_eq!(cache.get(&key, 5).as_deref(), Some(&b"page"[..]), "and kept");
        assert!(matches!(cache.flight(key.clone(), 5), Flight::Lead(_)), "a landed flight is over");

        // After a write (a newer generation), an answer begun before it is not waited for: it may lack the write.
        let Flight::Lead(_before) = cache.flight(key.clone(), 6) else { panic!("computes") };
        let Flight::Lead(after) = cache.flight(key.clone(), 7) else { panic!("a later request computes its own") };
        let Flight::Follow(later) = cache.flight(key.clone(), 7) else { panic!("and is waited for") };
        drop(after);
        assert_eq!(later.answer().await, None, "a leader gone without an answer lets its followers go");
    }

    #[test]
    fn a_zero_lifetime_keeps_nothing() {
        let cache = ResponseCache::new(Duration::ZERO);
        let key = key("{ photos { nodes { id } } }").expect("cacheable");
        cache.put(key.clone(), 1, Instant::now(), Bytes::from_static(b"{}"));
        assert_eq!(cache.get(&key, 1), None);
    }
}
