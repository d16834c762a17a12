//! Answers to read-only queries, kept for a moment: many clients ask for the same gallery page or photo at
//! once, and executing one costs about ten times the HTTP round trip (async-graphql resolves and serialises
//! every field on its own). An answer knows the photos it holds (`Holdings`, filled as it executes) and is
//! reused while none of them changed since its execution began, nor which photos a list holds (a new, edited
//! or deleted photo), as `domain::freshness` counts the events of this instance's commits and those that
//! reach it from others; and for at most the configured lifetime, which bounds how long a write made through
//! another instance may stay unseen (index reads on DynamoDB are eventually consistent anyway). So a comment
//! on photo X ends the answers that hold X, and the gallery pages without X stay.
//!
//! Only the answers `cacheable` allows are kept: they depend on the stored data alone.
//!
//! When a write ends a hot answer, the requests that come next all miss at once: they make one execution
//! (`flight`). The first computes the answer; the others wait for it, if it began at their tick or later (so
//! it includes any write they made). Under a stream of writes, executions follow the writes, not the reads.
//!
//! Kept in a `quick_cache` bounded by bytes: its S3-FIFO eviction keeps the gallery's few hot answers while a
//! client asks one-off queries by the thousand (the hand-written map it replaced started over when full).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;
use uuid::Uuid;

use super::cacheable::Key;
use crate::domain::freshness::Freshness;

/// Bytes of answers and their keys kept in all.
const CAPACITY_BYTES: u64 = 4 * 1024 * 1024;
/// About how many answers that is (a gallery page of 20 is about 10 KB).
const ESTIMATED_ENTRIES: usize = 256;
/// Larger answers are not kept.
const MAX_ANSWER_BYTES: usize = 32 * 1024;

/// The photos an answer holds, noted by the resolvers that give them out (or look for one, found or not), as
/// its execution goes: the answer is true while they and the lists stay as they were.
#[derive(Default)]
pub struct Holdings(Mutex<Vec<Uuid>>);

impl Holdings {
    pub fn hold(&self, photos: impl IntoIterator<Item = Uuid>) {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend(photos);
    }

    fn taken(&self) -> Arc<[Uuid]> {
        let mut photos = std::mem::take(&mut *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        photos.sort_unstable();
        photos.dedup();
        photos.into()
    }
}

/// What an execution found: its answer and the photos it holds.
pub struct Computed {
    pub body: Bytes,
    pub holdings: Arc<Holdings>,
}

#[derive(Clone)]
struct Entry {
    body: Bytes,
    /// The tick when the answer's execution began.
    since: u64,
    /// The photos it holds.
    photos: Arc<[Uuid]>,
    /// When its execution began: its data is no older than this.
    computed: Instant,
}

/// An entry weighs its bytes.
#[derive(Clone)]
struct Bytesize;

impl quick_cache::Weighter<Key, Entry> for Bytesize {
    fn weight(&self, key: &Key, entry: &Entry) -> u64 {
        let photos = entry.photos.len() * size_of::<Uuid>();
        (key.bytes() + entry.body.len() + photos) as u64 + 1
    }
}

pub struct ResponseCache {
    lifetime: Duration,
    entries: quick_cache::sync::Cache<Key, Entry, Bytesize>,
    /// Answers being computed, by key: the tick each began at, and where its answer will be.
    flights: Mutex<Flights>,
}

/// Answers being computed: the tick each began at, and where its answer will be.
type Flights = HashMap<Key, (u64, watch::Receiver<Option<Bytes>>)>;

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
    since: u64,
    answer: watch::Sender<Option<Bytes>>,
}

impl Leader<'_> {
    /// The answer computed from `computed` on: kept, and handed to every request waiting for it. `None` (an
    /// answer with errors) is not kept, and they compute their own.
    pub fn land(self, computed: Instant, answer: Option<Computed>) {
        if let Some(Computed { body, holdings }) = answer {
            self.cache.put(self.key.clone(), self.since, computed, body.clone(), holdings.taken());
            self.answer.send_replace(Some(body));
        }
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut flights = self.cache.flights.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Another flight of this key began at a later tick (never at the same one while this one is up).
        if flights.get(&self.key).is_some_and(|(began, _)| *began == self.since) {
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

    /// The answer to `key`, if one was computed less than a lifetime ago and nothing it holds has changed.
    pub fn get(&self, key: &Key, freshness: &Freshness) -> Option<Bytes> {
        let entry = self.entries.get(key)?;
        (entry.computed.elapsed() < self.lifetime && freshness.unchanged_since(entry.since, &entry.photos))
            .then(|| entry.body.clone())
    }

    /// For a request begun at tick `since` whose answer `get` did not have: wait for the same answer being
    /// computed from data at least as new (a computation that began at an older tick may miss this request's
    /// own write), or compute it. When a write ends a hot answer, the requests that come for it next make one
    /// execution, not one each.
    pub fn flight(&self, key: Key, since: u64) -> Flight<'_> {
        let mut flights = self.flights.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((began, answer)) = flights.get(&key)
            && *began >= since
        {
            return Flight::Follow(Follower(answer.clone()));
        }
        let (sender, receiver) = watch::channel(None);
        flights.insert(key.clone(), (since, receiver));
        Flight::Lead(Leader { cache: self, key, since, answer: sender })
    }

    /// Keep `body`, the answer to `key` holding `photos`, whose execution began at `computed`, at tick `since`
    /// (both read before any data was). An answer begun earlier does not replace one begun later (two racing
    /// puts may still leave the older: that costs a miss, never a stale answer, as `get` checks its photos).
    fn put(&self, key: Key, since: u64, computed: Instant, body: Bytes, photos: Arc<[Uuid]>) {
        if !self.enabled() || body.len() > MAX_ANSWER_BYTES {
            return;
        }
        if self.entries.peek(&key).is_some_and(|kept| kept.since > since) {
            return;
        }
        self.entries.insert(key, Entry { body, since, photos, computed });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(query: &str) -> Option<Key> {
        super::super::cacheable::tests::key(query)
    }

    fn keep(cache: &ResponseCache, key: &Key, since: u64, body: &'static [u8], photos: &[Uuid]) {
        cache.put(key.clone(), since, Instant::now(), Bytes::from_static(body), photos.into());
    }

    fn comment_on(photo_id: Uuid) -> crate::catalog::Event {
        crate::catalog::Event::CommentRemoved { photo_id, id: Uuid::new_v4() }
    }

    #[test]
    fn an_answer_is_reused_while_its_photos_are_unchanged_and_within_its_lifetime() {
        let (cache, freshness) = (ResponseCache::new(Duration::from_millis(200)), Freshness::default());
        let (shown, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let key = key("{ photos { nodes { id } } }").expect("cacheable");
        keep(&cache, &key, freshness.now(), b"{}", &[shown]);
        assert_eq!(cache.get(&key, &freshness).as_deref(), Some(&b"{}"[..]));
        freshness.changed(&comment_on(other));
        assert_eq!(cache.get(&key, &freshness).as_deref(), Some(&b"{}"[..]), "another photo's comment");
        freshness.changed(&comment_on(shown));
        assert_eq!(cache.get(&key, &freshness), None, "a comment on a photo it holds");

        keep(&cache, &key, freshness.now(), b"{}", &[shown]);
        freshness.changed(&crate::catalog::Event::PhotoRemoved(other));
        assert_eq!(cache.get(&key, &freshness), None, "a list may hold other photos now");

        keep(&cache, &key, freshness.now(), b"{}", &[shown]);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(cache.get(&key, &freshness), None, "older than its lifetime");
    }

    #[test]
    fn the_lifetime_counts_from_when_execution_began() {
        let (cache, freshness) = (ResponseCache::new(Duration::from_millis(200)), Freshness::default());
        let key = key("{ photos { nodes { id } } }").expect("cacheable");
        let long_ago = Instant::now() - Duration::from_millis(300);
        cache.put(key.clone(), 0, long_ago, Bytes::from_static(b"{}"), Arc::new([]));
        assert_eq!(cache.get(&key, &freshness), None, "its data is older than the lifetime");
    }

    #[test]
    fn a_slower_older_answer_does_not_replace_a_newer_one() {
        let (cache, freshness) = (ResponseCache::new(Duration::from_secs(60)), Freshness::default());
        let key = key("{ photos { nodes { id } } }").expect("cacheable");
        freshness.changed(&comment_on(Uuid::from_u128(9)));
        keep(&cache, &key, 1, b"new", &[]);
        keep(&cache, &key, 0, b"old", &[]);
        assert_eq!(cache.get(&key, &freshness).as_deref(), Some(&b"new"[..]));
    }

    #[test]
    fn a_flood_of_one_off_queries_keeps_the_hot_answer_and_stays_bounded() {
        let (cache, freshness) = (ResponseCache::new(Duration::from_secs(60)), Freshness::default());
        let hot = key("{ photos(first: 20) { nodes { id } } }").expect("cacheable");
        let page = Bytes::from(vec![b'x'; 10_000]);
        cache.put(hot.clone(), 0, Instant::now(), page.clone(), Arc::new([]));
        for _ in 0..3 {
            assert!(cache.get(&hot, &freshness).is_some());
        }
        for n in 0..5_000 {
            let one_off = key(&format!("{{ photo(id: \"{n}\") {{ name }} }}")).expect("cacheable");
            cache.put(one_off, 0, Instant::now(), page.clone(), Arc::new([Uuid::from_u128(n)]));
            if n % 100 == 0 {
                assert!(
                    cache.get(&hot, &freshness).is_some(),
                    "the gallery page is still kept after {n} one-off answers"
                );
            }
        }
        assert!(cache.entries.weight() <= CAPACITY_BYTES, "{} bytes kept", cache.entries.weight());
    }

    #[tokio::test]
    async fn requests_that_miss_together_wait_for_one_execution_from_data_as_new_as_theirs() {
        let cache = ResponseCache::new(Duration::from_secs(60));
        let key = key("{ photos { nodes { id } } }").expect("cacheable");
        let Flight::Lead(leader) = cache.flight(key.clone(), 5) else { panic!("the first computes") };
        let Flight::Follow(same) = cache.flight(key.clone(), 5) else { panic!("the same tick waits") };
        let Flight::Follow(older) = cache.flight(key.clone(), 4) else { panic!("an older one waits too") };
        let waiting = tokio::spawn(async move { (same.answer().await, older.answer().await) });
        let holdings = Arc::new(Holdings::default());
        holdings.hold([Uuid::from_u128(1)]);
        leader.land(Instant::now(), Some(Computed { body: Bytes::from_static(b"page"), holdings }));
        let (same, older) = waiting.await.unwrap();
        assert_eq!((same.as_deref(), older.as_deref()), (Some(&b"page"[..]), Some(&b"page"[..])));
        let freshness = Freshness::default();
        (0..5).for_each(|_| freshness.changed(&comment_on(Uuid::from_u128(2))));
        assert_eq!(cache.get(&key, &freshness).as_deref(), Some(&b"page"[..]), "and kept");
        freshness.changed(&comment_on(Uuid::from_u128(1)));
        assert_eq!(cache.get(&key, &freshness), None, "until a photo it holds changes");
        assert!(matches!(cache.flight(key.clone(), 5), Flight::Lead(_)), "a landed flight is over");

        // After a write (a later tick), an answer begun before it is not waited for: it may lack the write.
        let Flight::Lead(_before) = cache.flight(key.clone(), 6) else { panic!("computes") };
        let Flight::Lead(after) = cache.flight(key.clone(), 7) else { panic!("a later request computes its own") };
        let Flight::Follow(later) = cache.flight(key.clone(), 7) else { panic!("and is waited for") };
        drop(after);
        assert_eq!(later.answer().await, None, "a leader gone without an answer lets its followers go");
    }

    #[test]
    fn a_zero_lifetime_keeps_nothing() {
        let (cache, freshness) = (ResponseCache::new(Duration::ZERO), Freshness::default());
        let key = key("{ photos { nodes { id } } }").expect("cacheable");
        keep(&cache, &key, 0, b"{}", &[]);
        assert_eq!(cache.get(&key, &freshness), None);
    }
}
