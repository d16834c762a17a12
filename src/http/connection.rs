//! Serving connections (HTTP/1.1, with upgrades to WebSocket), each watched so that none stays open doing
//! nothing. axum's own `serve` has no timeouts at all (a half-sent header, a connection that never sends a
//! request, an idle keep-alive all stayed open for good), and hyper's header-read timeout also closes idle
//! keep-alive connections at the same deadline, which must be longer behind a load balancer. So a watchdog per
//! connection closes it:
//! - **header**: a new connection, or a kept-alive one that started a request, whose request head has not all
//!   arrived within `header` (10 s);
//! - **keep-alive**: a connection idle between requests for `keep_alive` (75 s; above an ALB's 60 s idle timeout,
//!   so the balancer, not the service, closes idle connections and never reuses one the service just closed);
//! - **stalled**: a request in flight with no byte read or written for `keep_alive` (a client not reading its
//!   response; handlers finish within the request deadline);
//! - **body pace**: a request body must start within `body` (10 s), never pause longer than that, and average
//!   at least `MIN_BODY_BYTES_PER_SECOND` after its first `body` seconds; otherwise reading it fails.
//!
//! A connection upgraded to a WebSocket leaves the watchdog: `ws` has timeouts of its own.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use super::listener::{Connection, EdgeListener, Peer};

/// A body slower than this on average (after its first `body` seconds) is refused. A phone on a poor
/// connection uploads several times faster; a client trickling bytes to hold a connection does not.
pub const MIN_BODY_BYTES_PER_SECOND: u64 = 8 * 1024;

/// The connection timeouts, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header: Duration,
    pub keep_alive: Duration,
    pub body: Duration,
}

/// Serve `router` on `listener` until `closing` completes; then stop accepting, let each connection finish
/// its request in flight (idle ones close at once), and return when all have.
pub async fn serve(
    mut listener: EdgeListener,
    router: Router,
    limits: ConnectionLimits,
    closing: impl Future<Output = ()>,
) -> io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    tokio::pin!(closing);
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut closing => break,
        };
        tokio::spawn(serve_connection(io, peer, router.clone(), limits, stopped.clone()));
    }
    drop(listener);
    let _ = stop.send(true);
    drop(stopped);
    // Every connection task holds a receiver: this returns once they have all ended.
    stop.closed().await;
    Ok(())
}

async fn serve_connection(
    io: Connection,
    peer: Peer,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let watched = Watched { inner: io, activity: Arc::clone(&activity) };
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let (router, activity) = (router.clone(), Arc::clone(&activity));
            let turn = activity.begin();
            request.extensions_mut().insert(ConnectInfo(peer));
            let request = request.map(|body| Body::new(PacedBody::new(body, limits.body)));
            async move {
                let response = router.oneshot(request).await?;
                if response.status() == hyper::StatusCode::SWITCHING_PROTOCOLS {
                    activity.upgraded.store(true, Ordering::Relaxed);
                }
                Ok::<_, std::convert::Infallible>(response.map(|body| Turn { body, _turn: turn }))
            }
        })
    };
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(watched), service).with_upgrades();
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => break,
            Ok(()) = stop.changed(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            reason = activity.expired(limits) => {
                tracing::debug!(peer = %peer.source, reason, "closing a connection");
                break;
            }
        }
    }
}

/// What a connection is doing, for its watchdog. Times are milliseconds since `opened`.
struct Activity {
    opened: Instant,
    /// Requests whose response has not been sent yet.
    in_flight: AtomicUsize,
    /// A request has been received on this connection.
    served: AtomicBool,
    /// When the last response was sent.
    idle_since: AtomicU64,
    /// When bytes of the next request first arrived while idle, plus one (0: none yet).
    reading_since: AtomicU64,
    /// When a byte was last read or written.
    last_io: AtomicU64,
    /// The connection became a WebSocket.
    upgraded: AtomicBool,
}

/// One request in flight, until its response body is dropped (sent, or abandoned).
struct RequestTurn(Arc<Activity>);

impl Drop for RequestTurn {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            activity.idle_since.store(activity.now(), Ordering::Relaxed);
            activity.reading_since.store(0, Ordering::Relaxed);
        }
    }
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            reading_since: AtomicU64::new(0),
            last_io: AtomicU64::new(0),
            upgraded: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, millis: u64) -> Instant {
        self.opened + Duration::from_millis(millis)
    }

    fn begin(self: &Arc<Self>) -> RequestTurn {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.served.store(true, Ordering::Relaxed);
        self.reading_since.store(0, Ordering::Relaxed);
        RequestTurn(Arc::clone(self))
    }

    fn read(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ = self.reading_since.compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    /// When the connection is to be closed as things stand, and why.
    fn deadline(&self, limits: ConnectionLimits) -> (Instant, &'static str) {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return (self.at(self.last_io.load(Ordering::Relaxed)) + limits.keep_alive, "stalled");
        }
        if !self.served.load(Ordering::Relaxed) {
            return (self.opened + limits.header, "no request head within the header timeout");
        }
        match self.reading_since.load(Ordering::Relaxed) {
            0 => (self.at(self.idle_since.load(Ordering::Relaxed)) + limits.keep_alive, "idle keep-alive"),
            since => (self.at(since - 1) + limits.header, "request head incomplete within the header timeout"),
        }
    }

    /// Completes when the connection has outstayed its deadline (never once upgraded). Nothing wakes it when
    /// the connection's state changes (that would cost a wake-up and a timer per request): it looks again at
    /// least every `header`, so a deadline that moved earlier (a request head started) is still met exactly.
    async fn expired(&self, limits: ConnectionLimits) -> &'static str {
        let timer = tokio::time::sleep(limits.header);
        tokio::pin!(timer);
        loop {
            if self.upgraded.load(Ordering::Relaxed) {
                return std::future::pending().await;
            }
            let now = Instant::now();
            let (deadline, reason) = self.deadline(limits);
            if deadline <= now {
                return reason;
            }
            timer.as_mut().reset(deadline.min(now + limits.header));
            timer.as_mut().await;
        }
    }
}

/// The connection's I/O, telling its `Activity` what moves.
struct Watched {
    inner: Connection,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            self.activity.read(buf.filled().len() - before);
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result
            && n > 0
        {
            self.activity.wrote();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = result
            && n > 0
        {
            self.activity.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body that holds its request's turn until it is sent.
struct Turn {
    body: Body,
    _turn: RequestTurn,
}

impl http_body::Body for Turn {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Reading a request body failed because it came too slowly (see the module's rules).
#[derive(Debug, thiserror::Error)]
#[error(
    "the request body arrived too slowly: it must start within {0} s and keep up at least {rate} KiB/s",
    rate = MIN_BODY_BYTES_PER_SECOND / 1024
)]
pub struct BodyTooSlow(pub u64);

/// Whether reading a body failed because it came too slowly.
pub fn is_too_slow(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<BodyTooSlow>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// A request body that must keep pace (see the module's rules). Its timer is made the first time the body
/// has to wait: most bodies (a GraphQL request, a GET's empty one) arrive with their head and never do.
struct PacedBody {
    inner: Incoming,
    started: Instant,
    received: u64,
    gap: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl PacedBody {
    fn new(inner: Incoming, gap: Duration) -> Self {
        Self { inner, started: Instant::now(), received: 0, gap, deadline: None }
    }

    /// The earlier of "a pause of `gap`" and "below the minimum average rate after the first `gap`": whichever
    /// comes first ends the body.
    fn next_deadline(&self) -> Instant {
        let paused = Instant::now() + self.gap;
        let slow =
            self.started + self.gap + Duration::from_secs_f64(self.received as f64 / MIN_BODY_BYTES_PER_SECOND as f64);
        paused.min(slow)
    }
}

impl http_body::Body for PacedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    let next = this.next_deadline();
                    if let Some(deadline) = &mut this.deadline {
                        deadline.as_mut().reset(next);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other.map(|result| result.map_err(Into::into))),
            Poll::Pending => {
                let next = this.next_deadline();
                let deadline = this.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(next)));
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTooSlow(this.gap.as_secs()))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
