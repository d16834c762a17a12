//! Serving, and stopping without dropping work. On the shutdown signal:
//! 1. **draining** for `drain`: `/readyz` answers 503 so load balancers take the instance out, while
//!    everything else is served as usual (HTTP/1 responses say `Connection: close`, so clients and proxies
//!    open their next connection elsewhere);
//! 2. **closing**: the port closes (new connections are refused), in-flight requests finish, idle
//!    connections close, and every WebSocket gets a close frame 1001 (going away);
//! 3. exit once all of that is done, or at `deadline` after the signal, whichever comes first.
//!
//! A write is acknowledged only by its response, which is sent after it committed; so a request cut off at
//! the deadline is one its client saw fail.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::watch;

use super::connection::ConnectionLimits;
use super::listener::EdgeListener;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Serving,
    /// Told to stop: not ready, still serving.
    Draining,
    /// Not accepting; finishing what is open.
    Closing,
}

/// Where this instance is in its life, for the handlers that behave differently while it stops.
pub struct Lifecycle {
    phase: watch::Sender<Phase>,
    /// Set by a second signal: stop waiting.
    hurry: watch::Sender<bool>,
    /// Open WebSockets: they outlive the HTTP connection they came from, so the server does not count them.
    open_sockets: watch::Sender<usize>,
}

/// Counts one open WebSocket until dropped.
pub struct OpenSocket(Arc<Lifecycle>);

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.open_sockets.send_modify(|open| *open -= 1);
    }
}

impl Lifecycle {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: watch::channel(Phase::Serving).0,
            hurry: watch::channel(false).0,
            open_sockets: watch::channel(0).0,
        })
    }

    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Changes of phase, for long-lived connections.
    pub fn watch(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// Move on to `phase`, never back.
    fn enter(&self, phase: Phase) {
        self.phase.send_if_modified(|current| {
            let later = phase > *current;
            if later {
                *current = phase;
            }
            later
        });
    }

    /// Skip the rest of the drain and the wait for open connections (a second Ctrl-C).
    pub fn hurry(&self) {
        self.hurry.send_replace(true);
    }

    async fn hurried(&self) {
        let _ = self.hurry.subscribe().wait_for(|hurry| *hurry).await;
    }

    pub fn open_socket(self: &Arc<Self>) -> OpenSocket {
        self.open_sockets.send_modify(|open| *open += 1);
        OpenSocket(Arc::clone(self))
    }

    pub fn open_sockets(&self) -> usize {
        *self.open_sockets.borrow()
    }

    async fn sockets_closed(&self) {
        let _ = self.open_sockets.subscribe().wait_for(|open| *open == 0).await;
    }
}

/// When each step of a shutdown happens.
#[derive(Debug, Clone, Copy)]
pub struct ShutdownTimings {
    /// How long readiness answers 503 before the port closes.
    pub drain: Duration,
    /// From the signal to the end, at the latest.
    pub deadline: Duration,
}

/// Serve `router` on `listener` (with the connection timeouts of `limits`) until `shutdown` completes, then
/// stop as the module explains.
pub async fn serve(
    listener: EdgeListener,
    router: Router,
    lifecycle: Arc<Lifecycle>,
    timings: ShutdownTimings,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut phase = lifecycle.watch();
    let closing = async move {
        let _ = phase.wait_for(|phase| *phase >= Phase::Closing).await;
    };
    let server = super::connection::serve(listener, router, limits, closing);
    let mut server = std::pin::pin!(server);

    tokio::select! {
        result = &mut server => return result,
        () = shutdown => {}
    }
    let signalled = Instant::now();
    lifecycle.enter(Phase::Draining);
    tracing::info!(
        drain = ?timings.drain,
        deadline = ?timings.deadline,
        "shutting down: /readyz answers 503; serving on while load balancers notice (a second Ctrl-C stops at once)"
    );
    tokio::select! {
        result = &mut server => return result,
        () = tokio::time::sleep(timings.drain) => {}
        () = lifecycle.hurried() => {}
    }

    lifecycle.enter(Phase::Closing);
    tracing::info!(
        open_websockets = lifecycle.open_sockets(),
        "no longer accepting connections; finishing requests in flight, closing WebSockets with 1001"
    );
    let finished = async {
        let result = (&mut server).await;
        lifecycle.sockets_closed().await;
        result
    };
    let remaining = timings.deadline.saturating_sub(signalled.elapsed());
    tokio::select! {
        biased;
        result = finished => {
            tracing::info!(took = ?signalled.elapsed(), "stopped: every connection finished");
            result
        }
        () = tokio::time::sleep(remaining) => {
            tracing::warn!(
                open_websockets = lifecycle.open_sockets(),
                "stopping at the shutdown deadline ({:?}) with connections still open", timings.deadline
            );
            Ok(())
        }
        () = lifecycle.hurried() => {
            tracing::warn!(open_websockets = lifecycle.open_sockets(), "second signal: stopping without waiting for open connections");
            Ok(())
        }
    }
}

/// Middleware: while draining, answer HTTP/1 requests with `Connection: close`, so the next request goes
/// out on a fresh connection, which the load balancer sends to an instance that is staying.
pub(super) async fn close_connections_while_draining(
    State(lifecycle): State<Arc<Lifecycle>>,
    request: Request,
    next: Next,
) -> Response {
    let http1 = request.version() <= Version::HTTP_11;
    let mut response = next.run(request).await;
    // 101: the connection is becoming a WebSocket, and its `Connection: upgrade` must stay.
    if http1 && lifecycle.phase() != Phase::Serving && response.status() != StatusCode::SWITCHING_PROTOCOLS {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
