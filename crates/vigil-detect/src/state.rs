//! The bounded state of live (rule, group key, window) entries. Owns their
//! storage, lookup by borrowed key, expiry when a window closes, eviction
//! when full, and the budget of remembered ids and distinct values; what an
//! entry counts is the engine's business.
//!
//! Entries live in a slab (a freed slot and its buffers are reused, so a
//! steady stream allocates nothing), found through a hash table of slot
//! numbers probed with a precomputed hash and a comparison against borrowed
//! strings, and ordered by window end in a min-heap: expiry and eviction pop
//! from it, so both take O(log n) per entry and nothing scans the table.

use crate::key::KeyValues;
use crate::window::Window;
use hashbrown::HashTable;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Most sample ids an anomaly can carry.
pub const MAX_SAMPLES: usize = 16;

/// Up to [`MAX_SAMPLES`] ids, back to back in one buffer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples {
    text: String,
    ends: [u32; MAX_SAMPLES],
    len: u8,
}

impl Samples {
    pub(crate) fn len(&self) -> usize {
        usize::from(self.len)
    }

    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// Adds `id` unless already there; `max` is at most [`MAX_SAMPLES`].
    pub(crate) fn push(&mut self, id: &str, max: usize) {
        let n = self.len();
        if n >= max.min(MAX_SAMPLES) || id.is_empty() || (0..n).any(|i| self.get(i) == id) {
            return;
        }
        self.text.push_str(id);
        self.ends[n] = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        self.len += 1;
    }

    pub(crate) fn to_vec(&self) -> Vec<String> {
        (0..self.len()).map(|i| self.get(i).to_string()).collect()
    }

    fn clear(&mut self) {
        self.len = 0;
        if self.text.capacity() > 1024 {
            self.text = String::new();
        } else {
            self.text.clear();
        }
    }
}

/// One (rule, key, window) and what it has counted.
#[derive(Debug, Default)]
pub(crate) struct Entry {
    pub(crate) hash: u64,
    pub(crate) rule: u32,
    pub(crate) window: Window,
    pub(crate) key: KeyValues,
    /// The anomaly was emitted: nothing more is counted until the window closes.
    pub(crate) fired: bool,
    /// Occurrences (count rules) or distinct values (distinct rules).
    pub(crate) count: u64,
    /// A platform signal contributed.
    pub(crate) platform: bool,
    /// Sorted hashes: of ids (count rules) or of distinct values.
    seen: Vec<u64>,
    pub(crate) samples: Samples,
}

/// What [`State::remember`] did with a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Remembered {
    /// Not seen before in this entry; now remembered.
    New,
    /// Already remembered in this entry.
    Again,
    /// Not seen before, but the budget is spent: not remembered.
    OverBudget,
}

/// Live entries, bounded in number and in remembered hashes.
#[derive(Debug)]
pub(crate) struct State {
    slots: Vec<Entry>,
    free: Vec<u32>,
    table: HashTable<u32>,
    /// (window end, slot) of every live entry; the smallest end on top.
    by_end: BinaryHeap<Reverse<(i64, u32)>>,
    max_entries: usize,
    tracked: usize,
    max_tracked: usize,
    pub(crate) expired: u64,
    pub(crate) evicted: u64,
}

impl State {
    pub(crate) fn new(max_entries: usize, max_tracked: usize) -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            table: HashTable::new(),
            by_end: BinaryHeap::new(),
            max_entries: max_entries.max(1),
            tracked: 0,
            max_tracked,
            expired: 0,
            evicted: 0,
        }
    }

    /// Live entries.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Ids and distinct values remembered across all entries.
    pub(crate) fn tracked(&self) -> usize {
        self.tracked
    }

    pub(crate) fn entry_mut(&mut self, slot: u32) -> &mut Entry {
        &mut self.slots[slot as usize]
    }

    /// The entry of (`rule`, `values`, `window`), created if missing (evicting
    /// the entry whose window ends first when full). `hash` must be a
    /// function of exactly these three.
    pub(crate) fn find_or_insert(
        &mut self,
        hash: u64,
        rule: u32,
        window: Window,
        values: &[&str],
    ) -> u32 {
        let slots = &self.slots;
        if let Some(&slot) = self.table.find(hash, |&s| {
            let e = &slots[s as usize];
            e.hash == hash && e.rule == rule && e.window == window && e.key.equals(values)
        }) {
            return slot;
        }
        if self.table.len() >= self.max_entries && self.pop_oldest() {
            self.evicted += 1;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Entry::default());
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 entries")
            }
        };
        let e = &mut self.slots[slot as usize];
        e.hash = hash;
        e.rule = rule;
        e.window = window;
        e.key.set(values);
        e.fired = false;
        e.count = 0;
        e.platform = false;
        let slots = &self.slots;
        self.table
            .insert_unique(hash, slot, |&s| slots[s as usize].hash);
        self.by_end.push(Reverse((window.end_ms, slot)));
        slot
    }

    /// Remembers `h` in the entry's set, within the budget.
    pub(crate) fn remember(&mut self, slot: u32, h: u64) -> Remembered {
        let seen = &mut self.slots[slot as usize].seen;
        match seen.binary_search(&h) {
            Ok(_) => Remembered::Again,
            Err(_) if self.tracked >= self.max_tracked => Remembered::OverBudget,
            Err(at) => {
                seen.insert(at, h);
                self.tracked += 1;
                Remembered::New
            }
        }
    }

    /// How many hashes the entry remembers.
    pub(crate) fn remembered(&self, slot: u32) -> usize {
        self.slots[slot as usize].seen.len()
    }

    /// Marks the entry fired and frees what it remembered.
    pub(crate) fn fire(&mut self, slot: u32) {
        let e = &mut self.slots[slot as usize];
        e.fired = true;
        self.tracked -= e.seen.len();
        clear_seen(&mut e.seen);
        e.samples.clear();
    }

    /// Removes every entry whose window ends at or before `watermark_ms`.
    pub(crate) fn expire(&mut self, watermark_ms: i64) {
        while let Some(&Reverse((end, _))) = self.by_end.peek() {
            if end > watermark_ms {
                break;
            }
            self.pop_oldest();
            self.expired += 1;
        }
    }

    /// Removes the entry whose window ends first; false when empty.
    fn pop_oldest(&mut self) -> bool {
        let Some(Reverse((_, slot))) = self.by_end.pop() else {
            return false;
        };
        let hash = self.slots[slot as usize].hash;
        if let Ok(found) = self.table.find_entry(hash, |&s| s == slot) {
            found.remove();
        }
        let e = &mut self.slots[slot as usize];
        self.tracked -= e.seen.len();
        clear_seen(&mut e.seen);
        e.samples.clear();
        e.key.clear();
        self.free.push(slot);
        true
    }
}

/// Empties a set, dropping a large buffer so a reused slot does not keep it.
fn clear_seen(seen: &mut Vec<u64>) {
    if seen.capacity() > 64 {
        *seen = Vec::new();
    } else {
        seen.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start_ms: i64, end_ms: i64) -> Window {
        Window { start_ms, end_ms }
    }

    #[test]
    fn entries_are_found_by_rule_window_and_key() {
        let mut s = State::new(10, 100);
        let a = s.find_or_insert(1, 0, w(0, 10), &["x", "y"]);
        assert_eq!(s.find_or_insert(1, 0, w(0, 10), &["x", "y"]), a);
        // Same hash (a collision), different key: a different entry.
        let b = s.find_or_insert(1, 0, w(0, 10), &["x", "z"]);
        let c = s.find_or_insert(1, 1, w(0, 10), &["x", "y"]);
        let d = s.find_or_insert(1, 0, w(10, 20), &["x", "y"]);
        let all = [a, b, c, d];
        for (i, x) in all.iter().enumerate() {
            assert!(!all[..i].contains(x), "{all:?}");
        }
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn expiry_removes_closed_windows_and_frees_their_budget() {
        let mut s = State::new(10, 100);
        let a = s.find_or_insert(7, 0, w(0, 10), &["a"]);
        let b = s.find_or_insert(8, 0, w(10, 20), &["b"]);
        assert_eq!(s.remember(a, 5), Remembered::New);
        assert_eq!(s.remember(a, 5), Remembered::Again);
        assert_eq!(s.remember(b, 5), Remembered::New, "sets are per entry");
        assert_eq!(s.tracked(), 2);
        s.expire(9);
        assert_eq!((s.len(), s.expired), (2, 0), "end 10 > watermark 9");
        s.expire(10);
        assert_eq!((s.len(), s.expired, s.tracked()), (1, 1, 1));
        // The freed slot is reused, empty.
        let c = s.find_or_insert(7, 0, w(0, 10), &["a"]);
        assert_eq!(c, a);
        assert_eq!(s.remembered(c), 0);
        assert_eq!(s.remember(c, 5), Remembered::New);
    }

    #[test]
    fn a_full_state_evicts_the_window_ending_first() {
        let mut s = State::new(2, 100);
        let late = s.find_or_insert(1, 0, w(100, 200), &["late"]);
        let early = s.find_or_insert(2, 0, w(0, 100), &["early"]);
        s.remember(early, 1);
        let third = s.find_or_insert(3, 0, w(50, 150), &["third"]);
        assert_eq!((s.len(), s.evicted, s.tracked()), (2, 1, 0));
        assert_eq!(third, early, "the evicted slot is reused");
        assert_eq!(s.find_or_insert(1, 0, w(100, 200), &["late"]), late);
        assert_eq!(s.evicted, 1, "finding an existing entry evicts nothing");
    }

    #[test]
    fn the_budget_bounds_remembered_hashes_and_firing_returns_it() {
        let mut s = State::new(10, 2);
        let a = s.find_or_insert(1, 0, w(0, 10), &["a"]);
        assert_eq!(s.remember(a, 30), Remembered::New);
        assert_eq!(s.remember(a, 10), Remembered::New);
        assert_eq!(s.remember(a, 20), Remembered::OverBudget);
        assert_eq!(s.remember(a, 10), Remembered::Again);
        s.fire(a);
        assert!(s.entry_mut(a).fired);
        assert_eq!((s.tracked(), s.remembered(a)), (0, 0));
        assert_eq!(s.remember(a, 20), Remembered::New);
    }

    #[test]
    fn samples_are_unique_bounded_and_ordered() {
        let mut x = Samples::default();
        for id in ["a", "", "bb", "a", "ccc", "dd"] {
            x.push(id, 3);
        }
        assert_eq!(x.to_vec(), ["a", "bb", "ccc"]);
        x.clear();
        assert_eq!(x.len(), 0);
        x.push("z", 100);
        assert_eq!(x.to_vec(), ["z"]);
    }
}
