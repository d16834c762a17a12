//! Backend faults: DynamoDB going away mid-run gives `UNAVAILABLE` quickly, the service stays up, and it
//! recovers by itself when DynamoDB is back. (AWS mode: the embedded store has no backend to lose.)

use std::process::Stdio;
use std::time::{Duration, Instant};

use photoshare::app::Backends;
use photoshare::config::Config;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::helpers::{Mode, TestApp};
use crate::process::signal;

async fn start_moto(port: u16) -> Child {
    let child = Command::new("python3")
        .args(["tests/moto_server.py", &port.to_string()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start moto (python3 tests/moto_server.py)");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("moto did not start on port {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_dynamodb_gives_unavailable_fast_and_the_service_recovers() {
    let port = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut moto = start_moto(port).await;
    let app = TestApp::spawn(Mode::Aws, &["--dynamodb-endpoint", &endpoint]).await;
    app.upload_photo("before the outage").await;
    let gallery = "{ photos { nodes { name } } }";

    moto.kill().await.unwrap();
    let started = Instant::now();
    let body = app.graphql(gallery, json!({})).await;
    let waited = started.elapsed();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{body}");
    assert!(waited < Duration::from_secs(8), "answered in {waited:?}");
    println!("UNAVAILABLE after {waited:?} with DynamoDB down");
    let health = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), 200, "the process stays up");

    // DynamoDB is back (moto starts empty: create the table again, as an operator would restore it).
    let _moto = start_moto(port).await;
    let config =
        Config::from_args(["--store", "aws", "--table", &app.table, "--dynamodb-endpoint", &endpoint]).unwrap();
    Backends::connect(&config, "http://unused").await.unwrap().table.ensure_created().await.unwrap();
    let body = app.graphql(gallery, json!({})).await;
    assert!(body.get("errors").is_none(), "recovered without a restart: {body}");
    app.upload_photo("after the outage").await;
    let names = app.data(gallery, json!({})).await;
    assert_eq!(names["photos"]["nodes"][0]["name"], "after the outage");
}

/// A backend that stops answering (here: moto frozen with SIGSTOP, its port still open) holds no request
/// past `--request-timeout-seconds`: the client gets `UNAVAILABLE` saying so, and the service serves again
/// as soon as the backend answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_backend_times_out_the_request() {
    let port = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let moto = start_moto(port).await;
    let app = TestApp::spawn(Mode::Aws, &["--dynamodb-endpoint", &endpoint, "--request-timeout-seconds", "1"]).await;
    app.upload_photo("before the stall").await;
    let gallery = "{ photos { nodes { name } } }";
    signal(&moto, libc::SIGSTOP);
    let body = app.graphql(gallery, json!({})).await;
    signal(&moto, libc::SIGCONT);
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("did not finish within 1 s"), "the deadline, not the SDK's own timeouts: {message}");

    let names = app.data(gallery, json!({})).await;
    assert_eq!(names["photos"]["nodes"][0]["name"], "before the stall", "served again");
}
