//! Fan-out across instances: three `photoshare` processes share one table and bucket (AWS mode on the
//! stand-ins); a comment posted through one reaches subscribers connected to the others.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Mode, TestApp};
use crate::process::Instance;
use crate::ws::Subscription;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn comments_posted_through_one_instance_reach_subscribers_on_the_others() {
    // The in-process app creates the table and bucket; three processes then share them.
    let setup = TestApp::spawn(Mode::Aws, &[]).await;
    let (a, b, c) =
        tokio::join!(Instance::start(&setup, &[]), Instance::start(&setup, &[]), Instance::start(&setup, &[]));
    let photo = setup.upload_photo("shared").await;

    let query = "subscription($id: ID) { commentAdded(photoId: $id) { id body } }";
    let mut on_b = Subscription::start(&b.address(), query, json!({ "id": photo["id"] })).await;
    let mut on_c = Subscription::start(&c.address(), query, json!({ "id": null })).await;

    let through_a = setup.at(&a.address());
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
