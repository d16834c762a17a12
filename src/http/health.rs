//! Health endpoints for load balancers and orchestrators.
//! - `/healthz` (liveness): the process serves HTTP. It calls no backend, so a DynamoDB or S3 outage never
//!   gets healthy processes restarted.
//! - `/readyz` (readiness): this instance should get traffic: it is not shutting down, and the table and the
//!   bucket each answered a cheap call (a GetItem of an item that never exists, a HeadBucket). Probes run
//!   in the background, at most one a second however many checkers poll, and the check answers from the
//!   latest one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use super::Shared;
use super::shutdown::Phase;
use crate::domain::Services;

/// How long a probe's answer is reused.
const REUSE_FOR: Duration = Duration::from_secs(1);
/// A backend slower than this counts as down (a load balancer's own check times out after a few seconds).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The last probe of the backends, shared by every `/readyz` request.
#[derive(Default)]
pub(super) struct Readiness {
    last: watch::Sender<Option<Probe>>,
    /// A probe is running: nobody starts another.
    probing: AtomicBool,
}

#[derive(Debug, Clone)]
struct Probe {
    finished: Instant,
    outcome: Result<(), Unready>,
}

/// Why the backends are not ready: `what` for the checker, `detail` for the log.
#[derive(Debug, Clone)]
struct Unready {
    what: &'static str,
    detail: String,
}

pub(super) async fn healthz() -> Response {
    plain(StatusCode::OK, "ok")
}

pub(super) async fn readyz(State(shared): State<Shared>) -> Response {
    if shared.lifecycle.phase() != Phase::Serving {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "draining");
    }
    match shared.readiness.check(&shared.state.services).await {
        Ok(()) => plain(StatusCode::OK, "ready"),
        Err(unready) => plain(StatusCode::SERVICE_UNAVAILABLE, unready.what),
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response {
    let headers = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
    (status, headers, format!("{body}\n")).into_response()
}

impl Readiness {
    /// The outcome of the last probe, starting a new one in the background when it is `REUSE_FOR` old. Only
    /// the very first check waits for a probe: a slow backend must not make the check itself slow (every
    /// instance shares the backends, so checks timing out everywhere at once would take them all out).
    async fn check(self: &Arc<Self>, services: &Arc<Services>) -> Result<(), Unready> {
        let due = self.last.borrow().as_ref().is_none_or(|probe| probe.finished.elapsed() >= REUSE_FOR);
        if due && !self.probing.swap(true, Ordering::AcqRel) {
            let (readiness, services) = (Arc::clone(self), Arc::clone(services));
            tokio::spawn(async move { readiness.refresh(&services).await });
        }
        let mut last = self.last.subscribe();
        let probe = last.wait_for(Option::is_some).await;
        match probe.as_deref() {
            Ok(Some(probe)) => probe.outcome.clone(),
            // The sender lives as long as `self`.
            _ => Err(Unready { what: "not probed", detail: String::new() }),
        }
    }

    async fn refresh(&self, services: &Services) {
        let outcome = probe(services).await;
        // Log changes only: a checker polling a broken backend every second would flood the log.
        let was = self.last.borrow().as_ref().map(|probe| probe.outcome.as_ref().err().map(|unready| unready.what));
        if was != Some(outcome.as_ref().err().map(|unready| unready.what)) {
            match &outcome {
                Ok(()) => tracing::info!("ready: the table and the bucket answer"),
                Err(unready) => tracing::warn!(what = unready.what, detail = %unready.detail, "not ready"),
            }
        }
        self.last.send_replace(Some(Probe { finished: Instant::now(), outcome }));
        self.probing.store(false, Ordering::Release);
    }
}

async fn probe(services: &Services) -> Result<(), Unready> {
    let table = tokio::time::timeout(PROBE_TIMEOUT, services.catalog.probe());
    let bucket = tokio::time::timeout(PROBE_TIMEOUT, services.blobs.check_bucket());
    let (table, bucket) = tokio::join!(table, bucket);
    let unready = |what, detail: String| Err(Unready { what, detail });
    match table {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => return unready("table unreachable", error.to_string()),
        Err(_) => return unready("table unreachable", format!("no answer within {PROBE_TIMEOUT:?}")),
    }
    match bucket {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => unready("bucket unreachable", error.to_string()),
        Err(_) => unready("bucket unreachable", format!("no answer within {PROBE_TIMEOUT:?}")),
    }
}
