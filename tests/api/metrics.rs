//! `/metrics` on a port of its own (`--metrics-listen`): the operators' port shows the metrics, the public
//! port no longer does.

use serde_json::json;

use crate::both_modes;
use crate::helpers::TestApp;

both_modes!(flags = &["--metrics-listen", "127.0.0.1:0"]; metrics_listen_moves_metrics_off_the_public_port);

async fn metrics_listen_moves_metrics_off_the_public_port(app: TestApp) {
    app.data("{ photos(first: 5) { nodes { id } } }", json!({})).await;
    let metrics_address = app.metrics_address.clone().expect("the metrics port is bound");
    assert_ne!(metrics_address, app.address);

    let public = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(public.status(), 404, "the public port no longer shows the metrics");

    let metrics = app.client.get(format!("{metrics_address}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = metrics.text().await.unwrap();
    let counted = "photoshare_graphql_requests_total{operation=\"photos\",outcome=\"ok\"} 1\n";
    assert!(text.contains(counted), "missing {counted:?} in\n{text}");
    assert!(text.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF");

    let graphql = app.client.post(format!("{metrics_address}/graphql")).json(&json!({ "query": "{ __typename }" }));
    assert_eq!(graphql.send().await.unwrap().status(), 404, "no GraphQL on the metrics port");
    assert_eq!(app.client.get(format!("{metrics_address}/healthz")).send().await.unwrap().status(), 404);
}
