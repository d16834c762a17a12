//! HTTP settings: where the service listens and is reached, whom it believes about client addresses, how long
//! a connection may take over each step, and how it stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::Contradiction;
use crate::client_ip::TrustedProxies;
use crate::http::connection::ConnectionLimits;
use crate::http::shutdown::ShutdownTimings;

/// The public listener and its connections.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "HTTP")]
pub struct HttpSettings {
    /// Address to listen on.
    #[arg(long, global = true, env = "PHOTOSHARE_LISTEN", default_value = "127.0.0.1:8888")]
    pub listen: SocketAddr,
    /// Base URL clients reach this service at (embedded mode signs upload and view links for it).
    /// Default: http://<listen address>, with 127.0.0.1 for an unspecified address.
    #[arg(long, global = true, env = "PHOTOSHARE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The load balancers and proxies in front of this service, as CIDR ranges or addresses, comma-separated
    /// (e.g. the VPC's range). Only their `X-Forwarded-For` and PROXY headers are believed; by default
    /// nobody's, and the TCP peer is the client.
    #[arg(long, global = true, env = "PHOTOSHARE_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<TrustedProxies>,
    /// Expect a PROXY protocol (v1 or v2) header on connections from the trusted proxies (an NLB, or a
    /// classic ELB with proxy protocol on). Other peers are served as they are.
    #[arg(long, global = true, env = "PHOTOSHARE_PROXY_PROTOCOL", default_value_t = false, action = clap::ArgAction::Set)]
    pub proxy_protocol: bool,
    /// Seconds a client has to send a request's whole head (request line and headers): from connecting, or
    /// from the first byte of a later request on a kept-alive connection. Then the connection is closed.
    #[arg(long, global = true, env = "PHOTOSHARE_HEADER_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_seconds: u64,
    /// Seconds a kept-alive connection may wait idle for its next request (and a request in flight may move no
    /// byte). Above the load balancer's idle timeout (an ALB's is 60 s), so that it closes idle connections first.
    #[arg(long, global = true, env = "PHOTOSHARE_KEEP_ALIVE_SECONDS", default_value_t = 75, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub keep_alive_seconds: u64,
    /// Seconds a request body may take to start, or pause; after that many seconds it must also average 8 KiB/s.
    /// A GraphQL request's whole body must arrive within this time.
    #[arg(long, global = true, env = "PHOTOSHARE_BODY_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_seconds: u64,
}

impl HttpSettings {
    /// PROXY headers are read only from trusted proxies: without any, `--proxy-protocol` would do nothing.
    pub fn validate(&self) -> Result<(), Contradiction> {
        if self.proxy_protocol && self.trusted_proxies().is_empty() {
            return Err(Contradiction::new(
                ["--proxy-protocol", "--trusted-proxies"],
                "--proxy-protocol (PHOTOSHARE_PROXY_PROTOCOL) needs --trusted-proxies (PHOTOSHARE_TRUSTED_PROXIES): \
                 PROXY headers are read only from the load balancer's addresses",
            ));
        }
        Ok(())
    }

    /// Whose `X-Forwarded-For` and PROXY headers are believed (nobody's by default).
    pub fn trusted_proxies(&self) -> Arc<TrustedProxies> {
        Arc::new(self.trusted_proxies.clone().unwrap_or_default())
    }

    /// Where clients reach the service once it listens on `bound`: `--public-url`, or the bound address
    /// (127.0.0.1 or ::1 for an unspecified one).
    pub fn public_url(&self, bound: SocketAddr) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let host = match bound.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
            ip if ip.is_unspecified() => "[::1]".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        format!("http://{host}:{}", bound.port())
    }

    /// How long a connection may take over each step.
    pub fn connections(&self) -> ConnectionLimits {
        ConnectionLimits {
            header: Duration::from_secs(self.header_timeout_seconds),
            keep_alive: Duration::from_secs(self.keep_alive_seconds),
            body: self.body_timeout(),
        }
    }

    /// Longest a GraphQL request's body may take to arrive.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_seconds)
    }
}

/// How the instance stops on SIGTERM or Ctrl-C (`http::shutdown`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Shutdown")]
pub struct ShutdownSettings {
    /// On SIGTERM or Ctrl-C, seconds `/readyz` answers 503 while requests are still served, so load balancers
    /// stop sending new ones before the port closes. Counts towards `--shutdown-seconds`.
    #[arg(long, global = true, env = "PHOTOSHARE_DRAIN_SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub drain_seconds: u64,
    /// Seconds from SIGTERM or Ctrl-C to exit at the latest: draining, then requests in flight finish and
    /// WebSockets are closed (1001). Match the load balancer's deregistration delay.
    #[arg(long, global = true, env = "PHOTOSHARE_SHUTDOWN_SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_seconds: u64,
}

impl ShutdownSettings {
    /// The drain is part of the time to the deadline, and requests in flight need some of it after.
    pub fn validate(&self) -> Result<(), Contradiction> {
        if self.drain_seconds >= self.shutdown_seconds {
            return Err(Contradiction::new(
                ["--drain-seconds", "--shutdown-seconds"],
                format!(
                    "--drain-seconds ({}) must be less than --shutdown-seconds ({}): requests in flight need time \
                     to finish after the drain",
                    self.drain_seconds, self.shutdown_seconds
                ),
            ));
        }
        Ok(())
    }

    /// When each step of a shutdown happens.
    pub fn timings(&self) -> ShutdownTimings {
        ShutdownTimings {
            drain: Duration::from_secs(self.drain_seconds),
            deadline: Duration::from_secs(self.shutdown_seconds),
        }
    }
}
