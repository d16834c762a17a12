//! Who the client is when the service sits behind proxies: asked by the HTTP layer, and a leaf of its own so
//! that the configuration can parse `--trusted-proxies` without knowing the HTTP layer. The address is the
//! connection's peer, unless that
//! peer is a trusted proxy: then `X-Forwarded-For` is walked from the right (the entry the nearest proxy
//! appended) past every trusted address, and the first untrusted one is the client. Entries left of it are
//! whatever the client sent, so a client cannot choose its recorded address by sending its own header.
//!
//! Addresses are normalised: an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket
//! reports for IPv4 peers) is the IPv4 address, so one IPv4 range covers both forms.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

/// The IPv4 address of an IPv4-mapped IPv6 address; any other address as it is.
pub fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// One trusted range: a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a single address (`127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedRange(IpNet);

impl FromStr for TrustedRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let net = match text.parse::<IpNet>() {
            Ok(net) => net,
            Err(_) => text.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                format!("{text:?} is not a CIDR range or an IP address (e.g. 10.0.0.0/8, 2001:db8::/32, 127.0.0.1)")
            })?,
        };
        // An IPv4-mapped range would never match: peers are normalised to IPv4 first.
        let net = match net {
            IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
                Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(net),
                None => net,
            },
            net => net,
        };
        Ok(Self(net.trunc()))
    }
}

impl std::fmt::Display for TrustedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The proxies whose word about the client is believed (`--trusted-proxies`). Empty: nobody's.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    ranges: Vec<TrustedRange>,
}

/// A comma-separated list (`10.0.0.0/16, 127.0.0.1`); empty entries are ignored, so `""` is nobody.
impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let ranges = text.split(',').filter(|entry| !entry.trim().is_empty()).map(str::parse).collect::<Result<_, _>>();
        Ok(Self { ranges: ranges? })
    }
}

impl std::fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.ranges.is_empty() {
            return f.write_str("none");
        }
        let ranges: Vec<String> = self.ranges.iter().map(ToString::to_string).collect();
        f.write_str(&ranges.join(", "))
    }
}

impl TrustedProxies {
    pub fn new(ranges: Vec<TrustedRange>) -> Self {
        Self { ranges }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether `ip` (normalised here) is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = normalise(ip);
        self.ranges.iter().any(|range| range.0.contains(&ip))
    }

    /// The client's address, given the connection's `peer` and the `X-Forwarded-For` header values in the
    /// order they arrived (several headers count as one list, as HTTP says).
    pub fn client_ip<'a>(&self, peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a str>) -> IpAddr {
        let mut client = normalise(peer);
        if !self.trusts(client) {
            return client;
        }
        let entries: Vec<&str> = forwarded_for.into_iter().flat_map(|value| value.split(',')).collect();
        for entry in entries.into_iter().rev() {
            // A trusted proxy wrote everything right of here; an entry that is not an address means the
            // chain is broken, so the last address known to come from a trusted proxy stands.
            let Some(hop) = parse_entry(entry) else {
                return client;
            };
            client = hop;
            if !self.trusts(hop) {
                return hop;
            }
        }
        // Every hop was a trusted proxy: the request started inside, at the leftmost one.
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:4711`, `[2001:db8::1]:4711`)
/// or brackets, as some proxies write them.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .or_else(|_| entry.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>())
        .ok()?;
    Some(normalise(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::new(ranges.iter().map(|r| r.parse().unwrap()).collect())
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_parse_as_cidrs_or_single_addresses() {
        assert_eq!("10.1.2.3/8".parse::<TrustedRange>().unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(" 127.0.0.1 ".parse::<TrustedRange>().unwrap().to_string(), "127.0.0.1/32");
        assert_eq!("2001:db8::1/32".parse::<TrustedRange>().unwrap().to_string(), "2001:db8::/32");
        assert_eq!("::1".parse::<TrustedRange>().unwrap().to_string(), "::1/128");
        assert_eq!("::ffff:10.0.0.0/104".parse::<TrustedRange>().unwrap().to_string(), "10.0.0.0/8");
        for bad in ["", "10.0.0.0/33", "example.com", "10.0.0/8", "10.0.0.0/"] {
            assert!(bad.parse::<TrustedRange>().is_err(), "{bad:?} refused");
        }
    }

    #[test]
    fn lists_are_comma_separated_and_may_be_empty() {
        let proxies: TrustedProxies = "10.0.0.0/16, 127.0.0.1,,::1,".parse().unwrap();
        assert_eq!(proxies.to_string(), "10.0.0.0/16, 127.0.0.1/32, ::1/128");
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        assert_eq!(TrustedProxies::default().to_string(), "none");
        assert!(" , ".parse::<TrustedProxies>().unwrap().is_empty());
        assert!("10.0.0.0/8, example.com".parse::<TrustedProxies>().is_err());
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let proxies = trusted(&["10.0.0.0/8"]);
        assert_eq!(proxies.client_ip(ip("192.0.2.7"), ["203.0.113.9"]), ip("192.0.2.7"));
        assert_eq!(TrustedProxies::default().client_ip(ip("10.0.0.1"), ["203.0.113.9"]), ip("10.0.0.1"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_entry_is_the_client() {
        let proxies = trusted(&["10.0.0.0/8"]);
        assert_eq!(proxies.client_ip(ip("10.0.0.5"), ["192.0.2.7"]), ip("192.0.2.7"));
        // The client forged the first entry; the proxy appended what it saw.
        assert_eq!(proxies.client_ip(ip("10.0.0.5"), ["203.0.113.9, 192.0.2.7"]), ip("192.0.2.7"));
        // Two trusted hops (an ALB, then a sidecar), forged entries left of the client.
        assert_eq!(proxies.client_ip(ip("10.0.0.5"), ["1.1.1.1, 192.0.2.7, 10.0.3.4"]), ip("192.0.2.7"));
        // Several header lines are one list, in order.
        assert_eq!(proxies.client_ip(ip("10.0.0.5"), ["203.0.113.9", "192.0.2.7"]), ip("192.0.2.7"));
    }

    #[test]
    fn without_a_usable_header_the_last_trusted_hop_stands() {
        let proxies = trusted(&["10.0.0.0/8"]);
        assert_eq!(proxies.client_ip(ip("10.0.0.5"), []), ip("10.0.0.5"));
        assert_eq!(proxies.client_ip(ip("10.0.0.5"), ["10.9.9.9"]), ip("10.9.9.9"), "started inside");
        assert_eq!(proxies.client_ip(ip("10.0.0.5"), ["192.0.2.7, junk"]), ip("10.0.0.5"));
        assert_eq!(proxies.client_ip(ip("10.0.0.5"), ["junk, 10.0.0.6"]), ip("10.0.0.6"));
        assert_eq!(proxies.client_ip(ip("10.0.0.5"), [""]), ip("10.0.0.5"));
    }

    #[test]
    fn ipv6_and_ipv4_mapped_addresses_are_normalised() {
        let proxies = trusted(&["10.0.0.0/8", "fd00::/8"]);
        assert_eq!(proxies.client_ip(ip("::ffff:192.0.2.7"), ["203.0.113.9"]), ip("192.0.2.7"));
        assert_eq!(proxies.client_ip(ip("::ffff:10.0.0.5"), ["::ffff:192.0.2.7"]), ip("192.0.2.7"));
        assert_eq!(proxies.client_ip(ip("fd00::1"), ["2001:db8::7"]), ip("2001:db8::7"));
        assert_eq!(proxies.client_ip(ip("fd00::1"), ["[2001:db8::7]:4711"]), ip("2001:db8::7"));
        assert_eq!(proxies.client_ip(ip("10.0.0.5"), ["192.0.2.7:4711"]), ip("192.0.2.7"));
        assert_eq!(proxies.client_ip(ip("10.0.0.5"), ["[2001:db8::7]"]), ip("2001:db8::7"));
        assert!(proxies.trusts(ip("::ffff:10.1.1.1")));
    }
}
