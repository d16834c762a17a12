//! A graphql-transport-ws client for the tests: connect, subscribe, read `next` payloads, and tell how the
//! server closed (the stop and load-balancer tests need the close code and to resume with `after`).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Open `/graphql/ws` at `address` (http://host:port) with the graphql-transport-ws subprotocol; nothing sent.
pub async fn connect(address: &str) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    connect_from(address, "127.0.0.1").await
}

/// `connect`, from the loopback address `source` (127.0.0.2, …: another client to the server).
pub async fn connect_from(address: &str, source: &str) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let url = format!("{}/graphql/ws", address.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("ws request");
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let tcp = tokio::net::TcpSocket::new_v4()?;
    tcp.bind(format!("{source}:0").parse().expect("a loopback address"))?;
    let server = address.trim_start_matches("http://").parse().expect("http://ip:port");
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(tcp.connect(server).await?);
    let (socket, response) = tokio_tungstenite::client_async(request, stream).await?;
    assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
    Ok(socket)
}

/// The close code the server ends `socket` with within `timeout`, skipping other frames; `None` if it
/// ended without one or did not end.
pub async fn close_code(socket: &mut Socket, timeout: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await.ok()?? {
            Ok(Message::Close(frame)) => return Some(frame.map_or(1005, |frame| u16::from(frame.code))),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

pub struct Subscription {
    socket: Socket,
}

/// What the server sent next.
#[derive(Debug)]
pub enum Received {
    /// The `data` of a `next` message.
    Data(Value),
    /// A close frame with this code (1005 when it had none), or the connection ended without one (`None`).
    Closed(Option<u16>),
    /// A `complete` message: the server ended the subscription.
    Completed,
    TimedOut,
}

/// Wait this long after subscribing: the server registers a subscription when it handles the message, and
/// the protocol has no acknowledgement for it.
pub const SETTLE: Duration = Duration::from_millis(400);

impl Subscription {
    /// Open `/graphql/ws` at `address` (http://host:port) and initialise it, without subscribing to anything.
    pub async fn connect(address: &str) -> Self {
        let mut socket = connect(address).await.expect("ws connect");
        let init = json!({ "type": "connection_init", "payload": {} });
        socket.send(Message::text(init.to_string())).await.unwrap();
        let mut subscription = Self { socket };
        match subscription.message(Duration::from_secs(5)).await {
            Ok(ack) if ack["type"] == "connection_ack" => {}
            other => panic!("expected connection_ack, got {other:?}"),
        }
        subscription
    }

    /// Run a query or mutation over the socket as operation `id`; its whole payload (`data`, `errors`), once
    /// its `complete` arrived. Messages of other operations are skipped.
    pub async fn request(&mut self, id: &str, query: &str, variables: Value) -> Value {
        let subscribe = json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } });
        self.socket.send(Message::text(subscribe.to_string())).await.unwrap();
        let mut payload = None;
        loop {
            let message = self.message(Duration::from_secs(10)).await.expect("an answer over the socket");
            if message["id"] != id {
                continue;
            }
            match message["type"].as_str() {
                Some("next") => payload = Some(message["payload"].clone()),
                Some("complete") => return payload.expect("a next before complete"),
                _ => panic!("expected next or complete, got {message}"),
            }
        }
    }

    /// Open `/graphql/ws` at `address` (http://host:port) and start one subscription.
    pub async fn start(address: &str, query: &str, variables: Value) -> Self {
        Self::start_with(address, json!({}), query, variables).await
    }

    /// `start`, with `payload` in `connection_init` (e.g. `{"authorization": "Bearer <key>"}`).
    pub async fn start_with(address: &str, payload: Value, query: &str, variables: Value) -> Self {
        let mut socket = connect(address).await.expect("ws connect");
        let init = json!({ "type": "connection_init", "payload": payload });
        socket.send(Message::text(init.to_string())).await.unwrap();
        let mut subscription = Self { socket };
        match subscription.message(Duration::from_secs(5)).await {
            Ok(ack) if ack["type"] == "connection_ack" => {}
            other => panic!("expected connection_ack, got {other:?}"),
        }
        let subscribe =
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } });
        subscription.socket.send(Message::text(subscribe.to_string())).await.unwrap();
        tokio::time::sleep(SETTLE).await;
        subscription
    }

    /// The next protocol message (pings answered, WebSocket pings skipped), or how the wait ended.
    async fn message(&mut self, timeout: Duration) -> Result<Value, Received> {
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
                        let pong = Message::text(json!({ "type": "pong" }).to_string());
                        self.socket.send(pong).await.map_err(|_| Received::Closed(None))?;
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
        match self.message(timeout).await {
            Ok(message) if message["type"] == "next" => {
                assert!(message["payload"].get("errors").is_none(), "subscription errors: {message}");
                Received::Data(message["payload"]["data"].clone())
            }
            Ok(message) if message["type"] == "complete" => Received::Completed,
            Ok(message) => panic!("expected a next message, got {message}"),
            Err(ended) => ended,
        }
    }

    /// The `data` of the next `next` message; panics on an `error` message. `None` on timeout or close.
    pub async fn next(&mut self, timeout: Duration) -> Option<Value> {
        match self.receive(timeout).await {
            Received::Data(data) => Some(data),
            Received::Closed(_) | Received::Completed | Received::TimedOut => None,
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
        self.message(timeout).await.ok()
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
