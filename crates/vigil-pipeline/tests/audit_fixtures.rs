//! Real Kubernetes audit events (Falco's k8s_audit trace files, see
//! tests/fixtures/README.md) through the parser, the audit rules and the
//! pipeline. Every file has an expected outcome below, so a new fixture
//! without one fails.

use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use vigil_model::{Category, Severity};
use vigil_pipeline::enrich::AUDIENCE_LABEL;
use vigil_pipeline::sources::audit::{self, AuditStage};
use vigil_pipeline::sources::{AuditConfig, SourcesConfig};
use vigil_pipeline::{
    AuditEvent, Candidate, DropReason, ManualClock, Outcome, Pipeline, PipelineConfig,
};

const DIR: &str = "k8s-audit";

fn fixture(name: &str) -> String {
    let full = format!("{}/tests/fixtures/{DIR}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {full}: {e}"))
}

fn events(name: &str) -> Vec<AuditEvent> {
    audit::parse_log(&fixture(name))
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect()
}

fn one(name: &str) -> AuditEvent {
    let [e] = events(name)
        .try_into()
        .unwrap_or_else(|v: Vec<_>| panic!("{name}: {} events", v.len()));
    e
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("valid time")
}

/// A pipeline whose clock follows the events, as a live webhook's would.
fn process_with(sources: SourcesConfig, e: &AuditEvent) -> Outcome {
    let clock = Arc::new(ManualClock::new(e.time() + Duration::from_millis(100)));
    Pipeline::with_sources(PipelineConfig::default(), sources, clock).process_audit(e)
}

fn process(e: &AuditEvent) -> Outcome {
    process_with(SourcesConfig::default(), e)
}

fn emit(name: &str) -> Candidate {
    match process(&one(name)) {
        Outcome::Emit(c) => *c,
        other => panic!("{name}: expected Emit, got {other:?}"),
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

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Rule(&'static str, Severity),
    Drop(DropReason),
    Error(&'static str),
}

use Expect::{Drop, Error, Rule};

/// Every trace file and what the default configuration makes of each event in it.
fn expectations() -> BTreeMap<&'static str, Vec<Expect>> {
    let no_rule = || vec![Drop(DropReason::AuditNoRule)];
    let rbac = || vec![Rule("rbac_changed", Severity::Medium)];
    BTreeMap::from([
        (
            "anonymous_creates_namespace_foo.json",
            vec![Rule("anonymous_request", Severity::High)],
        ),
        (
            "attach_cluster_admin_role.json",
            vec![Rule("rbac_cluster_admin_binding", Severity::Critical)],
        ),
        ("attach_pod.json", vec![Drop(DropReason::AuditStage)]),
        ("create_cluster_role_pod_exec.json", rbac()),
        (
            "create_cluster_role_wildcard_resources.json",
            vec![Rule("rbac_wildcard_role", Severity::High)],
        ),
        (
            "create_cluster_role_wildcard_verbs.json",
            vec![Rule("rbac_wildcard_role", Severity::High)],
        ),
        ("create_cluster_role_write_privileges.json", rbac()),
        ("create_clusterrole.json", rbac()),
        ("create_clusterrolebinding.json", rbac()),
        ("create_configmap.json", no_rule()),
        ("create_configmap_no_sensitive_values.json", no_rule()),
        (
            "create_configmap_sensitive_values.json",
            vec![Drop(DropReason::AuditNoRule); 6],
        ),
        ("create_deployment.json", no_rule()),
        ("create_kube_system_secret.json", no_rule()),
        (
            "create_nginx_pod_hostnetwork.json",
            vec![Rule("host_namespace_pod_created", Severity::High)],
        ),
        (
            "create_nginx_pod_no_secctx_1st_container_privileged_2nd_container.json",
            vec![Rule("privileged_pod_created", Severity::High)],
        ),
        ("create_nginx_pod_nohostnetwork.json", no_rule()),
        (
            "create_nginx_pod_privileged.json",
            vec![Rule("privileged_pod_created", Severity::High)],
        ),
        (
            "create_nginx_pod_privileged_2nd_container.json",
            vec![Rule("privileged_pod_created", Severity::High)],
        ),
        ("create_nginx_pod_sensitive_mount.json", no_rule()),
        (
            "create_nginx_pod_sensitive_mount_2nd_container.json",
            no_rule(),
        ),
        ("create_nginx_pod_unprivileged.json", no_rule()),
        ("create_nginx_pod_unsensitive_mount.json", no_rule()),
        ("create_nginx_service_nodeport.json", no_rule()),
        ("create_nginx_service_nonodeport.json", no_rule()),
        ("create_pod_kube_public_namespace.json", no_rule()),
        ("create_pod_kube_system_namespace.json", no_rule()),
        ("create_secret.json", no_rule()),
        ("create_service.json", no_rule()),
        ("create_service_account_token_secret.json", no_rule()),
        ("create_serviceaccount.json", no_rule()),
        (
            "create_serviceaccount_kube_public_namespace.json",
            no_rule(),
        ),
        (
            "create_serviceaccount_kube_system_namespace.json",
            no_rule(),
        ),
        ("delete_cluster_role_kube_aggregator.json", rbac()),
        ("delete_clusterrole.json", rbac()),
        ("delete_clusterrolebinding.json", rbac()),
        ("delete_configmap.json", no_rule()),
        ("delete_deployment.json", no_rule()),
        ("delete_namespace_foo.json", no_rule()),
        ("delete_secret.json", no_rule()),
        ("delete_service.json", no_rule()),
        ("delete_serviceaccount.json", no_rule()),
        ("exec_pod.json", vec![Drop(DropReason::AuditStage)]),
        (
            "fal_01_003.json",
            vec![Error("line 1: kind: expected a string, got 0")],
        ),
        ("minikube_creates_namespace_foo.json", no_rule()),
        ("modify_cluster_role_node_problem_detector.json", rbac()),
        ("some-user_creates_namespace_foo.json", no_rule()),
    ])
}

fn actual(name: &str) -> Vec<Expect> {
    audit::parse_log(&fixture(name))
        .into_iter()
        .map(|r| match r {
            Err(e) => Error(Box::leak(e.to_string().into_boxed_str())),
            Ok(e) => match process(&e) {
                Outcome::Emit(c) => Rule(
                    Box::leak(c.spec.event_type.into_boxed_str()),
                    c.spec.severity,
                ),
                Outcome::Dropped(reason) => Drop(reason),
                Outcome::Repeat(r) => panic!("{name}: a fresh pipeline repeated {r:?}"),
            },
        })
        .collect()
}

#[test]
fn every_trace_file_has_its_expected_outcome() {
    let expected = expectations();
    let dir = format!("{}/tests/fixtures/{DIR}", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("the fixture directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 47);
    assert_eq!(
        files,
        expected.keys().map(|k| k.to_string()).collect::<Vec<_>>()
    );
    let mut wrong = Vec::new();
    for (name, want) in &expected {
        let got = actual(name);
        if &got != want {
            wrong.push(format!("{name}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_malformed_trace_file_is_refused_naming_kind() {
    let text = fixture("fal_01_003.json");
    assert_eq!(text.trim(), "{\"kind\": 0}");
    let err = AuditEvent::from_slice(text.as_bytes()).unwrap_err();
    assert_eq!(err.field, "kind");
    assert_eq!(err.to_string(), "kind: expected a string, got 0");
    assert_eq!(
        audit::parse_batch(text.as_bytes()).unwrap_err().to_string(),
        "kind: expected a string, got 0"
    );
}

#[test]
fn binding_a_user_to_cluster_admin_is_critical() {
    let c = emit("attach_cluster_admin_role.json");
    assert_eq!(c.spec.source, "k8s-audit");
    assert_eq!(
        (c.spec.category, c.spec.severity),
        (Category::Security, Severity::Critical)
    );
    assert_eq!(c.spec.event_type, "rbac_cluster_admin_binding");
    assert_eq!(
        resource(&c),
        (
            Some("rbac.authorization.k8s.io/v1"),
            Some("ClusterRoleBinding"),
            None,
            Some("some-reader-binding")
        )
    );
    assert_eq!(c.namespace, "vigil-system", "cluster-scoped");
    assert_eq!(
        c.labels.get(AUDIENCE_LABEL).map(String::as_str),
        Some("platform")
    );
    assert!(
        c.name.starts_with("k8s-audit-rbac-cluster-admin-binding-"),
        "{}",
        c.name
    );
    assert!(c.name.len() <= 63);
    let d = c.spec.details.as_ref().expect("details");
    assert_eq!(d["rule"], "rbac_cluster_admin_binding");
    assert_eq!(d["auditID"], "c97244c7-4aec-4714-946a-8204d00ecdca");
    assert_eq!(d["verb"], "create");
    assert_eq!(d["stage"], "ResponseComplete");
    assert_eq!(
        d["user"],
        json!({"username": "minikube-user", "groups": ["system:masters", "system:authenticated"]})
    );
    assert_eq!(d["sourceIPs"], json!(["192.168.99.1"]));
    assert_eq!(d["responseStatus"]["code"], 201);
    assert_eq!(d["roleRef"]["name"], "cluster-admin");
    assert_eq!(d["objectRef"]["resource"], "clusterrolebindings");
    assert_eq!(d["outcome"], "allowed");
    assert_eq!(
        c.spec.detected_at.as_ref().map(|t| t.0),
        Some(ts("2018-10-26T14:26:34.242498Z"))
    );
}

#[test]
fn an_anonymous_namespace_create_is_the_anonymous_rule() {
    let c = emit("anonymous_creates_namespace_foo.json");
    assert_eq!(
        (c.spec.category, c.spec.severity),
        (Category::Security, Severity::High)
    );
    assert_eq!(c.spec.event_type, "anonymous_request");
    assert_eq!(
        resource(&c),
        (Some("v1"), Some("Namespace"), None, Some("foo"))
    );
    assert_eq!(c.namespace, "vigil-system");
    assert_eq!(
        c.labels.get(AUDIENCE_LABEL).map(String::as_str),
        Some("customer"),
        "about namespace foo"
    );
    let d = c.spec.details.as_ref().unwrap();
    assert_eq!(d["user"]["username"], "system:anonymous");
    assert_eq!(d["auditID"], "841d3e6d-90d2-43df-8da4-684738bee3d5");
    assert_eq!(d["requestURI"], "/api/v1/namespaces");
    assert_eq!(
        c.spec.detected_at.as_ref().map(|t| t.0),
        Some(ts("2018-10-25T13:58:49.736141Z"))
    );
}

#[test]
fn privileged_and_host_network_pods_name_the_created_pod() {
    let c = emit("create_nginx_pod_privileged.json");
    assert_eq!(c.spec.event_type, "privileged_pod_created");
    assert_eq!(
        resource(&c),
        (
            Some("v1"),
            Some("Pod"),
            Some("default"),
            Some("nginx-deployment-5cdcc99dbf-rgw6z")
        )
    );
    assert_eq!(c.namespace, "default");
    assert_eq!(
        c.spec.details.as_ref().unwrap()["privilegedContainers"],
        json!(["nginx"])
    );
    let second = emit("create_nginx_pod_privileged_2nd_container.json");
    assert_eq!(
        second.spec.details.as_ref().unwrap()["privilegedContainers"],
        json!(["mysql"])
    );
    let host = emit("create_nginx_pod_hostnetwork.json");
    assert_eq!(host.spec.event_type, "host_namespace_pod_created");
    assert_eq!(
        host.spec.details.as_ref().unwrap()["hostNamespaces"],
        json!(["hostNetwork"])
    );
    assert_eq!(host.spec.category, Category::Security);
}

#[test]
fn wildcard_and_plain_cluster_roles_differ() {
    let wild = emit("create_cluster_role_wildcard_verbs.json");
    assert_eq!(
        (wild.spec.event_type.as_str(), wild.spec.severity),
        ("rbac_wildcard_role", Severity::High)
    );
    assert_eq!(
        resource(&wild),
        (
            Some("rbac.authorization.k8s.io/v1"),
            Some("ClusterRole"),
            None,
            Some("some-reader")
        )
    );
    let plain = emit("create_clusterrole.json");
    assert_eq!(
        (plain.spec.event_type.as_str(), plain.spec.category),
        ("rbac_changed", Category::Compliance)
    );
    let patch = emit("modify_cluster_role_node_problem_detector.json");
    assert_eq!(patch.spec.details.as_ref().unwrap()["verb"], "patch");
}

#[test]
fn exec_and_attach_need_the_response_started_stage() {
    let sources = SourcesConfig {
        audit: AuditConfig {
            stages: vec![AuditStage::ResponseStarted, AuditStage::ResponseComplete],
            ..AuditConfig::default()
        },
        ..SourcesConfig::default()
    };
    for (name, rule) in [
        ("exec_pod.json", "pod_exec"),
        ("attach_pod.json", "pod_attach"),
    ] {
        let e = one(name);
        assert_eq!(e.stage, AuditStage::ResponseStarted);
        let Outcome::Emit(c) = process_with(sources.clone(), &e) else {
            panic!("{name}: expected Emit")
        };
        assert_eq!(
            (c.spec.event_type.as_str(), c.spec.severity),
            (rule, Severity::Medium)
        );
        assert_eq!(
            resource(&c),
            (
                Some("v1"),
                Some("Pod"),
                Some("default"),
                Some("nginx-deployment-7998647bdf-phvq7")
            )
        );
        assert_eq!(
            c.spec.details.as_ref().unwrap()["responseStatus"]["code"],
            101
        );
    }
}

/// No trace file reads a secret or deletes in a system namespace; these are
/// real files with one field changed, to show the rules on real shapes.
#[test]
fn derived_secret_read_and_system_namespace_delete() {
    let mut read: Value = serde_json::from_str(&fixture("delete_secret.json")).unwrap();
    read["verb"] = "get".into();
    let Outcome::Emit(c) = process(&AuditEvent::from_value(read).unwrap()) else {
        panic!("a secret read by minikube-user emits")
    };
    assert_eq!(
        (c.spec.event_type.as_str(), c.spec.severity),
        ("secret_access", Severity::Medium)
    );
    assert_eq!(
        resource(&c),
        (
            Some("v1"),
            Some("Secret"),
            Some("default"),
            Some("example-secret")
        )
    );
    assert_eq!(
        c.spec.details.as_ref().unwrap()["userAgent"],
        "kubectl/v1.17.3 (darwin/amd64) kubernetes/06ad960"
    );
    let mut delete: Value =
        serde_json::from_str(&fixture("create_kube_system_secret.json")).unwrap();
    delete["verb"] = "delete".into();
    let Outcome::Emit(c) = process(&AuditEvent::from_value(delete).unwrap()) else {
        panic!("a delete in kube-system by admin emits")
    };
    assert_eq!(
        (c.spec.event_type.as_str(), c.spec.category, c.spec.severity),
        (
            "system_namespace_delete",
            Category::Compliance,
            Severity::Medium
        )
    );
    assert_eq!(
        c.labels.get(AUDIENCE_LABEL).map(String::as_str),
        Some("platform")
    );
}

#[test]
fn the_trace_files_as_one_webhook_batch() {
    let mut items = Vec::new();
    for name in expectations().keys().filter(|n| **n != "fal_01_003.json") {
        for line in fixture(name).lines().filter(|l| !l.trim().is_empty()) {
            items.push(serde_json::from_str::<Value>(line).unwrap());
        }
    }
    items.push(json!({"kind": 0}));
    let n = items.len();
    let body =
        json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}).to_string();
    let parsed = audit::parse_batch(body.as_bytes()).expect("an EventList");
    assert_eq!(parsed.len(), n);
    assert_eq!(parsed.iter().filter(|r| r.is_ok()).count(), n - 1);
    assert_eq!(
        parsed[n - 1].as_ref().unwrap_err().to_string(),
        format!("items[{}].kind: expected a string, got 0", n - 1)
    );
    // One pipeline, the batch in order, as `vigil replay` of the whole set
    // runs it: per rule, first sightings and repeats add up to the table.
    let clock = Arc::new(ManualClock::new(ts("2018-01-01T00:00:00Z")));
    let mut p = Pipeline::new(PipelineConfig::default(), clock.clone());
    let mut rule_of_name = BTreeMap::<String, String>::new();
    let mut got = BTreeMap::<String, usize>::new();
    for e in parsed.into_iter().flatten() {
        clock.set(e.time());
        let key = match p.process_audit(&e) {
            Outcome::Emit(c) => {
                rule_of_name.insert(c.name.clone(), c.spec.event_type.clone());
                c.spec.event_type
            }
            Outcome::Repeat(r) => rule_of_name[&r.name].clone(),
            Outcome::Dropped(r) => r.as_str().to_string(),
        };
        *got.entry(key).or_default() += 1;
    }
    let mut want = BTreeMap::<String, usize>::new();
    for outcome in expectations().values().flatten() {
        let key = match outcome {
            Rule(rule, _) => rule.to_string(),
            Drop(reason) => reason.as_str().to_string(),
            Error(_) => continue,
        };
        *want.entry(key).or_default() += 1;
    }
    // Two trace files are copy-edits of one request: same auditID, same
    // receive time, verb, URI and user (only the containers differ). To the
    // pipeline that is one request delivered twice.
    *want.get_mut("privileged_pod_created").unwrap() -= 1;
    want.insert("unchanged".to_string(), 1);
    assert_eq!(got, want);
    assert_eq!(want["audit_no_rule"], 33);
}
