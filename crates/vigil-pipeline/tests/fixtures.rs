//! The pipeline over real recorded Events (see tests/fixtures/README.md):
//! parsing both APIs, conversion, filtering and the Observations produced.

use k8s_openapi::api::{core::v1 as core, events::v1 as events};
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use std::sync::Arc;
use vigil_model::{Category, Severity};
use vigil_pipeline::enrich::AUDIENCE_LABEL;
use vigil_pipeline::{
    Candidate, DropReason, KubeEvent, ManualClock, Outcome, Pipeline, PipelineConfig,
};

fn fixture(path: &str) -> String {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {full}: {e}"))
}

/// An Event object of either API, by its apiVersion.
fn to_event(doc: Value) -> KubeEvent {
    if doc["apiVersion"] == "events.k8s.io/v1" {
        KubeEvent::from(
            &serde_json::from_value::<events::Event>(doc).expect("an events.k8s.io/v1 Event"),
        )
    } else {
        KubeEvent::from(&serde_json::from_value::<core::Event>(doc).expect("a core/v1 Event"))
    }
}

/// The `kind: Event` documents of a (multi-document) YAML file.
fn yaml_events(path: &str) -> Vec<KubeEvent> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(&fixture(path)).expect("valid YAML");
    docs.into_iter()
        .filter(|d| d["kind"] == "Event")
        .map(to_event)
        .collect()
}

fn json_event(path: &str) -> KubeEvent {
    to_event(serde_json::from_str(&fixture(path)).expect("valid JSON"))
}

/// eventrouter lines: `{"verb": ..., "event": {...}, "old_event": {...}}`.
fn eventrouter_events(path: &str) -> Vec<(String, KubeEvent)> {
    fixture(path)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut v: Value = serde_json::from_str(line).expect("valid JSON line");
            let verb = v["verb"].as_str().unwrap_or_default().to_string();
            (verb, to_event(v["event"].take()))
        })
        .collect()
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("valid time")
}

fn pipeline(config: PipelineConfig, now: &str) -> Pipeline {
    Pipeline::new(config, Arc::new(ManualClock::new(ts(now))))
}

fn emit(o: Outcome) -> Candidate {
    match o {
        Outcome::Emit(c) => *c,
        other => panic!("expected Emit, got {other:?}"),
    }
}

fn allowing(reason: &str) -> PipelineConfig {
    let mut config = PipelineConfig::for_kubernetes_events();
    config.filter.normal_allow.push(reason.to_string());
    config
}

const BACKOFF: &str =
    "k8s-events/issue_opsgenie-kubernetes-event-exporter-115_backoff_enhanced-event.json";
const KSPAN: &str = "k8s-events/kspan_testdata_deployment-2-pods_event-stream.yaml";
const TALON: &str = "k8s-events/falco-website_talon_event-1.yaml";
const KYVERNO: &str = "k8s-events/kyverno-website_deleting-policy_event-1.yaml";
const EVENTROUTER: &str = "eventrouter/openshift-origin-aggregated-logging_kube_events_design_doc_original_raw_message.jsonl";

#[test]
fn the_backoff_sample_becomes_a_high_operations_observation() {
    let event = json_event(BACKOFF);
    let c = emit(pipeline(PipelineConfig::default(), "2021-02-26T09:31:00Z").process(&event));
    assert_eq!(c.namespace, "my-app");
    assert_eq!(c.spec.source, "kubernetes-events");
    assert_eq!(
        (c.spec.category, c.spec.severity),
        (Category::Operations, Severity::High)
    );
    assert_eq!(c.spec.event_type, "pod_backoff");
    let r = c.spec.resource.as_ref().expect("resource");
    assert_eq!(
        (
            r.api_version.as_deref(),
            r.kind.as_deref(),
            r.namespace.as_deref(),
            r.name.as_deref()
        ),
        (
            Some("v1"),
            Some("Pod"),
            Some("my-app"),
            Some("my-app-5fc464b465-t4z6r")
        )
    );
    assert_eq!(
        c.spec.detected_at.as_ref().map(|t| t.0),
        Some(ts("2021-02-26T09:30:59Z"))
    );
    let d = c.spec.details.as_ref().expect("details");
    assert_eq!(d["count"], 1);
    assert_eq!(d["reason"], "BackOff");
    assert_eq!(d["message"], "Back-off restarting failed container");
    assert_eq!(d["reportingController"], "kubelet");
    assert_eq!(
        d["eventName"],
        "my-app/my-app-5fc464b465-t4z6r.1667424602513628"
    );
    assert_eq!(d["type"], "Warning");
    assert_eq!(d.get("reportingInstance"), None, "empty in the sample");
    assert_eq!(
        c.labels.get(AUDIENCE_LABEL).map(String::as_str),
        Some("customer")
    );
    assert!(
        c.name.starts_with("kubernetes-events-pod-backoff-"),
        "{}",
        c.name
    );
}

#[test]
fn the_same_event_through_events_k8s_io_converts_alike() {
    let core_doc: Value = serde_json::from_str(&fixture(BACKOFF)).expect("valid JSON");
    let io = &core_doc["involvedObject"];
    let events_doc = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": core_doc["metadata"],
        "eventTime": null,
        "type": core_doc["type"], "reason": core_doc["reason"], "note": core_doc["message"],
        "regarding": {"apiVersion": io["apiVersion"], "kind": io["kind"], "namespace": io["namespace"],
                      "name": io["name"], "uid": io["uid"], "fieldPath": io["fieldPath"]},
        "deprecatedSource": core_doc["source"],
        "deprecatedFirstTimestamp": core_doc["firstTimestamp"],
        "deprecatedLastTimestamp": core_doc["lastTimestamp"],
        "deprecatedCount": core_doc["count"],
        "reportingController": "", "reportingInstance": ""
    });
    assert_eq!(to_event(events_doc), to_event(core_doc));
}

#[test]
fn the_kspan_stream_keeps_only_allowed_normal_events() {
    let events = yaml_events(KSPAN);
    assert_eq!(events.len(), 19, "the 19 Events among the stream's objects");
    let mut p = pipeline(PipelineConfig::default(), "2021-05-19T09:43:10Z");
    let outcomes: Vec<(String, Outcome)> = events
        .iter()
        .map(|e| (e.reason.clone(), p.process(e)))
        .collect();
    for (reason, outcome) in &outcomes {
        if reason != "Killing" {
            assert_eq!(
                outcome,
                &Outcome::Dropped(DropReason::NormalType),
                "{reason}"
            );
        }
    }
    let scaling = outcomes
        .iter()
        .filter(|(r, _)| r == "ScalingReplicaSet")
        .count();
    assert_eq!(scaling, 4);
    // Two pods of one ReplicaSet stopped: one Observation, then a repeat of it.
    let killing: Vec<&Outcome> = outcomes
        .iter()
        .filter(|(r, _)| r == "Killing")
        .map(|(_, o)| o)
        .collect();
    let [Outcome::Emit(first), Outcome::Repeat(again)] = killing.as_slice() else {
        panic!("expected Emit then Repeat, got {killing:?}")
    };
    assert_eq!(
        (first.spec.severity, first.spec.event_type.as_str()),
        (Severity::Low, "container_killed")
    );
    assert_eq!(
        first.spec.resource.as_ref().and_then(|r| r.name.as_deref()),
        Some("px-7df978b9bf-jm22q")
    );
    assert_eq!(
        (again.name.as_str(), again.occurrences),
        (first.name.as_str(), 2)
    );
    assert_eq!(again.last_seen, ts("2021-05-19T09:43:07Z"));
}

#[test]
fn the_eventrouter_unhealthy_line_is_a_medium_probe_failure() {
    let events = eventrouter_events(EVENTROUTER);
    assert_eq!(events.len(), 1);
    let (verb, event) = &events[0];
    assert_eq!(verb, "ADDED");
    assert_eq!(event.count, 6);
    assert_eq!(event.first_time, Some(ts("2017-08-31T17:08:21Z")));
    let c = emit(pipeline(PipelineConfig::default(), "2017-09-01T13:17:00Z").process(event));
    assert_eq!(
        (c.spec.category, c.spec.severity),
        (Category::Operations, Severity::Medium)
    );
    assert_eq!(c.spec.event_type, "probe_failed");
    assert_eq!(c.namespace, "default");
    let d = c.spec.details.as_ref().expect("details");
    assert_eq!(d["count"], 6);
    assert_eq!(d["firstTime"], "2017-08-31T17:08:21Z");
    assert_eq!(d["lastTime"], "2017-09-01T13:16:51Z");
    assert_eq!(
        d["eventName"],
        "default/docker-registry-1-p08jj.14dffd4b9a4130eb"
    );
}

#[test]
fn the_talon_event_uses_event_time_and_an_unknown_normal_reason() {
    let events = yaml_events(TALON);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.last_time, Some(ts("2024-09-05T12:52:10.819462Z")));
    assert_eq!(e.reporting_controller, "falcosecurity.org/falco-talon");
    assert!(e
        .message
        .contains("TraceID: c954bd8b3391a08f23079552fdd639f3"));
    let now = "2024-09-05T12:53:00Z";
    assert_eq!(
        pipeline(PipelineConfig::default(), now).process(e),
        Outcome::Dropped(DropReason::NormalType)
    );
    let c = emit(pipeline(allowing(&e.reason), now).process(e));
    assert_eq!(c.spec.severity, Severity::Info);
    assert_eq!(
        c.spec.event_type,
        "normal_falco_talon_action_kubernetes_tcpdump_success"
    );
    let r = c.spec.resource.as_ref().expect("resource");
    assert_eq!(
        (r.kind.as_deref(), r.namespace.as_deref(), r.name.as_deref()),
        (Some("Pod"), Some("default"), None)
    );
}

#[test]
fn the_kyverno_event_about_a_cluster_scoped_policy_goes_to_the_fallback_namespace() {
    let events = yaml_events(KYVERNO);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.reporting_controller, "kyverno-cleanup");
    assert_eq!(
        e.last_time,
        Some(ts("2025-06-26T11:13:00Z")),
        "only the creation time is set"
    );
    let c = emit(pipeline(allowing("PolicyApplied"), "2025-06-26T11:14:00Z").process(e));
    assert_eq!(c.namespace, "vigil-system");
    assert_eq!(
        c.labels.get(AUDIENCE_LABEL).map(String::as_str),
        Some("platform")
    );
    assert_eq!(c.spec.event_type, "normal_policy_applied");
    assert_eq!(
        c.spec.resource.as_ref().and_then(|r| r.kind.as_deref()),
        Some("DeletingPolicy")
    );
}
