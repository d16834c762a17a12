//! The rules of `graphql-transport-ws` that async-graphql leaves to the server, checked on each message a
//! client sends before async-graphql sees it: `connection_init` first and once, subscription ids unique
//! while in use, at most `MAX_SUBSCRIPTIONS` at once per socket. Each broken rule closes the socket with the
//! code the protocol names (4400, 4401, 4409, 4429); a subscription over the cap gets an `error` message
//! and the socket stays open. Pure logic (no I/O), so every rule is unit tested here.
//!
//! Why hand-written: async-graphql's `WebSocket` closes with 1011 for a subscribe before init and lets a
//! second subscribe with the same id replace the first; it has no hook for either, nor for a cap.

use std::collections::HashSet;

use async_graphql::http::{ClientMessage, WebSocketProtocols};
use serde_json::json;

use crate::domain::error::ErrorCode;

/// Subscriptions one socket may hold at once. Each is fed every event it matches, so this bounds what one
/// comment can make one socket send; the playground holds at most 3.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// Largest message a client may send (the protocol's are a few hundred bytes; HTTP bodies stop at 1 MiB too).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// What to do with a message from the client.
pub enum Verdict {
    /// Hand it to async-graphql.
    Forward(ClientMessage),
    /// Answer the client with this text, and nothing else.
    Reply(String),
    /// Close the socket with this code and reason.
    Close(u16, String),
}

impl std::fmt::Debug for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Forward(_) => f.write_str("Forward"),
            Self::Reply(text) => write!(f, "Reply({text})"),
            Self::Close(code, reason) => write!(f, "Close({code}, {reason})"),
        }
    }
}

/// One socket's protocol state.
pub struct Gate {
    protocol: WebSocketProtocols,
    initialised: bool,
    /// Subscription ids in use: from the client's `subscribe` until either side's `complete`.
    active: HashSet<String>,
}

impl Gate {
    pub fn new(protocol: WebSocketProtocols) -> Self {
        Self { protocol, initialised: false, active: HashSet::new() }
    }

    /// Whether the client has sent its `connection_init`.
    pub fn initialised(&self) -> bool {
        self.initialised
    }

    /// Judge one message from the client.
    pub fn client_message(&mut self, bytes: &[u8]) -> Verdict {
        let message = match ClientMessage::from_bytes(bytes) {
            Ok(message) => message,
            Err(error) => {
                let reason = format!("Invalid message received: {error}");
                return Verdict::Close(4400, truncate(reason));
            }
        };
        match &message {
            ClientMessage::ConnectionInit { .. } if self.initialised => {
                return Verdict::Close(4429, "Too many initialisation requests".into());
            }
            ClientMessage::ConnectionInit { .. } => self.initialised = true,
            ClientMessage::Start { .. } if !self.initialised => return Verdict::Close(4401, "Unauthorized".into()),
            ClientMessage::Start { id, .. } if self.active.contains(id) => {
                return Verdict::Close(4409, truncate(format!("Subscriber for {id} already exists")));
            }
            ClientMessage::Start { id, .. } if self.active.len() >= MAX_SUBSCRIPTIONS => {
                return Verdict::Reply(self.refusal(id));
            }
            ClientMessage::Start { id, .. } => {
                self.active.insert(id.clone());
            }
            ClientMessage::Stop { id } => {
                self.active.remove(id);
            }
            _ => {}
        }
        Verdict::Forward(message)
    }

    /// Note a message the server sends: a `complete` (or `error`) ends its subscription.
    pub fn server_message(&mut self, text: &str) {
        // async-graphql writes the type first; only these two end a subscription.
        if !(text.starts_with(r#"{"type":"complete""#) || text.starts_with(r#"{"type":"error""#)) {
            return;
        }
        if let Ok(message) = serde_json::from_str::<serde_json::Value>(text)
            && let Some(id) = message["id"].as_str()
        {
            self.active.remove(id);
        }
    }

    /// The `error` message refusing subscription `id` over the cap, with a code like every GraphQL error.
    fn refusal(&self, id: &str) -> String {
        let error = json!({
            "message": format!(
                "this connection has {MAX_SUBSCRIPTIONS} subscriptions, the most one may have: complete one first, or open another connection"
            ),
            "extensions": { "code": ErrorCode::BadUserInput.as_str() }
        });
        // graphql-transport-ws sends a list of errors; the legacy protocol one error.
        let payload = match self.protocol {
            WebSocketProtocols::GraphQLWS => json!([error]),
            WebSocketProtocols::SubscriptionsTransportWS => error,
        };
        json!({ "id": id, "type": "error", "payload": payload }).to_string()
    }
}

/// A close frame's reason may be at most 123 bytes.
fn truncate(mut reason: String) -> String {
    if reason.len() > 120 {
        let mut end = 120;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Gate {
        Gate::new(WebSocketProtocols::GraphQLWS)
    }

    fn subscribe(id: &str) -> Vec<u8> {
        json!({ "id": id, "type": "subscribe", "payload": { "query": "subscription { photoAdded { id } }" } })
            .to_string()
            .into_bytes()
    }

    const INIT: &[u8] = br#"{"type":"connection_init"}"#;

    fn close_code(verdict: Verdict) -> u16 {
        match verdict {
            Verdict::Close(code, _) => code,
            other => panic!("expected a close, got {other:?}"),
        }
    }

    #[test]
    fn init_comes_first_and_once() {
        let mut gate = gate();
        assert_eq!(close_code(gate.client_message(&subscribe("1"))), 4401);
        let mut gate = self::gate();
        assert!(matches!(gate.client_message(INIT), Verdict::Forward(_)));
        assert!(gate.initialised());
        assert_eq!(close_code(gate.client_message(INIT)), 4429);
        assert_eq!(close_code(gate.client_message(b"{\"type\":\"nonsense\"}")), 4400);
        assert_eq!(close_code(gate.client_message(b"not json")), 4400);
    }

    #[test]
    fn ids_are_unique_while_in_use() {
        let mut gate = gate();
        gate.client_message(INIT);
        assert!(matches!(gate.client_message(&subscribe("a")), Verdict::Forward(_)));
        assert_eq!(close_code(gate.client_message(&subscribe("a"))), 4409);
        let mut gate = self::gate();
        gate.client_message(INIT);
        gate.client_message(&subscribe("a"));
        gate.client_message(br#"{"type":"complete","id":"a"}"#);
        assert!(matches!(gate.client_message(&subscribe("a")), Verdict::Forward(_)), "free again after complete");
        gate.server_message(r#"{"type":"complete","id":"a"}"#);
        assert!(matches!(gate.client_message(&subscribe("a")), Verdict::Forward(_)), "or after the server's");
    }

    #[test]
    fn subscriptions_are_capped_per_socket() {
        let mut gate = gate();
        gate.client_message(INIT);
        for n in 0..MAX_SUBSCRIPTIONS {
            assert!(matches!(gate.client_message(&subscribe(&n.to_string())), Verdict::Forward(_)));
        }
        let Verdict::Reply(refusal) = gate.client_message(&subscribe("one more")) else { panic!("a reply") };
        let refusal: serde_json::Value = serde_json::from_str(&refusal).unwrap();
        assert_eq!(refusal["type"], "error");
        assert_eq!(refusal["id"], "one more");
        assert_eq!(refusal["payload"][0]["extensions"]["code"], "BAD_USER_INPUT");
        gate.server_message(r#"{"type":"complete","id":"7"}"#);
        assert!(matches!(gate.client_message(&subscribe("one more")), Verdict::Forward(_)));
        gate.server_message(r#"{"type":"next","id":"8","payload":{}}"#);
        assert!(matches!(gate.client_message(&subscribe("another")), Verdict::Reply(_)), "next ends nothing");
    }
}
