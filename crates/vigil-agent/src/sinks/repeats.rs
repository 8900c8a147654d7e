//! Repeats inside the dedup window are counted on the Observation they
//! repeat: `spec.details.occurrences` (how many times this agent process saw
//! it in the window, the first included) and `spec.details.lastSeen`. They are
//! folded here and patched at most once per Observation per flush interval, so
//! a storm of repeats costs one request per Observation, not one per event.
//! The fold is bounded: when full, a repeat's patch is dropped (counted); the
//! repeat itself is already counted as deduped.

use std::collections::HashMap;
use vigil_pipeline::Repeat;

/// Pending patches, keyed by (namespace, name).
#[derive(Debug)]
pub struct RepeatFold {
    pending: HashMap<(String, String), Pending>,
    capacity: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub repeat: Repeat,
    /// Flushes that found no Observation yet (its create still in flight).
    pub misses: u8,
}

/// What [`RepeatFold::add`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Folded {
    Added,
    Merged,
    Full,
}

impl RepeatFold {
    pub fn new(capacity: usize) -> Self {
        Self {
            pending: HashMap::new(),
            capacity,
        }
    }

    pub fn add(&mut self, repeat: Repeat) -> Folded {
        self.add_pending(Pending { repeat, misses: 0 })
    }

    /// Puts back a patch that found no Observation.
    pub fn retry(&mut self, mut p: Pending) -> Folded {
        p.misses += 1;
        self.add_pending(p)
    }

    fn add_pending(&mut self, p: Pending) -> Folded {
        let key = (p.repeat.namespace.clone(), p.repeat.name.clone());
        if let Some(existing) = self.pending.get_mut(&key) {
            if p.repeat.occurrences >= existing.repeat.occurrences {
                existing.repeat.occurrences = p.repeat.occurrences;
            }
            existing.repeat.last_seen = existing.repeat.last_seen.max(p.repeat.last_seen);
            existing.misses = existing.misses.max(p.misses);
            return Folded::Merged;
        }
        if self.pending.len() >= self.capacity {
            return Folded::Full;
        }
        self.pending.insert(key, p);
        Folded::Added
    }

    pub fn take(&mut self) -> Vec<Pending> {
        self.pending.drain().map(|(_, p)| p).collect()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The merge patch that records a repeat on its Observation.
pub fn patch_body(repeat: &Repeat) -> serde_json::Value {
    serde_json::json!({"spec": {"details": {
        "occurrences": repeat.occurrences,
        "lastSeen": repeat.last_seen.to_string(),
    }}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn repeat(name: &str, n: u64, secs: i64) -> Repeat {
        Repeat {
            name: name.into(),
            namespace: "ns".into(),
            occurrences: n,
            last_seen: Timestamp::from_second(secs).expect("valid time"),
        }
    }

    #[test]
    fn repeats_of_one_observation_fold_into_one_patch_with_the_latest_values() {
        let mut fold = RepeatFold::new(10);
        assert_eq!(fold.add(repeat("a", 2, 100)), Folded::Added);
        assert_eq!(fold.add(repeat("a", 3, 160)), Folded::Merged);
        assert_eq!(fold.add(repeat("b", 2, 120)), Folded::Added);
        let mut taken = fold.take();
        taken.sort_by(|x, y| x.repeat.name.cmp(&y.repeat.name));
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].repeat, repeat("a", 3, 160));
        assert!(fold.is_empty());
        let body = patch_body(&taken[0].repeat);
        assert_eq!(body["spec"]["details"]["occurrences"], 3);
        assert_eq!(body["spec"]["details"]["lastSeen"], "1970-01-01T00:02:40Z");
    }

    #[test]
    fn the_fold_is_bounded() {
        let mut fold = RepeatFold::new(1);
        assert_eq!(fold.add(repeat("a", 2, 1)), Folded::Added);
        assert_eq!(fold.add(repeat("b", 2, 1)), Folded::Full);
        assert_eq!(
            fold.add(repeat("a", 5, 2)),
            Folded::Merged,
            "an existing entry still merges"
        );
        assert_eq!(fold.len(), 1);
    }
}
