//! Who is calling: the client's address (as the HTTP layer found it, behind proxies) and, when one is sent,
//! an owner key (`Authorization: Bearer <key>`, 32–128 of `A-Z a-z 0-9 - _`, chosen by the client; only its
//! SHA-256 is ever kept). What a caller may retry, and how much it may do, is scoped by these.

use std::net::{IpAddr, Ipv6Addr};

use sha2::{Digest, Sha256};

use crate::domain::error::ApiError;

const KEY_CHARS: std::ops::RangeInclusive<usize> = 32..=128;

/// The SHA-256 of an owner key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OwnerKeyHash([u8; 32]);

impl OwnerKeyHash {
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A hash as stored or configured: 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

/// What a caller may change, as the API's rules decide it. Owners are compared by key hash; an admin (a key
/// whose hash is configured with `--admin-key-sha256`) may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No key was sent.
    Anonymous,
    Owner(OwnerKeyHash),
    Admin(OwnerKeyHash),
}

impl Standing {
    /// Whether this caller owns what `owner` (its stored owner, if any) says, or is an admin.
    pub fn may_change(&self, owner: Option<OwnerKeyHash>) -> bool {
        match self {
            Self::Anonymous => false,
            Self::Admin(_) => true,
            Self::Owner(key) => owner == Some(*key),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub ip: IpAddr,
    /// The owner key sent, or why the `Authorization` header is not one.
    owner: Result<Option<OwnerKeyHash>, String>,
}

impl Caller {
    /// A caller from its address and its `Authorization` header, if it sent one.
    pub fn new(ip: IpAddr, authorization: Option<&[u8]>) -> Self {
        Self { ip, owner: authorization.map(parse_authorization).transpose() }
    }

    /// The owner key sent (`None` without one), or `UNAUTHENTICATED` when the header is malformed.
    pub fn owner(&self) -> Result<Option<OwnerKeyHash>, ApiError> {
        self.owner.clone().map_err(ApiError::Unauthenticated)
    }

    /// Who the caller is for the rules on changing things (`admins`: the configured admin key hashes).
    pub fn standing(&self, admins: &std::collections::HashSet<OwnerKeyHash>) -> Result<Standing, ApiError> {
        Ok(match self.owner()? {
            None => Standing::Anonymous,
            Some(key) if admins.contains(&key) => Standing::Admin(key),
            Some(key) => Standing::Owner(key),
        })
    }

    /// Whose retries these are: the owner key's, or without one the address's (an IPv6 client's /64: privacy
    /// addresses change within it between a call and its retry).
    pub fn retry_scope(&self) -> Result<String, ApiError> {
        Ok(match self.owner()? {
            Some(key) => format!("key:{}", key.hex()),
            None => format!("ip:{}", address_key(self.ip)),
        })
    }
}

fn parse_authorization(header: &[u8]) -> Result<OwnerKeyHash, String> {
    let malformed = || {
        format!(
            "the Authorization header must be `Bearer <key>` with a key of {} to {} characters of A-Z, a-z, 0-9, '-' and '_'",
            KEY_CHARS.start(),
            KEY_CHARS.end()
        )
    };
    let text = std::str::from_utf8(header).map_err(|_| malformed())?;
    let (scheme, key) = text.trim().split_once(' ').ok_or_else(malformed)?;
    let key = key.trim();
    let valid = scheme.eq_ignore_ascii_case("bearer")
        && KEY_CHARS.contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(malformed());
    }
    Ok(OwnerKeyHash(Sha256::digest(key.as_bytes()).into()))
}

/// The address that limits count per: an IPv4 address as it is, an IPv6 address's /64 (one subscriber's
/// network holds 2^64 addresses of it).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key(a).to_string(), "2001:db8:1:2::");
        assert_ne!(address_key(a), address_key(other));
        assert_eq!(address_key("192.0.2.7".parse().unwrap()).to_string(), "192.0.2.7");
    }

    #[test]
    fn owner_keys_are_bearer_tokens_of_safe_characters() {
        let ip = "192.0.2.1".parse().unwrap();
        let key = "k".repeat(32);
        let caller = Caller::new(ip, Some(format!("Bearer {key}").as_bytes()));
        let hash = caller.owner().unwrap().unwrap();
        // printf kkk… | sha256sum
        assert_eq!(hash.hex(), "5e318f8cf9cbe249a30812b8ca132d691ded7a91991413558db5758575f5e01f");
        assert_eq!(caller.retry_scope().unwrap(), format!("key:{}", hash.hex()));
        assert_eq!(Caller::new(ip, None).retry_scope().unwrap(), "ip:192.0.2.1");
        for bad in ["Bearer short", "Basic kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", &format!("Bearer {key}!"), "Bearer"] {
            let error = Caller::new(ip, Some(bad.as_bytes())).owner().unwrap_err();
            assert_eq!(error.code(), crate::domain::error::ErrorCode::Unauthenticated, "{bad}");
        }
    }
}
