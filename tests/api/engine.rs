//! Fan-out through the events engine (`--events-url`, Debian's `redis-server`, started by tests/run.sh; the
//! restart tests start one of their own to kill): comments reach subscribers on other instances, an idle
//! instance reads nothing from the table, and nothing acknowledged is lost when the engine restarts or an
//! instance's publish never happens.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::helpers::{Mode, TestApp};
use crate::process::{Instance, free_port, logs};
use crate::ws::{Received, Subscription};

const ON_PHOTO: &str = "subscription($id: ID) { commentAdded(photoId: $id) { id body } }";
const ON_ALL: &str = "subscription { commentAdded { id body } }";

pub fn engine_url() -> String {
    std::env::var("PHOTOSHARE_TEST_EVENTS_URL").expect("run the suite with ./tests/run.sh, which starts redis-server")
}

/// A `redis-server` of a test's own, on a fixed loopback port, so it can be killed and started again.
struct Engine {
    port: u16,
    child: Option<Child>,
}

impl Engine {
    async fn start() -> Self {
        let mut engine = Self { port: free_port().await, child: None };
        engine.run().await;
        engine
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn run(&mut self) {
        let binary = std::env::var("PHOTOSHARE_TEST_REDIS_SERVER").expect("run the suite with ./tests/run.sh");
        let port = self.port.to_string();
        let child = Command::new(binary)
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(logs())
            .stderr(logs())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server did not listen on {}", self.port);
    }

    async fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().await.expect("redis-server killed");
    }
}

/// Comments `bodies` through `app`, each acknowledged within a second (a write never waits on the engine).
async fn post(app: &TestApp, photo: &Value, bodies: impl IntoIterator<Item = String>) -> Vec<Value> {
    let mut posted = Vec::new();
    for body in bodies {
        let started = Instant::now();
        posted.push(app.add_comment(&photo["id"], &body).await);
        assert!(started.elapsed() < Duration::from_secs(1), "addComment took {:?}", started.elapsed());
    }
    posted
}

/// The next `count` comments `subscriber` gets, each within `within`, as their ids.
async fn heard(subscriber: &mut Subscription, count: usize, within: Duration) -> Vec<Value> {
    let mut ids = Vec::new();
    for n in 0..count {
        let data = subscriber.next(within).await.unwrap_or_else(|| panic!("comment {n} of {count} not delivered"));
        ids.push(data["commentAdded"]["id"].clone());
    }
    ids
}

fn ids(comments: &[Value]) -> Vec<Value> {
    comments.iter().map(|comment| comment["id"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn comments_through_one_instance_reach_subscribers_on_two_others_through_the_engine() {
    let url = engine_url();
    let flags = ["--events-url", url.as_str()];
    let setup = TestApp::spawn(Mode::Aws, &flags).await;
    let (a, b, c) =
        tokio::join!(Instance::start(&setup, &flags), Instance::start(&setup, &flags), Instance::start(&setup, &flags));
    let (through_a, on_b) = (setup.at(&a.address()), setup.at(&b.address()));
    let photo = setup.upload_photo("shared").await;
    post(&through_a, &photo, ["before anyone listened".to_string()]).await;

    let mut photos_on_c = Subscription::start(&c.address(), "subscription { photoAdded { id } }", json!({})).await;
    let mut photo_on_b = Subscription::start(&b.address(), ON_PHOTO, json!({ "id": photo["id"] })).await;
    let mut all_on_c = Subscription::start(&c.address(), ON_ALL, json!({})).await;
    let reads_on_b = on_b.metric("photoshare_table_calls_total{operation=\"Query\"}").await;

    let mut delays = Vec::new();
    for n in 0..20 {
        let started = Instant::now();
        let comment = through_a.add_comment(&photo["id"], &format!("comment {n}")).await;
        for subscriber in [&mut photo_on_b, &mut all_on_c] {
            let data = subscriber.next(Duration::from_secs(2)).await.expect("delivered within 2 s");
            assert_eq!(data["commentAdded"]["id"], comment["id"], "in order, none lost, none twice");
            delays.push(started.elapsed());
        }
    }
    delays.sort();
    let at = |p: f64| delays[((delays.len() - 1) as f64 * p).round() as usize];
    println!("fan-out through the engine: p50 {:?}, p95 {:?}, max {:?}", at(0.5), at(0.95), at(1.0));
    for subscriber in [&mut photo_on_b, &mut all_on_c] {
        assert!(subscriber.next(Duration::from_millis(500)).await.is_none(), "none twice");
    }
    assert_eq!(
        on_b.metric("photoshare_table_calls_total{operation=\"Query\"}").await,
        reads_on_b,
        "comments that arrive in order cost the receiving instance no table query"
    );
    assert_eq!(on_b.metric("photoshare_events_engine_connected").await, 1);
    assert!(through_a.metric("photoshare_events_published_total").await >= 21);

    let uploaded = through_a.upload_photo("through a").await;
    let data = photos_on_c.next(Duration::from_secs(2)).await.expect("photoAdded through the engine");
    assert_eq!(data["photoAdded"]["id"], uploaded["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_comment_whose_instance_never_published_it_arrives_with_the_next_one() {
    let url = engine_url();
    let setup = TestApp::spawn(Mode::Aws, &["--events-url", &url]).await;
    // This instance's engine is not there: each of its comments commits, is acknowledged, and is never
    // published, as if the instance died between the two.
    let nowhere = format!("redis://127.0.0.1:{}", free_port().await);
    let (mute_flags, healthy_flags) = (["--events-url", nowhere.as_str()], ["--events-url", url.as_str()]);
    let (mute, healthy) = tokio::join!(Instance::start(&setup, &mute_flags), Instance::start(&setup, &healthy_flags));
    let (through_mute, through_healthy) = (setup.at(&mute.address()), setup.at(&healthy.address()));
    let photo = setup.upload_photo("gaps").await;
    post(&through_healthy, &photo, ["first".to_string()]).await;
    let mut subscriber = Subscription::start(&setup.address, ON_PHOTO, json!({ "id": photo["id"] })).await;

    let unpublished = post(&through_mute, &photo, ["never published".to_string()]).await;
    assert!(subscriber.next(Duration::from_millis(800)).await.is_none(), "nothing carried it");
    assert!(through_mute.metric("photoshare_events_dropped_total").await >= 1);
    let next = post(&through_healthy, &photo, ["published".to_string()]).await;
    let expected = [ids(&unpublished), ids(&next)].concat();
    assert_eq!(heard(&mut subscriber, 2, Duration::from_secs(2)).await, expected, "the gap read from the table");
}

async fn comments_survive_an_engine_restart(mode: Mode) {
    let mut engine = Engine::start().await;
    let url = engine.url();
    let app = TestApp::spawn(mode, &["--events-url", &url]).await;
    // AWS: comments are posted through another instance, so they reach the subscriber only through the engine
    // or the table. Embedded (one instance): through the same one.
    let writer = match mode {
        Mode::Aws => Some(Instance::start(&app, &["--events-url", &url]).await),
        Mode::Embedded => None,
    };
    let through = writer.as_ref().map_or_else(|| app.at(&app.address), |writer| app.at(&writer.address()));
    let photo = app.upload_photo("restart").await;
    let mut subscriber = Subscription::start(&app.address, ON_PHOTO, json!({ "id": photo["id"] })).await;
    let mut all = Subscription::start(&app.address, ON_ALL, json!({})).await;

    let before = post(&through, &photo, (0..5).map(|n| format!("before {n}"))).await;
    assert_eq!(heard(&mut subscriber, 5, Duration::from_secs(2)).await, ids(&before));
    assert_eq!(heard(&mut all, 5, Duration::from_secs(2)).await, ids(&before));

    engine.kill().await;
    let during = post(&through, &photo, (0..5).map(|n| format!("while the engine is down {n}"))).await;
    engine.run().await;
    // Reconnected within the back-off (at most 2 s), the subscriber catches up from the table.
    assert_eq!(heard(&mut subscriber, 5, Duration::from_secs(10)).await, ids(&during), "every acknowledged one");
    // All photos' comments have no cursor to catch up from: that subscription ends, so its client knows.
    // (Embedded, the comments posted meanwhile reached it from this instance first.)
    if mode == Mode::Embedded {
        assert_eq!(heard(&mut all, 5, Duration::from_secs(2)).await, ids(&during));
    }
    match all.receive(Duration::from_secs(5)).await {
        Received::Completed => {}
        other => panic!("expected the all-comments subscription to complete, got {other:?}"),
    }
    let after = post(&through, &photo, (0..5).map(|n| format!("after {n}"))).await;
    assert_eq!(heard(&mut subscriber, 5, Duration::from_secs(2)).await, ids(&after));
    assert!(subscriber.next(Duration::from_millis(500)).await.is_none(), "none twice");
    assert_eq!(app.metric("photoshare_events_engine_connected").await, 1);
    assert!(app.metric("photoshare_events_connections_total").await >= 2, "reconnected");
}

async fn an_idle_instance_with_subscribers_reads_nothing(mode: Mode) {
    let url = engine_url();
    let app = TestApp::spawn(mode, &["--events-url", &url]).await;
    let photo = app.upload_photo("quiet").await;
    app.ready(&photo["id"]).await;
    app.add_comment(&photo["id"], "one").await;
    let mut subscribers = [
        Subscription::start(&app.address, ON_PHOTO, json!({ "id": photo["id"] })).await,
        Subscription::start(&app.address, ON_ALL, json!({})).await,
        Subscription::start(&app.address, "subscription { photoAdded { id } }", json!({})).await,
        Subscription::start(&app.address, "subscription { photoUpdated { id } }", json!({})).await,
        Subscription::start(&app.address, "subscription { photoRemoved }", json!({})).await,
    ];
    let calls = app.table_calls();
    // Longer than the engine connection's ping interval (5 s), which must not look like a reconnect.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(app.table_calls(), calls, "no table call in 6 s with 5 subscriptions open and nothing happening");
    // And they are live: a comment reaches both comment subscriptions.
    let comment = app.add_comment(&photo["id"], "two").await;
    for subscriber in &mut subscribers[..2] {
        let data = subscriber.next(Duration::from_secs(2)).await.expect("delivered");
        assert_eq!(data["commentAdded"]["id"], comment["id"]);
    }
}

crate::both_modes!(mode; comments_survive_an_engine_restart, an_idle_instance_with_subscribers_reads_nothing);
