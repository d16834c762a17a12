//! Fan-out of what commits (photos, comments, edits, removals) to the subscribers of this instance, in one of
//! three ways, by configuration:
//!
//! - **Through an engine** (`--events-url`, any store): each commit is delivered here at once and published to
//!   Valkey/Redis (`events_engine`), on a channel for photos, one for all comments and one per photo; an instance
//!   listens only to the channels its subscribers need, and reads nothing from the table while idle. The
//!   engine may lose messages (a restart, a dropped connection, an instance that dies between commit and
//!   publish); the table stays the record. A photo's comment stream knows exactly which comment precedes
//!   each one (`AddedComment::previous`), so it notices a gap and reads the missed comments from the table
//!   (`comment_stream`); after a reconnect every such stream catches up from its cursor. Streams without a
//!   cursor (all comments, photos) get what the engine carries.
//! - **Embedded, alone**: whatever commits is delivered at once.
//! - **AWS without an engine**: a follower reads the table's event feed and delivers everything from it, what
//!   committed here or on any other instance, in commit order. Why a feed rather than DynamoDB Streams: a
//!   stream shard allows two concurrent readers, so a third instance would break it. The feed's ceiling
//!   (`benches/capacity.rs`): all events go to one partition per minute, about 500 a second for the whole
//!   service (each is 2 write units, in a transaction), and every instance with subscribers reads the last
//!   `LOOKBACK` of events every `POLL_INTERVAL`, about 1 read unit a second per event a second: N instances ×
//!   E events a second must stay under about 3,000 (10 instances: 300 a second; 100: 30). Past that, use an
//!   engine.
//!
//! Events are de-duplicated by id, so no subscriber sees one twice.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use uuid::Uuid;

use super::freshness::Freshness;
use crate::catalog::{Catalog, Event};
use crate::events_engine::{EventsEngine, Interest, Listener};

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

/// What subscribers hear.
#[derive(Debug)]
pub enum Notice {
    Event(Event),
    /// Events may have been missed (the engine's connection was lost and is back): streams that can catch
    /// up from the table do.
    Missed,
}

/// What a subscriber listens to: the engine's channel for it is subscribed while it does.
#[derive(Debug, Clone, Copy)]
pub enum Topic {
    /// New, processed, edited and deleted photos.
    Photos,
    /// Every photo's new and deleted comments.
    Comments,
    /// One photo's new and deleted comments.
    Photo(Uuid),
}

pub struct EventHub {
    sender: broadcast::Sender<Arc<Notice>>,
    seen: Mutex<Seen>,
    /// Set once the hub follows the table's feed: then everything, this instance's commits included, is
    /// delivered from the feed, in commit order (see `committed`).
    follows_feed: std::sync::atomic::AtomicBool,
    /// What changed since when: stamped as a commit here is made, and before an event is delivered, so a
    /// cached answer older than a change a client made or a subscriber reacts to is never served.
    freshness: Freshness,
    /// The engine, and the prefix of this deployment's channels on it.
    engine: std::sync::OnceLock<(Arc<EventsEngine>, String)>,
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
            freshness: Freshness::default(),
            engine: Default::default(),
        })
    }

    /// Publish and listen through the engine at `url`, on channels named `<namespace>:…` (so deployments
    /// sharing an engine stay apart). Connects in the background.
    pub fn connect_engine(self: &Arc<Self>, url: &str, namespace: &str) -> anyhow::Result<()> {
        let engine = EventsEngine::start(url, Arc::new(Forward(Arc::downgrade(self))))?;
        let _ = self.engine.set((engine, namespace.to_string()));
        Ok(())
    }

    /// The engine, if events go through one.
    pub fn engine(&self) -> Option<&EventsEngine> {
        self.engine.get().map(|(engine, _)| &**engine)
    }

    fn channel(namespace: &str, topic: Topic) -> String {
        match topic {
            Topic::Photos => format!("{namespace}:photos"),
            Topic::Comments => format!("{namespace}:comments"),
            Topic::Photo(id) => format!("{namespace}:photo:{id}"),
        }
    }

    /// The topics `event` is published on.
    fn topics(event: &Event) -> Vec<Topic> {
        match event {
            Event::Photo(_) | Event::PhotoUpdated(_) | Event::PhotoEdited { .. } | Event::PhotoRemoved(_) => {
                vec![Topic::Photos]
            }
            Event::Comment(added) => vec![Topic::Comments, Topic::Photo(added.comment.photo_id)],
            Event::CommentRemoved { photo_id, .. } => vec![Topic::Comments, Topic::Photo(*photo_id)],
        }
    }

    /// Hear what is published on `topic` (and everything else delivered here) until the result is dropped.
    /// Returns once the engine listens for it, so nothing published from then on is missed.
    pub async fn listen(&self, topic: Topic) -> Listening {
        let receiver = self.sender.subscribe();
        let interest = match self.engine.get() {
            Some((engine, namespace)) => Some(engine.listen(Self::channel(namespace, topic)).await),
            None => None,
        };
        Listening { receiver, _interest: interest }
    }

    /// Something committed on this instance. Without a feed (embedded mode) it is delivered at once. With one,
    /// it comes from the feed like everything else: delivering local commits first would let a subscriber see
    /// a later comment before an earlier one from another instance, and a client that resumes `after` the
    /// later one would skip the earlier. From the feed, a photo's comments arrive in commit order.
    ///
    /// Through an engine, it is delivered here at once and published for the other instances, without
    /// waiting: their subscribers notice what the engine loses (see the module doc).
    pub fn committed(&self, event: Event) {
        // At once, even when delivery waits for the feed: the client that made it sees it in what it reads next.
        self.freshness.changed(&event);
        if self.follows_feed.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        if let Some((engine, namespace)) = self.engine.get() {
            let channels = Self::topics(&event).into_iter().map(|topic| Self::channel(namespace, topic)).collect();
            engine.publish(channels, event.to_message());
        }
        self.publish(event);
    }

    /// Deliver `event` to every current subscriber, unless it was delivered before.
    pub fn publish(&self, event: Event) {
        let fresh = match self.seen.lock() {
            Ok(mut seen) => seen.insert(event.id(), Instant::now()),
            Err(poisoned) => poisoned.into_inner().insert(event.id(), Instant::now()),
        };
        if fresh {
            self.freshness.changed(&event);
            // An error only means nobody is subscribed right now.
            let _ = self.sender.send(Arc::new(Notice::Event(event)));
        }
    }

    /// What changed since when, on this instance and on those whose events reach it.
    pub fn freshness(&self) -> &Freshness {
        &self.freshness
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

/// Hands what the engine carries to the hub (weakly: the hub owns the engine).
struct Forward(std::sync::Weak<EventHub>);

impl Listener for Forward {
    fn message(&self, channel: &str, payload: &[u8]) {
        let Some(hub) = self.0.upgrade() else { return };
        match Event::from_message(payload) {
            Ok(event) => hub.publish(event),
            Err(error) => tracing::warn!(%error, channel, "ignoring an unreadable event from the engine"),
        }
    }

    fn missed(&self) {
        if let Some(hub) = self.0.upgrade() {
            let _ = hub.sender.send(Arc::new(Notice::Missed));
        }
    }
}

/// A subscriber's view of the hub (`EventHub::listen`).
pub struct Listening {
    receiver: broadcast::Receiver<Arc<Notice>>,
    _interest: Option<Interest>,
}

impl Listening {
    /// The next notice; `Notice::Missed` also when this subscriber fell too far behind. `None` once the hub
    /// is gone.
    pub async fn next(&mut self) -> Option<Arc<Notice>> {
        match self.receiver.recv().await {
            Ok(notice) => Some(notice),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "subscriber fell behind");
                Some(Arc::new(Notice::Missed))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The events heard, until this subscriber falls too far behind or misses some: it is then disconnected
    /// (and can resume with a cursor, or read what it missed).
    pub fn events(self) -> impl futures_util::Stream<Item = Arc<Notice>> {
        futures_util::stream::unfold(self, |mut listening| async move {
            let notice = listening.next().await?;
            (!matches!(*notice, Notice::Missed)).then_some((notice, listening))
        })
    }
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
