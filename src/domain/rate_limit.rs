//! A rate per client address: a token bucket per IP (an IPv6 client's /64) on each instance (behind a load
//! balancer the effective limit is up to the instance count times this). The API limits mutations with it
//! (`graphql::rate_limit`), the share links their counted opens.
//!
//! The buckets live in a bounded cache (quick_cache, already in the tree): each `take` is one hash lookup
//! under one of its shards' locks, whatever the number of addresses, and at most `MAX_ADDRESSES` buckets are
//! kept. Before, a map swept itself whole on every call once past 10,000 addresses: 64k IPv6 /64s behind a
//! trusted proxy made every caller's request cost seven times the CPU. When the cache is full, S3-FIFO drops
//! the buckets of addresses seen once first: a client that has used its bucket more than once (as one must
//! to drain it) keeps it through a flood of one-off addresses, so the flood cannot hand it a fresh burst;
//! an address dropped from the cache comes back with a full bucket, as it would after idling anyway.
//! Not `governor`: the same arithmetic in 30 lines, where its keyed limiter would add nine crates to the tree
//! (dashmap, quanta, raw-cpuid, …) and still leave forgetting idle keys to us.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use quick_cache::sync::{Cache, EntryAction, EntryResult};

/// Addresses whose buckets are kept, at most (about 60 bytes each: 2 MiB).
pub const MAX_ADDRESSES: usize = 32 * 1024;

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Cache<IpAddr, Bucket>,
}

#[derive(Clone)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `per_minute` mutations a minute on average, up to `burst` at once; 0 turns the limit off.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self::with_capacity(per_minute, burst, MAX_ADDRESSES)
    }

    fn with_capacity(per_minute: u32, burst: u32, addresses: usize) -> Self {
        let (per_second, burst) = (f64::from(per_minute) / 60.0, f64::from(burst.max(1)));
        Self { per_second, burst, buckets: Cache::new(addresses) }
    }

    /// Take one token for `ip` at `now`; the wait until one is free if there is none.
    pub fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let key = super::caller::address_key(ip);
        let take = |bucket: &mut Bucket| {
            let refilled = now.saturating_duration_since(bucket.at).as_secs_f64() * self.per_second;
            bucket.tokens = (bucket.tokens + refilled).min(self.burst);
            bucket.at = bucket.at.max(now);
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                Ok(())
            } else {
                Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.per_second))
            }
        };
        match self.buckets.entry(&key, None, |_, bucket| EntryAction::Retain(take(bucket))) {
            EntryResult::Retained(taken) => taken,
            EntryResult::Vacant(guard) => {
                let mut bucket = Bucket { tokens: self.burst, at: now };
                let taken = take(&mut bucket);
                let _ = guard.insert(bucket);
                taken
            }
            // Neither is asked for (`Retain` only, no timeout): let the call through rather than fail it.
            EntryResult::Removed(..) | EntryResult::Replaced(..) | EntryResult::Timeout => Ok(()),
        }
    }

    /// Addresses with a bucket kept.
    pub fn addresses(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_a_burst_then_the_rate() {
        let limiter = RateLimiter::new(60, 3);
        let (ip, other, start) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap(), Instant::now());
        for _ in 0..3 {
            assert!(limiter.take(ip, start).is_ok());
        }
        let wait = limiter.take(ip, start).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::from_millis(900), "{wait:?}");
        assert!(limiter.take(other, start).is_ok(), "per address");
        assert!(limiter.take(ip, start + Duration::from_millis(1_100)).is_ok(), "one a second refills");
        assert!(RateLimiter::new(0, 0).take(ip, start).is_ok(), "0 turns it off");
    }

    fn ipv6_64(n: u64) -> IpAddr {
        IpAddr::V6(std::net::Ipv6Addr::from((0x2001_0db8_u128 << 96) | (u128::from(n) << 64) | 1))
    }

    /// Seconds per `take` of ten addresses taking turns, best of five rounds.
    fn seconds_per_take(limiter: &RateLimiter, now: Instant) -> f64 {
        let rounds = (0..5).map(|_| {
            let started = Instant::now();
            for n in 0..1_000 {
                let _ = limiter.take(ipv6_64(n % 10), now);
            }
            started.elapsed().as_secs_f64() / 1_000.0
        });
        rounds.fold(f64::INFINITY, f64::min)
    }

    #[test]
    fn a_flood_of_addresses_is_bounded_and_costs_each_take_the_same() {
        let now = Instant::now();
        let quiet = RateLimiter::new(120, 30);
        let at_ten = seconds_per_take(&quiet, now);

        let flooded = RateLimiter::new(120, 30);
        // A client that drained its bucket before the flood.
        let client = "198.51.100.7".parse().unwrap();
        while flooded.take(client, now).is_ok() {}
        for n in 0..100_000 {
            let _ = flooded.take(ipv6_64(1_000 + n), now);
        }
        assert!(flooded.addresses() <= MAX_ADDRESSES, "{} buckets kept", flooded.addresses());
        assert!(flooded.take(client, now).is_err(), "the flood gave a drained client no fresh burst");
        let at_100k = seconds_per_take(&flooded, now);
        println!("take: {:.2} µs at 10 addresses, {:.2} µs at 100k", at_ten * 1e6, at_100k * 1e6);
        assert!(at_100k < at_ten * 10.0, "{at_100k} s per take at 100k addresses, {at_ten} s at 10");
    }
}
