//! Parsing one Event, EventList batches and log files; errors; the target.

use super::*;
use serde_json::json;

/// An `audit.k8s.io/v1` Event at Metadata level (as in Falco's trace files).
fn event() -> Value {
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": "d1df3fa9-497f-49cf-bd48-60a651df8075", "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/default/secrets/example-secret", "verb": "delete",
        "user": {"username": "minikube-user", "groups": ["system:masters", "system:authenticated"]},
        "sourceIPs": ["192.168.64.1"], "userAgent": "kubectl/v1.17.3 (darwin/amd64) kubernetes/06ad960",
        "objectRef": {"resource": "secrets", "namespace": "default", "name": "example-secret", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "status": "Success", "code": 200},
        "requestReceivedTimestamp": "2020-04-21T17:58:49.691845Z",
        "stageTimestamp": "2020-04-21T17:58:49.696309Z",
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
    })
}

fn parse(v: &Value) -> Result<AuditEvent, RecordError> {
    AuditEvent::from_slice(v.to_string().as_bytes())
}

fn error(v: Value) -> String {
    parse(&v).expect_err("an invalid event").to_string()
}

fn with(path: &[&str], value: Value) -> Value {
    let mut e = event();
    let (last, parents) = path.split_last().expect("a path");
    let mut at = &mut e;
    for p in parents {
        at = &mut at[*p];
    }
    at[*last] = value;
    e
}

fn without(key: &str) -> Value {
    let mut e = event();
    e.as_object_mut().expect("an object").remove(key);
    e
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("valid time")
}

#[test]
fn a_v1_event_parses_with_every_field() {
    let e = parse(&event()).expect("a valid event");
    assert_eq!(e.audit_id, "d1df3fa9-497f-49cf-bd48-60a651df8075");
    assert_eq!(e.api_version.as_deref(), Some("audit.k8s.io/v1"));
    assert_eq!(e.level.as_deref(), Some("Metadata"));
    assert_eq!(e.stage, AuditStage::ResponseComplete);
    assert_eq!(e.verb, "delete");
    assert_eq!(e.user.username, "minikube-user");
    assert_eq!(e.user.groups, ["system:masters", "system:authenticated"]);
    assert_eq!(e.source_ips, ["192.168.64.1"]);
    assert_eq!(
        e.user_agent.as_deref(),
        Some("kubectl/v1.17.3 (darwin/amd64) kubernetes/06ad960")
    );
    let o = e.object_ref.as_ref().expect("objectRef");
    assert_eq!(
        (o.resource.as_str(), o.namespace.as_str(), o.name.as_str()),
        ("secrets", "default", "example-secret")
    );
    assert_eq!(e.response_code, Some(200));
    assert!(!e.failed());
    assert_eq!(
        e.time(),
        ts("2020-04-21T17:58:49.696309Z"),
        "stageTimestamp first"
    );
    assert_eq!(e.request_received, Some(ts("2020-04-21T17:58:49.691845Z")));
    assert_eq!(e.annotations.len(), 2);
    assert_eq!(
        (e.request_object.as_ref(), e.response_object.as_ref()),
        (None, None)
    );
}

#[test]
fn v1beta1_and_records_without_kind_or_api_version_parse() {
    let mut e = with(&["apiVersion"], json!("audit.k8s.io/v1beta1"));
    let m = e.as_object_mut().unwrap();
    m.remove("stageTimestamp");
    m.remove("requestReceivedTimestamp");
    m.insert("timestamp".into(), json!("2018-10-25T13:58:49Z"));
    let parsed = parse(&e).expect("v1beta1");
    assert_eq!(
        parsed.time(),
        ts("2018-10-25T13:58:49Z"),
        "v1beta1's timestamp as a last resort"
    );
    let mut bare = event();
    let m = bare.as_object_mut().unwrap();
    m.remove("kind");
    m.remove("apiVersion");
    m.remove("stageTimestamp");
    let parsed = parse(&bare).expect("no kind, no apiVersion");
    assert_eq!(parsed.api_version, None);
    assert_eq!(
        parsed.time(),
        ts("2020-04-21T17:58:49.691845Z"),
        "requestReceivedTimestamp"
    );
}

#[test]
fn errors_name_the_missing_or_invalid_field() {
    assert_eq!(error(json!({"kind": 0})), "kind: expected a string, got 0");
    assert_eq!(
        error(with(&["kind"], json!("Pod"))),
        "kind: unknown value \"Pod\", expected Event"
    );
    assert_eq!(
        error(with(&["apiVersion"], json!("v1"))),
        "apiVersion: unknown value \"v1\", expected audit.k8s.io/v1 or audit.k8s.io/v1beta1"
    );
    assert_eq!(error(without("auditID")), "auditID: missing");
    assert_eq!(error(without("stage")), "stage: missing");
    let s = error(with(&["stage"], json!("Done")));
    assert!(
        s.starts_with("stage: unknown value \"Done\", expected one of: RequestReceived"),
        "{s}"
    );
    assert_eq!(error(without("verb")), "verb: missing");
    assert_eq!(error(without("user")), "user: missing");
    assert_eq!(
        error(with(&["user"], json!("bob"))),
        "user: expected an object, got \"bob\""
    );
    assert_eq!(
        error(with(&["user"], json!({"groups": []}))),
        "user.username: missing"
    );
    assert_eq!(
        error(with(&["user", "groups"], json!(["a", null]))),
        "user.groups[1]: expected a string, got null"
    );
    assert_eq!(
        error(with(&["responseStatus", "code"], json!("200"))),
        "responseStatus.code: expected an integer, got \"200\""
    );
    assert_eq!(
        error(with(&["objectRef", "namespace"], json!(7))),
        "objectRef.namespace: expected a string, got 7"
    );
    assert_eq!(
        error(with(&["sourceIPs"], json!("10.0.0.1"))),
        "sourceIPs: expected a list of strings, got \"10.0.0.1\""
    );
    let t = error(with(&["stageTimestamp"], json!("now")));
    assert!(
        t.starts_with("stageTimestamp: invalid RFC 3339 time \"now\""),
        "{t}"
    );
    let mut timeless = event();
    let m = timeless.as_object_mut().unwrap();
    m.remove("stageTimestamp");
    m.remove("requestReceivedTimestamp");
    assert_eq!(error(timeless), "stageTimestamp: missing");
}

#[test]
fn an_event_list_parses_item_by_item() {
    let mut bad = event();
    bad.as_object_mut().unwrap().remove("verb");
    let body = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {},
                      "items": [event(), bad, with(&["auditID"], json!("other"))]});
    let items = parse_batch(body.to_string().as_bytes()).expect("an EventList");
    assert_eq!(items.len(), 3);
    assert!(items[0].is_ok() && items[2].is_ok());
    assert_eq!(
        items[1].as_ref().unwrap_err().to_string(),
        "items[1].verb: missing"
    );
    assert_eq!(items[2].as_ref().unwrap().audit_id, "other");
    let one = parse_batch(event().to_string().as_bytes()).expect("a single Event");
    assert_eq!(one.len(), 1);
    let empty = parse_batch(br#"{"kind":"EventList","items":null}"#).expect("no items");
    assert!(empty.is_empty());
    assert_eq!(
        parse_batch(br#"{"kind":"EventList","items":{}}"#)
            .unwrap_err()
            .to_string(),
        "items: expected a list, got {}"
    );
    assert_eq!(
        parse_batch(br#"{"kind":"PodList","items":[]}"#)
            .unwrap_err()
            .to_string(),
        "kind: unknown value \"PodList\", expected Event or EventList"
    );
    let nested = json!({"kind": "EventList", "items": [{"kind": "EventList"}]});
    assert_eq!(
        parse_batch(nested.to_string().as_bytes()).unwrap()[0]
            .as_ref()
            .unwrap_err()
            .to_string(),
        "items[0].kind: unknown value \"EventList\", expected Event"
    );
    assert!(matches!(
        parse_batch(b"not json").unwrap_err().problem,
        Problem::Syntax(_)
    ));
}

#[test]
fn a_log_file_is_json_lines_or_one_document() {
    let line = event().to_string();
    let log = format!("{line}\n\n{{\"kind\":\"Event\"}}\n{line}\n");
    let events = parse_log(&log);
    assert_eq!(events.len(), 3);
    assert!(events[0].is_ok() && events[2].is_ok());
    let e = events[1].as_ref().unwrap_err();
    assert_eq!(e.to_string(), "line 3: auditID: missing");
    let pretty = serde_json::to_string_pretty(&event()).unwrap();
    let one = parse_log(&format!("\n{pretty}\n"));
    assert_eq!(one.len(), 1);
    assert!(one[0].is_ok(), "a pretty-printed Event");
    let list = json!({"kind": "EventList", "items": [event(), event()]}).to_string();
    assert_eq!(parse_log(&list).iter().filter(|r| r.is_ok()).count(), 2);
    let bad = parse_log("{\"kind\": 0}");
    assert_eq!(bad.len(), 1);
    assert_eq!(
        bad[0].as_ref().unwrap_err().to_string(),
        "line 1: kind: expected a string, got 0"
    );
    assert!(parse_log("").is_empty());
}

#[test]
fn the_target_comes_from_the_object_ref() {
    let e = parse(&event()).unwrap();
    let t = e.target();
    assert_eq!(
        (t.api_version.as_ref(), t.kind, t.namespace, t.name),
        ("v1", "Secret", "default", "example-secret")
    );
    let binding = parse(&with(
        &["objectRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1",
               "name": "some-reader-binding", "resource": "clusterrolebindings"}),
    ))
    .unwrap();
    let t = binding.target();
    assert_eq!(
        (t.api_version.as_ref(), t.kind, t.namespace, t.name),
        (
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "",
            "some-reader-binding"
        )
    );
    let ns = parse(&with(
        &["objectRef"],
        json!({"resource": "namespaces", "name": "foo", "apiVersion": "v1"}),
    ))
    .unwrap();
    assert_eq!(ns.target().kind, "Namespace");
    assert_eq!(ns.scope_namespace(), "foo");
    assert_eq!(e.scope_namespace(), "default");
    let crd = parse(&with(
        &["objectRef"],
        json!({"resource": "certificates", "apiGroup": "cert-manager.io", "apiVersion": "v1", "namespace": "shop", "name": "web"}),
    ))
    .unwrap();
    let t = crd.target();
    assert_eq!(
        (t.api_version.as_ref(), t.kind),
        ("cert-manager.io/v1", "certificates")
    );
    let mut probe = event();
    probe.as_object_mut().unwrap().remove("objectRef");
    let probe = parse(&probe).unwrap();
    assert_eq!(probe.target(), Target::default());
    assert_eq!(
        (probe.resource(), probe.subresource(), probe.namespace()),
        ("", "", "")
    );
}

#[test]
fn a_created_object_is_named_from_the_response_then_the_request() {
    let mut e = with(
        &["objectRef"],
        json!({"resource": "pods", "namespace": "default", "apiVersion": "v1"}),
    );
    e["requestObject"] =
        json!({"kind": "Pod", "metadata": {"generateName": "nginx-deployment-5cdcc99dbf-"}});
    let request_only = parse(&e).unwrap();
    assert_eq!(request_only.object_name(), "");
    assert_eq!(request_only.generate_name(), "nginx-deployment-5cdcc99dbf-");
    e["responseObject"] =
        json!({"kind": "Pod", "metadata": {"name": "nginx-deployment-5cdcc99dbf-rgw6z"}});
    assert_eq!(
        parse(&e).unwrap().object_name(),
        "nginx-deployment-5cdcc99dbf-rgw6z"
    );
    e["requestObject"]["metadata"]["name"] = json!("fixed");
    e["responseObject"] = Value::Null;
    assert_eq!(parse(&e).unwrap().object_name(), "fixed");
}

#[test]
fn failure_is_a_code_of_400_or_more() {
    for (code, failed) in [
        (200, false),
        (201, false),
        (101, false),
        (403, true),
        (404, true),
        (500, true),
    ] {
        let e = parse(&with(&["responseStatus", "code"], json!(code))).unwrap();
        assert_eq!(e.failed(), failed, "{code}");
    }
    let mut none = event();
    none.as_object_mut().unwrap().remove("responseStatus");
    assert!(!parse(&none).unwrap().failed());
}

#[test]
fn stages_parse_exactly() {
    for s in AuditStage::ALL {
        assert_eq!(s.as_str().parse(), Ok(*s));
    }
    assert!("responsecomplete".parse::<AuditStage>().is_err());
}
