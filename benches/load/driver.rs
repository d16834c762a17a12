//! Closed-loop load: `connections` workers, each with its own HTTP connection, sending one request after
//! another through a warm-up and then a measured window. Every response is checked: anything but a 200
//! whose JSON has `data` and no `errors` is a failure. `post` parses the answer; the load runs check it
//! without parsing (`answered`), so the load generator takes less of the cores it shares with the service:
//! parsing a 14 KB gallery answer was about a third of its CPU per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::IgnoredAny;

/// The JSON body of request number `n` of a run.
pub type Body = Arc<dyn Fn(u64) -> String + Send + Sync>;

/// What one run measured.
pub struct Outcome {
    /// Successful responses completed in the measured window.
    pub ok: u64,
    /// Failed ones, in the window.
    pub failed: u64,
    /// Requests completed over the whole run, warm-up included (to divide counters by).
    pub completed: u64,
    pub window: Duration,
    /// Latencies (µs) of the requests completed in the window, sorted.
    pub latencies_us: Vec<u32>,
    pub first_failure: Option<String>,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64()
    }

    /// The `p` quantile (0..=1) of the window's latencies, in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p) as f64 / 1000.0
    }
}

/// The `p` quantile of sorted values (nearest rank); 0 for none.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[derive(Deserialize)]
struct Envelope {
    data: Option<IgnoredAny>,
    errors: Option<IgnoredAny>,
}

/// An HTTP client holding at most one connection: one per worker, so connections = workers.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// An error and its causes.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    text
}

/// POST a GraphQL body: the status and the answer's bytes.
async fn send(
    client: &reqwest::Client,
    url: &str,
    body: String,
) -> Result<(reqwest::StatusCode, bytes::Bytes), String> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request: {}", chain(&e)))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| format!("body: {}", chain(&e)))?;
    Ok((status, bytes))
}

/// The start of an answer, for a failure's description.
fn start(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).into_owned()
}

/// POST a GraphQL body; the response JSON, or why it counts as a failure.
pub async fn post(client: &reqwest::Client, url: &str, body: String) -> Result<Vec<u8>, String> {
    let (status, bytes) = send(client, url, body).await?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("HTTP {status}: {}", start(&bytes)));
    }
    match serde_json::from_slice::<Envelope>(&bytes) {
        Ok(Envelope { data: Some(_), errors: None }) => Ok(Vec::from(bytes)),
        Ok(_) => Err(format!("GraphQL errors: {}", start(&bytes))),
        Err(e) => Err(format!("not GraphQL JSON ({e}): {}", start(&bytes))),
    }
}

/// Whether `body` (of a 200) is a GraphQL answer with data and no errors, without parsing it: async-graphql
/// writes `data` first and `errors` after it, and `,"errors":[` cannot occur inside a JSON string (its quote
/// would be escaped). The load runs' queries alias no field `errors`.
pub fn answered(body: &[u8]) -> bool {
    body.starts_with(b"{\"data\":{") && memchr::memmem::find(body, b",\"errors\":[").is_none()
}

/// POST a GraphQL body and check the answer as `answered` does: why it counts as a failure if it does not.
async fn post_unparsed(client: &reqwest::Client, url: &str, body: String) -> Result<(), String> {
    let (status, bytes) = send(client, url, body).await?;
    if status == reqwest::StatusCode::OK && answered(&bytes) {
        return Ok(());
    }
    Err(format!("HTTP {status}: {}", start(&bytes)))
}

/// Run `body` against `url` from `connections` workers: `warmup`, then `window` measured.
pub async fn run(url: &str, body: Body, connections: usize, warmup: Duration, window: Duration) -> Outcome {
    let start = Instant::now();
    let (measure_from, end) = (start + warmup, start + warmup + window);
    let sequence = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (url, body, sequence) = (url.to_string(), body.clone(), sequence.clone());
            tokio::spawn(async move {
                let client = client();
                let mut outcome =
                    Outcome { ok: 0, failed: 0, completed: 0, window, latencies_us: Vec::new(), first_failure: None };
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        return outcome;
                    }
                    let result = post_unparsed(&client, &url, body(sequence.fetch_add(1, Ordering::Relaxed))).await;
                    let done = Instant::now();
                    outcome.completed += 1;
                    if done < measure_from || done > end {
                        continue;
                    }
                    match result {
                        Ok(_) => outcome.ok += 1,
                        Err(reason) => {
                            outcome.failed += 1;
                            outcome.first_failure.get_or_insert(reason);
                        }
                    }
                    outcome.latencies_us.push(u32::try_from((done - sent).as_micros()).unwrap_or(u32::MAX));
                }
            })
        })
        .collect();
    let mut total = Outcome { ok: 0, failed: 0, completed: 0, window, latencies_us: Vec::new(), first_failure: None };
    for worker in workers {
        let outcome = worker.await.expect("load worker");
        total.ok += outcome.ok;
        total.failed += outcome.failed;
        total.completed += outcome.completed;
        total.latencies_us.extend(outcome.latencies_us);
        total.first_failure = total.first_failure.or(outcome.first_failure);
    }
    total.latencies_us.sort_unstable();
    total
}
