//! Connections that do nothing are closed: one that never sends a request, one that stalls in its request
//! head, an idle keep-alive, a body that stops or trickles. Timeouts are short here (1 s header and body, 3 s
//! keep-alive); a WebSocket outlives them all.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_modes;
use crate::helpers::TestApp;

both_modes!(
    flags = &["--header-timeout-seconds", "1", "--keep-alive-seconds", "3", "--body-timeout-seconds", "1"];
    idle_and_stalled_connections_are_closed,
    slow_bodies_are_refused,
    a_websocket_outlives_the_http_timeouts,
);

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap()
}

/// Read until the server closes the connection (or 10 s pass): what it sent, and when it closed.
async fn until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "still open after 10 s: {}", String::from_utf8_lossy(&received));
    (String::from_utf8_lossy(&received).into_owned(), started.elapsed())
}

const REQUEST: &str = "GET /healthz HTTP/1.1\r\nHost: photoshare\r\n\r\n";

async fn idle_and_stalled_connections_are_closed(app: TestApp) {
    // Never sends a request: closed at the header timeout.
    let mut silent = connect(&app).await;
    let (sent, after) = until_closed(&mut silent).await;
    assert!(sent.is_empty() && after < Duration::from_secs(4), "{sent:?} after {after:?}");

    // Half a request head, then nothing.
    let mut half = connect(&app).await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: photo").await.unwrap();
    let (sent, after) = until_closed(&mut half).await;
    assert!(!sent.contains("200 OK") && after < Duration::from_secs(4), "{sent:?} after {after:?}");

    // Served, then kept alive with nothing more: closed at the keep-alive timeout, which is not the header
    // timeout (1 s): a request after 1.5 s still goes out on it.
    let mut kept = connect(&app).await;
    kept.write_all(REQUEST.as_bytes()).await.unwrap();
    let mut first = [0u8; 1024];
    let n = kept.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"), "served");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    kept.write_all(REQUEST.as_bytes()).await.unwrap();
    let (sent, after) = until_closed(&mut kept).await;
    assert!(sent.starts_with("HTTP/1.1 200"), "the second request was served: {sent:?}");
    assert!(after >= Duration::from_millis(1_500) && after < Duration::from_secs(6), "closed after {after:?}");

    // A new request head on a kept-alive connection has the header timeout again.
    let mut restarted = connect(&app).await;
    restarted.write_all(REQUEST.as_bytes()).await.unwrap();
    let _ = restarted.read(&mut first).await.unwrap();
    restarted.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let (_, after) = until_closed(&mut restarted).await;
    assert!(after < Duration::from_millis(2_500), "closed at the header timeout, not keep-alive: {after:?}");
}

async fn slow_bodies_are_refused(app: TestApp) {
    let head = |length: usize| {
        format!(
            "POST /graphql HTTP/1.1\r\nHost: photoshare\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )
    };
    let body = json!({ "query": "{ __typename }" }).to_string();

    // A body that stops.
    let mut stopped = connect(&app).await;
    stopped.write_all(head(body.len()).as_bytes()).await.unwrap();
    stopped.write_all(&body.as_bytes()[..5]).await.unwrap();
    let (sent, after) = until_closed(&mut stopped).await;
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    assert!(sent.contains("BAD_USER_INPUT") && sent.contains("did not arrive within 1 s"), "{sent}");
    assert!(after < Duration::from_secs(4), "{after:?}");

    // A body that trickles, a byte every 0.3 s: never a pause of 1 s, but far below 8 KiB/s.
    let mut trickle = connect(&app).await;
    trickle.write_all(head(body.len()).as_bytes()).await.unwrap();
    let started = Instant::now();
    for byte in body.as_bytes() {
        if trickle.write_all(std::slice::from_ref(byte)).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if started.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    let (sent, _) = until_closed(&mut trickle).await;
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

    // The same body sent at once is served.
    let served = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(served["data"]["__typename"], "Query");
}

async fn a_websocket_outlives_the_http_timeouts(app: TestApp) {
    let mut subscription =
        crate::ws::Subscription::start(&app.address, "subscription { photoAdded { id } }", json!({})).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let photo = app.upload_photo("later").await;
    let data = subscription.next(Duration::from_secs(5)).await.expect("still subscribed after 3 s");
    assert_eq!(data["photoAdded"]["id"], photo["id"]);
}
