//! The throttle stage: one token bucket per source, refilled from the
//! injected clock. It runs after dedup, so only new Observations spend
//! tokens; repeats are free. It does not queue: over the rate is a drop.
//!
//! `events_per_second` that is zero, negative or not a number means
//! unlimited (there is no use for a bucket that never refills; config
//! validation is where a bad value should be refused). `burst` is the
//! bucket's size, at least 1; the bucket starts full.

use k8s_openapi::jiff::Timestamp;

/// The rate of new Observations per source.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    pub events_per_second: f64,
    pub burst: u32,
}

impl Default for ThrottleConfig {
    /// 500 new Observations a second, bursts of 1000.
    fn default() -> Self {
        Self {
            events_per_second: 500.0,
            burst: 1000,
        }
    }
}

/// A token bucket on an injected clock.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Tokens added a second; `None` is unlimited.
    rate: Option<f64>,
    capacity: f64,
    tokens: f64,
    /// When tokens were last added; never moves back.
    refilled_at: Option<Timestamp>,
}

impl TokenBucket {
    pub fn new(config: &ThrottleConfig) -> Self {
        let rate = config.events_per_second;
        let capacity = f64::from(config.burst.max(1));
        Self {
            rate: (rate.is_finite() && rate > 0.0).then_some(rate),
            capacity,
            tokens: capacity,
            refilled_at: None,
        }
    }

    /// Takes a token if one is left at `now`.
    pub fn try_take(&mut self, now: Timestamp) -> bool {
        let Some(rate) = self.rate else { return true };
        self.refill(now, rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whole tokens left (a gauge), as of the last take.
    pub fn available(&self) -> u64 {
        if self.rate.is_none() {
            return u64::MAX;
        }
        self.tokens.floor() as u64
    }

    pub fn is_unlimited(&self) -> bool {
        self.rate.is_none()
    }

    fn refill(&mut self, now: Timestamp, rate: f64) {
        let Some(last) = self.refilled_at else {
            self.refilled_at = Some(now);
            return;
        };
        if now <= last {
            return; // a clock that steps back refills nothing
        }
        let elapsed = now.duration_since(last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(self.capacity);
        self.refilled_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(millis: i64) -> Timestamp {
        Timestamp::from_millisecond(millis).expect("valid time")
    }

    fn bucket(events_per_second: f64, burst: u32) -> TokenBucket {
        TokenBucket::new(&ThrottleConfig {
            events_per_second,
            burst,
        })
    }

    fn takes(b: &mut TokenBucket, n: usize, at: Timestamp) -> usize {
        (0..n).filter(|_| b.try_take(at)).count()
    }

    #[test]
    fn defaults_are_500_a_second_with_bursts_of_1000() {
        let c = ThrottleConfig::default();
        assert_eq!((c.events_per_second, c.burst), (500.0, 1000));
    }

    #[test]
    fn a_full_bucket_allows_the_burst_then_refills_at_the_rate() {
        let mut b = bucket(10.0, 5);
        assert_eq!(takes(&mut b, 8, t(0)), 5);
        assert_eq!(b.available(), 0);
        assert_eq!(takes(&mut b, 3, t(100)), 1, "0.1s at 10/s is one token");
        assert_eq!(takes(&mut b, 3, t(250)), 1, "1.5 tokens: one whole");
        assert_eq!(takes(&mut b, 10, t(10_000)), 5, "refill stops at the burst");
    }

    #[test]
    fn a_clock_stepping_back_refills_nothing() {
        let mut b = bucket(1.0, 1);
        assert!(b.try_take(t(5_000)));
        assert!(!b.try_take(t(1_000)));
        assert!(
            !b.try_take(t(5_500)),
            "time is measured from the latest instant seen"
        );
        assert!(b.try_take(t(6_000)));
    }

    #[test]
    fn a_non_positive_rate_is_unlimited_and_burst_is_at_least_one() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut b = bucket(rate, 1);
            assert!(b.is_unlimited());
            assert_eq!(takes(&mut b, 10_000, t(0)), 10_000, "rate {rate}");
        }
        let mut b = bucket(1.0, 0);
        assert_eq!(takes(&mut b, 3, t(0)), 1);
    }
}
