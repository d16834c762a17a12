//! The PROXY protocol (versions 1 and 2, as HAProxy specifies them): a header a load balancer sends at the
//! start of a TCP connection saying whom it relays (an AWS NLB or a classic ELB with proxy protocol on,
//! HAProxy's `send-proxy` / `send-proxy-v2`). This module only parses; the listener decides whom to believe.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12 bytes every version 2 header starts with.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Version 2's fixed part: signature, version and command, family and transport, length of the rest.
const V2_FIXED: usize = 16;
/// Every version 1 header starts with this.
const V1_PREFIX: &[u8] = b"PROXY ";
/// Longest version 1 header, CRLF included.
const V1_MAX: usize = 107;

/// Whom the proxy relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A client at this address.
    Client(SocketAddr),
    /// Nobody else: the proxy's own connection (a v2 `LOCAL` health check), or an address family the header
    /// can't express (v1 `UNKNOWN`, v2 `UNSPEC` or Unix sockets). The TCP peer stands.
    Proxy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A whole header of `length` bytes; whatever follows is the proxied stream.
    Header { source: Source, length: usize },
    /// A valid beginning: read more.
    Incomplete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the connection does not start with a PROXY protocol header")]
    Missing,
    #[error("malformed PROXY protocol v1 header: {0}")]
    V1(&'static str),
    #[error("malformed PROXY protocol v2 header: {0}")]
    V2(&'static str),
}

/// Parse the header at the start of `bytes` (everything received so far).
pub fn parse(bytes: &[u8]) -> Result<Parsed, HeaderError> {
    let starts = |prefix: &[u8]| {
        let n = bytes.len().min(prefix.len());
        bytes[..n] == prefix[..n]
    };
    if starts(V2_SIGNATURE) {
        if bytes.len() < V2_FIXED { Ok(Parsed::Incomplete) } else { parse_v2(bytes) }
    } else if starts(V1_PREFIX) {
        if bytes.len() < V1_PREFIX.len() { Ok(Parsed::Incomplete) } else { parse_v1(bytes) }
    } else {
        Err(HeaderError::Missing)
    }
}

/// `PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n`, or `PROXY UNKNOWN ...\r\n`.
fn parse_v1(bytes: &[u8]) -> Result<Parsed, HeaderError> {
    let window = &bytes[..bytes.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|pair| pair == b"\r\n") else {
        return if bytes.len() >= V1_MAX {
            Err(HeaderError::V1("no CRLF within 107 bytes"))
        } else {
            Ok(Parsed::Incomplete)
        };
    };
    let line = std::str::from_utf8(&bytes[..end]).map_err(|_| HeaderError::V1("not ASCII"))?;
    let length = end + 2;
    let fields: Vec<&str> = line.split(' ').collect();
    match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(Parsed::Header { source: Source::Proxy, length }),
        ["PROXY", family @ ("TCP4" | "TCP6"), source, destination, source_port, destination_port] => {
            let v4 = *family == "TCP4";
            let address = |text: &str| -> Result<IpAddr, HeaderError> {
                let ip = if v4 {
                    text.parse::<Ipv4Addr>().map(IpAddr::V4)
                } else {
                    text.parse::<Ipv6Addr>().map(IpAddr::V6)
                };
                ip.map_err(|_| HeaderError::V1("bad address for the family"))
            };
            let port = |text: &str| -> Result<u16, HeaderError> {
                // Decimal without sign or leading zeros, as the specification says.
                let canonical = !text.is_empty()
                    && text.bytes().all(|b| b.is_ascii_digit())
                    && (text == "0" || !text.starts_with('0'));
                text.parse().ok().filter(|_| canonical).ok_or(HeaderError::V1("bad port"))
            };
            let source = SocketAddr::new(address(source)?, port(source_port)?);
            address(destination)?;
            port(destination_port)?;
            Ok(Parsed::Header { source: Source::Client(source), length })
        }
        _ => Err(HeaderError::V1("expected PROXY TCP4|TCP6|UNKNOWN with two addresses and two ports")),
    }
}

/// The binary form: signature, `0x2?` (version 2, command LOCAL=0 or PROXY=1), family and transport, the
/// length of what follows, then addresses and optional TLVs (ignored).
fn parse_v2(bytes: &[u8]) -> Result<Parsed, HeaderError> {
    let version_command = bytes[12];
    if version_command >> 4 != 2 {
        return Err(HeaderError::V2("version is not 2"));
    }
    let family = bytes[13] >> 4;
    let rest = u16::from_be_bytes([bytes[14], bytes[15]]) as usize;
    let length = V2_FIXED + rest;
    if bytes.len() < length {
        return Ok(Parsed::Incomplete);
    }
    let addresses = &bytes[V2_FIXED..length];
    let source = match (version_command & 0x0f, family) {
        (0, _) => Source::Proxy,
        (1, 1) => {
            let &[a, b, c, d, _, _, _, _, p1, p2, _, _, ..] = addresses else {
                return Err(HeaderError::V2("IPv4 addresses need 12 bytes"));
            };
            Source::Client(SocketAddr::new(IpAddr::from([a, b, c, d]), u16::from_be_bytes([p1, p2])))
        }
        (1, 2) => {
            if addresses.len() < 36 {
                return Err(HeaderError::V2("IPv6 addresses need 36 bytes"));
            }
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&addresses[..16]);
            Source::Client(SocketAddr::new(IpAddr::from(ip), u16::from_be_bytes([addresses[32], addresses[33]])))
        }
        (1, 0 | 3) => Source::Proxy,
        (1, _) => return Err(HeaderError::V2("unknown address family")),
        _ => return Err(HeaderError::V2("unknown command")),
    };
    Ok(Parsed::Header { source, length })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(text: &str) -> Source {
        Source::Client(text.parse().unwrap())
    }

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(0x20 | command);
        header.push(family << 4 | 1);
        header.extend_from_slice(&(addresses.len() as u16).to_be_bytes());
        header.extend_from_slice(addresses);
        header
    }

    #[test]
    fn v1_tcp4_tcp6_and_unknown() {
        let bytes = b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n";
        assert_eq!(parse(bytes), Ok(Parsed::Header { source: client("192.0.2.1:56324"), length: 45 }));
        let bytes = b"PROXY TCP6 2001:db8::1 2001:db8::2 4711 80\r\n";
        assert_eq!(parse(bytes), Ok(Parsed::Header { source: client("[2001:db8::1]:4711"), length: bytes.len() }));
        let bytes = b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\nrest";
        assert_eq!(parse(bytes), Ok(Parsed::Header { source: Source::Proxy, length: bytes.len() - 4 }));
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Ok(Parsed::Header { source: Source::Proxy, length: 15 }));
    }

    #[test]
    fn v1_header_in_pieces_is_incomplete_until_crlf() {
        let whole = b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n";
        for cut in 0..whole.len() {
            assert_eq!(parse(&whole[..cut]), Ok(Parsed::Incomplete), "first {cut} bytes");
        }
    }

    #[test]
    fn v1_malformed_headers_are_refused() {
        for bad in [
            &b"PROXY TCP4 192.0.2.1 198.51.100.1 56324\r\n"[..],
            b"PROXY TCP4 2001:db8::1 198.51.100.1 56324 443\r\n",
            b"PROXY TCP6 192.0.2.1 198.51.100.1 56324 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.1 65536 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.1 0443 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.1 +443 443\r\n",
            b"PROXY TCP4  192.0.2.1 198.51.100.1 443 443\r\n",
            b"PROXY UDP4 192.0.2.1 198.51.100.1 443 443\r\n",
            b"PROXY \xff\r\n",
        ] {
            assert!(matches!(parse(bad), Err(HeaderError::V1(_))), "{:?}", String::from_utf8_lossy(bad));
        }
        let endless = [b"PROXY ".as_slice(), &[b'x'; 200]].concat();
        assert_eq!(parse(&endless), Err(HeaderError::V1("no CRLF within 107 bytes")));
    }

    #[test]
    fn not_a_header_at_all() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(HeaderError::Missing));
        assert_eq!(parse(b"PROXZ"), Err(HeaderError::Missing));
        assert_eq!(parse(b""), Ok(Parsed::Incomplete));
    }

    #[test]
    fn v2_ipv4_with_tlvs_and_trailing_data() {
        // 192.0.2.1:56324 -> 198.51.100.1:443, then a TLV (type 0x04 NOOP, 3 bytes).
        let mut addresses = vec![192, 0, 2, 1, 198, 51, 100, 1, 0xdc, 0x04, 0x01, 0xbb];
        addresses.extend_from_slice(&[0x04, 0x00, 0x03, 1, 2, 3]);
        let mut bytes = v2(1, 1, &addresses);
        let length = bytes.len();
        bytes.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(parse(&bytes), Ok(Parsed::Header { source: client("192.0.2.1:56324"), length }));
        for cut in 0..length {
            assert_eq!(parse(&bytes[..cut]), Ok(Parsed::Incomplete), "first {cut} bytes");
        }
    }

    #[test]
    fn v2_ipv6_local_and_unspecified() {
        let mut addresses = Vec::new();
        addresses.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        addresses.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        addresses.extend_from_slice(&[0x12, 0x67, 0x00, 0x50]);
        let bytes = v2(1, 2, &addresses);
        assert_eq!(parse(&bytes), Ok(Parsed::Header { source: client("[2001:db8::1]:4711"), length: 52 }));
        // LOCAL: the proxy's own health check, whatever addresses follow.
        assert_eq!(parse(&v2(0, 0, &[])), Ok(Parsed::Header { source: Source::Proxy, length: 16 }));
        assert_eq!(parse(&v2(1, 0, &[])), Ok(Parsed::Header { source: Source::Proxy, length: 16 }));
        assert_eq!(parse(&v2(1, 3, &[0; 216])), Ok(Parsed::Header { source: Source::Proxy, length: 232 }));
    }

    #[test]
    fn v2_malformed_headers_are_refused() {
        assert_eq!(parse(&v2(1, 1, &[192, 0, 2, 1])), Err(HeaderError::V2("IPv4 addresses need 12 bytes")));
        assert_eq!(parse(&v2(1, 2, &[0; 12])), Err(HeaderError::V2("IPv6 addresses need 36 bytes")));
        assert_eq!(parse(&v2(2, 1, &[0; 12])), Err(HeaderError::V2("unknown command")));
        assert_eq!(parse(&v2(1, 4, &[0; 12])), Err(HeaderError::V2("unknown address family")));
        let mut version_one = v2(1, 1, &[0; 12]);
        version_one[12] = 0x11;
        assert_eq!(parse(&version_one), Err(HeaderError::V2("version is not 2")));
    }
}
