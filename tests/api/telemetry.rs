//! Traces: with `--otlp-endpoint`, each GraphQL operation reaches an OTLP/HTTP collector as one span (type,
//! root field, operation name, outcome; no variables, no owner key) with its table calls as children, in the
//! trace a `traceparent` header named. The collector here is a small receiver the test runs on loopback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::json;

use crate::helpers::{Mode, TempDir, TestApp};
use crate::process::Instance;

/// An OTLP/HTTP receiver: keeps every span sent to `/v1/traces`.
struct Receiver {
    address: String,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Receiver {
    async fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
                    let spans = request.resource_spans.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans);
                    kept.lock().unwrap().extend(spans);
                    ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { address, spans }
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a AnyValue> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn text(span: &Span, key: &str) -> Option<String> {
    match attribute(span, key)? {
        AnyValue::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

async fn an_operation_is_one_span_with_its_table_calls_in_the_callers_trace(app: TestApp) {
    let receiver = Receiver::start().await;
    let otlp = ["--otlp-endpoint", &receiver.address, "--drain-seconds", "0"];
    let _data_dir;
    let mut instance = match app.mode {
        Mode::Aws => Instance::start(&app, &otlp).await,
        Mode::Embedded => {
            let dir = std::env::temp_dir().join(format!("photoshare-otlp-{}", uuid::Uuid::new_v4()));
            let mut args: Vec<String> = vec!["--data-dir".into(), dir.display().to_string()];
            args.extend(otlp.iter().map(|s| s.to_string()));
            _data_dir = TempDir(dir);
            Instance::with_args(args, false).await
        }
    };
    let (trace_id, parent_id) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let owner_key = "k".repeat(40);
    let body = json!({
        "query": "query Gallery($n: Int) { photos(first: $n) { nodes { id name } } }",
        "operationName": "Gallery",
        "variables": {"n": 7},
    });
    let answer: serde_json::Value = app
        .client
        .post(format!("{}/graphql", instance.address()))
        .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
        .header("authorization", format!("Bearer {owner_key}"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["photos"]["nodes"], json!([]), "{answer}");
    // Stopping sends what the exporter still holds.
    instance.terminate();
    assert!(instance.exited(Duration::from_secs(10)).await.is_some(), "the instance stops");

    let spans = receiver.spans();
    let operation = spans
        .iter()
        .find(|span| span.name == "query photos")
        .unwrap_or_else(|| panic!("no operation span among {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()));
    assert_eq!(hex::encode(&operation.trace_id), trace_id, "in the trace the traceparent named");
    assert_eq!(hex::encode(&operation.parent_span_id), parent_id, "a child of the caller's span");
    assert_eq!(text(operation, "graphql.operation.type").as_deref(), Some("query"));
    assert_eq!(text(operation, "graphql.operation.name").as_deref(), Some("Gallery"));
    assert_eq!(text(operation, "photoshare.outcome").as_deref(), Some("ok"));
    let calls: Vec<&Span> = spans.iter().filter(|span| span.parent_span_id == operation.span_id).collect();
    assert!(calls.iter().any(|span| span.name == "Query"), "the gallery's index query is a child span: {calls:?}");
    for span in &spans {
        for kv in &span.attributes {
            let value = format!("{:?}", kv.value);
            assert!(!value.contains(&owner_key) && !kv.key.contains("variables"), "{}: {kv:?}", span.name);
        }
    }
}

crate::both_modes!(an_operation_is_one_span_with_its_table_calls_in_the_callers_trace);
