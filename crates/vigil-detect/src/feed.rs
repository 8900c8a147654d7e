//! Feeds the pipeline's outcomes to the detector, the same way in the agent
//! and in `vigil replay`: a new Observation is one signal, a repeat folded by
//! dedup is a signal of the Observation it repeats (remembered here, bounded),
//! and a Kubernetes Event update weighs as much as its count grew (a
//! BackOff Event whose count went from 3 to 7 is four occurrences).

use crate::{Anomaly, Detector, Signal};
use k8s_openapi::jiff::Timestamp;
use std::collections::{HashMap, VecDeque};
use vigil_model::ObservationSpec;
use vigil_pipeline::enrich::AUDIENCE_LABEL;
use vigil_pipeline::{Audience, Candidate, KubeEvent, Outcome};

/// A map that forgets its oldest key when full.
#[derive(Debug)]
struct Bounded<V> {
    capacity: usize,
    map: HashMap<String, V>,
    order: VecDeque<String>,
    evicted: u64,
}

impl<V> Bounded<V> {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
            evicted: 0,
        }
    }

    fn insert(&mut self, key: &str, value: V) {
        if let Some(v) = self.map.get_mut(key) {
            *v = value;
            return;
        }
        while self.map.len() >= self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if self.map.remove(&oldest).is_some() {
                self.evicted += 1;
            }
        }
        self.map.insert(key.to_string(), value);
        self.order.push_back(key.to_string());
    }

    fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }
}

#[derive(Debug)]
struct Remembered {
    spec: ObservationSpec,
    audience: Audience,
}

/// What [`Feed`] remembers, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Repeats of an Observation no longer remembered: not counted by rules.
    pub unknown_repeats: u64,
    /// Observations and Event counts forgotten because a bound was reached.
    pub evicted: u64,
}

/// Pipeline outcomes → detector signals.
#[derive(Debug)]
pub struct Feed {
    cluster: String,
    emitted: Bounded<Remembered>,
    counts: Bounded<i64>,
    unknown_repeats: u64,
}

impl Feed {
    /// `capacity` bounds both the Observations remembered for their repeats
    /// and the Event uids remembered for their counts (the dedup cache's
    /// size is a good choice: a repeat cannot outlive its dedup entry).
    pub fn new(cluster: &str, capacity: usize) -> Self {
        Self {
            cluster: cluster.to_string(),
            emitted: Bounded::new(capacity),
            counts: Bounded::new(capacity),
            unknown_repeats: 0,
        }
    }

    /// How many occurrences `event` stands for: its whole count the first
    /// time its uid is seen, then the growth of the count (at least 1).
    pub fn weight(&mut self, event: &KubeEvent) -> u64 {
        let count = event.count.max(1);
        if event.uid.is_empty() {
            return count as u64;
        }
        let weight = match self.counts.get(&event.uid) {
            Some(&prev) if count > prev => count - prev,
            Some(_) => 1,
            None => count,
        };
        self.counts.insert(&event.uid, count);
        weight as u64
    }

    /// Passes one outcome on: `at` is the occurrence's event time, `id`
    /// identifies the occurrence (an Event's `uid@resourceVersion`), `weight`
    /// from [`Feed::weight`]. Dropped outcomes are not signals.
    pub fn observe(
        &mut self,
        outcome: &Outcome,
        at: Timestamp,
        id: &str,
        weight: u64,
        detector: &mut Detector,
        out: &mut Vec<Anomaly>,
    ) {
        let name = match outcome {
            Outcome::Dropped(_) => return,
            Outcome::Emit(candidate) => {
                self.remember(candidate);
                &candidate.name
            }
            Outcome::Repeat(repeat) => &repeat.name,
        };
        let Some(r) = self.emitted.get(name) else {
            self.unknown_repeats += 1;
            return;
        };
        let mut signal = Signal::new(&self.cluster, r.audience, &r.spec, at, id);
        signal.occurrences = weight;
        detector.process(&signal, out);
    }

    fn remember(&mut self, candidate: &Candidate) {
        let audience = match candidate.labels.get(AUDIENCE_LABEL).map(String::as_str) {
            Some("customer") => Audience::Customer,
            // Never route to a customer what enrich did not give them.
            _ => Audience::Platform,
        };
        self.emitted.insert(
            &candidate.name,
            Remembered {
                spec: candidate.spec.clone(),
                audience,
            },
        );
    }

    pub fn stats(&self) -> FeedStats {
        FeedStats {
            unknown_repeats: self.unknown_repeats,
            evicted: self.emitted.evicted + self.counts.evicted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use vigil_pipeline::event::ObjectRef;
    use vigil_pipeline::{ManualClock, Pipeline, PipelineConfig};

    fn backoff(uid: &str, rv: &str, count: i64, at: &str) -> KubeEvent {
        KubeEvent {
            uid: uid.into(),
            resource_version: rv.into(),
            type_: "Warning".into(),
            reason: "BackOff".into(),
            message: "Back-off restarting failed container app".into(),
            regarding: ObjectRef {
                kind: "Pod".into(),
                namespace: "shop".into(),
                name: "web-0".into(),
                ..Default::default()
            },
            count,
            last_time: Some(at.parse().unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn count_growth_is_the_weight() {
        let mut feed = Feed::new("c", 10);
        assert_eq!(
            feed.weight(&backoff("u1", "1", 3, "2026-01-01T00:00:00Z")),
            3
        );
        assert_eq!(
            feed.weight(&backoff("u1", "2", 7, "2026-01-01T00:00:10Z")),
            4
        );
        // A version that does not grow the count is still one occurrence.
        assert_eq!(
            feed.weight(&backoff("u1", "3", 7, "2026-01-01T00:00:20Z")),
            1
        );
        assert_eq!(feed.weight(&backoff("", "", 2, "2026-01-01T00:00:20Z")), 2);
    }

    #[test]
    fn repeats_count_towards_the_observation_they_repeat() {
        let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut pipeline = Pipeline::new(
            PipelineConfig::for_kubernetes_events(),
            Arc::new(ManualClock::new(at)),
        );
        let mut detector = Detector::with_default_rules();
        let mut feed = Feed::new("c", 10);
        let mut anomalies = Vec::new();
        // One BackOff Event updated until its count reaches 10: the default
        // crash-loop rule (10 within 5m) fires once, on the last update.
        for (rv, count) in [(1, 2), (2, 5), (3, 9), (4, 10), (5, 12)] {
            let e = backoff(
                "u1",
                &rv.to_string(),
                count,
                &format!("2026-01-01T00:00:{:02}Z", rv * 10),
            );
            let w = feed.weight(&e);
            let outcome = pipeline.process(&e);
            let t = e.last_time.unwrap();
            feed.observe(
                &outcome,
                t,
                &format!("u1@{rv}"),
                w,
                &mut detector,
                &mut anomalies,
            );
            assert_eq!(anomalies.len(), usize::from(rv >= 4), "after version {rv}");
        }
        assert_eq!(anomalies[0].rule, "pod-crashloop");
        assert_eq!(anomalies[0].count, 10);
        assert_eq!(feed.stats(), FeedStats::default());
    }

    #[test]
    fn memory_is_bounded_and_a_forgotten_repeat_is_counted() {
        let mut b = Bounded::new(2);
        b.insert("a", 1);
        b.insert("b", 2);
        b.insert("c", 3);
        assert_eq!((b.get("a"), b.get("c"), b.evicted), (None, Some(&3), 1));
        let mut feed = Feed::new("c", 1);
        let repeat = Outcome::Repeat(vigil_pipeline::Repeat {
            name: "unknown".into(),
            namespace: "shop".into(),
            occurrences: 2,
            last_seen: "2026-01-01T00:00:00Z".parse().unwrap(),
        });
        let mut detector = Detector::with_default_rules();
        let mut out = Vec::new();
        feed.observe(
            &repeat,
            "2026-01-01T00:00:00Z".parse().unwrap(),
            "x",
            1,
            &mut detector,
            &mut out,
        );
        assert_eq!(feed.stats().unknown_repeats, 1);
        assert!(out.is_empty());
    }
}
