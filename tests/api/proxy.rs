//! Behind a real load balancer: HAProxy on 127.0.0.1 in front of `photoshare` processes that share the
//! stand-ins. Clients connect from other loopback addresses (127.0.0.2 and up), so the address HAProxy
//! saw (the client's) differs from HAProxy's own (127.0.0.1, the one trusted proxy).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::haproxy::HaProxy;
use crate::helpers::{Mode, TestApp};
use crate::process::{Instance, client_from, free_port};
use crate::ws::{Received, Subscription};

const TRUST_HAPROXY: [&str; 2] = ["--trusted-proxies", "127.0.0.1"];
const FORGED: &str = "203.0.113.9";
/// How far back each instance re-reads the event feed (`events::LOOKBACK`).
const FEED_LOOKBACK: Duration = Duration::from_secs(2);

/// A client at `source` that claims to be someone else in every header it can.
fn forging_client(source: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", FORGED.parse().unwrap());
    headers.insert("x-real-ip", FORGED.parse().unwrap());
    headers.insert("forwarded", format!("for={FORGED}").parse().unwrap());
    reqwest::Client::builder()
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// `setup`'s helpers, sent to `address` by `client`.
fn via(setup: &TestApp, address: &str, client: reqwest::Client) -> TestApp {
    let mut app = setup.at(address);
    app.client = client;
    app
}

/// Every comment of a photo, oldest first, and its `commentCount`.
async fn comments_of(app: &TestApp, photo_id: &Value) -> (Vec<Value>, i64) {
    let query = "query($id: ID!, $after: String) { photo(id: $id) { commentCount
        comments(first: 100, after: $after) { nodes { id authorIp createdAt } pageInfo { hasNextPage endCursor } } } }";
    let pages = app.walk(query, json!({ "id": photo_id }), &["photo", "comments"]).pages().await;
    let count = pages.last().unwrap().data["photo"]["commentCount"].as_i64().unwrap();
    (pages.iter().flat_map(|page| page.nodes()).collect(), count)
}

/// Send `bytes` from `source` to 127.0.0.1:`port` on a raw connection; everything the server answered.
async fn raw_exchange(source: &str, port: u16, bytes: &[u8]) -> String {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server neither answered nor closed");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn haproxy_passes_the_client_address_and_forged_headers_change_nothing() {
    let setup = TestApp::spawn(Mode::Aws, &[]).await;
    let proxy_protocol = ["--trusted-proxies", "127.0.0.1", "--proxy-protocol", "true"];
    let (plain, proxied) =
        tokio::join!(Instance::start(&setup, &TRUST_HAPROXY), Instance::start(&setup, &proxy_protocol));
    let (web, v2, v1) = (free_port().await, free_port().await, free_port().await);
    // `web`: HTTP with X-Forwarded-For, like an ALB. `v2` / `v1`: plain TCP with a PROXY header, like an NLB.
    let haproxy = HaProxy::start(&format!(
        "frontend web\n    bind 127.0.0.1:{web}\n    option forwardfor\n    default_backend plain\n\
         backend plain\n    option httpchk GET /readyz\n    server a 127.0.0.1:{plain} check\n\
         frontend v2\n    mode tcp\n    bind 127.0.0.1:{v2}\n    default_backend proxied_v2\n\
         backend proxied_v2\n    mode tcp\n    option httpchk GET /readyz\n    server p 127.0.0.1:{proxied} check send-proxy-v2\n\
         frontend v1\n    mode tcp\n    bind 127.0.0.1:{v1}\n    default_backend proxied_v1\n\
         backend proxied_v1\n    mode tcp\n    option httpchk GET /readyz\n    server p 127.0.0.1:{proxied} check send-proxy\n",
        plain = plain.port,
        proxied = proxied.port,
    ))
    .await;
    for (backend, server) in [("plain", "a"), ("proxied_v2", "p"), ("proxied_v1", "p")] {
        haproxy.wait_for(backend, server, "UP", Duration::from_secs(10)).await;
    }
    let at = |port: u16| format!("http://127.0.0.1:{port}");

    // Through HAProxy: the address HAProxy saw, for the upload and for the comment.
    let client = via(&setup, &at(web), client_from("127.0.0.2"));
    let photo = client.upload_photo("through haproxy").await;
    assert_eq!(photo["uploaderIp"], "127.0.0.2");
    assert_eq!(client.add_comment(&photo["id"], "hello").await["authorIp"], "127.0.0.2");

    // A forged X-Forwarded-For (and friends) sent through HAProxy changes nothing.
    let forger = via(&setup, &at(web), forging_client("127.0.0.3"));
    assert_eq!(forger.upload_photo("forged").await["uploaderIp"], "127.0.0.3");
    assert_eq!(forger.add_comment(&photo["id"], "forged").await["authorIp"], "127.0.0.3");

    // The same headers sent straight to an instance by an untrusted peer are ignored.
    let direct = via(&setup, &plain.address(), forging_client("127.0.0.4"));
    assert_eq!(direct.add_comment(&photo["id"], "direct").await["authorIp"], "127.0.0.4");

    // PROXY protocol v2 and v1: the source HAProxy put in the header (the forged headers ride along unread).
    for (port, source) in [(v2, "127.0.0.5"), (v1, "127.0.0.6")] {
        let client = via(&setup, &at(port), forging_client(source));
        assert_eq!(client.upload_photo("proxied").await["uploaderIp"], source);
        assert_eq!(client.add_comment(&photo["id"], "proxied").await["authorIp"], source);
    }

    // Straight to the PROXY-protocol instance: an untrusted peer is served as it is...
    let direct = via(&setup, &proxied.address(), forging_client("127.0.0.7"));
    assert_eq!(direct.add_comment(&photo["id"], "direct").await["authorIp"], "127.0.0.7");
    // ...and its own PROXY header is not believed: the request is refused.
    let body = json!({
        "query": "mutation($input: AddCommentInput!) { addComment(input: $input) { id } }",
        "variables": { "input": { "photoId": photo["id"], "body": "spoofed" } },
    })
    .to_string();
    let spoof = format!(
        "PROXY TCP4 {FORGED} 127.0.0.1 4711 80\r\nPOST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = raw_exchange("127.0.0.7", proxied.port, spoof.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "a PROXY header from an untrusted peer is refused: {answer:?}");
    // A trusted peer that sends no header is not served at all.
    let answer = raw_exchange("127.0.0.1", proxied.port, b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_eq!(answer, "", "closed without an answer");

    let (comments, _) = comments_of(&setup, &photo["id"]).await;
    let authors: Vec<&str> = comments.iter().map(|c| c["authorIp"].as_str().unwrap()).collect();
    assert_eq!(authors, ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"]);
}

/// What one posting client saw.
#[derive(Default)]
struct Posted {
    acknowledged: Vec<String>,
    failed: Vec<String>,
    /// How long each acknowledged comment took to be answered.
    took: HashMap<String, Duration>,
}

/// Post comments through `address` until `stop`, one at a time, on the client's own connections.
async fn keep_commenting(
    address: String,
    photo_id: Value,
    client_number: usize,
    stop: watch::Receiver<bool>,
) -> Posted {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
    let query = "mutation($input: AddCommentInput!) { addComment(input: $input) { id } }";
    let mut posted = Posted::default();
    for n in 0.. {
        if *stop.borrow() {
            break;
        }
        let input = json!({ "photoId": photo_id, "body": format!("client {client_number} comment {n}") });
        let started = Instant::now();
        let sent =
            client.post(format!("{address}/graphql")).json(&json!({ "query": query, "variables": { "input": input } }));
        let outcome = match sent.send().await {
            Ok(response) if response.status().is_success() => match response.json::<Value>().await {
                Ok(body) => match body["data"]["addComment"]["id"].as_str() {
                    Some(id) => Ok(id.to_string()),
                    None => Err(format!("errors: {}", body["errors"])),
                },
                Err(error) => Err(format!("reading the answer: {error}")),
            },
            Ok(response) => Err(format!("status {}", response.status())),
            Err(error) => Err(format!("{error:?}")),
        };
        match outcome {
            Ok(id) => {
                posted.took.insert(id.clone(), started.elapsed());
                posted.acknowledged.push(id);
            }
            Err(failure) => posted.failed.push(failure),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    posted
}

/// What one subscriber received.
#[derive(Default)]
struct Followed {
    ids: HashSet<String>,
    /// How each of its connections ended before the test did.
    closes: Vec<Option<u16>>,
    /// When it reconnected: the `createdAt` of the comment it resumed after.
    resumed_after: Vec<DateTime<Utc>>,
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a DateTime")).expect("RFC 3339").with_timezone(&Utc)
}

/// Subscribe through `address` to the photo's comments after `after`; when the server closes the socket,
/// reconnect (through the load balancer) and resume after the last comment received. Ends at the first
/// quiet moment after `done`.
async fn follow(address: String, photo_id: Value, start_after: Value, done: watch::Receiver<bool>) -> Followed {
    let query = "subscription($id: ID, $after: String) {
        commentAdded(photoId: $id, after: $after) { id cursor createdAt } }";
    let (mut after, mut after_created) = (start_after["cursor"].clone(), time(&start_after["createdAt"]));
    let mut followed = Followed::default();
    loop {
        let mut subscriber = Subscription::start(&address, query, json!({ "id": photo_id, "after": after })).await;
        loop {
            match subscriber.receive(Duration::from_millis(300)).await {
                Received::Data(data) => {
                    followed.ids.insert(data["commentAdded"]["id"].as_str().unwrap().to_string());
                    after = data["commentAdded"]["cursor"].clone();
                    after_created = time(&data["commentAdded"]["createdAt"]);
                }
                Received::TimedOut if *done.borrow() => return followed,
                Received::TimedOut => {}
                Received::Completed => panic!("the server ended a photo's comment subscription"),
                Received::Closed(code) => {
                    followed.closes.push(code);
                    followed.resumed_after.push(after_created);
                    break;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_behind_haproxy_loses_no_acknowledged_comment() {
    const DRAIN: Duration = Duration::from_secs(2);
    const DEADLINE: Duration = Duration::from_secs(10);
    let setup = TestApp::spawn(Mode::Aws, &[]).await;
    let flags = ["--trusted-proxies", "127.0.0.1", "--drain-seconds", "2", "--shutdown-seconds", "10"];
    let (mut a, b) = tokio::join!(Instance::start(&setup, &flags), Instance::start(&setup, &flags));
    let web = free_port().await;
    let haproxy = HaProxy::start(&format!(
        "frontend web\n    bind 127.0.0.1:{web}\n    option forwardfor\n    default_backend instances\n\
         backend instances\n    balance roundrobin\n    option httpchk GET /readyz\n    http-check expect status 200\n\
         server a 127.0.0.1:{} check\n    server b 127.0.0.1:{} check\n",
        a.port, b.port
    ))
    .await;
    for server in ["a", "b"] {
        haproxy.wait_for("instances", server, "UP", Duration::from_secs(10)).await;
    }
    let lb = format!("http://127.0.0.1:{web}");
    let photo = setup.upload_photo("busy").await;
    let first = setup.add_comment(&photo["id"], "before the subscribers").await;

    // Two subscribers through HAProxy (round robin puts one on each instance).
    let (done, done_watch) = watch::channel(false);
    let followers: Vec<_> = (0..2)
        .map(|_| tokio::spawn(follow(lb.clone(), photo["id"].clone(), first.clone(), done_watch.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // They hear of comments posted through either instance.
    let mut acknowledged: Vec<String> = Vec::new();
    for instance in [&a.address(), &b.address()] {
        acknowledged.push(
            setup.at(instance).add_comment(&photo["id"], "straight to one instance").await["id"]
                .as_str()
                .unwrap()
                .into(),
        );
    }

    // 20 clients keep commenting through HAProxy.
    let (stop, stop_watch) = watch::channel(false);
    let load_started = Instant::now();
    let clients: Vec<_> = (0..20)
        .map(|n| tokio::spawn(keep_commenting(lb.clone(), photo["id"].clone(), n, stop_watch.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    // SIGTERM instance a.
    let signalled = Instant::now();
    a.terminate();
    let readyz = reqwest::Client::new();
    loop {
        let answer = readyz.get(format!("{}/readyz", a.address())).send().await.expect("a still serves while draining");
        if answer.status() == 503 {
            break;
        }
        assert!(signalled.elapsed() < Duration::from_secs(1), "readiness still {} after SIGTERM", answer.status());
    }
    let not_ready_after = signalled.elapsed();
    let taken_out_after = haproxy.wait_for("instances", "a", "DOWN", DRAIN).await + not_ready_after;
    let status = a.exited(DEADLINE + Duration::from_secs(2)).await.expect("a exits within the deadline");
    let exited_after = signalled.elapsed();
    assert!(status.success(), "a exits cleanly: {status}");

    // b carries the load alone for a while; then a starts again and comes back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let restarted = Instant::now();
    a.restart().await;
    let healthy_after = restarted.elapsed();
    haproxy.wait_for("instances", "a", "UP", Duration::from_secs(10)).await;
    let back_after = restarted.elapsed();
    let sessions = haproxy.stat("instances", "a", "stot").await.parse::<u64>().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sessions_since = haproxy.stat("instances", "a", "stot").await.parse::<u64>().unwrap() - sessions;
    assert!(sessions_since > 0, "HAProxy sends requests to a again");

    stop.send_replace(true);
    let mut failures = Vec::new();
    let mut took = HashMap::new();
    for client in clients {
        let posted = client.await.unwrap();
        acknowledged.extend(posted.acknowledged);
        failures.extend(posted.failed);
        took.extend(posted.took);
    }
    let slowest = took.values().max().copied().unwrap_or_default();
    let load_seconds = load_started.elapsed().as_secs_f64();

    // Every acknowledged comment is stored, counted, and was delivered to both subscribers.
    let (stored_comments, comment_count) = comments_of(&setup, &photo["id"]).await;
    let stored: HashSet<String> = stored_comments.iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(comment_count as usize, stored.len(), "commentCount matches the timeline");
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    // first comment + acknowledged + at most one per failure (committed, but the answer was lost).
    let unacknowledged = stored.len() - 1 - acknowledged.len();
    assert!(unacknowledged <= failures.len(), "{unacknowledged} comments stored that nobody was told about");

    // Delivery to subscribers: every acknowledged comment, including across the resume on the other instance
    // (instances deliver a photo's comments in commit order, from the feed, and comment times grow in commit
    // order, so nothing can commit behind a resume point). One gap of the fan-out design (not of stopping) is
    // counted, not failed: the feed re-reads 2 s before the last poll, so a comment that took longer than
    // that to commit can miss live subscribers on other instances.
    tokio::time::sleep(Duration::from_secs(1)).await;
    done.send_replace(true);
    let created: HashMap<String, DateTime<Utc>> =
        stored_comments.iter().map(|c| (c["id"].as_str().unwrap().to_string(), time(&c["createdAt"]))).collect();
    let mut closes = Vec::new();
    let mut slow_commits = 0;
    for follower in followers {
        let followed = follower.await.unwrap();
        let resumed_after = followed.resumed_after.iter().max();
        for id in acknowledged.iter().filter(|id| !followed.ids.contains(*id)) {
            if took.get(id).is_some_and(|took| *took >= FEED_LOOKBACK) {
                slow_commits += 1;
            } else {
                panic!(
                    "a subscriber (closed {:?}, resumed after {resumed_after:?}) missed comment {id}, answered after {:?}, created {}",
                    followed.closes,
                    took.get(id),
                    created[id]
                );
            }
        }
        closes.extend(followed.closes);
    }
    assert!(closes.contains(&Some(1001)), "the subscriber on a was told 1001 (going away): {closes:?}");

    let mut reasons: Vec<&String> = failures.iter().collect();
    reasons.sort();
    reasons.dedup();
    println!(
        "SIGTERM behind HAProxy: {} comments acknowledged ({:.0}/s, slowest answer {slowest:?}), {} failed {:?}, {unacknowledged} stored unacknowledged; \
         /readyz 503 after {not_ready_after:?}, HAProxy took a out after {taken_out_after:?}, a exited after \
         {exited_after:?} (drain {DRAIN:?}); restarted a healthy after {healthy_after:?}, back in HAProxy after \
         {back_after:?}; subscriber closes {closes:?}; \
         missed by subscribers: {slow_commits} committed after more than {FEED_LOOKBACK:?}",
        acknowledged.len(),
        acknowledged.len() as f64 / load_seconds,
        failures.len(),
        reasons,
    );
}
