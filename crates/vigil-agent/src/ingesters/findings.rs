//! The findings each source object currently has, by fingerprint, so a
//! re-scan or an unrelated update emits only what is new, a relist emits
//! nothing twice, and a deleted object is forgotten. Bounded: past
//! `max_objects` the oldest-inserted object is forgotten (counted), which at
//! worst re-emits its findings once: their names are deterministic, so the
//! API server answers 409 and nothing is duplicated. Pure.

use std::collections::{HashMap, HashSet, VecDeque};
use vigil_mapping::MappedObservation;
use vigil_pipeline::Fingerprint;

#[derive(Debug)]
pub struct Findings {
    /// Object key → (the stream that lists it, its findings and a digest of
    /// what each says).
    objects: HashMap<String, (String, HashMap<Fingerprint, u64>)>,
    /// Insertion order, for eviction; keys of removed objects are skipped.
    order: VecDeque<String>,
    max_objects: usize,
    evicted: u64,
    /// Per stream being relisted, the keys seen since its relist began.
    relisting: HashMap<String, HashSet<String>>,
}

impl Findings {
    pub fn new(max_objects: usize) -> Self {
        Self {
            objects: HashMap::new(),
            order: VecDeque::new(),
            max_objects: max_objects.max(1),
            evicted: 0,
            relisting: HashMap::new(),
        }
    }

    /// Replaces the object's findings with `mapped`; returns those whose
    /// fingerprint it did not have, in order. Findings it had that now say
    /// something else (a new severity, a fixed version) are in
    /// [`Findings::update_with_changes`].
    pub fn update(
        &mut self,
        stream: &str,
        object: &str,
        mapped: Vec<MappedObservation>,
    ) -> Vec<MappedObservation> {
        self.update_with_changes(stream, object, mapped).0
    }

    /// [`Findings::update`], and the findings already known whose content
    /// changed (what an Observation shows: severity, category, resource,
    /// details; not the time).
    pub fn update_with_changes(
        &mut self,
        stream: &str,
        object: &str,
        mapped: Vec<MappedObservation>,
    ) -> (Vec<MappedObservation>, Vec<MappedObservation>) {
        if let Some(seen) = self.relisting.get_mut(stream) {
            seen.insert(object.to_string());
        }
        // Each finding's fingerprint and digest, computed once.
        let found: Vec<(Fingerprint, u64, MappedObservation)> = mapped
            .into_iter()
            .map(|m| (m.fingerprint(), content_digest(&m), m))
            .collect();
        let now: HashMap<Fingerprint, u64> = found.iter().map(|(f, d, _)| (*f, *d)).collect();
        let before = match self.objects.get_mut(object) {
            Some((_, before)) => std::mem::replace(before, now),
            None => {
                self.make_room();
                self.objects
                    .insert(object.to_string(), (stream.to_string(), now));
                self.order.push_back(object.to_string());
                HashMap::new()
            }
        };
        let mut done = HashSet::new();
        let (mut fresh, mut changed) = (Vec::new(), Vec::new());
        for (f, digest, m) in found {
            if !done.insert(f) {
                continue;
            }
            match before.get(&f) {
                None => fresh.push(m),
                Some(known) if *known != digest => changed.push(m),
                Some(_) => {}
            }
        }
        (fresh, changed)
    }

    /// Forgets a deleted object; true when it was known.
    pub fn remove(&mut self, object: &str) -> bool {
        self.objects.remove(object).is_some()
    }

    /// A relist of `stream` begins: its objects not seen again before
    /// [`Findings::relisted`] were deleted while the watch was down.
    pub fn relist_started(&mut self, stream: &str) {
        self.relisting.insert(stream.to_string(), HashSet::new());
    }

    /// The relist of `stream` is complete; forgets the objects of that
    /// stream it did not list and returns how many.
    pub fn relisted(&mut self, stream: &str) -> usize {
        let Some(seen) = self.relisting.remove(stream) else {
            return 0;
        };
        let before = self.objects.len();
        self.objects
            .retain(|k, (s, _)| s != stream || seen.contains(k));
        let live = &self.objects;
        self.order.retain(|k| live.contains_key(k));
        before - self.objects.len()
    }

    pub fn knows(&self, object: &str) -> bool {
        self.objects.contains_key(object)
    }

    pub fn objects(&self) -> usize {
        self.objects.len()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    fn make_room(&mut self) {
        while self.objects.len() >= self.max_objects {
            match self.order.pop_front() {
                Some(oldest) => {
                    if self.objects.remove(&oldest).is_some() {
                        self.evicted += 1;
                    }
                }
                None => break,
            }
        }
        // Keys of removed objects linger in `order`; keep it bounded too.
        if self.order.len() > 2 * self.max_objects {
            let live = &self.objects;
            self.order.retain(|k| live.contains_key(k));
        }
    }
}

/// What a finding says, without when: a digest of its spec's content.
fn content_digest(m: &MappedObservation) -> u64 {
    use std::hash::{Hash, Hasher};
    let s = &m.spec;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&(
        &s.severity,
        &s.category,
        &s.event_type,
        &s.resource,
        &s.details,
    ))
    .unwrap_or_default()
    .hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(key: &str) -> MappedObservation {
        super::super::test_support::finding(key, None)
    }

    fn keys(found: &[MappedObservation]) -> Vec<&str> {
        found.iter().map(|m| m.key.as_str()).collect()
    }

    #[test]
    fn only_new_findings_are_returned() {
        let mut f = Findings::new(10);
        assert_eq!(
            keys(&f.update("s1", "r", vec![finding("a"), finding("b")])),
            ["a", "b"]
        );
        assert!(f
            .update("s1", "r", vec![finding("b"), finding("a")])
            .is_empty());
        assert_eq!(
            keys(&f.update("s1", "r", vec![finding("a"), finding("b"), finding("c")])),
            ["c"]
        );
        // A finding that went away and came back is new again.
        assert!(f.update("s1", "r", vec![finding("a")]).is_empty());
        assert_eq!(
            keys(&f.update("s1", "r", vec![finding("a"), finding("b")])),
            ["b"]
        );
        // The same finding twice in one scan counts once.
        assert_eq!(
            keys(&f.update("s1", "s", vec![finding("x"), finding("x")])),
            ["x"]
        );
    }

    #[test]
    fn a_known_finding_that_says_something_else_is_a_change_not_a_new_one() {
        let mut f = Findings::new(10);
        f.update("s1", "r", vec![finding("a"), finding("b")]);
        let mut worse = finding("a");
        worse.spec.severity = vigil_model::Severity::Critical;
        let mut later = finding("b");
        later.spec.detected_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::from_second(1_800_000_000).unwrap(),
        ));
        let (fresh, changed) = f.update_with_changes("s1", "r", vec![worse, later]);
        assert!(fresh.is_empty());
        assert_eq!(keys(&changed), ["a"], "a new time alone is no change");
        let (_, again) = f.update_with_changes("s1", "r", vec![finding("a"), finding("b")]);
        assert_eq!(keys(&again), ["a"], "back to high is a change too");
    }

    #[test]
    fn a_relist_forgets_objects_deleted_meanwhile_and_emits_nothing_twice() {
        let mut f = Findings::new(10);
        f.update("s1", "kept", vec![finding("a")]);
        f.update("s1", "gone", vec![finding("b")]);
        f.update("s2", "other", vec![finding("c")]);
        f.relist_started("s1");
        assert!(f.update("s1", "kept", vec![finding("a")]).is_empty());
        assert_eq!(f.relisted("s1"), 1);
        assert_eq!(f.relisted("s1"), 0);
        assert_eq!(f.objects(), 2, "another stream's objects stay");
        assert_eq!(keys(&f.update("s1", "gone", vec![finding("b")])), ["b"]);
        assert!(f.remove("gone"));
        assert!(!f.remove("gone"));
    }

    #[test]
    fn bounded_by_objects_with_evictions_counted() {
        let mut f = Findings::new(2);
        for name in ["a", "b", "c", "d"] {
            f.update("s1", name, vec![finding(name)]);
        }
        assert_eq!(f.objects(), 2);
        assert_eq!(f.evicted(), 2);
        // The evicted object's finding is emitted again (a 409 at the API).
        assert_eq!(keys(&f.update("s1", "a", vec![finding("a")])), ["a"]);
        for i in 0..100 {
            let k = format!("k{i}");
            f.update("s1", &k, vec![]);
            f.remove(&k);
        }
        assert!(f.order.len() <= 4 + 1);
    }
}
