//! What one WebSocket client may not do: stall before `connection_init`, break the protocol's order, reuse
//! an id, send huge messages, open more than 100 subscriptions or more sockets than its address is allowed,
//! or go silent. Each gets the close code graphql-transport-ws names (or 1009, or HTTP 429).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::both_modes;
use crate::helpers::TestApp;
use crate::ws::{Socket, close_code, connect};

both_modes!(
    flags = &["--ws-init-seconds", "1", "--ws-ping-seconds", "1", "--ws-idle-seconds", "2", "--ws-connections-per-address", "3"];
    protocol_violations_close_with_their_codes,
    silent_and_stalled_sockets_are_closed,
    one_socket_cannot_amplify_a_comment_past_its_cap,
    an_address_may_hold_only_so_many_sockets,
    a_long_replay_arrives_whole_and_in_order,
    queries_over_the_socket_are_bounded_and_recorded_like_http,
);

async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::text(message.to_string())).await.expect("ws send");
}

fn subscribe(id: &str, query: &str, variables: Value) -> Value {
    json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })
}

const PHOTOS: &str = "subscription { photoAdded { id } }";

/// A socket that has sent `connection_init` and got its ack.
async fn initialised(app: &TestApp) -> Socket {
    let mut socket = connect(&app.address).await.expect("ws connect");
    send(&mut socket, json!({ "type": "connection_init" })).await;
    let ack = next_message(&mut socket, Duration::from_secs(5)).await.expect("connection_ack");
    assert_eq!(ack["type"], "connection_ack");
    socket
}

/// The next protocol message, answering the server's pings (the library answers WebSocket pings).
async fn next_message(socket: &mut Socket, timeout: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await.ok()?? {
            Ok(Message::Text(text)) => return Some(serde_json::from_str(&text).expect("json")),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

async fn protocol_violations_close_with_their_codes(app: TestApp) {
    let mut early = connect(&app.address).await.unwrap();
    send(&mut early, subscribe("1", PHOTOS, json!({}))).await;
    assert_eq!(close_code(&mut early, Duration::from_secs(5)).await, Some(4401), "subscribe before init");

    let mut twice = initialised(&app).await;
    send(&mut twice, json!({ "type": "connection_init" })).await;
    assert_eq!(close_code(&mut twice, Duration::from_secs(5)).await, Some(4429), "a second init");

    let mut duplicate = initialised(&app).await;
    send(&mut duplicate, subscribe("same", PHOTOS, json!({}))).await;
    send(&mut duplicate, subscribe("same", PHOTOS, json!({}))).await;
    assert_eq!(close_code(&mut duplicate, Duration::from_secs(5)).await, Some(4409), "an id in use");

    let mut garbled = initialised(&app).await;
    garbled.send(Message::text("{ not json")).await.unwrap();
    assert_eq!(close_code(&mut garbled, Duration::from_secs(5)).await, Some(4400), "not a protocol message");

    // A 4 MiB message: refused by its frame's header, before its bytes are read. Written as raw frames (a
    // WebSocket library would still be busy writing the 4 MiB when the server's close arrives).
    let tokio_tungstenite::MaybeTlsStream::Plain(mut raw) = initialised(&app).await.into_inner() else {
        panic!("a plain TCP stream")
    };
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&(4u64 * 1024 * 1024).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]); // the mask
    frame.extend_from_slice(&[b'x' ^ 1; 1024]);
    tokio::io::AsyncWriteExt::write_all(&mut raw, &frame).await.unwrap();
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tokio::io::AsyncReadExt::read_to_end(&mut raw, &mut bytes));
    let _ = read.await;
    let close = bytes.windows(4).any(|w| w[0] == 0x88 && w[2..4] == 1009u16.to_be_bytes());
    assert!(close, "over 1 MiB: a close frame 1009: {bytes:?}");

    // Just under 1 MiB is a message like any other (a subscription with a large variable).
    let mut large = initialised(&app).await;
    send(&mut large, subscribe("fine", PHOTOS, json!({ "pad": "x".repeat(1000 * 1024) }))).await;
    tokio::time::sleep(crate::ws::SETTLE).await;
    // Read while uploading: a socket not read from answers no pings, and --ws-idle-seconds is 2 here.
    let (photo, next) = tokio::join!(app.upload_photo("arrives"), next_message(&mut large, Duration::from_secs(10)));
    let next = next.expect("the subscription works");
    assert_eq!(next["payload"]["data"]["photoAdded"]["id"], photo["id"], "{next}");
}

async fn silent_and_stalled_sockets_are_closed(app: TestApp) {
    // Connected, never initialised: closed at --ws-init-seconds (1).
    let mut stalled = connect(&app.address).await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(close_code(&mut stalled, Duration::from_secs(5)).await, Some(4408), "no connection_init");
    assert!(started.elapsed() >= Duration::from_millis(900), "not before its time: {:?}", started.elapsed());

    // Initialised, then never read from again, so never answering a ping: closed once nothing was heard for
    // --ws-idle-seconds (2), at the next ping (every second).
    // Read as raw bytes (a WebSocket library would answer the pings): the server's frames are unmasked.
    let tokio_tungstenite::MaybeTlsStream::Plain(mut silent) = initialised(&app).await.into_inner() else {
        panic!("a plain TCP stream")
    };
    let started = std::time::Instant::now();
    let mut bytes = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(10), tokio::io::AsyncReadExt::read_to_end(&mut silent, &mut bytes));
    assert!(read.await.is_ok(), "the server closed the connection");
    let pings = bytes.windows(2).filter(|w| w == &[0x89, 0x00]).count();
    let close = bytes.windows(4).position(|w| w[0] == 0x88 && w[2..4] == 1001u16.to_be_bytes());
    assert!(close.is_some(), "a close frame 1001 after {pings} pings: {bytes:?}");
    assert!(pings >= 1, "pinged until then: {pings}");
    assert!(started.elapsed() < Duration::from_secs(5), "closed within idle + one ping: {:?}", started.elapsed());

    // One that answers its pings stays open past both timeouts.
    let mut lively = initialised(&app).await;
    let quiet = next_message(&mut lively, Duration::from_secs(4)).await;
    assert!(quiet.is_none(), "nothing to say, and not closed: {quiet:?}");
    send(&mut lively, subscribe("1", PHOTOS, json!({}))).await;
    tokio::time::sleep(crate::ws::SETTLE).await;
    let (photo, next) =
        tokio::join!(app.upload_photo("still there"), next_message(&mut lively, Duration::from_secs(10)));
    let next = next.expect("still subscribed");
    assert_eq!(next["payload"]["data"]["photoAdded"]["id"], photo["id"]);
}

async fn one_socket_cannot_amplify_a_comment_past_its_cap(app: TestApp) {
    let photo = app.upload_photo("pier").await;
    let mut socket = initialised(&app).await;
    let query = "subscription($id: ID) { commentAdded(photoId: $id) { id } }";
    for n in 0..150 {
        send(&mut socket, subscribe(&n.to_string(), query, json!({ "id": photo["id"] }))).await;
    }
    // The 50 over the cap are refused one by one, with a coded error each; the socket stays open.
    let mut refused = 0;
    while refused < 50 {
        let message = next_message(&mut socket, Duration::from_secs(5)).await.expect("a refusal");
        assert_eq!(message["type"], "error", "{message}");
        assert_eq!(message["payload"][0]["extensions"]["code"], "BAD_USER_INPUT", "{message}");
        refused += 1;
    }
    // Each subscription reads its photo before it listens: a first comment makes sure all have.
    app.add_comment(&photo["id"], "first").await;
    while next_message(&mut socket, Duration::from_secs(3)).await.is_some() {}
    let comment = app.add_comment(&photo["id"], "one comment").await;
    let mut delivered = 0;
    while let Some(message) = next_message(&mut socket, Duration::from_secs(2)).await {
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["payload"]["data"]["commentAdded"]["id"], comment["id"], "{message}");
        delivered += 1;
    }
    assert_eq!(delivered, 100, "one comment, one message per subscription held");
}

async fn an_address_may_hold_only_so_many_sockets(app: TestApp) {
    let held = [initialised(&app).await, initialised(&app).await, initialised(&app).await];
    match connect(&app.address).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 429),
        other => panic!("a fourth socket from one address is refused with 429, got {:?}", other.map(|_| "a socket")),
    }
    // Another address has its own allowance, and a closed socket frees its place.
    let elsewhere = crate::ws::connect_from(&app.address, "127.0.0.2").await;
    assert!(elsewhere.is_ok(), "another address: {:?}", elsewhere.err());
    let [mut first, _second, _third] = held;
    first.close(None).await.unwrap();
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    initialised(&app).await;
}

/// A reconnecting client resumes after 250 missed comments: they arrive in pages, whole and in order, then
/// live ones.
async fn a_long_replay_arrives_whole_and_in_order(app: TestApp) {
    let photo = app.upload_photo("busy").await;
    let first = app.add_comment(&photo["id"], "seen before the drop").await;
    let mut missed = Vec::new();
    for n in 0..250 {
        missed.push(app.add_comment(&photo["id"], &format!("missed {n}")).await["id"].clone());
    }
    let mut socket = initialised(&app).await;
    let query = "subscription($id: ID, $after: String) { commentAdded(photoId: $id, after: $after) { id } }";
    send(&mut socket, subscribe("1", query, json!({ "id": photo["id"], "after": first["cursor"] }))).await;
    let mut received = Vec::new();
    while received.len() < missed.len() {
        let message = next_message(&mut socket, Duration::from_secs(10)).await.expect("the replay goes on");
        received.push(message["payload"]["data"]["commentAdded"]["id"].clone());
    }
    assert_eq!(received, missed, "every missed comment, once, in order");
    let live = app.add_comment(&photo["id"], "live").await;
    let message = next_message(&mut socket, Duration::from_secs(5)).await.expect("then live ones");
    assert_eq!(message["payload"]["data"]["commentAdded"]["id"], live["id"]);
    assert!(next_message(&mut socket, Duration::from_millis(800)).await.is_none(), "nothing twice");
}

/// A query sent over the WebSocket meets the same document limits as over HTTP, and is counted in the metrics.
async fn queries_over_the_socket_are_bounded_and_recorded_like_http(app: TestApp) {
    let series = r#"photoshare_graphql_requests_total{operation="photos",outcome="ok"}"#;
    let before = app.metric(series).await;
    let mut socket = initialised(&app).await;
    send(&mut socket, subscribe("q", "{ photos { nodes { id } } }", json!({}))).await;
    let answer = next_message(&mut socket, Duration::from_secs(5)).await.expect("an answer");
    assert_eq!(answer["type"], "next", "{answer}");
    assert!(answer["payload"]["data"]["photos"]["nodes"].is_array(), "{answer}");
    assert_eq!(next_message(&mut socket, Duration::from_secs(5)).await.expect("complete")["type"], "complete");
    assert_eq!(app.metric(series).await, before + 1, "recorded like a query over HTTP");

    send(&mut socket, subscribe("bomb", &photoshare::graphql::fragment_bomb(24), json!({}))).await;
    let refused = next_message(&mut socket, Duration::from_secs(5)).await.expect("a refusal");
    let error = &refused["payload"]["errors"][0];
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert!(error["message"].as_str().unwrap().contains("fragment spreads"), "{refused}");
}
