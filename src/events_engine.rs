//! A connection to a pub/sub engine (`--events-url redis://host:port`: Valkey, or Redis 7; ElastiCache for
//! Valkey in AWS) through which instances tell each other what committed. It knows channels and payloads,
//! not what they mean (`domain::events` does).
//!
//! - **Publishing never waits.** `publish` puts the message on a bounded queue and returns; one task sends the
//!   queue in pipelined batches. A full queue, a failed send or no connection drops messages, counted in
//!   [`EngineStats`]: the engine is a fast path, the table stays the record (subscribers catch up from it).
//! - **Listening follows interest.** A channel is subscribed while something listens to it ([`Interest`]), so
//!   an instance receives only what its subscribers asked for.
//! - **Reconnects are announced.** The connection is pinged; when it drops, the engine connects again with
//!   back-off, subscribes to every channel still listened to, and calls [`Listener::missed`]: whatever was
//!   published meanwhile did not arrive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

/// Messages waiting to be published: past this, new ones are dropped (and counted).
const QUEUE: usize = 16_384;
/// Most messages sent in one pipelined round trip.
const BATCH: usize = 512;
/// Longest a connection attempt, a batch or a ping may take before the connection is given up.
const DEADLINE: Duration = Duration::from_secs(5);
/// How often the listening connection is pinged: a dead engine is noticed within this plus `DEADLINE`.
const PING: Duration = Duration::from_secs(5);
/// Longest `listen` waits for its channel to be subscribed; past it (engine down), it returns anyway and the
/// listener hears `missed` once the connection is back.
const LISTEN_WAIT: Duration = Duration::from_secs(2);
/// Reconnection back-off, doubling from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));

/// What the engine hands received messages to.
pub trait Listener: Send + Sync + 'static {
    /// A message published on `channel` (by any instance, this one included).
    fn message(&self, channel: &str, payload: &[u8]);
    /// The connection was lost and is back: messages published in between did not arrive.
    fn missed(&self);
}

/// The engine's state, for `/metrics`.
#[derive(Default)]
pub struct EngineStats {
    /// Whether the listening connection is up and subscribed.
    pub connected: AtomicBool,
    /// Messages the engine accepted.
    pub published: AtomicU64,
    /// Messages not published: queue full, no connection, or a failed send.
    pub dropped: AtomicU64,
    /// Messages received on listened channels.
    pub received: AtomicU64,
    /// Connections the listener made (the first one and every reconnect).
    pub connections: AtomicU64,
}

struct Outgoing {
    channels: Vec<String>,
    payload: String,
}

enum Command {
    Subscribe(String),
    Unsubscribe(String),
}

/// A channel listened to: by how many, and whether the engine has confirmed the subscription.
struct Listening {
    listeners: usize,
    subscribed: watch::Sender<bool>,
}

pub struct EventsEngine {
    outgoing: mpsc::Sender<Outgoing>,
    /// To the listening task, which ends when the engine is dropped.
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
}

/// What the engine and its tasks share.
#[derive(Default)]
struct Shared {
    channels: Mutex<HashMap<String, Listening>>,
    stats: EngineStats,
}

/// A channel being listened to; dropping it stops listening (when nothing else listens).
pub struct Interest {
    engine: Arc<EventsEngine>,
    channel: String,
}

impl Drop for Interest {
    fn drop(&mut self) {
        let mut channels = self.engine.shared.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(listening) = channels.get_mut(&self.channel) {
            listening.listeners -= 1;
            if listening.listeners == 0 {
                channels.remove(&self.channel);
                let _ = self.engine.commands.send(Command::Unsubscribe(self.channel.clone()));
            }
        }
    }
}

impl EventsEngine {
    /// A engine to the engine at `url` (`redis://[user:password@]host:port`, or `rediss://` for TLS):
    /// checked now, connected in the background, so the service starts (and writes) with the engine down.
    pub fn start(url: &str, listener: Arc<dyn Listener>) -> anyhow::Result<Arc<Self>> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("--events-url is not a redis:// or rediss:// URL: {e}"))?;
        let (outgoing, queue) = mpsc::channel(QUEUE);
        let (commands, received) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        tokio::spawn(publish(client.clone(), queue, shared.clone()));
        tokio::spawn(listen(client, received, shared.clone(), listener));
        Ok(Arc::new(Self { outgoing, commands, shared }))
    }

    pub fn stats(&self) -> &EngineStats {
        &self.shared.stats
    }

    /// Publish `payload` on each of `channels`, without waiting.
    pub fn publish(&self, channels: Vec<String>, payload: String) {
        if self.outgoing.try_send(Outgoing { channels, payload }).is_err() {
            self.shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Listen to `channel` until the `Interest` is dropped. Returns once the engine confirmed the subscription
    /// (so what is published from then on arrives), or after `LISTEN_WAIT` if it is unreachable.
    pub async fn listen(self: &Arc<Self>, channel: String) -> Interest {
        let mut subscribed = {
            let mut channels = self.shared.channels.lock().unwrap_or_else(|p| p.into_inner());
            let listening = channels.entry(channel.clone()).or_insert_with(|| {
                let _ = self.commands.send(Command::Subscribe(channel.clone()));
                Listening { listeners: 0, subscribed: watch::channel(false).0 }
            });
            listening.listeners += 1;
            listening.subscribed.subscribe()
        };
        let interest = Interest { engine: self.clone(), channel };
        let _ = tokio::time::timeout(LISTEN_WAIT, subscribed.wait_for(|done| *done)).await;
        interest
    }
}

impl Shared {
    fn mark_subscribed(&self, channel: &str, done: bool) {
        let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(listening) = channels.get(channel) {
            listening.subscribed.send_replace(done);
        }
    }

    fn is_listened(&self, channel: &str) -> bool {
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).contains_key(channel)
    }

    fn listened(&self) -> Vec<String> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }
}

/// Sends queued messages in pipelined batches over one multiplexed connection, made again when it fails.
async fn publish(client: redis::Client, mut queue: mpsc::Receiver<Outgoing>, shared: Arc<Shared>) {
    let stats = &shared.stats;
    let mut connection: Option<redis::aio::MultiplexedConnection> = None;
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let count = batch.len() as u64;
        if connection.is_none() {
            match tokio::time::timeout(DEADLINE, client.get_multiplexed_async_connection()).await {
                Ok(Ok(made)) => connection = Some(made),
                Ok(Err(error)) => tracing::debug!(%error, "cannot connect to the events engine to publish"),
                Err(_) => tracing::debug!("connecting to the events engine to publish timed out"),
            }
        }
        let Some(made) = connection.as_mut() else {
            stats.dropped.fetch_add(count, Ordering::Relaxed);
            batch.clear();
            continue;
        };
        let mut pipe = redis::pipe();
        for message in &batch {
            for channel in &message.channels {
                pipe.cmd("PUBLISH").arg(channel).arg(&message.payload).ignore();
            }
        }
        match tokio::time::timeout(DEADLINE, pipe.query_async::<()>(made)).await {
            Ok(Ok(())) => {
                stats.published.fetch_add(count, Ordering::Relaxed);
            }
            failed => {
                if let Ok(Err(error)) = failed {
                    tracing::warn!(%error, count, "publishing to the events engine failed");
                }
                stats.dropped.fetch_add(count, Ordering::Relaxed);
                connection = None;
            }
        }
        batch.clear();
    }
}

/// Keeps one listening connection up, subscribed to every listened channel, and hands messages over.
async fn listen(
    client: redis::Client,
    mut commands: mpsc::UnboundedReceiver<Command>,
    shared: Arc<Shared>,
    listener: Arc<dyn Listener>,
) {
    let mut backoff = BACKOFF.0;
    let mut warned = false;
    loop {
        let connected = match tokio::time::timeout(DEADLINE, client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => Ok(pubsub),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("timed out".to_string()),
        };
        let pubsub = match connected {
            Ok(pubsub) => pubsub,
            Err(error) => {
                if !warned {
                    tracing::warn!(%error, "cannot reach the events engine; retrying (subscribers catch up after)");
                    warned = true;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF.1);
                // Commands for channels meanwhile: the next connection subscribes to what is listened then.
                loop {
                    match commands.try_recv() {
                        Ok(_) => {}
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => return,
                    }
                }
                continue;
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        let channels = shared.listened();
        if !channels.is_empty() && sink.subscribe(&channels).await.is_err() {
            continue;
        }
        channels.iter().for_each(|channel| shared.mark_subscribed(channel, true));
        let reconnect = shared.stats.connections.fetch_add(1, Ordering::Relaxed) > 0;
        shared.stats.connected.store(true, Ordering::Relaxed);
        if reconnect || warned {
            tracing::info!(channels = channels.len(), "connected to the events engine again");
            listener.missed();
        }
        backoff = BACKOFF.0;
        let mut ping = tokio::time::interval(PING);
        ping.tick().await;
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => {
                        shared.stats.received.fetch_add(1, Ordering::Relaxed);
                        listener.message(message.get_channel_name(), message.get_payload_bytes());
                    }
                    None => break,
                },
                command = commands.recv() => match command {
                    // Subscribed only if still listened to (it may have been dropped already), and marked.
                    Some(Command::Subscribe(channel)) if shared.is_listened(&channel) => {
                        if sink.subscribe(&channel).await.is_err() {
                            break;
                        }
                        shared.mark_subscribed(&channel, true);
                    }
                    Some(Command::Unsubscribe(channel)) if !shared.is_listened(&channel) => {
                        if sink.unsubscribe(&channel).await.is_err() {
                            break;
                        }
                    }
                    Some(_) => {}
                    None => return,
                },
                _ = ping.tick() => {
                    if !matches!(tokio::time::timeout(DEADLINE, sink.ping::<redis::Value>()).await, Ok(Ok(_))) {
                        break;
                    }
                }
            }
        }
        shared.stats.connected.store(false, Ordering::Relaxed);
        shared.listened().iter().for_each(|channel| shared.mark_subscribed(channel, false));
        tracing::warn!("lost the events engine's connection; reconnecting");
        warned = true;
    }
}
