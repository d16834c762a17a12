//! Health and stopping, in process on both stores: `/readyz` follows the backends and the shutdown; a stop
//! drains first, then refuses new connections, finishes the request in flight and closes WebSockets with 1001.

use std::time::{Duration, Instant};

use photoshare::app::Application;
use photoshare::config::Config;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_modes;
use crate::helpers::{Mode, TestApp};
use crate::ws::{Received, Subscription};

const DRAIN: Duration = Duration::from_secs(1);

both_modes!(flags = &["--drain-seconds", "1", "--shutdown-seconds", "5"]; readyz_probes_the_backends_at_most_once_a_second, stopping_drains_then_finishes_what_is_open);

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let response = app.client.get(format!("{}{path}", app.address)).send().await.expect(path);
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn readyz_probes_the_backends_at_most_once_a_second(app: TestApp) {
    assert_eq!(get(&app, "/healthz").await, (200, "ok\n".into()));
    let calls = app.table_calls();
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(get(&app, "/readyz").await, (200, "ready\n".into()));
    }
    let probes = app.table_calls() - calls;
    let seconds = started.elapsed().as_secs() + 1;
    assert!((1..=seconds).contains(&probes), "20 checks in {:?} probed the table {probes} times", started.elapsed());
}

async fn stopping_drains_then_finishes_what_is_open(mut app: TestApp) {
    let photo = app.upload_photo("last light").await;
    let query = "subscription($id: ID) { commentAdded(photoId: $id) { id } }";
    let mut subscriber = Subscription::start(&app.address, query, json!({ "id": photo["id"] })).await;
    // A request in flight: its headers and half its body sent.
    let host = app.address.trim_start_matches("http://").to_string();
    let mutation = "mutation($input: AddCommentInput!) { addComment(input: $input) { id body } }";
    let input = json!({ "photoId": photo["id"], "body": "sent while stopping" });
    let body = json!({ "query": mutation, "variables": { "input": input } }).to_string();
    let mut in_flight = TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let (first_half, second_half) = body.split_at(body.len() / 2);
    in_flight.write_all(format!("{head}{first_half}").as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let signalled = Instant::now();
    let server = app.stop();

    // Draining: not ready (as soon as the server task sees the signal), but serving, and not keeping
    // connections.
    while get(&app, "/readyz").await != (503, "draining\n".into()) {
        assert!(signalled.elapsed() < Duration::from_millis(500), "/readyz still ready after the signal");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(get(&app, "/healthz").await, (200, "ok\n".into()));
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": "{ photos(first: 1) { nodes { name } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers().get("connection").map(|v| v.to_str().unwrap()), Some("close"));
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["data"]["photos"]["nodes"][0]["name"], "last light");

    // Then the port closes.
    while TcpStream::connect(&host).await.is_ok() {
        assert!(
            signalled.elapsed() < DRAIN * 3,
            "still accepting connections {:?} after the signal",
            signalled.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused_after = signalled.elapsed();
    assert!(refused_after >= DRAIN - Duration::from_millis(50), "refused after only {refused_after:?}");

    // The WebSocket is told the server is going away.
    match subscriber.receive(Duration::from_secs(2)).await {
        Received::Closed(Some(1001)) => {}
        other => panic!("expected a close frame 1001, got {other:?}"),
    }

    // The request in flight completes, and is answered.
    in_flight.write_all(second_half.as_bytes()).await.unwrap();
    let mut answer = String::new();
    in_flight.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "in-flight request answered: {answer}");
    assert!(answer.contains("sent while stopping"), "{answer}");

    // And the server is done well within the deadline.
    let stopped = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "server stopped cleanly: {stopped:?}");
    println!(
        "{:?} store: port closed {refused_after:?} after the signal, server stopped after {:?}",
        app.mode,
        signalled.elapsed()
    );
}

async fn wait_for_readyz(app: &TestApp, expected: (u16, &str)) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = get(app, "/readyz").await;
        if (status, body.as_str()) == expected {
            return;
        }
        assert!(Instant::now() < deadline, "/readyz still answers {status} {body:?}, expected {expected:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_503_while_the_bucket_or_the_table_is_gone() {
    let app = TestApp::spawn(Mode::Aws, &[]).await;
    let options = photoshare::aws::AwsOptions {
        dynamodb_endpoint: std::env::var("PHOTOSHARE_TEST_DYNAMODB_ENDPOINT").ok(),
        s3_endpoint: std::env::var("PHOTOSHARE_TEST_S3_ENDPOINT").ok(),
        s3_path_style: true,
    };
    let sdk = photoshare::aws::sdk_config().await;
    let s3 = photoshare::aws::s3_client(&sdk, &options);
    let dynamodb = photoshare::aws::dynamodb_client(&sdk, &options);
    wait_for_readyz(&app, (200, "ready\n")).await;

    s3.delete_bucket().bucket(&app.bucket).send().await.expect("bucket deleted");
    wait_for_readyz(&app, (503, "bucket unreachable\n")).await;
    assert_eq!(get(&app, "/healthz").await.0, 200, "liveness does not depend on the backends");
    s3.create_bucket().bucket(&app.bucket).send().await.expect("bucket created again");
    wait_for_readyz(&app, (200, "ready\n")).await;

    dynamodb.delete_table().table_name(&app.table).send().await.expect("table deleted");
    wait_for_readyz(&app, (503, "table unreachable\n")).await;
}

/// Why `Application::build` refuses these flags.
async fn refusal(flags: &[&str]) -> String {
    let config =
        Config::from_args(["--listen", "127.0.0.1:0"].into_iter().chain(flags.iter().copied())).expect("flags parse");
    match Application::build(config).await {
        Ok(_) => panic!("{flags:?} accepted"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn contradictory_proxy_or_shutdown_settings_are_refused() {
    assert!(refusal(&["--proxy-protocol", "true"]).await.contains("needs --trusted-proxies"));
    assert!(refusal(&["--drain-seconds", "20"]).await.contains("must be less than --shutdown-seconds"));

    let config = Config::from_args(["--trusted-proxies", "10.0.0.0/8, 127.0.0.1,::1"]).unwrap();
    assert_eq!(config.http.trusted_proxies.unwrap().to_string(), "10.0.0.0/8, 127.0.0.1/32, ::1/128");
    assert!(Config::from_args(["--trusted-proxies", "10.0.0.0/8,example.com"]).is_err());
    assert!(Config::from_args(["--trusted-proxies", ""]).unwrap().http.trusted_proxies.unwrap().is_empty());
    assert!(Config::from_args(Vec::<String>::new()).unwrap().http.trusted_proxies.is_none());
}
