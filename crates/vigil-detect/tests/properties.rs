//! Property tests: on generated streams, the anomalies raised are exactly
//! those a brute-force oracle finds (every (rule, key, window) whose
//! deduplicated total reaches the threshold, once), whatever the batching,
//! the arrival order within the allowed lateness and the redeliveries.

use k8s_openapi::jiff::Timestamp;
use proptest::prelude::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;
use vigil_detect::{Anomaly, Detector, DetectorConfig, KeyField, RuleSet, Signal, Threshold};
use vigil_model::{Category, ObservationSpec, ResourceRef, Severity};
use vigil_pipeline::Audience;

const LATENESS_MS: i64 = 30_000;
const NAMESPACES: &[&str] = &["shop", "kube-system", "billing"];
const CLUSTERS: &[&str] = &["c1", "c2"];
/// (reason, eventType, kind)
const REASONS: &[(&str, &str, &str)] = &[
    ("FailedMount", "volume_mount_failed", "Pod"),
    ("BackOff", "pod_backoff", "Pod"),
    ("Evicted", "pod_evicted", "Pod"),
    ("Unhealthy", "probe_failed", "Pod"),
    ("FailedScheduling", "scheduling_failed", "Pod"),
    ("OOMKilled", "oom_killed", "Pod"),
    ("ErrImagePull", "image_pull_failed", "Pod"),
    ("NodeNotReady", "node_not_ready", "Node"),
];

/// Small thresholds and every window shape, so anomalies are frequent.
const TEST_RULES: &str = r#"
rules:
  - name: count-per-pod
    match: {reason: [FailedMount, BackOff]}
    groupBy: [cluster, namespace, name]
    window: {kind: tumbling, size: 1m}
    threshold: {count: 3}
    severity: high
    category: operations
  - name: distinct-per-namespace
    match: {reason: [Evicted, FailedMount]}
    groupBy: [cluster, namespace]
    window: {kind: hopping, size: 90s, hop: 30s}
    threshold: {distinct: name, count: 2}
    severity: medium
    category: operations
  - name: weighted-per-reason
    groupBy: [reason]
    window: {kind: hopping, size: 2m, hop: 1m}
    threshold: {count: 6}
    severity: low
    category: performance
  - name: platform-nodes
    match: {audience: platform, kind: [node]}
    groupBy: [name]
    window: {kind: tumbling, size: 45s}
    threshold: {count: 2}
    severity: critical
    category: operations
  - name: everything
    window: {kind: hopping, size: 100s, hop: 40s}
    threshold: {distinct: cluster, count: 2}
    severity: info
    category: operations
"#;

#[derive(Debug, Clone)]
struct Event {
    cluster: usize,
    namespace: usize,
    pod: usize,
    reason: usize,
    at_ms: i64,
    weight: u64,
}

fn event_strategy(pods: usize, reasons: usize) -> impl Strategy<Value = Event> {
    (
        0..CLUSTERS.len(),
        0..NAMESPACES.len(),
        0..pods,
        0..reasons,
        0..600_000i64,
        1..=3u64,
    )
        .prop_map(|(cluster, namespace, pod, reason, at_ms, weight)| Event {
            cluster,
            namespace,
            pod,
            reason,
            at_ms,
            weight,
        })
}

fn t0() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().expect("valid time")
}

fn at(ms: i64) -> Timestamp {
    t0() + Duration::from_millis(ms as u64)
}

struct Built {
    specs: Vec<ObservationSpec>,
    ids: Vec<String>,
}

impl Built {
    fn new(events: &[Event]) -> Self {
        let specs = events
            .iter()
            .map(|e| {
                let (reason, event_type, kind) = REASONS[e.reason];
                let node = kind == "Node";
                ObservationSpec {
                    source: "kubernetes-events".into(),
                    category: Category::Operations,
                    severity: Severity::High,
                    event_type: event_type.into(),
                    resource: Some(ResourceRef {
                        api_version: Some("v1".into()),
                        kind: Some(kind.into()),
                        name: Some(if node {
                            format!("node-{}", e.pod)
                        } else {
                            format!("pod-{}", e.pod)
                        }),
                        namespace: (!node).then(|| NAMESPACES[e.namespace].to_string()),
                    }),
                    details: Some(json!({ "reason": reason })),
                    detected_at: None,
                    ttl_seconds_after_creation: None,
                }
            })
            .collect();
        let ids = (0..events.len()).map(|i| format!("e-{i}")).collect();
        Self { specs, ids }
    }

    fn signal(&self, events: &[Event], i: usize) -> Signal<'_> {
        let e = &events[i];
        let spec = &self.specs[i];
        let platform = spec
            .resource
            .as_ref()
            .and_then(|r| r.namespace.as_deref())
            .is_none_or(|ns| ns.starts_with("kube-"));
        let audience = if platform {
            Audience::Platform
        } else {
            Audience::Customer
        };
        Signal::new(
            CLUSTERS[e.cluster],
            audience,
            spec,
            at(e.at_ms),
            &self.ids[i],
        )
        .with_occurrences(e.weight)
    }
}

/// What is fixed by the input: id, rule, key, window.
type Fixed = (String, String, Vec<(KeyField, String)>, i64, i64);
/// A (rule, key, window start, window end).
type Group = (String, Vec<(KeyField, String)>, i64, i64);

fn fixed(anomalies: &[Anomaly]) -> BTreeSet<Fixed> {
    anomalies
        .iter()
        .map(|a| {
            (
                a.id(),
                a.rule.clone(),
                a.key.clone(),
                a.window_start.as_millisecond(),
                a.window_end.as_millisecond(),
            )
        })
        .collect()
}

fn config() -> DetectorConfig {
    DetectorConfig {
        allowed_lateness: Duration::from_millis(LATENESS_MS as u64),
        ..DetectorConfig::default()
    }
}

/// Runs `order` (indexes into `events`, repeats allowed) through a fresh detector.
fn detect(
    rules: &RuleSet,
    events: &[Event],
    built: &Built,
    order: &[usize],
) -> (Vec<Anomaly>, Detector) {
    let mut d = Detector::new(rules.clone(), config());
    let mut out = Vec::new();
    for &i in order {
        d.process(&built.signal(events, i), &mut out);
    }
    (out, d)
}

/// Brute force: every (rule, key, window) whose total over distinct ids
/// (or number of distinct values) reaches the threshold.
fn oracle(rules: &RuleSet, events: &[Event], built: &Built) -> BTreeSet<Group> {
    // group -> id -> (weight, distinct value)
    let mut groups: BTreeMap<Group, BTreeMap<String, (u64, String)>> = BTreeMap::new();
    let t0 = t0().as_millisecond();
    for (i, e) in events.iter().enumerate() {
        let s = built.signal(events, i);
        let at = t0 + e.at_ms;
        for rule in rules.rules() {
            if !rule.matches(&s) {
                continue;
            }
            let key: Vec<(KeyField, String)> = rule
                .group_by()
                .iter()
                .map(|f| (*f, s.value(*f).to_string()))
                .collect();
            let size = rule.window().size().as_millis() as i64;
            let hop = rule.window().hop().as_millis() as i64;
            // Every start k*hop with start <= at < start + size, by scanning.
            let mut k = (at - size) / hop - 2;
            while k * hop <= at {
                let (start, end) = (k * hop, k * hop + size);
                if start <= at && at < end {
                    let distinct = rule
                        .threshold()
                        .distinct()
                        .map(|f| s.value(f).to_string())
                        .unwrap_or_default();
                    groups
                        .entry((rule.name().to_string(), key.clone(), start, end))
                        .or_default()
                        .entry(s.id.to_string())
                        .or_insert((e.weight, distinct));
                }
                k += 1;
            }
        }
    }
    groups
        .into_iter()
        .filter(|((rule, ..), ids)| {
            let threshold = rules.get(rule).expect("rule").threshold();
            let total = match threshold {
                Threshold::Count(_) => ids.values().map(|(w, _)| w).sum::<u64>(),
                Threshold::Distinct { .. } => {
                    ids.values().map(|(_, v)| v).collect::<HashSet<_>>().len() as u64
                }
            };
            total >= threshold.count()
        })
        .map(|(g, _)| g)
        .collect()
}

fn without_id(set: &BTreeSet<Fixed>) -> BTreeSet<Group> {
    set.iter()
        .map(|(_, r, k, s, e)| (r.clone(), k.clone(), *s, *e))
        .collect()
}

/// Arrival order: by event time plus a jitter within the lateness, so every
/// signal arrives at or after the watermark.
fn jittered(events: &[Event], jitter: &[i64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| (events[i].at_ms + jitter[i % jitter.len()], i));
    order
}

fn sorted(events: &[Event]) -> Vec<usize> {
    jittered(events, &[0])
}

fn check_one_per_key_and_window(
    anomalies: &[Anomaly],
    rules: &RuleSet,
) -> Result<(), TestCaseError> {
    let mut seen = HashSet::new();
    for a in anomalies {
        prop_assert!(seen.insert(a.id()), "anomaly {} raised twice", a.id());
        let threshold = rules.get(&a.rule).expect("rule").threshold().count();
        prop_assert!(
            a.count >= threshold,
            "{} fired at {} < {}",
            a.rule,
            a.count,
            threshold
        );
    }
    Ok(())
}

fn events_and_jitter(
    pods: usize,
    reasons: usize,
    max: usize,
) -> impl Strategy<Value = (Vec<Event>, Vec<i64>)> {
    (
        prop::collection::vec(event_strategy(pods, reasons), 0..max),
        prop::collection::vec(0..=LATENESS_MS, 1..64),
    )
}

proptest! {
    // No regression files: the tests are cheap enough to search again.
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn anomalies_are_exactly_the_oracles((events, _) in events_and_jitter(4, REASONS.len(), 200)) {
        let rules = RuleSet::from_yaml(TEST_RULES).expect("valid rules");
        let built = Built::new(&events);
        let (out, d) = detect(&rules, &events, &built, &sorted(&events));
        check_one_per_key_and_window(&out, &rules)?;
        prop_assert_eq!(without_id(&fixed(&out)), oracle(&rules, &events, &built));
        prop_assert_eq!(d.stats().late, 0);
        prop_assert_eq!(d.stats().anomalies as usize, out.len());
    }

    #[test]
    fn arrival_order_within_the_lateness_does_not_matter((events, jitter) in events_and_jitter(4, REASONS.len(), 200)) {
        let rules = RuleSet::from_yaml(TEST_RULES).expect("valid rules");
        let built = Built::new(&events);
        let (in_order, _) = detect(&rules, &events, &built, &sorted(&events));
        let (shuffled, d) = detect(&rules, &events, &built, &jittered(&events, &jitter));
        check_one_per_key_and_window(&shuffled, &rules)?;
        prop_assert_eq!(d.stats().late, 0, "every signal arrived within the lateness");
        prop_assert_eq!(fixed(&shuffled), fixed(&in_order));
        prop_assert_eq!(without_id(&fixed(&shuffled)), oracle(&rules, &events, &built));
    }

    #[test]
    fn redeliveries_do_not_count_twice(
        (events, jitter) in events_and_jitter(4, REASONS.len(), 150),
        copies in prop::collection::vec((any::<prop::sample::Index>(), 0..=LATENESS_MS), 0..100),
    ) {
        let rules = RuleSet::from_yaml(TEST_RULES).expect("valid rules");
        let built = Built::new(&events);
        let (once, _) = detect(&rules, &events, &built, &jittered(&events, &jitter));
        // Each copy arrives at its own point within the lateness.
        let mut arrivals: Vec<(i64, usize)> = (0..events.len())
            .map(|i| (events[i].at_ms + jitter[i % jitter.len()], i))
            .collect();
        if !events.is_empty() {
            for (pick, delay) in &copies {
                let i = pick.index(events.len());
                arrivals.push((events[i].at_ms + delay, i));
            }
        }
        arrivals.sort();
        let order: Vec<usize> = arrivals.iter().map(|(_, i)| *i).collect();
        let (twice, d) = detect(&rules, &events, &built, &order);
        check_one_per_key_and_window(&twice, &rules)?;
        prop_assert_eq!(d.stats().late, 0);
        prop_assert_eq!(fixed(&twice), fixed(&once));
        prop_assert_eq!(without_id(&fixed(&twice)), oracle(&rules, &events, &built));
    }

    #[test]
    fn batching_does_not_matter(
        (events, jitter) in events_and_jitter(4, REASONS.len(), 150),
        cuts in prop::collection::vec(1..20usize, 1..20),
    ) {
        let rules = RuleSet::from_yaml(TEST_RULES).expect("valid rules");
        let built = Built::new(&events);
        let order = jittered(&events, &jitter);
        let (one_by_one, _) = detect(&rules, &events, &built, &order);
        let signals: Vec<Signal<'_>> = order.iter().map(|&i| built.signal(&events, i)).collect();
        let mut d = Detector::new(rules.clone(), config());
        let mut batched = Vec::new();
        let (mut from, mut c) = (0, 0);
        while from < signals.len() {
            let to = (from + cuts[c % cuts.len()]).min(signals.len());
            batched.extend(d.process_all(&signals[from..to]));
            from = to;
            c += 1;
        }
        // Same order, so everything is equal, samples and counts included.
        prop_assert_eq!(batched, one_by_one);
    }

    #[test]
    fn replaying_the_stream_raises_nothing_new((events, jitter) in events_and_jitter(4, REASONS.len(), 150)) {
        let rules = RuleSet::from_yaml(TEST_RULES).expect("valid rules");
        let built = Built::new(&events);
        let order = jittered(&events, &jitter);
        let twice: Vec<usize> = order.iter().chain(order.iter()).copied().collect();
        let (out, _) = detect(&rules, &events, &built, &twice);
        check_one_per_key_and_window(&out, &rules)?;
        let (once, _) = detect(&rules, &events, &built, &order);
        prop_assert_eq!(fixed(&out), fixed(&once));
    }

    #[test]
    fn default_rules_agree_with_the_oracle((events, jitter) in events_and_jitter(2, REASONS.len(), 400)) {
        let rules = RuleSet::default_rules();
        let built = Built::new(&events);
        let (out, d) = detect(&rules, &events, &built, &jittered(&events, &jitter));
        check_one_per_key_and_window(&out, &rules)?;
        prop_assert_eq!(d.stats().late, 0);
        prop_assert_eq!(without_id(&fixed(&out)), oracle(&rules, &events, &built));
    }
}

#[test]
fn the_oracle_and_the_detector_both_see_a_storm() {
    // A fixed stream: guards against both sides agreeing on "nothing".
    let events: Vec<Event> = (0..12)
        .map(|i| Event {
            cluster: 0,
            namespace: 0,
            pod: 0,
            reason: 0,
            at_ms: i * 1_000,
            weight: 1,
        })
        .collect();
    let built = Built::new(&events);
    let rules = RuleSet::default_rules();
    let expected = oracle(&rules, &events, &built);
    assert_eq!(expected.len(), 1, "{expected:?}");
    let (out, _) = detect(&rules, &events, &built, &sorted(&events));
    assert_eq!(without_id(&fixed(&out)), expected);
    assert_eq!(out[0].rule, "volume-mount-failures");
    assert_eq!(out[0].count, 10);
}

#[test]
fn a_late_signal_changes_the_result_so_the_bound_matters() {
    // Outside the lateness the detector must drop what the oracle counts:
    // the properties above hold only because the jitter stays within it.
    let mut events: Vec<Event> = (0..3)
        .map(|i| Event {
            cluster: 0,
            namespace: 0,
            pod: 0,
            reason: 0,
            at_ms: 10_000 + i,
            weight: 1,
        })
        .collect();
    events.push(Event {
        at_ms: 59_000,
        ..events[0].clone()
    });
    let rules = RuleSet::from_yaml(TEST_RULES).expect("valid rules");
    let built = Built::new(&events);
    // The 59 s signal first: the others are 49 s behind, past the 30 s bound.
    let (out, d) = detect(&rules, &events, &built, &[3, 0, 1, 2]);
    assert_eq!(d.stats().late, 3);
    assert!(out.iter().all(|a| a.rule != "count-per-pod"));
    assert!(oracle(&rules, &events, &built)
        .iter()
        .any(|(rule, ..)| rule == "count-per-pod"));
}
