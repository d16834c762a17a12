//! GraphQL subscriptions over WebSocket (`graphql-transport-ws`, and the legacy `graphql-ws`). The server
//! sends a ping frame every `--ws-ping-seconds` (25), well under an ALB's 60-second idle timeout, so quiet
//! subscriptions stay open. When the instance stops, each socket gets a close frame 1001 (going away): the
//! client reconnects, through the load balancer to another instance, and resumes with `after`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};

use super::Shared;
use super::listener::Peer;
use super::shutdown::{Lifecycle, Phase};
use crate::caller::Caller;
use crate::graphql::{self, Api};

/// Read buffer per connection. Clients send only small protocol messages (larger ones still arrive: the
/// buffer grows for them); the library's default of 128 KiB, allocated for every connection, made 1,000
/// open subscriptions cost about 170 MB.
const READ_BUFFER_BYTES: usize = 4 * 1024;

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
    let authorization = headers.get(header::AUTHORIZATION).map(|value| value.as_bytes());
    let caller = Caller::new(shared.client_ip(peer, &headers), authorization);
    let data = graphql::request_data(&shared.state, caller);
    let ping_every = shared.state.limits.ws_ping;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| serve(socket, shared.api, protocol, data, ping_every, shared.lifecycle))
}

async fn serve(
    socket: WebSocket,
    api: Api,
    protocol: WebSocketProtocols,
    data: async_graphql::Data,
    ping_every: Duration,
    lifecycle: Arc<Lifecycle>,
) {
    let _open = lifecycle.open_socket();
    let mut phase = lifecycle.watch();
    let (mut sink, incoming) = socket.split();
    let incoming = incoming.take_while(|message| std::future::ready(message.is_ok())).filter_map(|message| {
        std::future::ready(match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
            _ => None,
        })
    });
    let mut outgoing = async_graphql::http::WebSocket::new(api, incoming, protocol).connection_data(data);
    let mut ping = tokio::time::interval(ping_every);
    ping.tick().await;
    loop {
        let message = tokio::select! {
            message = outgoing.next() => match message {
                Some(WsMessage::Text(text)) => Message::Text(text.into()),
                Some(WsMessage::Close(code, reason)) => Message::Close(Some(CloseFrame { code, reason: reason.into() })),
                None => break,
            },
            _ = ping.tick() => Message::Ping(Default::default()),
            Ok(_) = phase.wait_for(|phase| *phase >= Phase::Closing) => {
                Message::Close(Some(CloseFrame { code: close_code::AWAY, reason: "server shutting down".into() }))
            }
        };
        let closing = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || closing {
            break;
        }
    }
}
