//! Logs and traces. Logs: `tracing` to stderr, human-readable or JSON, filtered by `RUST_LOG` (default `info`).
//! Client faults are warnings and failures of the service errors: the embedded S3 endpoint (s3s) logs every
//! refused request (a bad signature, a malformed form) as an error, so its own lines are off by default and
//! `http` logs its refusals as warnings instead.
//!
//! Traces (opt-in, `--otlp-endpoint`): one span per GraphQL operation (`operation_span`: its type, root field,
//! the client's operation name and the outcome code; never variables, documents or owner keys), with a child
//! span for each table call (`table::traced`), exported by OpenTelemetry's OTLP exporter over HTTP
//! (protobuf) in batches. A W3C `traceparent` sent by the load balancer or the client makes the operation
//! part of that trace. The spans have their own target (`TARGET`), which the log output never shows and which
//! costs nothing while no exporter is set.

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// How logs are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The target of the operation spans, which are traces, not logs.
pub const TARGET: &str = crate::table::traced::OPERATION_TARGET;
/// The target of the table calls' spans.
const TABLE_CALLS: &str = "photoshare::table::traced";

/// What was set up; `shutdown` sends the spans still buffered before the process exits.
#[derive(Default)]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Send what is buffered and stop exporting.
    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "the last traces could not be sent");
        }
    }
}

/// Logs to stderr in `format`; with `otlp_endpoint` (an OTLP/HTTP collector's base URL, such as
/// `http://127.0.0.1:4318`), traces to it too. A second call (tests) keeps the first subscriber.
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,s3s::ops=off"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Text => logs.boxed(),
        LogFormat::Json => logs.json().boxed(),
    };
    let filter = filter.add_directive(format!("{TARGET}=off").parse()?);
    let logs = logs.with_filter(filter.add_directive(format!("{TABLE_CALLS}=off").parse()?));
    let Some(endpoint) = otlp_endpoint else {
        let _ = Registry::default().with(logs).try_init();
        return Ok(Telemetry::default());
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .with_timeout(std::time::Duration::from_secs(5))
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name("photoshare").build();
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
    let traces = tracing_opentelemetry::layer().with_tracer(provider.tracer("photoshare")).with_filter(
        Targets::new().with_target(TARGET, tracing::Level::INFO).with_target(TABLE_CALLS, tracing::Level::INFO),
    );
    let _ = Registry::default().with(logs).with(traces).try_init();
    Ok(Telemetry { traces: Some(provider) })
}

/// The span of one GraphQL operation, child of the trace named by the request `headers`' `traceparent` if
/// any. Its fields are filled in as the operation is admitted and answered (`record_operation`,
/// `record_outcome`).
pub fn operation_span(headers: Option<&axum::http::HeaderMap>) -> tracing::Span {
    let span = tracing::info_span!(
        target: TARGET,
        "graphql",
        otel.kind = "server",
        graphql.operation.type = tracing::field::Empty,
        graphql.operation.name = tracing::field::Empty,
        graphql.root_field = tracing::field::Empty,
        photoshare.outcome = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    if let Some(headers) = headers.filter(|h| !span.is_disabled() && h.contains_key("traceparent")) {
        let parent = TraceContextPropagator::new().extract(&Headers(headers));
        let _ = span.set_parent(parent);
    }
    span
}

/// Notes on the current operation span what runs: `kind` (query, mutation, subscription), the root field, and
/// the operation name the client gave (at most 80 characters).
pub fn record_operation(kind: &str, root_field: &str, name: Option<&str>) {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return;
    }
    // The span has started (its parent was set): its name is changed on the OpenTelemetry span itself.
    span.context().span().update_name(format!("{kind} {root_field}"));
    span.record("graphql.operation.type", kind);
    span.record("graphql.root_field", root_field);
    if let Some(name) = name {
        span.record("graphql.operation.name", name.chars().take(80).collect::<String>().as_str());
    }
}

/// Notes on the current operation span how it ended: `ok` or an error code.
pub fn record_outcome(outcome: &str) {
    let span = tracing::Span::current();
    span.record("photoshare.outcome", outcome);
    span.record("otel.status_code", if outcome == "ok" { "OK" } else { "ERROR" });
}

/// Request headers as the propagator reads them.
struct Headers<'a>(&'a axum::http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}
