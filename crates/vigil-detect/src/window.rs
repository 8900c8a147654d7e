//! Event-time windows: their shape (tumbling, hopping) and which windows an
//! instant falls in. Owns the arithmetic only; state per window is the
//! engine's.
//!
//! Times are whole milliseconds since the Unix epoch. A window is
//! `[start, end)`; starts are multiples of the hop counted from the epoch
//! (a tumbling window's hop is its size), so every process cuts the same
//! windows whatever the first event it saw.

use std::fmt;
use std::time::Duration;

/// Longest window (and hop): a leap year. Keeps every bound well inside i64
/// milliseconds.
pub const MAX_WINDOW: Duration = Duration::from_secs(366 * 86_400);

/// Most windows one instant may fall in (`size / hop`, rounded up): bounds
/// the work per signal.
pub const MAX_WINDOWS_PER_INSTANT: u64 = 60;

/// Tumbling or hopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowKind {
    /// Adjacent, non-overlapping windows of one size.
    Tumbling,
    /// Windows of one size starting every hop; they overlap when hop < size.
    Hopping,
}

impl WindowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WindowKind::Tumbling => "tumbling",
            WindowKind::Hopping => "hopping",
        }
    }
}

/// Why a window shape was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("must be > 0")]
    Zero,
    #[error("must be at most 366d")]
    TooLong,
    #[error("must be a whole number of milliseconds")]
    SubMillisecond,
    #[error("must not be greater than the window size")]
    HopLongerThanSize,
    #[error("size / hop must be at most {MAX_WINDOWS_PER_INSTANT} (every event falls in that many windows)")]
    TooManyHops,
}

/// The shape of a rule's windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowSpec {
    kind: WindowKind,
    size_ms: i64,
    hop_ms: i64,
}

fn millis(d: Duration) -> Result<i64, WindowError> {
    if d.is_zero() {
        return Err(WindowError::Zero);
    }
    if d > MAX_WINDOW {
        return Err(WindowError::TooLong);
    }
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return Err(WindowError::SubMillisecond);
    }
    // At most 366 days: fits.
    Ok(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl WindowSpec {
    /// Adjacent windows of `size`.
    pub fn tumbling(size: Duration) -> Result<Self, WindowError> {
        let size_ms = millis(size)?;
        Ok(Self {
            kind: WindowKind::Tumbling,
            size_ms,
            hop_ms: size_ms,
        })
    }

    /// Windows of `size` starting every `hop`. The error is about `hop`
    /// unless `size` itself is invalid (check it first with
    /// [`WindowSpec::tumbling`] to tell which).
    pub fn hopping(size: Duration, hop: Duration) -> Result<Self, WindowError> {
        let size_ms = millis(size)?;
        let hop_ms = millis(hop)?;
        if hop_ms > size_ms {
            return Err(WindowError::HopLongerThanSize);
        }
        let per_instant = (size_ms as u64).div_ceil(hop_ms as u64);
        if per_instant > MAX_WINDOWS_PER_INSTANT {
            return Err(WindowError::TooManyHops);
        }
        Ok(Self {
            kind: WindowKind::Hopping,
            size_ms,
            hop_ms,
        })
    }

    pub fn kind(&self) -> WindowKind {
        self.kind
    }

    pub fn size(&self) -> Duration {
        Duration::from_millis(self.size_ms as u64)
    }

    /// The hop (the size, for tumbling windows).
    pub fn hop(&self) -> Duration {
        Duration::from_millis(self.hop_ms as u64)
    }

    /// Every window containing the instant `at_ms`, oldest first.
    pub fn windows_at(&self, at_ms: i64) -> Windows {
        let last = at_ms.div_euclid(self.hop_ms);
        // The first window still containing `at`: start > at - size.
        let first = (at_ms - self.size_ms).div_euclid(self.hop_ms) + 1;
        Windows {
            next: first,
            last,
            hop_ms: self.hop_ms,
            size_ms: self.size_ms,
        }
    }
}

impl fmt::Display for WindowSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = vigil_model::duration::format(self.size());
        match self.kind {
            WindowKind::Tumbling => write!(f, "tumbling {size}"),
            WindowKind::Hopping => write!(
                f,
                "hopping {size} every {}",
                vigil_model::duration::format(self.hop())
            ),
        }
    }
}

/// One window: `[start_ms, end_ms)` in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Window {
    pub fn contains(&self, at_ms: i64) -> bool {
        self.start_ms <= at_ms && at_ms < self.end_ms
    }
}

/// The windows containing one instant ([`WindowSpec::windows_at`]).
#[derive(Debug, Clone)]
pub struct Windows {
    next: i64,
    last: i64,
    hop_ms: i64,
    size_ms: i64,
}

impl Iterator for Windows {
    type Item = Window;

    fn next(&mut self) -> Option<Window> {
        if self.next > self.last {
            return None;
        }
        let start_ms = self.next * self.hop_ms;
        self.next += 1;
        Some(Window {
            start_ms,
            end_ms: start_ms + self.size_ms,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.last - self.next + 1).unwrap_or(0);
        (n, Some(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn windows(spec: &WindowSpec, at_ms: i64) -> Vec<(i64, i64)> {
        spec.windows_at(at_ms)
            .map(|w| (w.start_ms, w.end_ms))
            .collect()
    }

    #[test]
    fn tumbling_windows_are_aligned_to_the_epoch_and_half_open() {
        let w = WindowSpec::tumbling(secs(300)).expect("valid");
        assert_eq!(windows(&w, 0), vec![(0, 300_000)]);
        assert_eq!(windows(&w, 299_999), vec![(0, 300_000)]);
        assert_eq!(
            windows(&w, 300_000),
            vec![(300_000, 600_000)],
            "end is exclusive"
        );
        // 2026-01-01T00:07:30Z is in [00:05, 00:10).
        let at = 1_767_225_600_000 + 450_000;
        assert_eq!(
            windows(&w, at),
            vec![(1_767_225_600_000 + 300_000, 1_767_225_600_000 + 600_000)]
        );
        assert_eq!(windows(&w, -1), vec![(-300_000, 0)], "before the epoch too");
    }

    #[test]
    fn hopping_windows_cover_an_instant_size_over_hop_times() {
        let w = WindowSpec::hopping(secs(600), secs(60)).expect("valid");
        let got = windows(&w, 630_000);
        assert_eq!(got.len(), 10);
        assert_eq!(got.first(), Some(&(60_000, 660_000)));
        assert_eq!(got.last(), Some(&(600_000, 1_200_000)));
        for (s, e) in &got {
            assert!(*s <= 630_000 && 630_000 < *e);
            assert_eq!(s % 60_000, 0);
        }
        // On a boundary the window ending there is excluded.
        let got = windows(&w, 660_000);
        assert_eq!(got.first(), Some(&(120_000, 720_000)));
        assert_eq!(got.len(), 10);
        assert_eq!(w.windows_at(660_000).size_hint(), (10, Some(10)));
    }

    #[test]
    fn hops_that_do_not_divide_the_size_still_cover_exactly() {
        let w = WindowSpec::hopping(secs(100), secs(30)).expect("valid");
        for at in [0, 29_999, 30_000, 99_999, 100_000, 123_456] {
            let got = windows(&w, at);
            let expected: Vec<(i64, i64)> = (-10i64..10)
                .map(|k| (k * 30_000, k * 30_000 + 100_000))
                .filter(|(s, e)| *s <= at && at < *e)
                .collect();
            assert_eq!(got, expected, "at {at}");
        }
    }

    #[test]
    fn shapes_are_checked() {
        assert_eq!(WindowSpec::tumbling(secs(0)), Err(WindowError::Zero));
        assert_eq!(
            WindowSpec::tumbling(secs(367 * 86_400)),
            Err(WindowError::TooLong)
        );
        assert_eq!(
            WindowSpec::tumbling(Duration::from_micros(1500)),
            Err(WindowError::SubMillisecond)
        );
        assert_eq!(
            WindowSpec::hopping(secs(60), secs(120)),
            Err(WindowError::HopLongerThanSize)
        );
        assert_eq!(
            WindowSpec::hopping(secs(61), secs(1)),
            Err(WindowError::TooManyHops)
        );
        assert!(WindowSpec::hopping(secs(60), secs(1)).is_ok());
        assert_eq!(
            WindowSpec::hopping(secs(60), secs(0)),
            Err(WindowError::Zero)
        );
        let w = WindowSpec::hopping(secs(600), secs(60)).expect("valid");
        assert_eq!(w.to_string(), "hopping 10m every 1m");
        assert_eq!(
            WindowSpec::tumbling(secs(90)).expect("valid").to_string(),
            "tumbling 1m30s"
        );
    }
}
