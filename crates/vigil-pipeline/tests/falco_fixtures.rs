//! Real Falco alerts (see tests/fixtures/README.md) through the parser and
//! the pipeline: severity, eventType, resource, namespace, audience, details
//! and dedup of the recorded samples.

use k8s_openapi::jiff::Timestamp;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use vigil_model::{Category, Severity};
use vigil_pipeline::enrich::AUDIENCE_LABEL;
use vigil_pipeline::sources::falco::{self, FalcoPriority};
use vigil_pipeline::{
    Candidate, DropReason, FalcoAlert, ManualClock, Outcome, Pipeline, PipelineConfig, Record,
};

fn fixture(path: &str) -> String {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {full}: {e}"))
}

fn alerts(path: &str) -> Vec<FalcoAlert> {
    falco::parse_lines(&fixture(path))
        .map(|r| r.unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("valid time")
}

/// A pipeline whose clock follows the alerts, as a live feed's would.
struct Feed {
    pipeline: Pipeline,
    clock: Arc<ManualClock>,
}

impl Feed {
    fn new(config: PipelineConfig) -> Self {
        let clock = Arc::new(ManualClock::new(ts("2016-01-01T00:00:00Z")));
        Self {
            pipeline: Pipeline::new(config, clock.clone()),
            clock,
        }
    }

    fn process(&mut self, alert: &FalcoAlert) -> Outcome {
        self.clock.set(alert.time + Duration::from_millis(50));
        self.pipeline.process_record(Record::Falco(alert))
    }

    fn emit(&mut self, alert: &FalcoAlert) -> Candidate {
        match self.process(alert) {
            Outcome::Emit(c) => *c,
            other => panic!("{}: expected Emit, got {other:?}", alert.rule),
        }
    }
}

fn resource(c: &Candidate) -> (Option<&str>, Option<&str>, Option<&str>, Option<&str>) {
    let r = c.spec.resource.as_ref().expect("a resource");
    (
        r.api_version.as_deref(),
        r.kind.as_deref(),
        r.namespace.as_deref(),
        r.name.as_deref(),
    )
}

fn audience(c: &Candidate) -> &str {
    c.labels
        .get(AUDIENCE_LABEL)
        .map(String::as_str)
        .unwrap_or("")
}

const CHANNELS: &str = "falco/falco-website_channels_terminal-shell.jsonl";
const BLOG_SHELL: &str = "falco/falco-website_blog_terminal-shell-k8s.jsonl";
const EKS: &str = "falco/falco-website_blog_k8saudit-eks-alerts.jsonl";
const OVH: &str = "falco/falco-website_blog_k8saudit-ovh-alerts.jsonl";
const CAT_WRITE: &str = "falco/falco_test_output_single_rule_with_cat_write.jsonl";

#[test]
fn every_fixture_line_parses() {
    for (path, lines) in [
        (CHANNELS, 1),
        (BLOG_SHELL, 2),
        (EKS, 2),
        (OVH, 4),
        (CAT_WRITE, 8),
    ] {
        assert_eq!(alerts(path).len(), lines, "{path}");
    }
}

#[test]
fn the_critical_terminal_shell_alert_is_a_critical_observation_about_the_pod() {
    let [alert] = alerts(CHANNELS).try_into().expect("one alert");
    assert_eq!(alert.priority, FalcoPriority::Critical);
    let c = Feed::new(PipelineConfig::default()).emit(&alert);
    assert_eq!(c.spec.source, "falco");
    assert_eq!(
        (c.spec.category, c.spec.severity),
        (Category::Security, Severity::Critical)
    );
    assert_eq!(c.spec.event_type, "terminal_shell_in_container");
    assert_eq!(
        resource(&c),
        (Some("v1"), Some("Pod"), Some("default"), Some("kubecon"))
    );
    assert_eq!(c.namespace, "default");
    assert_eq!(audience(&c), "customer");
    assert!(
        c.name.starts_with("falco-terminal-shell-in-container-"),
        "{}",
        c.name
    );
    assert_eq!(
        c.spec.detected_at.as_ref().map(|t| t.0),
        Some(ts("2023-05-25T13:44:05.478445995Z"))
    );
    let d = c.spec.details.as_ref().expect("details");
    assert_eq!(d["rule"], "Terminal shell in container");
    assert_eq!(d["priority"], "Critical");
    assert_eq!(d["source"], "syscall");
    assert_eq!(d["hostname"], "falco-xczjd");
    assert_eq!(d["tags"], json!(["container", "mitre_execution", "shell"]));
    assert!(d["output"]
        .as_str()
        .unwrap()
        .starts_with("13:44:05.478445995: Critical A shell was spawned"));
    let fields = &d["output_fields"];
    assert_eq!(fields["evt.time"].as_u64(), Some(1_685_022_245_478_445_995));
    assert_eq!(fields["proc.cmdline"], "sh -c clear; (bash || ash || sh)");
    assert_eq!(fields["user.loginuid"], -1);
    assert_eq!(fields["container.id"], "ee97d9c4186f");
}

#[test]
fn the_older_notice_shell_alerts_are_low_and_keep_their_nulls() {
    let alerts = alerts(BLOG_SHELL);
    let mut feed = Feed::new(PipelineConfig::default());
    let first = feed.emit(&alerts[0]);
    assert_eq!(
        (first.spec.severity, first.spec.event_type.as_str()),
        (Severity::Low, "terminal_shell_in_container")
    );
    assert_eq!(
        resource(&first),
        (Some("v1"), Some("Pod"), Some("default"), Some("alpine"))
    );
    let d = first.spec.details.as_ref().unwrap();
    assert_eq!(d.get("source"), None, "the older format has no source");
    assert_eq!(d.get("hostname"), None);
    assert_eq!(d["tags"], json!([]));
    assert_eq!(d["output_fields"]["proc.pname"], serde_json::Value::Null);
    assert_eq!(
        d["output_fields"]["container.image.repository"],
        serde_json::Value::Null
    );
    assert_eq!(
        d["output_fields"]["evt.time"].as_u64(),
        Some(1_610_667_584_834_631_763)
    );
    let second = feed.emit(&alerts[1]);
    assert_eq!(
        resource(&second),
        (
            Some("v1"),
            Some("Pod"),
            Some("default"),
            Some("alpine-deployment-77789455d6-m7flp")
        )
    );
    assert_ne!(
        second.fingerprint, first.fingerprint,
        "another workload, another command"
    );
}

#[test]
fn k8s_audit_alerts_from_eks_name_their_target_objects() {
    let alerts = alerts(EKS);
    let mut feed = Feed::new(PipelineConfig::default());
    let sa = feed.emit(&alerts[0]);
    assert_eq!(
        (sa.spec.severity, sa.spec.event_type.as_str()),
        (Severity::Info, "k8s_serviceaccount_created")
    );
    assert_eq!(
        resource(&sa),
        (
            Some("v1"),
            Some("ServiceAccount"),
            Some("default"),
            Some("default")
        )
    );
    assert_eq!(sa.spec.details.as_ref().unwrap()["source"], "k8s_audit");
    let exec = feed.emit(&alerts[1]);
    assert_eq!(
        (exec.spec.severity, exec.spec.event_type.as_str()),
        (Severity::Low, "attach_exec_pod")
    );
    assert_eq!(
        resource(&exec),
        (Some("v1"), Some("Pod"), Some("default"), Some("kubecon"))
    );
    assert_eq!(
        exec.spec.details.as_ref().unwrap()["output_fields"]["ka.target.subresource"],
        "exec"
    );
}

#[test]
fn k8s_audit_alerts_from_ovh_cover_cluster_scoped_and_unknown_resources() {
    let alerts = alerts(OVH);
    let mut feed = Feed::new(PipelineConfig::default());
    let out: Vec<Candidate> = alerts.iter().map(|a| feed.emit(a)).collect();
    for c in &out[..3] {
        assert_eq!(
            (c.spec.severity, c.spec.event_type.as_str()),
            (Severity::Medium, "disallowed_k8s_user")
        );
        assert_eq!(c.namespace, "vigil-system", "no namespace in the alert");
        assert_eq!(audience(c), "platform");
    }
    assert_eq!(
        resource(&out[0]),
        (
            Some("storage.k8s.io/v1"),
            Some("VolumeAttachment"),
            None,
            Some("csi-6afb06dce281b86b7bab718b5d966dc261b2b1554941ae449519a128cb2e3fb3")
        )
    );
    assert_eq!(
        resource(&out[1]),
        (
            Some("v1"),
            Some("Event"),
            None,
            Some("my-pool-1.18051c0a88716868")
        )
    );
    assert_eq!(
        resource(&out[2]),
        (None, Some("nodepools"), None, Some("my-pool-1")),
        "a CRD keeps its plural"
    );
    let d = out[1].spec.details.as_ref().unwrap();
    assert_eq!(d["output_fields"]["ka.response.code"], "403");
    assert_eq!(
        d["output_fields"]["evt.time"].as_u64(),
        Some(1_739_178_957_508_657_000)
    );
    let exec = &out[3];
    assert_eq!(
        (exec.spec.severity, exec.spec.event_type.as_str()),
        (Severity::Low, "attach_exec_pod")
    );
    assert_eq!(
        resource(exec),
        (
            Some("v1"),
            Some("Pod"),
            Some("hello-app"),
            Some("nginx-676b6c5bbc-4xc6t")
        )
    );
    assert_eq!(
        (exec.namespace.as_str(), audience(exec)),
        ("hello-app", "customer")
    );
}

#[test]
fn repeated_host_alerts_fold_into_one_observation() {
    let alerts = alerts(CAT_WRITE);
    let mut feed = Feed::new(PipelineConfig::default());
    let first = feed.emit(&alerts[0]);
    assert_eq!(
        (first.spec.severity, first.spec.event_type.as_str()),
        (Severity::Medium, "open_from_cat")
    );
    assert_eq!(first.spec.resource, None, "a host-level alert");
    assert_eq!(
        (first.namespace.as_str(), audience(&first)),
        ("vigil-system", "platform")
    );
    let d = first.spec.details.as_ref().unwrap();
    assert_eq!(d["hostname"], "test-falco-hostname");
    assert_eq!(d["tags"], json!(["filesystem", "process", "testing"]));
    assert_eq!(
        d["output_fields"]["evt.time.iso8601"].as_u64(),
        Some(1_470_327_477_881_781_397)
    );
    for (i, alert) in alerts.iter().enumerate().skip(1) {
        match feed.process(alert) {
            Outcome::Repeat(r) => {
                assert_eq!(r.name, first.name);
                assert_eq!(r.occurrences, i as u64 + 1);
                assert_eq!(r.last_seen, alert.time);
            }
            other => panic!("line {}: expected Repeat, got {other:?}", i + 1),
        }
    }
}

#[test]
fn the_minimum_severity_keeps_only_the_critical_sample() {
    let mut config = PipelineConfig::default();
    config.filter.min_severity = Some(Severity::High);
    let mut feed = Feed::new(config);
    let mut kept = Vec::new();
    for path in [CHANNELS, BLOG_SHELL, EKS, OVH, CAT_WRITE] {
        for alert in alerts(path) {
            match feed.process(&alert) {
                Outcome::Emit(c) => kept.push(c.spec.event_type),
                Outcome::Dropped(DropReason::Severity) => {}
                other => panic!("{path}: {other:?}"),
            }
        }
    }
    assert_eq!(kept, ["terminal_shell_in_container"]);
}

#[test]
fn a_broken_line_is_reported_with_its_number_and_field() {
    let mut text = fixture(CAT_WRITE);
    text.push_str("{\"rule\":\"x\",\"priority\":\"Urgent\",\"output\":\"o\",\"time\":\"2016-08-04T16:17:57Z\"}\n");
    let results: Vec<_> = falco::parse_lines(&text).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 8);
    let err = results[8].as_ref().unwrap_err();
    assert_eq!(err.line, 9);
    assert!(
        err.to_string()
            .starts_with("line 9: priority: unknown value \"Urgent\""),
        "{err}"
    );
}
