//! Tests of the reason table and the Observation content.

use super::*;
use crate::event::ObjectRef;
use serde_json::json;

fn event(type_: &str, reason: &str, message: &str) -> KubeEvent {
    KubeEvent {
        type_: type_.into(),
        reason: reason.into(),
        message: message.into(),
        ..Default::default()
    }
}

fn classify(type_: &str, reason: &str, message: &str) -> (Category, Severity, String) {
    let c = Normalizer::new().classify(&event(type_, reason, message));
    (c.category, c.severity, c.event_type.into_owned())
}

fn expect(
    category: Category,
    severity: Severity,
    event_type: &str,
) -> (Category, Severity, String) {
    (category, severity, event_type.to_string())
}

#[test]
fn the_module_doc_renders_every_row_of_the_table() {
    let source = include_str!("../normalize.rs");
    for r in REASON_TABLE {
        let hint = r
            .message_contains
            .map(|h| format!("`{h}`"))
            .unwrap_or_default();
        let line = format!(
            "//! | `{}` | {hint} | {} | {} | `{}` |",
            r.reason, r.category, r.severity, r.event_type
        );
        assert!(source.contains(&line), "module doc lacks: {line}");
    }
    let doc_rows = source.lines().filter(|l| l.starts_with("//! | `")).count();
    assert_eq!(
        doc_rows,
        REASON_TABLE.len(),
        "the doc has rows the table lacks"
    );
}

#[test]
fn table_rows_are_valid_and_grouped_by_reason() {
    let mut seen = std::collections::HashSet::new();
    let mut previous = "";
    for r in REASON_TABLE {
        assert!(r.event_type.len() <= MAX_EVENT_TYPE_LEN, "{}", r.event_type);
        assert!(r
            .event_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        if r.reason != previous {
            assert!(
                seen.insert(r.reason),
                "rows for {} are not adjacent",
                r.reason
            );
        }
        previous = r.reason;
    }
}

#[test]
fn known_reasons_map_as_documented() {
    use Category::{Operations as Ops, Performance as Perf};
    use Severity::*;
    assert_eq!(
        classify("Warning", "OOMKilling", "Killed process 4242 (java)"),
        expect(Ops, High, "oom_killed")
    );
    assert_eq!(
        classify("Warning", "OOMKilled", ""),
        expect(Ops, High, "oom_killed")
    );
    assert_eq!(
        classify("Warning", "FailedMount", ""),
        expect(Ops, High, "volume_mount_failed")
    );
    assert_eq!(
        classify("Warning", "FailedAttachVolume", ""),
        expect(Ops, High, "volume_mount_failed")
    );
    assert_eq!(
        classify("Warning", "CrashLoopBackOff", ""),
        expect(Ops, High, "pod_backoff")
    );
    assert_eq!(
        classify("Warning", "FailedScheduling", ""),
        expect(Perf, Medium, "scheduling_failed")
    );
    assert_eq!(
        classify("Warning", "Unhealthy", ""),
        expect(Ops, Medium, "probe_failed")
    );
    assert_eq!(
        classify("Warning", "Evicted", ""),
        expect(Ops, High, "pod_evicted")
    );
    assert_eq!(
        classify("Normal", "NodeNotReady", ""),
        expect(Ops, Critical, "node_not_ready")
    );
    assert_eq!(
        classify("Normal", "NodeReady", ""),
        expect(Ops, Info, "node_ready")
    );
    assert_eq!(
        classify("Normal", "Killing", ""),
        expect(Ops, Low, "container_killed")
    );
    assert_eq!(
        classify("Normal", "Preempted", ""),
        expect(Ops, Medium, "pod_preempted")
    );
    assert_eq!(
        classify("Warning", "FailedCreate", ""),
        expect(Ops, High, "create_failed")
    );
    assert_eq!(
        classify("Warning", "FailedKillPod", ""),
        expect(Ops, High, "pod_kill_failed")
    );
    assert_eq!(
        classify("Warning", "ImagePullBackOff", ""),
        expect(Ops, High, "image_pull_failed")
    );
    assert_eq!(
        classify("Warning", "ErrImagePull", ""),
        expect(Ops, High, "image_pull_failed")
    );
    assert_eq!(
        classify("Warning", "NetworkNotReady", ""),
        expect(Ops, High, "network_not_ready")
    );
    assert_eq!(
        classify("Warning", "FailedCreatePodSandBox", ""),
        expect(Ops, High, "pod_sandbox_failed")
    );
}

#[test]
fn message_hints_split_one_reason_into_two_kinds() {
    use Severity::High;
    let ops = Category::Operations;
    let pull = "Failed to pull image \"nginx:latst\": rpc error: code = NotFound";
    assert_eq!(
        classify("Warning", "Failed", pull),
        expect(ops, High, "image_pull_failed")
    );
    assert_eq!(
        classify("Warning", "Failed", "Error: CreateContainerConfigError"),
        expect(ops, High, "container_failed")
    );
    let backoff_pull = "Back-off pulling image \"registry.local/app:1.2\"";
    assert_eq!(
        classify("Warning", "BackOff", backoff_pull),
        expect(ops, High, "image_pull_failed")
    );
    let backoff = "Back-off restarting failed container";
    assert_eq!(
        classify("Warning", "BackOff", backoff),
        expect(ops, High, "pod_backoff")
    );
}

#[test]
fn unknown_reasons_get_a_snake_case_event_type_by_type() {
    let (c, s, t) = classify("Warning", "PolicyViolation", "");
    assert_eq!(
        (c, s, t.as_str()),
        (
            Category::Operations,
            Severity::Medium,
            "warning_policy_violation"
        )
    );
    let (_, s, t) = classify(
        "Normal",
        "falco-talon:action:kubernetes:tcpdump:success",
        "",
    );
    assert_eq!(
        (s, t.as_str()),
        (
            Severity::Info,
            "normal_falco_talon_action_kubernetes_tcpdump_success"
        )
    );
    let (_, _, t) = classify("Warning", "", "");
    assert_eq!(t, "warning_unknown");
    let (_, _, t) = classify("Warning", &"VeryLongReason".repeat(10), "");
    assert!(t.len() <= MAX_EVENT_TYPE_LEN && !t.ends_with('_'), "{t}");
    assert!(t.starts_with("warning_very_long_reason_very"), "{t}");
}

#[test]
fn snake_case_splits_words_and_acronyms() {
    assert_eq!(
        snake_case("FailedCreatePodSandBox"),
        "failed_create_pod_sand_box"
    );
    assert_eq!(snake_case("OOMKilling"), "oom_killing");
    assert_eq!(snake_case("CIDRNotAvailable"), "cidr_not_available");
    assert_eq!(
        snake_case("NodeHasInsufficientPID"),
        "node_has_insufficient_pid"
    );
    assert_eq!(snake_case("Http2Error"), "http2_error");
    assert_eq!(snake_case("--Weird  reason!"), "weird_reason");
    assert_eq!(snake_case("Über"), "ber");
}

#[test]
fn the_spec_keeps_resource_time_ttl_and_details() {
    let e = KubeEvent {
        uid: "u-1".into(),
        namespace: "shop".into(),
        name: "web-1.17a".into(),
        type_: "Warning".into(),
        reason: "BackOff".into(),
        message: "Back-off restarting failed container".into(),
        regarding: ObjectRef {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: "shop".into(),
            name: "web-1".into(),
            uid: "p-1".into(),
        },
        reporting_controller: "kubelet".into(),
        count: 3,
        first_time: Some("2026-01-01T00:00:00Z".parse().expect("time")),
        last_time: Some("2026-01-01T00:03:00Z".parse().expect("time")),
        ..Default::default()
    };
    let class = Normalizer::new().classify(&e);
    let spec = observation_spec(&e, &class, "kubernetes-events", 604_800);
    assert_eq!(spec.source, "kubernetes-events");
    assert_eq!(
        (spec.category, spec.severity, spec.event_type.as_str()),
        (Category::Operations, Severity::High, "pod_backoff")
    );
    let r = spec.resource.expect("resource");
    assert_eq!(
        (
            r.api_version.as_deref(),
            r.kind.as_deref(),
            r.namespace.as_deref(),
            r.name.as_deref()
        ),
        (Some("v1"), Some("Pod"), Some("shop"), Some("web-1"))
    );
    assert_eq!(
        spec.detected_at.map(|t| t.0.to_string()),
        Some("2026-01-01T00:03:00Z".to_string())
    );
    assert_eq!(spec.ttl_seconds_after_creation, Some(604_800));
    assert_eq!(
        spec.details,
        Some(json!({
            "reason": "BackOff", "message": "Back-off restarting failed container", "count": 3,
            "type": "Warning", "eventName": "shop/web-1.17a",
            "firstTime": "2026-01-01T00:00:00Z", "lastTime": "2026-01-01T00:03:00Z",
            "reportingController": "kubelet"
        }))
    );
}

#[test]
fn an_event_about_nothing_has_no_resource() {
    let e = event("Warning", "X", "");
    let spec = observation_spec(&e, &Normalizer::new().classify(&e), "s", 1);
    assert_eq!(spec.resource, None);
    assert_eq!(spec.detected_at, None);
    assert_eq!(spec.details.as_ref().and_then(|d| d.get("lastTime")), None);
}
