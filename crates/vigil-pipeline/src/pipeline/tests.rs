//! The stages composed: order, outcomes and state.

use super::*;
use crate::clock::ManualClock;
use crate::enrich::{AUDIENCE_LABEL, FINGERPRINT_LABEL, SOURCE_LABEL};
use crate::event::ObjectRef;
use std::time::Duration;
use vigil_model::{Category, Severity};

const T0: &str = "2026-01-01T00:00:00Z";

fn ts(s: &str) -> Timestamp {
    s.parse().expect("valid time")
}

fn pipeline_with(config: PipelineConfig) -> (Pipeline, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(ts(T0)));
    (Pipeline::new(config, clock.clone()), clock)
}

fn pipeline() -> (Pipeline, Arc<ManualClock>) {
    pipeline_with(PipelineConfig::for_kubernetes_events())
}

fn backoff(uid: &str, rv: &str, pod: &str, at: &str) -> KubeEvent {
    KubeEvent {
        uid: uid.into(),
        namespace: "shop".into(),
        name: format!("{pod}.17a"),
        resource_version: rv.into(),
        type_: "Warning".into(),
        reason: "BackOff".into(),
        message: format!("Back-off restarting failed container web in pod {pod}_shop"),
        regarding: ObjectRef {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: "shop".into(),
            name: pod.into(),
            uid: "p".into(),
        },
        count: 1,
        last_time: Some(ts(at)),
        ..Default::default()
    }
}

fn emit(o: Outcome) -> Candidate {
    match o {
        Outcome::Emit(c) => *c,
        other => panic!("expected Emit, got {other:?}"),
    }
}

fn repeat(o: Outcome) -> Repeat {
    match o {
        Outcome::Repeat(r) => r,
        other => panic!("expected Repeat, got {other:?}"),
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = PipelineConfig::default();
    assert_eq!(c.source, "kubernetes-events");
    assert_eq!(c.ttl_seconds, 604_800);
    assert_eq!(c.fallback_namespace, "vigil-system");
    assert_eq!(
        (c.dedup.window, c.dedup.max_entries),
        (Duration::from_secs(300), 100_000)
    );
    assert_eq!(
        (c.throttle.events_per_second, c.throttle.burst),
        (500.0, 1000)
    );
    assert!(c.filter.normal_allow.iter().any(|r| r == "NodeNotReady"));
    assert!(c.enrich.platform_namespaces.iter().any(|g| g == "kube-*"));
}

#[test]
fn a_new_problem_emits_a_complete_candidate() {
    let (mut p, _) = pipeline();
    let c = emit(p.process(&backoff(
        "e1",
        "1",
        "web-7c9d8f6b5-x2x7q",
        "2026-01-01T00:01:00Z",
    )));
    assert_eq!(c.namespace, "shop");
    assert_eq!(
        (c.spec.category, c.spec.severity, c.spec.event_type.as_str()),
        (Category::Operations, Severity::High, "pod_backoff")
    );
    assert!(
        c.name.starts_with("kubernetes-events-pod-backoff-") && c.name.len() <= 63,
        "{}",
        c.name
    );
    assert_eq!(c.fingerprint.len(), 16);
    assert_eq!(
        c.labels.get(AUDIENCE_LABEL).map(String::as_str),
        Some("customer")
    );
    assert_eq!(
        c.labels.get(SOURCE_LABEL).map(String::as_str),
        Some("kubernetes-events")
    );
    assert_eq!(c.labels.get(FINGERPRINT_LABEL), Some(&c.fingerprint));
    assert_eq!(c.spec.ttl_seconds_after_creation, Some(604_800));
    assert_eq!(p.dedup_entries(), 1);
}

#[test]
fn repeats_in_the_window_name_the_emitted_observation_and_count() {
    let (mut p, _) = pipeline();
    let first = emit(p.process(&backoff(
        "e1",
        "1",
        "web-7c9d8f6b5-x2x7q",
        "2026-01-01T00:01:00Z",
    )));
    // Another pod of the same Deployment, then an update of the first Event.
    let r = repeat(p.process(&backoff(
        "e2",
        "7",
        "web-7c9d8f6b5-k9m2p",
        "2026-01-01T00:02:00Z",
    )));
    assert_eq!(
        (r.name.as_str(), r.namespace.as_str(), r.occurrences),
        (first.name.as_str(), "shop", 2)
    );
    assert_eq!(r.last_seen, ts("2026-01-01T00:02:00Z"));
    let r = repeat(p.process(&backoff(
        "e1",
        "2",
        "web-7c9d8f6b5-x2x7q",
        "2026-01-01T00:04:59Z",
    )));
    assert_eq!(r.occurrences, 3);
    // The next window is a new Observation with another name.
    let next = emit(p.process(&backoff(
        "e1",
        "3",
        "web-7c9d8f6b5-x2x7q",
        "2026-01-01T00:05:00Z",
    )));
    assert_ne!(next.name, first.name);
    assert_eq!(next.fingerprint, first.fingerprint);
}

#[test]
fn a_relisted_unchanged_event_is_not_an_occurrence() {
    let (mut p, clock) = pipeline();
    let e = backoff("e1", "1", "web-0", "2026-01-01T00:01:00Z");
    emit(p.process(&e));
    assert_eq!(p.process(&e), Outcome::Dropped(DropReason::Unchanged));
    // Long after its window expired, a relist still does not re-emit it.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(p.process(&e), Outcome::Dropped(DropReason::Unchanged));
    assert_eq!(p.tracked_event_versions(), 1);
}

#[test]
fn events_without_a_time_use_the_clock() {
    let (mut p, clock) = pipeline();
    let mut e = backoff("", "", "web-0", T0);
    e.last_time = None;
    let first = emit(p.process(&e));
    assert_eq!(
        repeat(p.process(&e)).last_seen,
        ts(T0),
        "no uid: every delivery counts"
    );
    clock.advance(Duration::from_secs(300));
    assert_ne!(emit(p.process(&e)).name, first.name);
}

#[test]
fn filters_run_before_and_after_normalize() {
    let config = PipelineConfig {
        filter: filter::FilterConfig {
            min_severity: Some(Severity::High),
            ..Default::default()
        },
        ..PipelineConfig::default()
    };
    let (mut p, _) = pipeline_with(config);
    let mut scaled = backoff("a", "1", "web-0", T0);
    (scaled.type_, scaled.reason) = ("Normal".into(), "ScalingReplicaSet".into());
    assert_eq!(p.process(&scaled), Outcome::Dropped(DropReason::NormalType));
    let mut probe = backoff("b", "1", "web-0", T0);
    probe.reason = "Unhealthy".into(); // medium
    assert_eq!(p.process(&probe), Outcome::Dropped(DropReason::Severity));
    emit(p.process(&backoff("c", "1", "web-0", T0)));
    assert_eq!(
        p.tracked_event_versions(),
        1,
        "dropped events are not remembered"
    );
}

#[test]
fn throttled_candidates_are_not_remembered() {
    let config = PipelineConfig {
        throttle: throttle::ThrottleConfig {
            events_per_second: 1.0,
            burst: 1,
        },
        ..PipelineConfig::default()
    };
    let (mut p, clock) = pipeline_with(config);
    emit(p.process(&backoff("a", "1", "web-0", T0)));
    let mut other = backoff("b", "1", "api-0", T0);
    other.message = "Back-off restarting failed container api".into();
    assert_eq!(p.process(&other), Outcome::Dropped(DropReason::Throttled));
    // Repeats cost no token.
    assert_eq!(
        repeat(p.process(&backoff("a", "2", "web-0", T0))).occurrences,
        2
    );
    // The throttled event, delivered again once a token is back, emits.
    clock.advance(Duration::from_secs(1));
    emit(p.process(&other));
    assert_eq!(p.dedup_entries(), 2);
}

#[test]
fn cluster_scoped_objects_go_to_the_fallback_namespace_as_platform() {
    let (mut p, _) = pipeline();
    let e = KubeEvent {
        uid: "n1".into(),
        namespace: "default".into(),
        type_: "Normal".into(),
        reason: "NodeNotReady".into(),
        message: "Node node-a status is now: NodeNotReady".into(),
        regarding: ObjectRef {
            kind: "Node".into(),
            name: "node-a".into(),
            ..Default::default()
        },
        last_time: Some(ts(T0)),
        ..Default::default()
    };
    let c = emit(p.process(&e));
    assert_eq!(c.namespace, "vigil-system");
    assert_eq!(c.spec.severity, Severity::Critical);
    assert_eq!(
        c.labels.get(AUDIENCE_LABEL).map(String::as_str),
        Some("platform")
    );
}

#[test]
fn namespace_labels_reach_enrich() {
    let mut config = PipelineConfig::default();
    config.enrich.platform_namespace_labels =
        BTreeMap::from([("owner".to_string(), "platform".to_string())]);
    let (mut p, _) = pipeline_with(config);
    p.set_namespace_labels(
        "shop",
        BTreeMap::from([("owner".to_string(), "platform".to_string())]),
    );
    let c = emit(p.process(&backoff("a", "1", "web-0", T0)));
    assert_eq!(
        c.labels.get(AUDIENCE_LABEL).map(String::as_str),
        Some("platform")
    );
    p.remove_namespace("shop");
    let mut other = backoff("b", "1", "api-0", T0);
    other.message = "other".into();
    let c = emit(p.process(&other));
    assert_eq!(
        c.labels.get(AUDIENCE_LABEL).map(String::as_str),
        Some("customer")
    );
}

#[test]
fn a_full_dedup_cache_evicts_and_counts() {
    let mut config = PipelineConfig::default();
    config.dedup.max_entries = 2;
    let (mut p, _) = pipeline_with(config);
    for (i, pod) in ["a-0", "b-0", "c-0"].iter().enumerate() {
        let mut e = backoff(&i.to_string(), "1", pod, T0);
        e.message = format!("container {pod}");
        emit(p.process(&e));
    }
    assert_eq!(
        (p.dedup_entries(), p.dedup_evictions(), p.dedup_capacity()),
        (2, 1, 2)
    );
}

#[test]
fn drop_reasons_have_distinct_metric_labels() {
    let labels: std::collections::HashSet<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(labels.len(), DropReason::ALL.len());
    assert_eq!(DropReason::Unchanged.as_str(), "unchanged");
}

#[test]
fn the_pipeline_can_move_into_a_task() {
    fn assert_send<T: Send>() {}
    assert_send::<Pipeline>();
}
