//! A rate per client address: a token bucket per IP (an IPv6 client's /64) on each instance (behind a load
//! balancer the effective limit is up to the instance count times this). The API limits mutations with it
//! (`graphql::rate_limit`), the share links their counted opens.
//!
//! Hand-written, not `governor`: the same arithmetic in 30 lines, where governor's keyed limiter would add nine
//! crates to the tree (dashmap, quanta, raw-cpuid, …) and still leave the sweep of idle keys to us. Nor a
//! bounded cache for the buckets: eviction under a flood of addresses would forget a drained bucket, giving its
//! client a fresh burst; here only buckets idle long enough to be full again are dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets idle this long are forgotten (they would be full again anyway).
const IDLE: Duration = Duration::from_secs(600);

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `per_minute` mutations a minute on average, up to `burst` at once; 0 turns the limit off.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self { per_second: f64::from(per_minute) / 60.0, burst: f64::from(burst.max(1)), buckets: Mutex::default() }
    }

    /// Take one token for `ip` at `now`; the wait until one is free if there is none.
    pub fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > 10_000 {
            buckets.retain(|_, bucket| now.duration_since(bucket.at) < IDLE);
        }
        let bucket = buckets.entry(super::caller::address_key(ip)).or_insert(Bucket { tokens: self.burst, at: now });
        let refilled = now.duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refilled).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.per_second))
        }
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
}
