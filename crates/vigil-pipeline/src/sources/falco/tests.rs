//! Parsing, errors, the priority table, the resource choice and details.

use super::*;
use serde_json::json;

/// The shape of Falco's documented output (channels.md), as a Value to vary.
fn alert() -> Value {
    json!({
        "hostname": "falco-xczjd",
        "output": "13:44:05.478445995: Critical A shell was spawned in a container with an attached terminal (user=root k8s.ns=default k8s.pod=kubecon container=ee97d9c4186f)",
        "priority": "Critical",
        "rule": "Terminal shell in container",
        "source": "syscall",
        "tags": ["container", "mitre_execution", "shell"],
        "time": "2023-05-25T13:44:05.478445995Z",
        "output_fields": {
            "container.id": "ee97d9c4186f",
            "evt.time": 1685022245478445995u64,
            "k8s.ns.name": "default",
            "k8s.pod.name": "kubecon",
            "proc.pname": null,
            "proc.tty": 34816,
            "user.loginuid": -1,
            "fd.is_server": true
        }
    })
}

fn parse(v: Value) -> Result<FalcoAlert, RecordError> {
    FalcoAlert::from_slice(v.to_string().as_bytes())
}

fn error(v: Value) -> String {
    parse(v).expect_err("an invalid alert").to_string()
}

fn with(key: &str, value: Value) -> Value {
    let mut a = alert();
    a[key] = value;
    a
}

fn without(key: &str) -> Value {
    let mut a = alert();
    a.as_object_mut().expect("an object").remove(key);
    a
}

#[test]
fn a_complete_alert_parses_with_every_field() {
    let a = parse(alert()).expect("a valid alert");
    assert_eq!(a.rule, "Terminal shell in container");
    assert_eq!(a.priority, FalcoPriority::Critical);
    assert_eq!(
        a.time,
        "2023-05-25T13:44:05.478445995Z"
            .parse::<Timestamp>()
            .unwrap()
    );
    assert_eq!(a.time.subsec_nanosecond(), 478_445_995, "nanoseconds kept");
    assert_eq!(a.source.as_deref(), Some("syscall"));
    assert_eq!(a.hostname.as_deref(), Some("falco-xczjd"));
    assert_eq!(a.tags, ["container", "mitre_execution", "shell"]);
    assert_eq!(
        a.output_fields["evt.time"].as_u64(),
        Some(1_685_022_245_478_445_995),
        "19-digit nanosecond integers are exact"
    );
    assert_eq!(a.output_fields["proc.pname"], Value::Null);
    assert_eq!(a.output_fields["user.loginuid"], -1);
    assert_eq!(a.output_fields["fd.is_server"], true);
    assert_eq!(a, a.to_string_for_test().parse().expect("round trip"));
}

impl FalcoAlert {
    /// The alert back as Falco's JSON (tests only).
    fn to_string_for_test(&self) -> String {
        let mut d = self.details();
        d["time"] = self.time.to_string().into();
        d.to_string()
    }
}

#[test]
fn optional_fields_may_be_absent_or_null() {
    let mut a = alert();
    let m = a.as_object_mut().expect("an object");
    for k in ["source", "hostname", "tags", "output_fields"] {
        m.remove(k);
    }
    let a = parse(a).expect("still valid");
    assert_eq!((a.source, a.hostname), (None, None));
    assert!(a.tags.is_empty() && a.output_fields.is_empty());
    let a = parse(with("hostname", Value::Null)).expect("null is absent");
    assert_eq!(a.hostname, None);
}

#[test]
fn errors_name_the_missing_or_invalid_field() {
    assert_eq!(error(without("rule")), "rule: missing");
    assert_eq!(error(with("rule", json!(""))), "rule: empty");
    assert_eq!(error(without("priority")), "priority: missing");
    let p = error(with("priority", json!("Urgent")));
    assert!(
        p.starts_with("priority: unknown value \"Urgent\", expected one of: Emergency"),
        "{p}"
    );
    assert_eq!(error(without("output")), "output: missing");
    assert_eq!(error(without("time")), "time: missing");
    let t = error(with("time", json!("2023-05-25 13:44")));
    assert!(
        t.starts_with("time: invalid RFC 3339 time \"2023-05-25 13:44\""),
        "{t}"
    );
    assert_eq!(
        error(with("time", json!(1685022245))),
        "time: expected a string, got 1685022245"
    );
    assert_eq!(
        error(with("tags", json!(["a", 1]))),
        "tags[1]: expected a string, got 1"
    );
    assert_eq!(
        error(with("output_fields", json!("k8s.ns.name=default"))),
        "output_fields: expected an object, got \"k8s.ns.name=default\""
    );
    assert_eq!(error(json!([])), "record: expected an object, got []");
    let syntax = FalcoAlert::from_slice(b"{\"rule\": ").unwrap_err();
    assert!(matches!(syntax.problem, Problem::Syntax(_)), "{syntax:?}");
}

#[test]
fn priorities_map_to_the_documented_severities() {
    let table = [
        ("Emergency", Severity::Critical),
        ("Alert", Severity::Critical),
        ("Critical", Severity::Critical),
        ("Error", Severity::High),
        ("Warning", Severity::Medium),
        ("Notice", Severity::Low),
        ("Informational", Severity::Info),
        ("Info", Severity::Info),
        ("Debug", Severity::Info),
        ("WARNING", Severity::Medium),
        ("notice", Severity::Low),
    ];
    for (text, severity) in table {
        let p: FalcoPriority = text.parse().unwrap_or_else(|()| panic!("{text}"));
        assert_eq!(p.severity(), severity, "{text}");
    }
    assert_eq!("info".parse(), Ok(FalcoPriority::Informational));
    assert!("Urgent".parse::<FalcoPriority>().is_err());
    assert!("".parse::<FalcoPriority>().is_err());
    for p in FalcoPriority::ALL {
        assert_eq!(p.as_str().parse(), Ok(*p));
    }
}

#[test]
fn event_types_are_the_rule_in_snake_case_within_63_characters() {
    assert_eq!(
        event_type_of("Terminal shell in container"),
        "terminal_shell_in_container"
    );
    assert_eq!(event_type_of("Attach/Exec Pod"), "attach_exec_pod");
    assert_eq!(
        event_type_of("K8s Serviceaccount Created"),
        "k8s_serviceaccount_created"
    );
    assert_eq!(event_type_of("open_from_cat"), "open_from_cat");
    assert_eq!(event_type_of("Disallowed K8s User"), "disallowed_k8s_user");
    assert_eq!(
        event_type_of("Read sensitive file untrusted"),
        "read_sensitive_file_untrusted"
    );
    assert_eq!(event_type_of("!!!"), "falco_rule");
    let long = event_type_of(&"Launch Privileged Container ".repeat(5));
    assert!(long.len() <= 63 && !long.ends_with('_'), "{long}");
    assert!(long.starts_with("launch_privileged_container_launch"));
    let t = event_type_of("Écriture détectée");
    assert!(
        t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "{t}"
    );
}

#[test]
fn the_resource_is_the_pod_when_named() {
    let a = parse(alert()).unwrap();
    let t = a.target();
    assert_eq!(
        (t.api_version.as_ref(), t.kind, t.namespace, t.name),
        ("v1", "Pod", "default", "kubecon")
    );
}

#[test]
fn k8s_audit_alerts_name_their_target_object() {
    let a = parse(with(
        "output_fields",
        json!({"ka.target.name": "default", "ka.target.namespace": "default",
               "ka.target.resource": "serviceaccounts", "ka.user.name": "system:node:x"}),
    ))
    .unwrap();
    let t = a.target();
    assert_eq!(
        (t.api_version.as_ref(), t.kind, t.namespace, t.name),
        ("v1", "ServiceAccount", "default", "default")
    );
    let crd = parse(with(
        "output_fields",
        json!({"ka.target.name": "my-pool-1", "ka.target.resource": "nodepools"}),
    ))
    .unwrap();
    let t = crd.target();
    assert_eq!(
        (t.api_version.as_ref(), t.kind, t.namespace, t.name),
        ("", "nodepools", "", "my-pool-1")
    );
    let storage = parse(with(
        "output_fields",
        json!({"ka.target.name": "csi-1", "ka.target.resource": "volumeattachments"}),
    ))
    .unwrap();
    assert_eq!(storage.target().api_version, "storage.k8s.io/v1");
}

#[test]
fn without_a_pod_the_namespace_then_the_container_then_nothing() {
    let ns_only = parse(with(
        "output_fields",
        json!({"k8s.ns.name": "shop", "k8s.pod.name": "<NA>"}),
    ))
    .unwrap();
    let t = ns_only.target();
    assert_eq!((t.kind, t.namespace, t.name), ("", "shop", ""));
    assert_eq!(
        t.resource_ref().map(|r| (r.kind, r.namespace)),
        Some((None, Some("shop".into())))
    );
    let container = parse(with(
        "output_fields",
        json!({"container.id": "5892b41bcf46", "k8s.ns.name": null}),
    ))
    .unwrap();
    let t = container.target();
    assert_eq!(
        (t.kind, t.namespace, t.name),
        ("Container", "", "5892b41bcf46")
    );
    let host = parse(with(
        "output_fields",
        json!({"container.id": "host", "proc.cmdline": "cat /dev/null"}),
    ))
    .unwrap();
    assert_eq!(host.target(), Target::default());
    assert_eq!(host.target().resource_ref(), None);
    let empty = parse(with(
        "output_fields",
        json!({"k8s.pod.name": "", "k8s.ns.name": ""}),
    ))
    .unwrap();
    assert_eq!(empty.target(), Target::default());
}

#[test]
fn the_observation_keeps_the_alert_in_its_details() {
    let a = parse(alert()).unwrap();
    let spec = a.observation_spec("falco", &a.event_type(), 3600);
    assert_eq!(spec.source, "falco");
    assert_eq!(spec.category, Category::Security);
    assert_eq!(spec.severity, Severity::Critical);
    assert_eq!(spec.event_type, "terminal_shell_in_container");
    assert_eq!(spec.detected_at.map(|t| t.0), Some(a.time));
    assert_eq!(spec.ttl_seconds_after_creation, Some(3600));
    let d = spec.details.expect("details");
    assert_eq!(d["rule"], "Terminal shell in container");
    assert_eq!(d["priority"], "Critical");
    assert_eq!(d["source"], "syscall");
    assert_eq!(d["hostname"], "falco-xczjd");
    assert_eq!(d["tags"], json!(["container", "mitre_execution", "shell"]));
    assert_eq!(d["output"], a.output);
    assert_eq!(
        d["output_fields"]["evt.time"].as_u64(),
        Some(1_685_022_245_478_445_995)
    );
    assert_eq!(d["output_fields"]["proc.pname"], Value::Null);
    let bare = parse(without("hostname")).unwrap().details();
    assert_eq!(bare.get("hostname"), None);
}

#[test]
fn json_lines_skip_blanks_and_number_bad_lines() {
    let good = alert().to_string();
    let text = format!("{good}\n\n   \n{{\"rule\": \"x\"}}\n{good}\n");
    let results: Vec<_> = parse_lines(&text).collect();
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[2].is_ok());
    let e = results[1].as_ref().unwrap_err();
    assert_eq!(
        (e.line, e.to_string().as_str()),
        (4, "line 4: priority: missing")
    );
}
