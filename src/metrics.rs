//! Prometheus metrics in the text exposition format, kept by hand (a few counters and histograms do not need
//! a metrics framework): GraphQL requests by root field and outcome, their latency, table calls by
//! operation, open subscriptions, and photo processing (queue depth, jobs by outcome, render time).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::table::{TableOp, TableStats};

/// Latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bucket {
                *count += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Default)]
pub struct Metrics {
    /// (root field, outcome) → count.
    requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    /// Requests answered from the response cache (counted in `requests` too).
    cached_answers: std::sync::atomic::AtomicU64,
}

/// Live numbers read at scrape time.
pub struct Gauges<'a> {
    pub table: &'a TableStats,
    pub subscriptions: usize,
    pub processing: &'a crate::domain::processing::Counts,
    /// The events engine's connection, if events go through one.
    pub relay: Option<&'a crate::relay::RelayStats>,
}

impl Metrics {
    /// One GraphQL request: its root field (a fixed set, see `graphql::observe`), its outcome (`ok` or an
    /// error code) and how long it took.
    pub fn record_request(&self, operation: &'static str, outcome: &'static str, seconds: f64) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((operation, outcome)).or_default() += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            latency.entry(operation).or_default().observe(seconds);
        }
    }

    /// A request answered from the response cache (its request is recorded with `record_request` as well).
    pub fn record_cached_answer(&self) {
        self.cached_answers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        out.push_str("# HELP photoshare_graphql_requests_total GraphQL requests by root field and outcome.\n");
        out.push_str("# TYPE photoshare_graphql_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((operation, outcome), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "photoshare_graphql_requests_total{{operation=\"{operation}\",outcome=\"{outcome}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP photoshare_graphql_request_seconds GraphQL request latency by root field.\n");
        out.push_str("# TYPE photoshare_graphql_request_seconds histogram\n");
        if let Ok(latency) = self.latency.lock() {
            for (operation, histogram) in latency.iter() {
                for (bucket, count) in BUCKETS.iter().zip(histogram.counts.iter()) {
                    let _ = writeln!(
                        out,
                        "photoshare_graphql_request_seconds_bucket{{operation=\"{operation}\",le=\"{bucket}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    out,
                    "photoshare_graphql_request_seconds_bucket{{operation=\"{operation}\",le=\"+Inf\"}} {}",
                    histogram.count
                );
                let _ = writeln!(
                    out,
                    "photoshare_graphql_request_seconds_sum{{operation=\"{operation}\"}} {}",
                    histogram.sum
                );
                let _ = writeln!(
                    out,
                    "photoshare_graphql_request_seconds_count{{operation=\"{operation}\"}} {}",
                    histogram.count
                );
            }
        }
        out.push_str("# HELP photoshare_graphql_cached_answers_total Queries answered from the response cache.\n");
        out.push_str("# TYPE photoshare_graphql_cached_answers_total counter\n");
        let cached = self.cached_answers.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(out, "photoshare_graphql_cached_answers_total {cached}");
        out.push_str("# HELP photoshare_table_calls_total Table (DynamoDB or embedded) calls by operation.\n");
        out.push_str("# TYPE photoshare_table_calls_total counter\n");
        for op in TableOp::ALL {
            let _ = writeln!(
                out,
                "photoshare_table_calls_total{{operation=\"{}\"}} {}",
                op.name(),
                gauges.table.calls_of(op)
            );
        }
        out.push_str("# HELP photoshare_table_items_read_total Items the table read.\n");
        out.push_str("# TYPE photoshare_table_items_read_total counter\n");
        let _ = writeln!(out, "photoshare_table_items_read_total {}", gauges.table.items_read());
        out.push_str("# HELP photoshare_subscriptions Open GraphQL subscriptions on this instance.\n");
        out.push_str("# TYPE photoshare_subscriptions gauge\n");
        let _ = writeln!(out, "photoshare_subscriptions {}", gauges.subscriptions);
        render_processing(&mut out, gauges);
        if let Some(relay) = gauges.relay {
            render_relay(&mut out, relay);
        }
        out
    }
}

fn render_processing(out: &mut String, gauges: &Gauges) {
    use std::sync::atomic::Ordering::Relaxed;
    let counts = gauges.processing;
    out.push_str(
        "# HELP photoshare_processing_queue Photos waiting for renditions, all instances (at the last scan).\n",
    );
    out.push_str("# TYPE photoshare_processing_queue gauge\n");
    let _ = writeln!(out, "photoshare_processing_queue {}", counts.queued.load(Relaxed));
    out.push_str("# HELP photoshare_processing_running Photos being processed on this instance.\n");
    out.push_str("# TYPE photoshare_processing_running gauge\n");
    let _ = writeln!(out, "photoshare_processing_running {}", counts.running.load(Relaxed));
    out.push_str("# HELP photoshare_processing_jobs_total Processing jobs on this instance by outcome.\n");
    out.push_str("# TYPE photoshare_processing_jobs_total counter\n");
    for (outcome, count) in [("ready", &counts.ready), ("failed", &counts.failed), ("retried", &counts.retried)] {
        let _ = writeln!(out, "photoshare_processing_jobs_total{{outcome=\"{outcome}\"}} {}", count.load(Relaxed));
    }
    out.push_str("# HELP photoshare_processing_render_seconds Time to render one photo's renditions.\n");
    out.push_str("# TYPE photoshare_processing_render_seconds histogram\n");
    let buckets = crate::domain::processing::RENDER_BUCKETS.iter().zip(&counts.render_buckets);
    for (bound, count) in buckets {
        let _ = writeln!(out, "photoshare_processing_render_seconds_bucket{{le=\"{bound}\"}} {}", count.load(Relaxed));
    }
    let renders = counts.renders.load(Relaxed);
    let _ = writeln!(out, "photoshare_processing_render_seconds_bucket{{le=\"+Inf\"}} {renders}");
    let seconds = counts.render_ms.load(Relaxed) as f64 / 1000.0;
    let _ = writeln!(out, "photoshare_processing_render_seconds_sum {seconds}");
    let _ = writeln!(out, "photoshare_processing_render_seconds_count {renders}");
}

fn render_relay(out: &mut String, relay: &crate::relay::RelayStats) {
    use std::sync::atomic::Ordering::Relaxed;
    out.push_str("# HELP photoshare_events_engine_connected Whether this instance listens to the events engine.\n");
    out.push_str("# TYPE photoshare_events_engine_connected gauge\n");
    let _ = writeln!(out, "photoshare_events_engine_connected {}", u8::from(relay.connected.load(Relaxed)));
    let counters = [
        ("connections", "Connections made to listen to the events engine (reconnects included).", &relay.connections),
        ("published", "Events the engine accepted from this instance.", &relay.published),
        ("dropped", "Events not published (engine unreachable or queue full): subscribers catch up.", &relay.dropped),
        ("received", "Events received from the engine.", &relay.received),
    ];
    for (name, help, count) in counters {
        let _ = writeln!(out, "# HELP photoshare_events_{name}_total {help}");
        let _ = writeln!(out, "# TYPE photoshare_events_{name}_total counter");
        let _ = writeln!(out, "photoshare_events_{name}_total {}", count.load(Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let metrics = Metrics::default();
        metrics.record_request("photos", "ok", 0.004);
        metrics.record_request("photos", "ok", 0.2);
        metrics.record_request("addComment", "BAD_USER_INPUT", 0.001);
        let table = TableStats::default();
        table.record(TableOp::Query, 21);
        let processing = crate::domain::processing::Counts::default();
        processing.ready.fetch_add(2, std::sync::atomic::Ordering::Relaxed);
        processing.queued.store(4, std::sync::atomic::Ordering::Relaxed);
        let relay = crate::relay::RelayStats::default();
        relay.published.fetch_add(5, std::sync::atomic::Ordering::Relaxed);
        let gauges = Gauges { table: &table, subscriptions: 3, processing: &processing, relay: Some(&relay) };
        let text = metrics.render(&gauges);
        assert!(text.contains("photoshare_graphql_requests_total{operation=\"photos\",outcome=\"ok\"} 2\n"));
        assert!(
            text.contains("photoshare_graphql_requests_total{operation=\"addComment\",outcome=\"BAD_USER_INPUT\"} 1\n")
        );
        assert!(text.contains("photoshare_graphql_request_seconds_bucket{operation=\"photos\",le=\"0.005\"} 1\n"));
        assert!(text.contains("photoshare_graphql_request_seconds_bucket{operation=\"photos\",le=\"0.25\"} 2\n"));
        assert!(text.contains("photoshare_graphql_request_seconds_count{operation=\"photos\"} 2\n"));
        assert!(text.contains("photoshare_table_calls_total{operation=\"Query\"} 1\n"));
        assert!(text.contains("photoshare_table_items_read_total 21\n"));
        assert!(text.contains("photoshare_subscriptions 3\n"));
        assert!(text.contains("photoshare_processing_queue 4\n"));
        assert!(text.contains("photoshare_processing_jobs_total{outcome=\"ready\"} 2\n"));
        assert!(text.contains("photoshare_events_engine_connected 0\n"));
        assert!(text.contains("photoshare_events_published_total 5\n"));
    }
}
