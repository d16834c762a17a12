//! A graphql-transport-ws client for the tests: connect, subscribe, read `next` payloads.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Subscription {
    socket: Socket,
}

/// Wait this long after subscribing: the server registers a subscription when it handles the message, and
/// the protocol has no acknowledgement for it.
pub const SETTLE: Duration = Duration::from_millis(400);

impl Subscription {
    /// Open `/graphql/ws` at `address` (http://host:port) and start one subscription.
    pub async fn start(address: &str, query: &str, variables: Value) -> Self {
        let url = format!("{}/graphql/ws", address.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().expect("ws request");
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (mut socket, response) = tokio_tungstenite::connect_async(request).await.expect("ws connect");
        assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        socket.send(Message::text(json!({ "type": "connection_init" }).to_string())).await.unwrap();
        let mut subscription = Self { socket };
        let ack = subscription.message(Duration::from_secs(5)).await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack");
        let subscribe =
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } });
        subscription.socket.send(Message::text(subscribe.to_string())).await.unwrap();
        tokio::time::sleep(SETTLE).await;
        subscription
    }

    /// The next protocol message (pings answered, WebSocket pings skipped), or `None` on timeout or close.
    async fn message(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next()).await.ok()??.ok()?;
            match frame {
                Message::Text(text) => {
                    let message: Value = serde_json::from_str(&text).expect("json message");
                    if message["type"] == "ping" {
                        self.socket.send(Message::text(json!({ "type": "pong" }).to_string())).await.ok()?;
                        continue;
                    }
                    return Some(message);
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The `data` of the next `next` message; panics on an `error` message. `None` on timeout.
    pub async fn next(&mut self, timeout: Duration) -> Option<Value> {
        let message = self.message(timeout).await?;
        match message["type"].as_str() {
            Some("next") => {
                assert!(message["payload"].get("errors").is_none(), "subscription errors: {message}");
                Some(message["payload"]["data"].clone())
            }
            _ => panic!("expected a next message, got {message}"),
        }
    }

    /// Wait for a WebSocket ping frame from the server, skipping anything else; false on timeout.
    pub async fn ping(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, self.socket.next()).await {
            if matches!(frame, Message::Ping(_)) {
                return true;
            }
        }
        false
    }

    /// The next message whatever it is (to check errors).
    pub async fn raw(&mut self, timeout: Duration) -> Option<Value> {
        self.message(timeout).await
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
