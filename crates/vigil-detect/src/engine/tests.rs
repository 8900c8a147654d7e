//! The detector: firing, lateness, expiry, bounds, duplicates, audience.

use super::*;
use serde_json::json;
use vigil_model::{Category, ObservationSpec, ResourceRef, Severity};

const T0: &str = "2026-01-01T00:00:00Z";

fn t(secs: i64) -> Timestamp {
    let t0: Timestamp = T0.parse().expect("valid time");
    t0 + std::time::Duration::from_secs(secs as u64)
}

fn spec(reason: &str, namespace: &str, pod: &str) -> ObservationSpec {
    ObservationSpec {
        source: "kubernetes-events".into(),
        category: Category::Operations,
        severity: Severity::High,
        event_type: "volume_mount_failed".into(),
        resource: Some(ResourceRef {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(pod.into()),
            namespace: (!namespace.is_empty()).then(|| namespace.into()),
        }),
        details: Some(json!({"reason": reason})),
        detected_at: None,
        ttl_seconds_after_creation: None,
    }
}

fn rules(yaml_rules: &str) -> RuleSet {
    RuleSet::from_yaml(&format!("rules:\n{yaml_rules}")).expect("valid rules")
}

/// A count rule on FailedMount per (namespace, name), tumbling 5m, threshold 3.
fn mount_rule() -> RuleSet {
    rules(
        r#"
  - name: mounts
    match: {reason: [FailedMount]}
    groupBy: [namespace, name]
    window: {kind: tumbling, size: 5m}
    threshold: {count: 3}
    severity: high
    category: operations
    description: "{count} mounts for {namespace}/{name} in {window} from {windowStart}"
"#,
    )
}

fn detector(rules: RuleSet) -> Detector {
    Detector::new(rules, DetectorConfig::default())
}

/// (spec, event second, id, audience, weight)
struct In {
    spec: ObservationSpec,
    at: i64,
    id: String,
    audience: Audience,
    weight: u64,
}

fn input(reason: &str, ns: &str, pod: &str, at: i64, id: &str) -> In {
    In {
        spec: spec(reason, ns, pod),
        at,
        id: id.into(),
        audience: Audience::Customer,
        weight: 1,
    }
}

fn run(d: &mut Detector, inputs: &[In]) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for i in inputs {
        let s = Signal::new("c1", i.audience, &i.spec, t(i.at), &i.id).with_occurrences(i.weight);
        d.process(&s, &mut out);
    }
    out
}

#[test]
fn fires_once_when_the_threshold_is_reached() {
    let mut d = detector(mount_rule());
    let inputs: Vec<In> = (0..6)
        .map(|i| input("FailedMount", "shop", "db-0", 10 + i, &format!("e-{i}")))
        .collect();
    let mut out = Vec::new();
    for (i, x) in inputs.iter().enumerate() {
        let s = Signal::new("c1", x.audience, &x.spec, t(x.at), &x.id);
        d.process(&s, &mut out);
        assert_eq!(out.len(), usize::from(i >= 2), "after signal {i}");
    }
    let a = &out[0];
    assert_eq!(a.rule, "mounts");
    assert_eq!(a.rule_version, 1);
    assert_eq!(
        a.key,
        vec![
            (KeyField::Namespace, "shop".to_string()),
            (KeyField::Name, "db-0".to_string())
        ]
    );
    assert_eq!((a.window_start, a.window_end), (t(0), t(300)));
    assert_eq!((a.count, a.threshold), (3, 3));
    assert_eq!(a.samples, ["e-0", "e-1", "e-2"]);
    assert_eq!(a.detected_at, t(12));
    assert_eq!(
        a.description,
        "3 mounts for shop/db-0 in 5m from 2026-01-01T00:00:00Z"
    );
    assert_eq!(
        (a.severity, a.category, a.audience),
        (Severity::High, Category::Operations, Audience::Customer)
    );
    let stats = d.stats();
    assert_eq!((stats.signals, stats.matched, stats.anomalies), (6, 6, 1));
    vigil_model::validate::validate_observation(&a.to_observation_spec()).expect("valid");
}

#[test]
fn keys_and_windows_fire_separately() {
    let mut d = detector(mount_rule());
    let mut inputs = Vec::new();
    for (pod, base) in [("db-0", 0), ("db-1", 0), ("db-0", 300)] {
        for i in 0..3 {
            inputs.push(input(
                "FailedMount",
                "shop",
                pod,
                base + 10 * i,
                &format!("{pod}-{base}-{i}"),
            ));
        }
    }
    inputs.push(input("BackOff", "shop", "db-0", 320, "other-reason"));
    let out = run(&mut d, &inputs);
    let got: Vec<(String, Timestamp)> = out
        .iter()
        .map(|a| (a.key[1].1.clone(), a.window_start))
        .collect();
    assert_eq!(
        got,
        [
            ("db-0".to_string(), t(0)),
            ("db-1".to_string(), t(0)),
            ("db-0".to_string(), t(300))
        ]
    );
    let ids: std::collections::HashSet<String> = out.iter().map(Anomaly::id).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(d.stats().matched, 9, "the BackOff matches nothing");
}

#[test]
fn a_redelivered_id_counts_once_and_no_id_never_dedups() {
    let mut d = detector(mount_rule());
    let inputs = [
        input("FailedMount", "shop", "db-0", 1, "e-1"),
        input("FailedMount", "shop", "db-0", 2, "e-1"),
        input("FailedMount", "shop", "db-0", 3, "e-2"),
        input("FailedMount", "shop", "db-0", 4, "e-2"),
    ];
    assert!(run(&mut d, &inputs).is_empty());
    assert_eq!(d.stats().duplicates, 2);
    let out = run(&mut d, &[input("FailedMount", "shop", "db-0", 5, "e-3")]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].samples, ["e-1", "e-2", "e-3"]);

    let mut d = detector(mount_rule());
    let anonymous: Vec<In> = (0..3)
        .map(|i| input("FailedMount", "shop", "db-0", i, ""))
        .collect();
    let out = run(&mut d, &anonymous);
    assert_eq!(out.len(), 1, "signals without id are all counted");
    assert!(out[0].samples.is_empty());
}

#[test]
fn weights_count_as_occurrences() {
    let mut d = detector(mount_rule());
    let mut heavy = input("FailedMount", "shop", "db-0", 1, "e-1");
    heavy.weight = 5;
    let mut zero = input("FailedMount", "shop", "db-1", 1, "z-1");
    zero.weight = 0;
    let out = run(&mut d, &[heavy, zero]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].count, 5, "the count when it fired");
}

#[test]
fn signals_older_than_the_watermark_are_late_and_ignored() {
    let mut d = detector(mount_rule());
    assert_eq!(d.watermark(), None);
    run(&mut d, &[input("FailedMount", "shop", "db-0", 100, "a")]);
    assert_eq!(d.watermark(), Some(t(70)), "100 s - 30 s lateness");
    let out = run(
        &mut d,
        &[
            input("FailedMount", "shop", "db-0", 69, "late"),
            input("BackOff", "shop", "db-0", 10, "late, matches nothing"),
            input("FailedMount", "shop", "db-0", 70, "just-in-time"),
            input("FailedMount", "shop", "db-0", 95, "out-of-order"),
        ],
    );
    assert_eq!(
        d.stats().late,
        1,
        "only signals that match a rule count as late"
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].samples, ["a", "just-in-time", "out-of-order"]);
    assert_eq!(d.watermark(), Some(t(70)), "older signals do not move it");
}

#[test]
fn lateness_is_configurable() {
    let config = DetectorConfig {
        allowed_lateness: Duration::from_secs(0),
        ..DetectorConfig::default()
    };
    let mut d = Detector::new(mount_rule(), config);
    run(
        &mut d,
        &[
            input("FailedMount", "shop", "db-0", 100, "a"),
            input("FailedMount", "shop", "db-0", 99, "b"),
        ],
    );
    assert_eq!(d.stats().late, 1);
}

#[test]
fn windows_close_at_the_watermark_and_are_forgotten() {
    let mut d = detector(mount_rule());
    run(
        &mut d,
        &[
            input("FailedMount", "shop", "db-0", 10, "a"),
            input("FailedMount", "shop", "db-1", 20, "b"),
        ],
    );
    assert_eq!(d.live_entries(), 2);
    assert_eq!(d.tracked(), 2);
    // Watermark 329 s: the [0, 300) windows are closed.
    run(&mut d, &[input("FailedMount", "shop", "db-2", 359, "c")]);
    assert_eq!(d.live_entries(), 1);
    assert_eq!(d.tracked(), 1);
    assert_eq!(d.stats().expired, 2);
    // An old key in a closed window is late, not a fresh start.
    let out = run(
        &mut d,
        &[
            input("FailedMount", "shop", "db-0", 11, "d"),
            input("FailedMount", "shop", "db-0", 12, "e"),
        ],
    );
    assert!(out.is_empty());
    assert_eq!(d.stats().late, 2);
}

#[test]
fn a_full_detector_evicts_the_window_ending_first() {
    let config = DetectorConfig {
        max_entries: 2,
        ..DetectorConfig::default()
    };
    let mut d = Detector::new(mount_rule(), config);
    run(
        &mut d,
        &[
            input("FailedMount", "shop", "db-0", 10, "a"),
            input("FailedMount", "shop", "db-1", 11, "b"),
            input("FailedMount", "shop", "db-2", 12, "c"),
        ],
    );
    assert_eq!(d.live_entries(), 2);
    assert_eq!(d.stats().evicted, 1);
    assert_eq!(d.stats().expired, 0);
}

#[test]
fn the_tracking_budget_is_bounded_and_counted() {
    let config = DetectorConfig {
        max_tracked: 2,
        ..DetectorConfig::default()
    };
    let mut d = Detector::new(mount_rule(), config);
    let out = run(
        &mut d,
        &[
            input("FailedMount", "shop", "db-0", 1, "a"),
            input("FailedMount", "shop", "db-1", 2, "b"),
            input("FailedMount", "shop", "db-1", 3, "c"),
        ],
    );
    assert!(out.is_empty());
    assert_eq!(d.tracked(), 2);
    assert_eq!(d.stats().untracked, 1, "c counted without being remembered");
    // db-1 reaches 3 with d: fires, and its remembered id is released.
    let out = run(&mut d, &[input("FailedMount", "shop", "db-1", 4, "d")]);
    assert_eq!(out.len(), 1);
    assert_eq!(d.tracked(), 1);
}

fn eviction_rule(window: &str) -> RuleSet {
    rules(&format!(
        r#"
  - name: evictions
    match: {{reason: [Evicted]}}
    groupBy: [cluster, namespace]
    window: {window}
    threshold: {{distinct: name, count: 3}}
    severity: high
    category: operations
    description: "{{count}} pods evicted in {{namespace}} on {{cluster}}"
"#
    ))
}

#[test]
fn distinct_rules_count_distinct_values() {
    let mut d = detector(eviction_rule("{kind: tumbling, size: 10m}"));
    let out = run(
        &mut d,
        &[
            input("Evicted", "shop", "a", 1, "e1"),
            input("Evicted", "shop", "a", 2, "e2"),
            input("Evicted", "shop", "b", 3, "e3"),
            input("Evicted", "shop", "b", 3, "e3"),
            input("Evicted", "other", "c", 3, "e4"),
            input("Evicted", "shop", "a", 4, "e5"),
        ],
    );
    assert!(out.is_empty(), "two pods in shop, one in other");
    let out = run(&mut d, &[input("Evicted", "shop", "c", 5, "e6")]);
    assert_eq!(out.len(), 1);
    let a = &out[0];
    assert_eq!((a.count, a.distinct), (3, Some(KeyField::Name)));
    assert_eq!(a.samples, ["e1", "e3", "e6"], "one sample per new value");
    assert_eq!(a.description, "3 pods evicted in shop on c1");
    assert_eq!(a.namespace(), Some("shop"));
}

#[test]
fn hopping_windows_fire_once_each() {
    let mut d = detector(eviction_rule("{kind: hopping, size: 3m, hop: 1m}"));
    let out = run(
        &mut d,
        &[
            input("Evicted", "shop", "a", 130, "e1"),
            input("Evicted", "shop", "b", 150, "e2"),
            input("Evicted", "shop", "c", 170, "e3"),
            input("Evicted", "shop", "d", 175, "e4"),
        ],
    );
    // 130..175 s lies in the windows starting at 0, 60 and 120 s.
    let starts: Vec<Timestamp> = out.iter().map(|a| a.window_start).collect();
    assert_eq!(starts, [t(0), t(60), t(120)]);
    assert!(out
        .iter()
        .all(|a| a.window_end == a.window_start + std::time::Duration::from_secs(180)));
    let ids: std::collections::HashSet<String> = out.iter().map(Anomaly::id).collect();
    assert_eq!(ids.len(), 3);
}

#[test]
fn anomalies_fed_back_are_skipped() {
    let mut d = detector(rules(
        r#"
  - name: anything
    window: {kind: tumbling, size: 1m}
    threshold: {count: 1}
    severity: low
    category: operations
"#,
    ));
    let out = run(&mut d, &[input("", "shop", "x", 1, "a")]);
    assert_eq!(out.len(), 1);
    let spec = out[0].to_observation_spec();
    let mut again = Vec::new();
    d.process(
        &Signal::new("c1", Audience::Platform, &spec, t(2), "b"),
        &mut again,
    );
    assert!(again.is_empty());
    assert_eq!(d.stats().own, 1);
    assert_eq!(out[0].key, vec![], "no groupBy: one group for everything");
    assert_eq!(out[0].description, "anything: 1 matching events within 1m");
}

#[test]
fn the_audience_is_customer_only_when_every_signal_was() {
    let mut d = detector(mount_rule());
    let mut inputs: Vec<In> = (0..3)
        .map(|i| input("FailedMount", "shop", "db-0", i, &format!("a{i}")))
        .collect();
    for i in 0..3 {
        let mut x = input("FailedMount", "shop", "db-1", i, &format!("b{i}"));
        if i == 1 {
            x.audience = Audience::Platform;
        }
        inputs.push(x);
    }
    let out = run(&mut d, &inputs);
    let audiences: Vec<Audience> = out.iter().map(|a| a.audience).collect();
    assert_eq!(audiences, [Audience::Customer, Audience::Platform]);
}

#[test]
fn samples_are_bounded_by_the_config_and_empty_values_render_as_none() {
    let config = DetectorConfig {
        max_samples: 2,
        ..DetectorConfig::default()
    };
    let mut d = Detector::new(mount_rule(), config);
    let out = run(
        &mut d,
        &(0..3)
            .map(|i| input("FailedMount", "", "pv-0", i, &format!("e{i}")))
            .collect::<Vec<_>>(),
    );
    assert_eq!(out[0].samples, ["e0", "e1"]);
    assert!(
        out[0].description.starts_with("3 mounts for (none)/pv-0"),
        "{}",
        out[0].description
    );
    assert_eq!(out[0].namespace(), None);
}

#[test]
fn batching_does_not_change_the_result() {
    let inputs: Vec<In> = (0..40)
        .map(|i| {
            input(
                "FailedMount",
                "shop",
                &format!("db-{}", i % 4),
                i * 7,
                &format!("e{i}"),
            )
        })
        .collect();
    let one_by_one = run(&mut detector(mount_rule()), &inputs);
    let signals: Vec<Signal<'_>> = inputs
        .iter()
        .map(|x| Signal::new("c1", x.audience, &x.spec, t(x.at), &x.id))
        .collect();
    let mut d = detector(mount_rule());
    let mut batched = Vec::new();
    for chunk in signals.chunks(7) {
        batched.extend(d.process_all(chunk));
    }
    assert!(!one_by_one.is_empty());
    assert_eq!(one_by_one, batched);
}
