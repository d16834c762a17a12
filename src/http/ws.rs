//! GraphQL subscriptions over WebSocket (`graphql-transport-ws`, and the legacy `graphql-ws`), with the
//! protocol's rules enforced (`ws_protocol`) and bounds on what one client may hold open:
//! - at most `--ws-connections-per-address` sockets per client address (an IPv6 client's /64) on this
//!   instance; more get HTTP 429;
//! - `connection_init` within `--ws-init-seconds` (10), or close 4408;
//! - messages of at most 1 MiB, or close 1009 (refused from the frame's header, before its bytes are read);
//! - the server sends a ping frame every `--ws-ping-seconds` (25), well under an ALB's 60-second idle
//!   timeout; a socket from which nothing arrives (not even the pong) for `--ws-idle-seconds` (60) is closed.
//!
//! Each operation on a socket reads storage afresh, as one over HTTP does: a query gets its own photo loader,
//! and a subscription's loader keeps nothing from one event to the next (`graphql::connection_data`).
//!
//! When the instance stops, each socket gets a close frame 1001 (going away): the client reconnects, through
//! the load balancer to another instance, and resumes with `after`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, ClientMessage, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;

use super::Shared;
use super::listener::Peer;
use super::shutdown::{Lifecycle, Phase};
use super::ws_protocol::{Gate, MAX_MESSAGE_BYTES, Verdict};
use crate::domain::caller::{Caller, address_key};
use crate::graphql::{self, Api};

/// Read buffer per connection. Clients send only small protocol messages (larger ones still arrive: the
/// buffer grows for them); the library's default of 128 KiB, allocated for every connection, made 1,000
/// open subscriptions cost about 170 MB.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Client messages waiting for async-graphql; past this the socket is not read until it catches up.
const INCOMING_QUEUE: usize = 16;

/// The timings and bounds of sockets, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct WsLimits {
    pub ping_every: Duration,
    pub init_within: Duration,
    pub idle: Duration,
    pub per_address: usize,
}

/// Open sockets per client address.
#[derive(Default)]
pub(super) struct OpenSockets(Mutex<HashMap<IpAddr, usize>>);

/// One open socket of an address, until dropped.
struct SocketSlot {
    sockets: Arc<OpenSockets>,
    address: IpAddr,
}

impl OpenSockets {
    fn open(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<SocketSlot> {
        let address = address_key(ip);
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(address).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(SocketSlot { sockets: Arc::clone(self), address })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.sockets.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

pub(super) async fn graphql_ws(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|offered| offered.split(',').find_map(|p| WebSocketProtocols::from_str(p.trim()).ok()));
    let Some(protocol) = protocol else {
        return (StatusCode::BAD_REQUEST, "offer the graphql-transport-ws subprotocol").into_response();
    };
    let ip = shared.client_ip(peer, &headers);
    let limits = shared.ws;
    let Some(slot) = shared.open_sockets.open(ip, limits.per_address) else {
        tracing::warn!(%ip, limit = limits.per_address, "refusing a WebSocket: too many from this address");
        let message = format!(
            "this address has {} WebSockets open here, the most one may: one socket carries up to 100 subscriptions",
            limits.per_address
        );
        return (StatusCode::TOO_MANY_REQUESTS, message).into_response();
    };
    let authorization = headers.get(header::AUTHORIZATION).map(|value| value.as_bytes());
    let data = graphql::connection_data(Caller::new(ip, authorization));
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            serve(socket, shared.api.clone(), protocol, data, ip, limits, shared.lifecycle.clone()).await;
        })
}

fn close(code: u16, reason: impl Into<String>) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into().into() }))
}

/// Whether a read failed because the client's message was over `MAX_MESSAGE_BYTES`.
fn too_big(error: &axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    let cause = std::error::Error::source(error).and_then(|cause| cause.downcast_ref::<Error>());
    cause.is_some_and(|cause| matches!(cause, Error::Capacity(_)))
}

async fn serve(
    socket: WebSocket,
    api: Api,
    protocol: WebSocketProtocols,
    data: async_graphql::Data,
    // The caller's address, for an owner key sent in `connection_init`.
    ip: std::net::IpAddr,
    limits: WsLimits,
    lifecycle: Arc<Lifecycle>,
) {
    let _open = lifecycle.open_socket();
    let mut phase = lifecycle.watch();
    let (mut sink, mut incoming) = socket.split();
    let (to_graphql, from_client) = tokio::sync::mpsc::channel::<ClientMessage>(INCOMING_QUEUE);
    let from_client = Box::pin(futures_util::stream::unfold(from_client, |mut from_client| async move {
        from_client.recv().await.map(|message| (Ok(message), from_client))
    }));
    // Browsers cannot set headers on a WebSocket: an owner key may come in `connection_init`'s payload
    // (`{"authorization": "Bearer <key>"}`, as Apollo's and graphql-ws's `connectionParams` send it).
    let on_init = move |payload: serde_json::Value| async move {
        let mut data = async_graphql::Data::default();
        let authorization = payload.get("authorization").or_else(|| payload.get("Authorization"));
        if let Some(authorization) = authorization.and_then(serde_json::Value::as_str) {
            data.insert(Caller::new(ip, Some(authorization.as_bytes())));
        }
        Ok(data)
    };
    let mut outgoing = async_graphql::http::WebSocket::from_message_stream(api, from_client, protocol)
        .connection_data(data)
        .on_connection_init(on_init);
    let mut gate = Gate::new(protocol);
    // A message async-graphql has no room for yet: the socket is not read until it is handed over.
    let mut waiting: Option<ClientMessage> = None;
    let init_deadline = tokio::time::sleep(limits.init_within);
    tokio::pin!(init_deadline);
    let mut heard = Instant::now();
    let mut ping = tokio::time::interval(limits.ping_every);
    ping.tick().await;
    loop {
        let message = tokio::select! {
            frame = incoming.next(), if waiting.is_none() => {
                heard = Instant::now();
                let verdict = match frame {
                    Some(Ok(Message::Text(text))) => gate.client_message(text.as_bytes()),
                    Some(Ok(Message::Binary(bytes))) => gate.client_message(&bytes),
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => continue, // pings are answered by the library, pongs only count as heard
                    Some(Err(error)) if too_big(&error) => {
                        Verdict::Close(close_code::SIZE, format!("messages are at most {MAX_MESSAGE_BYTES} bytes"))
                    }
                    Some(Err(_)) => break,
                };
                match verdict {
                    Verdict::Forward(message) => match to_graphql.try_send(message) {
                        Ok(()) => continue,
                        Err(tokio::sync::mpsc::error::TrySendError::Full(message)) => {
                            waiting = Some(message);
                            continue;
                        }
                        Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => break,
                    },
                    Verdict::Reply(text) => Message::Text(text.into()),
                    Verdict::Close(code, reason) => close(code, reason),
                }
            }
            permit = to_graphql.reserve(), if waiting.is_some() => match (permit, waiting.take()) {
                (Ok(permit), Some(message)) => {
                    permit.send(message);
                    continue;
                }
                _ => break,
            },
            message = outgoing.next() => match message {
                Some(WsMessage::Text(text)) => {
                    gate.server_message(&text);
                    Message::Text(text.into())
                }
                Some(WsMessage::Close(code, reason)) => close(code, reason),
                None => break,
            },
            () = &mut init_deadline, if !gate.initialised() => close(4408, "Connection initialisation timeout"),
            _ = ping.tick() => {
                if heard.elapsed() >= limits.idle {
                    close(close_code::AWAY, format!("nothing received for {} s", limits.idle.as_secs()))
                } else {
                    Message::Ping(Default::default())
                }
            }
            Ok(_) = phase.wait_for(|phase| *phase >= Phase::Closing) => close(close_code::AWAY, "server shutting down"),
        };
        let closing = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || closing {
            break;
        }
    }
}
