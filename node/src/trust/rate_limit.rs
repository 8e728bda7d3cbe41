//! Per-caller rate limiting: a GCRA bucket per caller identity (or remote host for anonymous
//! callers), refilled at `per_minute` requests a minute and holding up to `burst`.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::trust::facts::CallerKey;
use crate::trust::{Refusal, TrustError};

/// A per-caller request rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per minute (≥ 1).
    pub per_minute: u32,
    /// Requests a caller may make at once after being idle (≥ 1).
    pub burst: u32,
}

/// Idle callers' buckets are dropped every this many checks, bounding memory to the callers
/// active in the last minute or so.
const SWEEP_EVERY: u64 = 1024;

pub(crate) struct CallerRateLimiter {
    limiter: DefaultKeyedRateLimiter<CallerKey>,
    checks: AtomicU64,
}

impl CallerRateLimiter {
    pub(crate) fn new(limit: RateLimit) -> Result<Self, TrustError> {
        let nonzero = |value: u32, what: &str| {
            NonZeroU32::new(value).ok_or_else(|| {
                TrustError::InvalidRateLimit(format!(
                    "{what} must be at least 1 (None turns rate limiting off)"
                ))
            })
        };
        let quota = Quota::per_minute(nonzero(limit.per_minute, "per_minute")?)
            .allow_burst(nonzero(limit.burst, "burst")?);
        Ok(CallerRateLimiter {
            limiter: RateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
        })
    }

    /// Takes one request from the caller's bucket, or says how long until one is available.
    pub(crate) fn check(&self, key: &CallerKey) -> Result<(), Refusal> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            // Whole seconds, rounded up: retrying earlier would be refused again.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            Refusal::rate_limited(secs)
        })
    }
}
