//! A `graphql-transport-ws` client that also reports how the server closed: the stop and load-balancer tests
//! need the close code (1001) and to resume with `after` on another connection.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::ws::Socket;

/// What the server sent next.
#[derive(Debug)]
pub enum Received {
    /// The `data` of a `next` message.
    Data(Value),
    /// A close frame with this code (1005 when it had none), or the connection ended without one (`None`).
    Closed(Option<u16>),
    TimedOut,
}

pub struct Subscriber {
    socket: Socket,
}

impl Subscriber {
    /// Connect to `/graphql/ws` at `address` (http://host:port) and start one subscription.
    pub async fn start(address: &str, query: &str, variables: Value) -> Self {
        let socket = crate::ws::connect(address).await.expect("ws connect");
        let mut subscriber = Self { socket };
        subscriber.send(json!({ "type": "connection_init" })).await;
        match subscriber.protocol_message(Duration::from_secs(5)).await {
            Ok(ack) if ack["type"] == "connection_ack" => {}
            other => panic!("expected connection_ack, got {other:?}"),
        }
        let payload = json!({ "query": query, "variables": variables });
        subscriber.send(json!({ "id": "1", "type": "subscribe", "payload": payload })).await;
        tokio::time::sleep(crate::ws::SETTLE).await;
        subscriber
    }

    async fn send(&mut self, message: Value) {
        self.socket.send(Message::text(message.to_string())).await.expect("ws send");
    }

    /// The next protocol message (answering its pings), or how the wait ended.
    async fn protocol_message(&mut self, timeout: Duration) -> Result<Value, Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return Err(Received::TimedOut),
                Ok(None | Some(Err(_))) => return Err(Received::Closed(None)),
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Message::Text(text) => {
                    let message: Value = serde_json::from_str(&text).expect("json message");
                    if message["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    return Ok(message);
                }
                Message::Close(frame) => {
                    return Err(Received::Closed(Some(frame.map_or(1005, |frame| u16::from(frame.code)))));
                }
                _ => continue,
            }
        }
    }

    /// The next payload, or how the wait ended. Panics on an `error` message.
    pub async fn receive(&mut self, timeout: Duration) -> Received {
        match self.protocol_message(timeout).await {
            Ok(message) if message["type"] == "next" => {
                assert!(message["payload"].get("errors").is_none(), "subscription errors: {message}");
                Received::Data(message["payload"]["data"].clone())
            }
            Ok(message) => panic!("expected a next message, got {message}"),
            Err(ended) => ended,
        }
    }
}
