//! Recognizes an Event delivered again unchanged: a relist (after a watch
//! expired, or a restart of the watch) re-delivers every Event with the same
//! uid and resourceVersion, and that is not a new occurrence. Owns a bounded
//! uid → resourceVersion map; it does not know windows or fingerprints.
//!
//! Kept apart from the dedup cache on purpose: a relist also re-delivers
//! Events whose dedup window expired long ago, and those must not emit again.
//! Both are stored as hashes keyed per process (16 bytes an entry); the bound evicts
//! the uid seen first, which at worst counts one re-delivery as an occurrence.

use foldhash::fast::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

/// One Event version, hashed with this map's (per-process) keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventVersion {
    uid: u64,
    version: u64,
}

/// The last resourceVersion seen per Event uid, for at most `capacity` uids.
#[derive(Debug)]
pub struct SeenVersions {
    capacity: usize,
    hasher: RandomState,
    versions: HashMap<u64, u64, RandomState>,
    order: VecDeque<u64>,
}

impl SeenVersions {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            hasher: RandomState::default(),
            versions: HashMap::default(),
            order: VecDeque::new(),
        }
    }

    /// The identity of one version of one Event, to check and then record;
    /// `None` for Events without a uid or resourceVersion (replayed dumps).
    pub fn version_of(&self, uid: &str, resource_version: &str) -> Option<EventVersion> {
        if uid.is_empty() || resource_version.is_empty() {
            return None;
        }
        Some(EventVersion {
            uid: self.hasher.hash_one(uid),
            version: self.hasher.hash_one(resource_version),
        })
    }

    /// Whether this exact version was recorded already.
    pub fn is_unchanged(&self, v: EventVersion) -> bool {
        self.versions.get(&v.uid) == Some(&v.version)
    }

    /// Remembers a version the pipeline has taken into account.
    pub fn record(&mut self, v: EventVersion) {
        let EventVersion { uid: key, version } = v;
        if let Some(v) = self.versions.get_mut(&key) {
            *v = version;
            return;
        }
        if self.versions.len() >= self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.versions.remove(&oldest);
            }
        }
        self.versions.insert(key, version);
        self.order.push_back(key);
    }

    /// Uids remembered now.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unchanged(s: &SeenVersions, uid: &str, rv: &str) -> bool {
        s.version_of(uid, rv).is_some_and(|v| s.is_unchanged(v))
    }

    fn record(s: &mut SeenVersions, uid: &str, rv: &str) {
        let v = s.version_of(uid, rv).expect("an identity");
        s.record(v);
    }

    #[test]
    fn the_same_version_is_unchanged_and_a_new_one_is_not() {
        let mut s = SeenVersions::new(10);
        assert!(!unchanged(&s, "u1", "100"));
        record(&mut s, "u1", "100");
        assert!(unchanged(&s, "u1", "100"));
        assert!(!unchanged(&s, "u1", "101"));
        assert!(!unchanged(&s, "u2", "100"));
        record(&mut s, "u1", "101");
        assert!(unchanged(&s, "u1", "101"));
        assert!(!unchanged(&s, "u1", "100"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn events_without_identity_have_no_version() {
        let s = SeenVersions::new(10);
        assert_eq!(s.version_of("", "1"), None);
        assert_eq!(s.version_of("u", ""), None);
        assert!(s.is_empty());
    }

    #[test]
    fn the_map_is_bounded_and_forgets_the_first_seen() {
        let mut s = SeenVersions::new(2);
        record(&mut s, "a", "1");
        record(&mut s, "b", "1");
        record(&mut s, "a", "2"); // an update does not refresh a's place
        record(&mut s, "c", "1");
        assert_eq!(s.len(), 2);
        assert!(!unchanged(&s, "a", "2"));
        assert!(unchanged(&s, "b", "1") && unchanged(&s, "c", "1"));
    }
}
