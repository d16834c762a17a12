//! Fan-out of new photos and comments to the subscribers of this instance. In embedded mode whatever commits
//! is published at once; in AWS mode a follower reads the table's event feed and publishes everything from it,
//! what committed here or on any other instance, in commit order. Events are de-duplicated by id, so no
//! subscriber sees one twice.
//!
//! Why a feed in the table rather than DynamoDB Streams: a stream shard allows two concurrent readers, so a
//! third instance would break it; a query per poll on the current minute's partition works for any number of
//! instances. Cost per instance with subscribers: one strongly consistent query per `POLL_INTERVAL` (about
//! 2.5 read units a second) plus the events of the last `LOOKBACK`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use uuid::Uuid;

use crate::catalog::{Catalog, Event};

/// How often the follower reads the feed: the delivery delay across instances is about half of this on
/// average, plus one query.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Each poll re-reads this much before the previous poll began: a transaction stamped earlier may commit later.
const LOOKBACK: chrono::Duration = chrono::Duration::seconds(2);
/// After failed or slow polls, a poll catches up at most this far back (well within `REMEMBER`, so nothing
/// read again is delivered twice).
const MAX_CATCH_UP: chrono::Duration = chrono::Duration::seconds(30);
/// And reads this far ahead, for instances whose clocks run ahead.
const LOOKAHEAD: chrono::Duration = chrono::Duration::seconds(10);
/// Ids are remembered this long, well past `LOOKBACK + LOOKAHEAD`, to drop what was seen already.
const REMEMBER: Duration = Duration::from_secs(60);
/// Events a slow subscriber may fall behind by before it is disconnected (and can resume with a cursor).
const CAPACITY: usize = 4_096;

pub struct EventHub {
    sender: broadcast::Sender<Arc<Event>>,
    seen: Mutex<Seen>,
    /// Set once the hub follows the table's feed: then everything, this instance's commits included, is
    /// delivered from the feed, in commit order (see `committed`).
    follows_feed: std::sync::atomic::AtomicBool,
    /// Events delivered so far: counted before delivery, so a cached answer older than an event a
    /// subscriber reacts to is never served (see `graphql::response_cache`).
    delivered: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Seen {
    ids: HashMap<Uuid, Instant>,
    order: VecDeque<(Instant, Uuid)>,
}

impl Seen {
    /// Remember `id`; false if it was known already.
    fn insert(&mut self, id: Uuid, now: Instant) -> bool {
        while let Some((at, old)) = self.order.front().copied() {
            if now.duration_since(at) < REMEMBER {
                break;
            }
            self.order.pop_front();
            self.ids.remove(&old);
        }
        if self.ids.insert(id, now).is_some() {
            return false;
        }
        self.order.push_back((now, id));
        true
    }
}

impl EventHub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            sender: broadcast::channel(CAPACITY).0,
            seen: Mutex::default(),
            follows_feed: Default::default(),
            delivered: Default::default(),
        })
    }

    /// Something committed on this instance. Without a feed (embedded mode) it is delivered at once. With one,
    /// it comes from the feed like everything else: delivering local commits first would let a subscriber see
    /// a later comment before an earlier one from another instance, and a client that resumes `after` the
    /// later one would skip the earlier. From the feed, a photo's comments arrive in commit order.
    pub fn committed(&self, event: Event) {
        if !self.follows_feed.load(std::sync::atomic::Ordering::Relaxed) {
            self.publish(event);
        }
    }

    /// Deliver `event` to every current subscriber, unless it was delivered before.
    pub fn publish(&self, event: Event) {
        let fresh = match self.seen.lock() {
            Ok(mut seen) => seen.insert(event.id(), Instant::now()),
            Err(poisoned) => poisoned.into_inner().insert(event.id(), Instant::now()),
        };
        if fresh {
            self.delivered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // An error only means nobody is subscribed right now.
            let _ = self.sender.send(Arc::new(event));
        }
    }

    /// Events delivered so far (those of other instances included, in AWS mode).
    pub fn delivered(&self) -> u64 {
        self.delivered.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// Subscriptions open on this instance right now.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Follow the table's event feed (AWS mode), publishing what other instances committed.
    pub fn follow_feed(self: &Arc<Self>, catalog: Catalog) -> tokio::task::JoinHandle<()> {
        self.follows_feed.store(true, std::sync::atomic::Ordering::Relaxed);
        let hub = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(POLL_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            // When the last successful poll began: the next one reads from there (less `LOOKBACK`), however
            // long it had to wait, so a slow or failed poll does not leave a gap.
            let mut previous: Option<chrono::DateTime<chrono::Utc>> = None;
            loop {
                ticker.tick().await;
                if hub.subscribers() == 0 {
                    previous = None;
                    continue;
                }
                let now = chrono::Utc::now();
                let from = previous.unwrap_or(now).max(now - MAX_CATCH_UP) - LOOKBACK;
                match catalog.events_between(from, now + LOOKAHEAD).await {
                    Ok(events) => {
                        previous = Some(now);
                        if failing {
                            tracing::info!("event feed readable again");
                            failing = false;
                        }
                        events.into_iter().for_each(|event| hub.publish(event));
                    }
                    Err(error) if !failing => {
                        tracing::warn!(%error, "cannot read the event feed; subscribers miss other instances' events until it recovers");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
        })
    }
}

/// The events `receiver` gets, until it falls too far behind (its subscriber is then disconnected, and can
/// resume with `after`).
pub fn stream(receiver: broadcast::Receiver<Arc<Event>>) -> impl futures_util::Stream<Item = Arc<Event>> {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        match receiver.recv().await {
            Ok(event) => Some((event, receiver)),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "subscriber fell behind; closing its subscription");
                None
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_remembered_for_a_while_then_forgotten() {
        let mut seen = Seen::default();
        let (a, b, start) = (Uuid::new_v4(), Uuid::new_v4(), Instant::now());
        assert!(seen.insert(a, start));
        assert!(!seen.insert(a, start + Duration::from_secs(1)));
        assert!(seen.insert(b, start + Duration::from_secs(30)));
        assert!(seen.insert(a, start + REMEMBER + Duration::from_secs(1)), "forgotten after REMEMBER");
        assert!(!seen.insert(b, start + REMEMBER + Duration::from_secs(1)));
    }
}
