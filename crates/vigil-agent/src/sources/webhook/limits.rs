//! The per-endpoint request rate: a token bucket that never waits. Over the
//! rate, the caller answers 429 with the time until the next token as
//! `Retry-After`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RequestRate {
    rate: f64,
    capacity: f64,
    state: Mutex<(f64, Instant)>,
}

impl RequestRate {
    /// `rate` requests a second (> 0), bursts of `burst`; starts full.
    pub fn new(rate: f64, burst: u32, now: Instant) -> Self {
        let capacity = f64::from(burst.max(1));
        Self {
            rate,
            capacity,
            state: Mutex::new((capacity, now)),
        }
    }

    /// Takes a token, or tells how long until one is there.
    pub fn try_take(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, at) = &mut *state;
        if now > *at {
            let elapsed = now.duration_since(*at).as_secs_f64();
            *tokens = (*tokens + elapsed * self.rate).min(self.capacity);
            *at = now;
        }
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.rate))
        }
    }
}

/// `Retry-After` in whole seconds, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let r = RequestRate::new(10.0, 3, t0);
        assert!((0..3).all(|_| r.try_take(t0).is_ok()));
        let wait = r.try_take(t0).expect_err("empty");
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100));
        assert_eq!(retry_after_secs(wait), 1);
        let later = t0 + Duration::from_millis(250);
        assert!(r.try_take(later).is_ok());
        assert!(r.try_take(later).is_ok());
        assert!(r.try_take(later).is_err(), "2.5 tokens refilled, 2 taken");
        // Never more than the burst, however long it was idle.
        let much_later = t0 + Duration::from_secs(3600);
        assert_eq!(
            (0..10).filter(|_| r.try_take(much_later).is_ok()).count(),
            3
        );
    }

    #[test]
    fn slow_rates_ask_for_longer_waits() {
        let t0 = Instant::now();
        let r = RequestRate::new(0.25, 1, t0);
        assert!(r.try_take(t0).is_ok());
        assert_eq!(retry_after_secs(r.try_take(t0).expect_err("empty")), 4);
    }
}
