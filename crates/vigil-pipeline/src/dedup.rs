//! The dedup stage: tumbling windows on event time, keyed by content
//! fingerprint. Owns the bounded cache of what was emitted in which window;
//! it does not compute fingerprints nor names.
//!
//! Key = (fingerprint, window index = ⌊event epoch seconds / window seconds⌋).
//! The first sighting of a key emits; later ones are repeats. Entries expire
//! once their window ended more than one window before `now` (the clock),
//! swept from the front of an insertion-ordered queue, so each entry is
//! expired in O(1) amortized and no event pays for a full scan.
//!
//! The cache holds at most `max_entries`; when full, the oldest entry (by
//! insertion, which follows event time for a live stream) is evicted and
//! counted. An eviction costs at most one extra create of an Observation
//! that already exists: names are deterministic, so the API server answers
//! 409 and nothing is duplicated.

use crate::fingerprint::Fingerprint;
use foldhash::fast::RandomState;
use k8s_openapi::jiff::Timestamp;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Window length and cache bound.
#[derive(Debug, Clone)]
pub struct DedupConfig {
    /// Tumbling window length, in whole seconds (at least 1).
    pub window: std::time::Duration,
    /// Entries kept at most (at least 1).
    pub max_entries: usize,
}

impl Default for DedupConfig {
    /// A 5-minute window, 100 000 entries (about 10 MB).
    fn default() -> Self {
        Self {
            window: Duration::from_secs(300),
            max_entries: 100_000,
        }
    }
}

/// What dedup decided for one occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First in its window: emit.
    First,
    /// Already emitted in this window.
    Again {
        /// Occurrences in this window seen by this process, the first included (≥ 2).
        occurrences: u64,
        /// The latest event time seen for the key.
        last_seen: Timestamp,
    },
}

type Key = (Fingerprint, i64);

#[derive(Debug, Clone, Copy)]
struct Entry {
    occurrences: u64,
    last_seen: Timestamp,
    /// Which queue slot owns the entry; older slots for the key are stale.
    seq: u64,
}

/// The bounded cache of emitted (fingerprint, window) keys.
#[derive(Debug)]
pub struct DedupWindow {
    window_secs: i64,
    max_entries: usize,
    entries: HashMap<Key, Entry, RandomState>,
    order: VecDeque<(Key, u64)>,
    next_seq: u64,
    evictions: u64,
}

impl DedupWindow {
    pub fn new(config: &DedupConfig) -> Self {
        let window_secs = i64::try_from(config.window.as_secs())
            .unwrap_or(i64::MAX)
            .max(1);
        Self {
            window_secs,
            max_entries: config.max_entries.max(1),
            entries: HashMap::default(),
            order: VecDeque::new(),
            next_seq: 0,
            evictions: 0,
        }
    }

    /// The index of the window `at` falls in.
    pub fn window_of(&self, at: Timestamp) -> i64 {
        at.as_second().div_euclid(self.window_secs)
    }

    /// Records one occurrence at event time `at`; `now` drives expiry.
    /// Returns the occurrence's window index and whether it is new.
    pub fn observe(
        &mut self,
        fingerprint: Fingerprint,
        at: Timestamp,
        now: Timestamp,
    ) -> (i64, Seen) {
        self.expire(now);
        let window = self.window_of(at);
        let key = (fingerprint, window);
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.occurrences += 1;
            entry.last_seen = entry.last_seen.max(at);
            let seen = Seen::Again {
                occurrences: entry.occurrences,
                last_seen: entry.last_seen,
            };
            return (window, seen);
        }
        while self.entries.len() >= self.max_entries {
            if !self.evict_oldest() {
                break;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(
            key,
            Entry {
                occurrences: 1,
                last_seen: at,
                seq,
            },
        );
        self.order.push_back((key, seq));
        (window, Seen::First)
    }

    /// Undoes a [`Seen::First`] whose Observation was not emitted after all
    /// (throttled), so the next occurrence gets to emit. Repeats are kept.
    pub fn forget(&mut self, fingerprint: Fingerprint, window: i64) {
        let key = (fingerprint, window);
        if self.entries.get(&key).is_some_and(|e| e.occurrences == 1) {
            self.entries.remove(&key);
            // Its queue slot is now stale; keep the queue from filling with them.
            if self.order.len() > 2 * self.max_entries {
                let entries = &self.entries;
                self.order
                    .retain(|(k, seq)| entries.get(k).is_some_and(|e| e.seq == *seq));
            }
        }
    }

    /// Entries in the cache now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The configured bound.
    pub fn capacity(&self) -> usize {
        self.max_entries
    }

    /// Entries evicted because the cache was full, since start.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Drops, from the front of the queue, entries whose window ended more
    /// than one window before `now`, and stale slots.
    fn expire(&mut self, now: Timestamp) {
        let now = now.as_second();
        while let Some(&(key, seq)) = self.order.front() {
            let live = self.entries.get(&key).is_some_and(|e| e.seq == seq);
            // Window w ends at (w + 1) · W; one window later is (w + 2) · W.
            let expired = key.1.saturating_add(2).saturating_mul(self.window_secs) < now;
            if live && !expired {
                break;
            }
            self.order.pop_front();
            if live {
                self.entries.remove(&key);
            }
        }
    }

    /// Removes the oldest live entry; false when there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some((key, seq)) = self.order.pop_front() {
            if self.entries.get(&key).is_some_and(|e| e.seq == seq) {
                self.entries.remove(&key);
                self.evictions += 1;
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("valid time")
    }

    fn window(secs: u64, max_entries: usize) -> DedupWindow {
        DedupWindow::new(&DedupConfig {
            window: Duration::from_secs(secs),
            max_entries,
        })
    }

    const A: Fingerprint = Fingerprint(0xa);
    const B: Fingerprint = Fingerprint(0xb);

    #[test]
    fn defaults_are_five_minutes_and_a_hundred_thousand_entries() {
        let d = DedupConfig::default();
        assert_eq!(
            (d.window, d.max_entries),
            (Duration::from_secs(300), 100_000)
        );
    }

    #[test]
    fn first_sight_emits_and_later_sights_in_the_window_repeat() {
        let mut d = window(300, 10);
        assert_eq!(d.observe(A, t(600), t(600)), (2, Seen::First));
        assert_eq!(
            d.observe(A, t(700), t(700)),
            (
                2,
                Seen::Again {
                    occurrences: 2,
                    last_seen: t(700)
                }
            )
        );
        // An older occurrence arriving late does not move last_seen back.
        assert_eq!(
            d.observe(A, t(650), t(710)),
            (
                2,
                Seen::Again {
                    occurrences: 3,
                    last_seen: t(700)
                }
            )
        );
        assert_eq!(d.observe(B, t(700), t(710)), (2, Seen::First));
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn windows_tumble_on_event_time_not_arrival() {
        let mut d = window(300, 10);
        assert_eq!(d.observe(A, t(899), t(1000)), (2, Seen::First));
        assert_eq!(
            d.observe(A, t(900), t(1000)).1,
            Seen::First,
            "the next window starts at 900"
        );
        assert_eq!(
            d.observe(A, t(899), t(1000)).1,
            Seen::Again {
                occurrences: 2,
                last_seen: t(899)
            }
        );
        assert_eq!(d.window_of(t(-1)), -1, "before the epoch floors down");
    }

    #[test]
    fn entries_expire_when_their_window_ended_more_than_one_window_ago() {
        let mut d = window(300, 10);
        d.observe(A, t(0), t(0)); // window 0, ends at 300
        d.observe(B, t(300), t(300)); // window 1
        d.observe(B, t(300), t(599)); // now in window 1: both kept
        assert_eq!(d.len(), 2);
        d.observe(B, t(300), t(600)); // window 0 ended exactly one window ago: kept
        assert_eq!(d.len(), 2);
        d.observe(B, t(300), t(601)); // more than one window ago: expired; window 1 kept
        assert_eq!(d.len(), 1);
        d.observe(B, t(300), t(900));
        assert_eq!(d.len(), 1);
        assert_eq!(
            d.observe(A, t(0), t(901)).1,
            Seen::First,
            "an expired key emits again"
        );
        assert_eq!(d.len(), 1, "window 1 expired at 901 too");
        assert_eq!(d.evictions(), 0);
    }

    #[test]
    fn a_full_cache_evicts_the_oldest_and_counts_it() {
        let mut d = window(300, 2);
        d.observe(Fingerprint(1), t(0), t(0));
        d.observe(Fingerprint(2), t(1), t(1));
        d.observe(Fingerprint(3), t(2), t(2));
        assert_eq!((d.len(), d.evictions()), (2, 1));
        assert_eq!(
            d.observe(Fingerprint(2), t(3), t(3)).1,
            Seen::Again {
                occurrences: 2,
                last_seen: t(3)
            }
        );
        assert_eq!(
            d.observe(Fingerprint(1), t(4), t(4)).1,
            Seen::First,
            "1 was evicted"
        );
        assert_eq!((d.len(), d.evictions()), (2, 2));
        assert_eq!(d.capacity(), 2);
    }

    #[test]
    fn forget_undoes_only_a_first_sighting() {
        let mut d = window(300, 10);
        d.observe(A, t(0), t(0));
        d.forget(A, 0);
        assert!(d.is_empty());
        assert_eq!(d.observe(A, t(1), t(1)).1, Seen::First);
        d.observe(A, t(2), t(2));
        d.forget(A, 0);
        assert_eq!(d.len(), 1, "an entry with repeats stays");
    }

    #[test]
    fn forgotten_slots_do_not_pile_up() {
        let mut d = window(300, 4);
        for i in 0..1000 {
            d.observe(Fingerprint(i), t(0), t(0));
            d.forget(Fingerprint(i), 0);
        }
        assert!(d.order.len() <= 2 * 4 + 1, "queue holds {}", d.order.len());
        assert_eq!((d.len(), d.evictions()), (0, 0));
    }

    #[test]
    fn a_sub_second_window_counts_as_one_second() {
        let mut d = DedupWindow::new(&DedupConfig {
            window: Duration::from_millis(10),
            max_entries: 0,
        });
        assert_eq!(d.window_of(t(7)), 7);
        assert_eq!(d.capacity(), 1);
        assert_eq!(d.observe(A, t(7), t(7)).1, Seen::First);
    }
}
