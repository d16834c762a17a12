//! Prometheus metrics through the Prometheus project's own client (`prometheus-client`, OpenMetrics text):
//! GraphQL requests by root field and outcome and their latency, kept here; and what other parts count
//! themselves (table calls, open subscriptions, photo processing, the events engine), read at scrape time.

use std::sync::atomic::Ordering::Relaxed;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::table::{TableOp, TableStats};

/// Latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The content type of what `render` writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Request {
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Operation {
    operation: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

pub struct Metrics {
    /// GraphQL requests by (root field, outcome).
    requests: Family<Request, Counter>,
    /// GraphQL request latency by root field.
    latency: Family<Operation, Histogram, fn() -> Histogram>,
    /// Requests answered from the response cache (counted in `requests` too).
    cached_answers: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            cached_answers: Counter::default(),
        }
    }
}

/// Live numbers read at scrape time.
pub struct Gauges<'a> {
    pub table: &'a TableStats,
    pub subscriptions: usize,
    pub processing: &'a crate::domain::processing::Counts,
    /// The events engine's connection, if events go through one.
    pub engine: Option<&'a crate::events_engine::EngineStats>,
}

/// A histogram counted elsewhere in cumulative buckets, as it is at scrape time.
#[derive(Debug)]
struct CountedHistogram {
    sum: f64,
    count: u64,
    /// (upper bound, observations in this bucket alone).
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for CountedHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

impl Metrics {
    /// One GraphQL request: its root field (a fixed set, see `graphql::observe`), its outcome (`ok` or an
    /// error code) and how long it took.
    pub fn record_request(&self, operation: &'static str, outcome: &'static str, seconds: f64) {
        self.requests.get_or_create(&Request { operation, outcome }).inc();
        self.latency.get_or_create(&Operation { operation }).observe(seconds);
    }

    /// A request answered from the response cache (its request is recorded with `record_request` as well).
    pub fn record_cached_answer(&self) {
        self.cached_answers.inc();
    }

    /// Every metric, in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut registry = Registry::with_prefix("photoshare");
        registry.register("graphql_requests", "GraphQL requests by root field and outcome", self.requests.clone());
        registry.register("graphql_request_seconds", "GraphQL request latency by root field", self.latency.clone());
        registry.register(
            "graphql_cached_answers",
            "Queries answered from the response cache",
            self.cached_answers.clone(),
        );
        let table_calls = Family::<Operation, Counter>::default();
        for op in TableOp::ALL {
            table_calls.get_or_create(&Operation { operation: op.name() }).inc_by(gauges.table.calls_of(op));
        }
        registry.register("table_calls", "Table (DynamoDB or embedded) calls by operation", table_calls);
        registry.register("table_items_read", "Items the table read", ConstCounter::new(gauges.table.items_read()));
        registry.register(
            "subscriptions",
            "Open GraphQL subscriptions on this instance",
            ConstGauge::new(gauges.subscriptions as i64),
        );
        register_processing(&mut registry, gauges.processing);
        if let Some(engine) = gauges.engine {
            register_engine(&mut registry, engine);
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// Photo processing: the queue, what runs, outcomes and render times.
fn register_processing(registry: &mut Registry, counts: &crate::domain::processing::Counts) {
    registry.register(
        "processing_queue",
        "Photos waiting for renditions, all instances (at the last scan)",
        ConstGauge::new(counts.queued.load(Relaxed) as i64),
    );
    registry.register(
        "processing_running",
        "Photos being processed on this instance",
        ConstGauge::new(counts.running.load(Relaxed) as i64),
    );
    let jobs = Family::<Outcome, Counter>::default();
    for (outcome, count) in [("ready", &counts.ready), ("failed", &counts.failed), ("retried", &counts.retried)] {
        jobs.get_or_create(&Outcome { outcome }).inc_by(count.load(Relaxed));
    }
    registry.register("processing_jobs", "Processing jobs on this instance by outcome", jobs);
    // The worker counts cumulatively (a render counts in every bucket it fits); OpenMetrics wants each
    // bucket's own count.
    let mut below = 0;
    let mut buckets = Vec::with_capacity(counts.render_buckets.len() + 1);
    let bounds = crate::domain::processing::RENDER_BUCKETS.iter().copied().chain([f64::INFINITY]);
    let cumulative =
        counts.render_buckets.iter().map(|count| count.load(Relaxed)).chain([counts.renders.load(Relaxed)]);
    for (bound, cumulative) in bounds.zip(cumulative) {
        buckets.push((bound, cumulative.saturating_sub(below)));
        below = cumulative;
    }
    let render = CountedHistogram {
        sum: counts.render_ms.load(Relaxed) as f64 / 1000.0,
        count: counts.renders.load(Relaxed),
        buckets,
    };
    registry.register("processing_render_seconds", "Time to render one photo's renditions", render);
}

/// The events engine's connection.
fn register_engine(registry: &mut Registry, engine: &crate::events_engine::EngineStats) {
    registry.register(
        "events_engine_connected",
        "Whether this instance listens to the events engine",
        ConstGauge::new(i64::from(engine.connected.load(Relaxed))),
    );
    let counters = [
        (
            "events_connections",
            "Connections made to listen to the events engine (reconnects included)",
            &engine.connections,
        ),
        ("events_published", "Events the engine accepted from this instance", &engine.published),
        (
            "events_dropped",
            "Events not published (engine unreachable or queue full): subscribers catch up",
            &engine.dropped,
        ),
        ("events_received", "Events received from the engine", &engine.received),
    ];
    for (name, help, count) in counters {
        registry.register(name, help, ConstCounter::new(count.load(Relaxed)));
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
        let engine = crate::events_engine::EngineStats::default();
        engine.published.fetch_add(5, std::sync::atomic::Ordering::Relaxed);
        let gauges = Gauges { table: &table, subscriptions: 3, processing: &processing, engine: Some(&engine) };
        let text = metrics.render(&gauges);
        assert!(text.contains("photoshare_graphql_requests_total{operation=\"photos\",outcome=\"ok\"} 2\n"));
        assert!(
            text.contains("photoshare_graphql_requests_total{operation=\"addComment\",outcome=\"BAD_USER_INPUT\"} 1\n")
        );
        assert!(text.contains("photoshare_graphql_request_seconds_bucket{le=\"0.005\",operation=\"photos\"} 1\n"));
        assert!(text.contains("photoshare_graphql_request_seconds_bucket{le=\"0.25\",operation=\"photos\"} 2\n"));
        assert!(text.contains("photoshare_graphql_request_seconds_count{operation=\"photos\"} 2\n"));
        assert!(text.contains("photoshare_table_calls_total{operation=\"Query\"} 1\n"));
        assert!(text.contains("photoshare_table_items_read_total 21\n"));
        assert!(text.contains("photoshare_subscriptions 3\n"));
        assert!(text.contains("photoshare_processing_queue 4\n"));
        assert!(text.contains("photoshare_processing_jobs_total{outcome=\"ready\"} 2\n"));
        assert!(text.contains("photoshare_events_engine_connected 0\n"));
        assert!(text.contains("photoshare_events_published_total 5\n"));
        assert!(text.contains("photoshare_graphql_request_seconds_bucket{le=\"+Inf\",operation=\"photos\"} 2\n"));
        assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    }

    #[test]
    fn render_times_counted_cumulatively_are_written_per_bucket() {
        let processing = crate::domain::processing::Counts::default();
        // Two renders: 0.07 s (in every bucket from 0.1 up) and 0.3 s (from 0.5 up).
        for (bucket, bound) in crate::domain::processing::RENDER_BUCKETS.iter().enumerate() {
            let fits = [0.07, 0.3].iter().filter(|seconds| *seconds <= bound).count() as u64;
            processing.render_buckets[bucket].store(fits, std::sync::atomic::Ordering::Relaxed);
        }
        processing.renders.store(2, std::sync::atomic::Ordering::Relaxed);
        processing.render_ms.store(370, std::sync::atomic::Ordering::Relaxed);
        let table = TableStats::default();
        let text = Metrics::default().render(&Gauges {
            table: &table,
            subscriptions: 0,
            processing: &processing,
            engine: None,
        });
        assert!(text.contains("photoshare_processing_render_seconds_bucket{le=\"0.05\"} 0\n"), "{text}");
        assert!(text.contains("photoshare_processing_render_seconds_bucket{le=\"0.1\"} 1\n"), "{text}");
        assert!(text.contains("photoshare_processing_render_seconds_bucket{le=\"0.5\"} 2\n"), "{text}");
        assert!(text.contains("photoshare_processing_render_seconds_bucket{le=\"+Inf\"} 2\n"), "{text}");
        assert!(text.contains("photoshare_processing_render_seconds_count 2\n"), "{text}");
    }
}
