//! Fan-out across instances: three `photoshare` processes share one table and bucket (AWS mode on the
//! stand-ins); a comment posted through one reaches subscribers connected to the others.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::process::{Child, Command};

use crate::helpers::{Mode, TestApp};
use crate::ws::Subscription;

/// A `photoshare` process; killed when dropped.
pub struct Instance {
    pub address: String,
    _child: Child,
}

async fn free_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// A process on `table` and `bucket` with `extra` flags.
pub async fn start_instance(table: &str, bucket: &str, extra: &[&str]) -> Instance {
    let port = free_port().await;
    let child = Command::new(env!("CARGO_BIN_EXE_photoshare"))
        .args(["--store", "aws", "--table", table, "--bucket", bucket, "--s3-path-style", "true"])
        .args(["--mutations-per-minute", "0"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--dynamodb-endpoint", &std::env::var("PHOTOSHARE_TEST_DYNAMODB_ENDPOINT").unwrap()])
        .args(["--s3-endpoint", &std::env::var("PHOTOSHARE_TEST_S3_ENDPOINT").unwrap()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
        .kill_on_drop(true)
        .spawn()
        .expect("start photoshare");
    let address = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{address}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Instance { address, _child: child };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("photoshare on port {port} did not become healthy");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn comments_posted_through_one_instance_reach_subscribers_on_the_others() {
    // The in-process app creates the table and bucket; three processes then share them.
    let setup = TestApp::spawn(Mode::Aws, &[]).await;
    let (table, bucket) = (&setup.table, &setup.bucket);
    let (a, b, c) = tokio::join!(
        start_instance(table, bucket, &[]),
        start_instance(table, bucket, &[]),
        start_instance(table, bucket, &[])
    );
    let photo = setup.upload_photo("shared").await;

    let query = "subscription($id: ID) { commentAdded(photoId: $id) { id body } }";
    let mut on_b = Subscription::start(&b.address, query, json!({ "id": photo["id"] })).await;
    let mut on_c = Subscription::start(&c.address, query, json!({ "id": null })).await;

    let through_a = setup.at(&a.address);
    let mut sent = HashMap::new();
    let mut delays = Vec::new();
    for n in 0..20 {
        let started = Instant::now();
        let comment = through_a.add_comment(&photo["id"], &format!("comment {n}")).await;
        sent.insert(comment["id"].as_str().unwrap().to_string(), started);
        for subscriber in [&mut on_b, &mut on_c] {
            let data = subscriber.next(Duration::from_secs(2)).await.expect("delivered within 2 s");
            assert_eq!(data["commentAdded"]["id"], comment["id"], "in order, none lost, none twice");
            delays.push(started.elapsed());
        }
    }
    for subscriber in [&mut on_b, &mut on_c] {
        assert!(subscriber.next(Duration::from_millis(800)).await.is_none(), "no duplicates afterwards");
    }
    delays.sort();
    println!(
        "fan-out across instances: {} deliveries, p50 {:?}, p95 {:?}, max {:?}",
        delays.len(),
        percentile(&delays, 0.5),
        percentile(&delays, 0.95),
        delays.last().unwrap()
    );
}
