//! WebSocket settings: how subscribers' sockets are kept alive, how soon they must speak, how many one address
//! may hold.

use std::time::Duration;

use clap::Args;

use super::Contradiction;
use crate::http::ws::WsLimits;

/// Timings and bounds of the GraphQL WebSocket (`http::ws`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "WebSocket")]
pub struct WebSocketSettings {
    /// Seconds between WebSocket pings to subscribers: keeps quiet subscriptions open through load balancers
    /// (an ALB closes connections idle for 60 s by default).
    #[arg(long, global = true, env = "PHOTOSHARE_WS_PING_SECONDS", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ws_ping_seconds: u64,
    /// Seconds a WebSocket client has to send `connection_init` after connecting; then it is closed (4408).
    #[arg(long, global = true, env = "PHOTOSHARE_WS_INIT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ws_init_seconds: u64,
    /// Seconds a WebSocket may send nothing at all, not even the pong to a ping, before it is closed (checked
    /// at each ping). More than `--ws-ping-seconds`.
    #[arg(long, global = true, env = "PHOTOSHARE_WS_IDLE_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..=86_400))]
    pub ws_idle_seconds: u64,
    /// WebSockets one client address (an IPv6 client's /64) may hold open on one instance; more get 429.
    /// Clients behind one NAT share an address: each socket carries up to 100 subscriptions.
    #[arg(long, global = true, env = "PHOTOSHARE_WS_CONNECTIONS_PER_ADDRESS", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub ws_connections_per_address: u64,
}

impl WebSocketSettings {
    /// A client answers each ping, so a live socket is quiet at least a ping interval: the idle limit must be
    /// longer.
    pub fn validate(&self) -> Result<(), Contradiction> {
        if self.ws_idle_seconds <= self.ws_ping_seconds {
            return Err(Contradiction::new(
                ["--ws-idle-seconds", "--ws-ping-seconds"],
                format!(
                    "--ws-idle-seconds ({}) must be more than --ws-ping-seconds ({}): a client answers each ping, so \
                     a socket is quiet at least that long",
                    self.ws_idle_seconds, self.ws_ping_seconds
                ),
            ));
        }
        Ok(())
    }

    /// What `http::ws` enforces.
    pub fn limits(&self) -> WsLimits {
        WsLimits {
            ping_every: Duration::from_secs(self.ws_ping_seconds),
            init_within: Duration::from_secs(self.ws_init_seconds),
            idle: Duration::from_secs(self.ws_idle_seconds),
            per_address: usize::try_from(self.ws_connections_per_address).unwrap_or(usize::MAX),
        }
    }
}
