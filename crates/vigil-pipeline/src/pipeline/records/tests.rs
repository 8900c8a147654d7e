//! Falco alerts and audit events through the stages: outcomes, names,
//! namespaces, labels, filters, buckets and re-deliveries.

use super::*;
use crate::clock::ManualClock;
use crate::enrich::{AUDIENCE_LABEL, FINGERPRINT_LABEL, SOURCE_LABEL};
use crate::event::ObjectRef;
use crate::sources::audit::AuditStage;
use crate::sources::{AuditConfig, FalcoConfig, SourcesConfig};
use crate::throttle::ThrottleConfig;
use crate::PipelineConfig;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use vigil_model::{Category, Severity};

const T0: &str = "2026-01-01T00:00:00Z";

fn ts(s: &str) -> Timestamp {
    s.parse().expect("valid time")
}

fn at(secs: u64) -> String {
    (ts(T0) + Duration::from_secs(secs)).to_string()
}

fn pipeline_with(config: PipelineConfig, sources: SourcesConfig) -> (Pipeline, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(ts(T0)));
    (
        Pipeline::with_sources(config, sources, clock.clone()),
        clock,
    )
}

fn pipeline() -> Pipeline {
    pipeline_with(PipelineConfig::default(), SourcesConfig::default()).0
}

fn falco(pod: &str, ns: &str, priority: &str, time: &str) -> FalcoAlert {
    FalcoAlert::from_value(json!({
        "output": format!("{time}: {priority} A shell was spawned in a container with an attached terminal (user=root k8s.ns={ns} k8s.pod={pod} container=ee97d9c4186f)"),
        "priority": priority, "rule": "Terminal shell in container", "source": "syscall",
        "tags": ["shell"], "time": time, "hostname": "falco-xczjd",
        "output_fields": {"container.id": "ee97d9c4186f", "k8s.ns.name": ns, "k8s.pod.name": pod,
                          "evt.time": 1767225600000000000u64}
    }))
    .expect("a valid alert")
}

fn host_alert(time: &str) -> FalcoAlert {
    FalcoAlert::from_value(json!({
        "output": format!("{time}: Warning An open was seen (command=cat /dev/null)"),
        "priority": "Warning", "rule": "open_from_cat", "time": time,
        "output_fields": {"proc.cmdline": "cat /dev/null"}
    }))
    .expect("a valid alert")
}

fn audit(id: &str, verb: &str, user: &str, ns: &str, name: &str, time: &str) -> AuditEvent {
    AuditEvent::from_value(json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": id,
        "stage": "ResponseComplete", "verb": verb, "requestURI": "/api/v1/secrets",
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.1"],
        "objectRef": {"resource": "secrets", "namespace": ns, "name": name, "apiVersion": "v1"},
        "responseStatus": {"code": 200},
        "requestReceivedTimestamp": time, "stageTimestamp": time
    }))
    .expect("a valid event")
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

fn label<'a>(c: &'a Candidate, key: &str) -> &'a str {
    c.labels.get(key).map(String::as_str).unwrap_or("")
}

#[test]
fn a_falco_alert_emits_a_complete_candidate() {
    let mut p = pipeline();
    let alert = falco("web-7c9d8f6b5-x2x7q", "shop", "Critical", &at(1));
    let c = emit(p.process_falco(&alert));
    assert!(
        c.name.starts_with("falco-terminal-shell-in-container-"),
        "{}",
        c.name
    );
    assert!(c.name.len() <= 63);
    assert_eq!(c.namespace, "shop");
    assert_eq!(c.spec.source, "falco");
    assert_eq!(
        (c.spec.category, c.spec.severity),
        (Category::Security, Severity::Critical)
    );
    assert_eq!(c.spec.event_type, "terminal_shell_in_container");
    assert_eq!(c.spec.detected_at.as_ref().map(|t| t.0), Some(alert.time));
    assert_eq!(c.spec.ttl_seconds_after_creation, Some(604_800));
    let r = c.spec.resource.as_ref().expect("resource");
    assert_eq!(
        (r.kind.as_deref(), r.name.as_deref()),
        (Some("Pod"), Some("web-7c9d8f6b5-x2x7q"))
    );
    assert_eq!(label(&c, AUDIENCE_LABEL), "customer");
    assert_eq!(label(&c, SOURCE_LABEL), "falco");
    assert_eq!(label(&c, FINGERPRINT_LABEL), c.fingerprint);
}

#[test]
fn the_same_alert_on_another_replica_later_in_the_window_repeats() {
    let mut p = pipeline();
    let first = emit(p.process_falco(&falco("web-7c9d8f6b5-x2x7q", "shop", "Critical", &at(1))));
    let again = repeat(p.process_falco(&falco("web-7c9d8f6b5-q9z8r", "shop", "Critical", &at(30))));
    assert_eq!(
        (again.name.as_str(), again.namespace.as_str()),
        (first.name.as_str(), "shop")
    );
    assert_eq!((again.occurrences, again.last_seen), (2, ts(&at(30))));
    let next_window =
        emit(p.process_falco(&falco("web-7c9d8f6b5-x2x7q", "shop", "Critical", &at(301))));
    assert_ne!(next_window.name, first.name, "a new window, a new name");
    assert_eq!(next_window.fingerprint, first.fingerprint);
    let other_ns = emit(p.process_falco(&falco("web-7c9d8f6b5-x2x7q", "cart", "Critical", &at(2))));
    assert_ne!(other_ns.fingerprint, first.fingerprint);
}

#[test]
fn a_host_alert_goes_to_the_fallback_namespace_for_the_platform() {
    let mut p = pipeline();
    let c = emit(p.process_falco(&host_alert("2026-01-01T00:00:57.881781397Z")));
    assert_eq!(c.namespace, "vigil-system");
    assert_eq!(c.spec.resource, None);
    assert_eq!(label(&c, AUDIENCE_LABEL), "platform");
    assert_eq!(c.spec.severity, Severity::Medium);
    let r = repeat(p.process_falco(&host_alert("2026-01-01T00:00:57.881785348Z")));
    assert_eq!(r.name, c.name, "only the time in the output differs");
}

#[test]
fn namespace_and_severity_rules_apply_to_falco_alerts() {
    let mut config = PipelineConfig::default();
    config.filter.exclude_namespaces = vec!["kube-*".into()];
    config.filter.min_severity = Some(Severity::Medium);
    config.filter.include_kinds = vec!["Node".into()]; // Events-only: no effect here
    config.filter.normal_allow.clear(); // Events-only
    let (mut p, _) = pipeline_with(config, SourcesConfig::default());
    assert_eq!(
        p.process_falco(&falco("x", "kube-system", "Critical", &at(0))),
        Outcome::Dropped(DropReason::Namespace)
    );
    assert_eq!(
        p.process_falco(&falco("x", "shop", "Notice", &at(0))),
        Outcome::Dropped(DropReason::Severity)
    );
    emit(p.process_falco(&falco("x", "shop", "Warning", &at(0))));
    let mut include = PipelineConfig::default();
    include.filter.include_namespaces = vec!["shop".into()];
    let (mut p, _) = pipeline_with(include, SourcesConfig::default());
    assert_eq!(
        p.process_falco(&host_alert(&at(0))),
        Outcome::Dropped(DropReason::Namespace),
        "an include list selects no host alert"
    );
}

#[test]
fn each_source_spends_from_its_own_bucket() {
    let config = PipelineConfig {
        throttle: ThrottleConfig {
            events_per_second: 1.0,
            burst: 1,
        },
        ..PipelineConfig::default()
    };
    let (mut p, clock) = pipeline_with(config, SourcesConfig::default());
    let event = KubeEvent {
        type_: "Warning".into(),
        reason: "BackOff".into(),
        message: "Back-off".into(),
        regarding: ObjectRef {
            kind: "Pod".into(),
            namespace: "shop".into(),
            name: "web".into(),
            ..Default::default()
        },
        last_time: Some(ts(T0)),
        ..Default::default()
    };
    emit(p.process(&event));
    emit(p.process_falco(&falco("a", "shop", "Critical", T0)));
    emit(p.process_audit(&audit("1", "get", "alice", "shop", "db", T0)));
    assert_eq!(
        p.process_falco(&falco("b", "cart", "Critical", T0)),
        Outcome::Dropped(DropReason::Throttled)
    );
    assert_eq!(
        p.process_audit(&audit("2", "get", "bob", "shop", "db", T0)),
        Outcome::Dropped(DropReason::Throttled)
    );
    clock.advance(Duration::from_secs(1));
    emit(p.process_falco(&falco("b", "cart", "Critical", T0)));
    emit(p.process_audit(&audit("2", "get", "bob", "shop", "db", T0)));
}

#[test]
fn a_source_may_have_its_own_rate_and_name() {
    let sources = SourcesConfig {
        falco: FalcoConfig {
            source: "falco-edge".into(),
            throttle: Some(ThrottleConfig {
                events_per_second: 1.0,
                burst: 1,
            }),
        },
        audit: AuditConfig {
            source: "apiserver-audit".into(),
            ..AuditConfig::default()
        },
    };
    let (mut p, _) = pipeline_with(PipelineConfig::default(), sources);
    let c = emit(p.process_falco(&falco("a", "shop", "Critical", T0)));
    assert_eq!(c.spec.source, "falco-edge");
    assert!(
        c.name.starts_with("falco-edge-terminal-shell"),
        "{}",
        c.name
    );
    assert_eq!(
        p.process_falco(&falco("b", "shop", "Critical", T0)),
        Outcome::Dropped(DropReason::Throttled)
    );
    let a = emit(p.process_audit(&audit("1", "get", "alice", "shop", "db", T0)));
    assert_eq!(a.spec.source, "apiserver-audit");
    assert_eq!(p.sources_config().falco.source, "falco-edge");
}

#[test]
fn an_audit_event_emits_then_repeats_and_a_redelivery_is_unchanged() {
    let mut p = pipeline();
    let first = audit("id-1", "get", "alice", "shop", "db", &at(1));
    let c = emit(p.process_audit(&first));
    assert!(c.name.starts_with("k8s-audit-secret-access-"), "{}", c.name);
    assert_eq!(c.namespace, "shop");
    assert_eq!(
        (c.spec.category, c.spec.severity),
        (Category::Security, Severity::Medium)
    );
    assert_eq!(c.spec.details.as_ref().unwrap()["auditID"], "id-1");
    assert_eq!(label(&c, SOURCE_LABEL), "k8s-audit");
    assert_eq!(
        p.process_audit(&first),
        Outcome::Dropped(DropReason::Unchanged),
        "a webhook retry of the same auditID"
    );
    let r = repeat(p.process_audit(&audit("id-2", "get", "alice", "shop", "db", &at(20))));
    assert_eq!((r.name.as_str(), r.occurrences), (c.name.as_str(), 2));
    let other_user = emit(p.process_audit(&audit("id-3", "get", "bob", "shop", "db", &at(21))));
    assert_ne!(other_user.fingerprint, c.fingerprint, "who did it matters");
    assert_eq!(p.tracked_audit_ids(), 3);
}

#[test]
fn a_reused_audit_id_does_not_hide_later_requests() {
    let mut p = pipeline();
    emit(p.process_audit(&audit("forged", "get", "mallory", "shop", "db", &at(1))));
    // The same Audit-ID header on the next requests (received later).
    let r = repeat(p.process_audit(&audit("forged", "get", "mallory", "shop", "db", &at(2))));
    assert_eq!(r.occurrences, 2);
    emit(p.process_audit(&audit("forged", "get", "mallory", "shop", "other", &at(3))));
    // A later stage of one request is the same request.
    let mut started = audit("req-9", "create", "alice", "shop", "db", &at(4));
    started.stage = AuditStage::ResponseStarted;
    let complete = audit("req-9", "create", "alice", "shop", "db", &at(4));
    let sources = SourcesConfig {
        audit: AuditConfig {
            stages: vec![AuditStage::ResponseStarted, AuditStage::ResponseComplete],
            verbs: vec![],
            system_users: vec![],
            ..AuditConfig::default()
        },
        ..SourcesConfig::default()
    };
    let (mut p, _) = pipeline_with(PipelineConfig::default(), sources);
    let mut exec = |e: &AuditEvent| {
        let mut e = e.clone();
        e.object_ref.as_mut().unwrap().resource = "pods".into();
        e.object_ref.as_mut().unwrap().subresource = "exec".into();
        p.process_audit(&e)
    };
    emit(exec(&started));
    assert_eq!(exec(&complete), Outcome::Dropped(DropReason::Unchanged));
}

#[test]
fn audit_drops_name_their_stage() {
    let mut p = pipeline();
    let mut started = audit("s-1", "get", "alice", "shop", "db", T0);
    started.stage = AuditStage::ResponseStarted;
    assert_eq!(
        p.process_audit(&started),
        Outcome::Dropped(DropReason::AuditStage)
    );
    assert_eq!(
        p.process_audit(&audit("s-2", "get", "system:node:a", "shop", "db", T0)),
        Outcome::Dropped(DropReason::AuditNoRule)
    );
    let mut config = PipelineConfig::default();
    config.filter.exclude_namespaces = vec!["shop".into()];
    config.filter.min_severity = Some(Severity::High);
    let sources = SourcesConfig {
        audit: AuditConfig {
            verbs: vec!["get".into()],
            ..AuditConfig::default()
        },
        ..SourcesConfig::default()
    };
    let (mut p, _) = pipeline_with(config, sources);
    assert_eq!(
        p.process_audit(&audit("s-3", "list", "alice", "cart", "", T0)),
        Outcome::Dropped(DropReason::AuditVerb)
    );
    assert_eq!(
        p.process_audit(&audit("s-4", "get", "alice", "shop", "db", T0)),
        Outcome::Dropped(DropReason::Namespace)
    );
    assert_eq!(
        p.process_audit(&audit("s-5", "get", "alice", "cart", "db", T0)),
        Outcome::Dropped(DropReason::Severity)
    );
    assert_eq!(
        p.tracked_audit_ids(),
        0,
        "dropped events are not remembered"
    );
}

#[test]
fn pods_created_without_a_name_fold_by_generate_name() {
    let created = |id: &str, generated: &str| {
        AuditEvent::from_value(json!({
            "auditID": id, "stage": "ResponseComplete", "verb": "create",
            "user": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "objectRef": {"resource": "pods", "namespace": "default", "apiVersion": "v1"},
            "requestObject": {"metadata": {"generateName": generated},
                              "spec": {"hostNetwork": true, "containers": [{"name": "nginx"}]}},
            "stageTimestamp": T0
        }))
        .expect("a valid event")
    };
    let mut p = pipeline();
    let c = emit(p.process_audit(&created("p-1", "nginx-deployment-5cdcc99dbf-")));
    assert_eq!(c.spec.event_type, "host_namespace_pod_created");
    let r = c.spec.resource.as_ref().unwrap();
    assert_eq!(
        (r.kind.as_deref(), r.namespace.as_deref(), r.name.as_deref()),
        (Some("Pod"), Some("default"), None)
    );
    let again = repeat(p.process_audit(&created("p-2", "nginx-deployment-7998647bdf-")));
    assert_eq!(
        again.name, c.name,
        "a new ReplicaSet of the same Deployment"
    );
    emit(p.process_audit(&created("p-3", "other-")));
}

#[test]
fn cluster_scoped_audit_objects_go_to_the_fallback_namespace() {
    let binding = AuditEvent::from_value(json!({
        "auditID": "b-1", "stage": "ResponseComplete", "verb": "delete",
        "user": {"username": "alice"},
        "objectRef": {"resource": "clusterrolebindings", "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1", "name": "x"},
        "responseStatus": {"code": 200}, "stageTimestamp": T0
    }))
    .unwrap();
    let c = emit(pipeline().process_audit(&binding));
    assert_eq!(c.namespace, "vigil-system");
    assert_eq!(label(&c, AUDIENCE_LABEL), "platform");
    assert_eq!(c.spec.category, Category::Compliance);
}

#[test]
fn process_record_dispatches_every_kind() {
    let mut p = pipeline();
    let alert = falco("a", "shop", "Error", T0);
    let c = emit(p.process_record(Record::from(&alert)));
    assert_eq!(c.spec.severity, Severity::High);
    let event = audit("r-1", "watch", "alice", "shop", "", T0);
    assert_eq!(
        emit(p.process_record((&event).into())).spec.event_type,
        "secret_access"
    );
    let normal = KubeEvent {
        type_: "Normal".into(),
        reason: "Pulled".into(),
        ..Default::default()
    };
    assert_eq!(
        p.process_record(Record::Event(&normal)),
        Outcome::Dropped(DropReason::NormalType)
    );
}

#[test]
fn drop_reasons_have_distinct_labels() {
    let labels: std::collections::BTreeSet<&str> =
        DropReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(labels.len(), DropReason::ALL.len());
    for l in ["audit_stage", "audit_verb", "audit_no_rule"] {
        assert!(labels.contains(l), "{l}");
    }
}

#[test]
fn names_stay_within_63_characters_for_long_rules() {
    let alert = FalcoAlert::from_value(json!({
        "output": "x", "priority": "Error", "time": T0,
        "rule": "Launch Privileged Container With A Remarkably Long Rule Name That Keeps Going On And On",
    }))
    .unwrap();
    let c = emit(pipeline().process_falco(&alert));
    assert!(c.name.len() <= 63, "{}", c.name);
    assert!(c.spec.event_type.len() <= 63);
    let _: Value = c.spec.details.expect("details");
}
