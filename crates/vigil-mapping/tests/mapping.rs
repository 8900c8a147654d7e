//! The mapping language on small inline records: shapes, defaults, times,
//! keys, and errors that name the Ingester field and the source field.

use serde_json::{json, Value};
use vigil_mapping::{Error, Preset};
use vigil_model::Severity;

/// An informer Ingester whose `spec.mapping` (and optional extra spec
/// lines) are the given YAML, indented under `spec:`.
fn preset(spec_tail: &str) -> Result<Preset, Error> {
    let spec_tail: String = spec_tail.lines().map(|l| format!("  {l}\n")).collect();
    Preset::load(&format!(
        "apiVersion: zen.kube-zen.io/v1alpha1\nkind: Ingester\nmetadata: {{name: t}}\nspec:\n  source: tool\n  ingester: informer\n  informer: {{gvr: {{group: x.io, version: v1, resource: reports}}}}\n{spec_tail}"
    ))
}

fn ok(spec_tail: &str) -> Preset {
    preset(spec_tail).unwrap_or_else(|e| panic!("{e}"))
}

const BASIC: &str = "mapping:
  forEach: .findings
  key: '{{ .metadata.name }}/{{ .item.id }}'
  category: security
  eventType: finding
  severity: {from: .item.sev, map: {SEV1: critical, sev2: high}, default: low}
  detectedAt: '{{ .item.at }}'";

#[test]
fn one_object_where_a_list_was_expected_is_one_finding() {
    let p = ok(BASIC);
    let found = p
        .apply(&json!({"metadata": {"name": "r"}, "findings": {"id": "only", "sev": "SEV1"}}))
        .expect("maps");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].key, "r/only");
    assert_eq!(found[0].spec.severity, Severity::Critical);
    for empty in [
        json!({"findings": null}),
        json!({}),
        json!({"findings": []}),
    ] {
        assert!(p.apply(&empty).expect("maps").is_empty(), "{empty}");
    }
}

#[test]
fn arrays_and_lists_of_records_are_each_mapped() {
    let p = ok(BASIC);
    let r = |n: &str| json!({"metadata": {"name": n}, "findings": [{"id": "a"}, {"id": "b"}]});
    let arr = p.apply(&json!([r("x"), r("y")])).expect("maps");
    let list = p
        .apply(&json!({"kind": "ReportList", "apiVersion": "v1", "items": [r("x"), r("y")]}))
        .expect("maps");
    let k: Vec<&str> = arr.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(k, ["x/a", "x/b", "y/a", "y/b"]);
    assert_eq!(arr, list);
    assert_eq!((arr[3].record, arr[3].element), (1, Some(1)));
}

#[test]
fn severity_map_is_case_insensitive_takes_severity_spellings_and_defaults() {
    let p = ok(BASIC);
    let sev = |v: Value| {
        p.apply(&json!({"findings": [{"id": "a", "sev": v}]}))
            .expect("maps")[0]
            .spec
            .severity
    };
    assert_eq!(sev(json!("sev1")), Severity::Critical);
    assert_eq!(sev(json!("SEV2")), Severity::High);
    assert_eq!(sev(json!("MEDIUM")), Severity::Medium);
    assert_eq!(sev(json!("bogus")), Severity::Low);
    assert_eq!(sev(Value::Null), Severity::Low);
    assert_eq!(sev(json!("  ")), Severity::Low);
}

#[test]
fn unknown_severity_without_default_names_both_fields() {
    let p = ok("mapping:
  forEach: .findings
  key: '{{ .item.id }}'
  category: security
  eventType: finding
  severity: {from: .item.sev}");
    let e = p
        .apply(&json!({"findings": [{"id": "a", "sev": "high"}, {"id": "b", "sev": "urgent"}]}))
        .expect_err("urgent is no severity");
    assert_eq!(e.path, "spec.mapping.severity");
    assert!(e.message.contains("\"urgent\""), "{e}");
    assert!(
        e.message.contains(".item.sev") && e.message.contains("element 1"),
        "{e}"
    );
    let e = p
        .apply(&json!({"findings": [{"id": "a"}]}))
        .expect_err("missing");
    assert_eq!(e.path, "spec.mapping.severity");
    assert!(e.message.contains("no default"), "{e}");
}

#[test]
fn templated_event_type_must_render_to_a_valid_name() {
    let p = ok("mapping:
  category: compliance
  eventType: 'policy_{{ .result }}'
  severity: {default: info}");
    assert_eq!(
        p.apply(&json!({"result": "fail"})).expect("maps")[0]
            .spec
            .event_type,
        "policy_fail"
    );
    let e = p.apply(&json!({"result": "Not OK"})).expect_err("bad name");
    assert_eq!(e.path, "spec.mapping.eventType");
    assert!(e.message.contains("policy_Not OK"), "{e}");
}

#[test]
fn detected_at_reads_rfc3339_and_unix_times_of_every_width() {
    let p = ok(BASIC);
    let at = |v: Value| {
        p.apply(&json!({"findings": [{"id": "a", "at": v}]}))
            .expect("maps")[0]
            .spec
            .detected_at
            .as_ref()
            .map(|t| t.0.as_nanosecond())
    };
    // A 19-digit nanosecond time given as a JSON string keeps every digit.
    assert_eq!(
        at(json!("1700000000123456789")),
        Some(1_700_000_000_123_456_789)
    );
    assert_eq!(at(json!(1_700_000_000)), Some(1_700_000_000_000_000_000));
    assert_eq!(
        at(json!("2023-11-14T22:13:20Z")),
        Some(1_700_000_000_000_000_000)
    );
    assert_eq!(at(Value::Null), None);
    let e = p
        .apply(&json!({"findings": [{"id": "a", "at": "last tuesday"}]}))
        .expect_err("bad time");
    assert_eq!(e.path, "spec.mapping.detectedAt");
    assert!(e.message.contains("last tuesday"), "{e}");
}

#[test]
fn an_empty_key_is_an_error_not_a_collision() {
    let p = ok(BASIC);
    let e = p
        .apply(&json!({"findings": [{"sev": "high"}]}))
        .expect_err("no id");
    assert_eq!(e.path, "spec.mapping.key");
    assert!(e.message.contains("element 0"), "{e}");
    // One field present is enough.
    let found = p.apply(&json!({"findings": [{"id": "a"}]})).expect("maps");
    assert_eq!(found[0].key, "/a");
    let e = preset(&BASIC.replace("key: '{{ .metadata.name }}/{{ .item.id }}'", "key: fixed"))
        .expect_err("literal key");
    assert!(e.to_string().starts_with("spec.mapping.key:"), "{e}");
}

#[test]
fn without_a_key_the_finding_content_keys_it_whatever_the_field_order() {
    let p = ok("mapping:
  forEach: .findings
  category: security
  eventType: finding
  severity: {default: low}");
    let a: Value = serde_json::from_str(
        r#"{"kind": "R", "metadata": {"name": "r", "namespace": "n"}, "findings": [{"id": 1, "x": {"b": 2, "a": 1}}]}"#,
    )
    .expect("json");
    let b: Value = serde_json::from_str(
        r#"{"metadata": {"namespace": "n", "name": "r"}, "findings": [{"x": {"a": 1, "b": 2}, "id": 1}], "kind": "R"}"#,
    )
    .expect("json");
    let ka = &p.apply(&a).expect("maps")[0];
    let kb = &p.apply(&b).expect("maps")[0];
    assert_eq!(ka.key, r#"R/n/r/{"id":1,"x":{"a":1,"b":2}}"#);
    assert_eq!(ka.key, kb.key);
    assert_eq!(ka.name(), kb.name());
}

#[test]
fn resource_fields_that_render_empty_are_left_out() {
    let p = ok("mapping:
  category: operations
  eventType: thing
  severity: {default: info}
  resource:
    apiVersion: '{{ .apiVersion }}'
    kind: '{{ .kind }}'
    name: '{{ .metadata.name }}'
    namespace: '{{ .metadata.namespace }}'");
    let o = &p
        .apply(&json!({"kind": "Node", "metadata": {"name": "n1", "namespace": null}}))
        .expect("maps")[0];
    let r = o.spec.resource.as_ref().expect("resource");
    assert_eq!(
        (
            r.api_version.as_deref(),
            r.kind.as_deref(),
            r.name.as_deref(),
            r.namespace.as_deref()
        ),
        (None, Some("Node"), Some("n1"), None)
    );
    assert_eq!(p.apply(&json!({})).expect("maps")[0].spec.resource, None);
    // Without forEach the key is the record's identity.
    assert_eq!(o.key, "Node//n1");
}

#[test]
fn filters_drop_by_match_namespace_kind_and_event_type_and_count_it() {
    let p = ok("filters:
  match: [{path: .item.state, values: [open]}]
  excludeNamespaces: ['kube-*']
  includeKinds: [Pod, Deployment]
  excludeEventTypes: [noise]
mapping:
  forEach: .findings
  key: '{{ .item.id }}'
  category: security
  eventType: '{{ .item.type // \"finding\" }}'
  severity: {default: low}
  resource: {kind: '{{ .item.kind }}', namespace: '{{ .item.ns }}'}");
    let m = p
        .apply_counted(&json!({"findings": [
            {"id": "1", "state": "open", "kind": "Pod", "ns": "shop"},
            {"id": "2", "state": "closed", "kind": "Pod", "ns": "shop"},
            {"id": "3", "state": "open", "kind": "Pod", "ns": "kube-system"},
            {"id": "4", "state": "open", "kind": "Node", "ns": "shop"},
            {"id": "5", "state": "open", "kind": "Pod", "ns": "shop", "type": "noise"},
            {"id": "6", "kind": "Pod", "ns": "shop"}
        ]}))
        .expect("maps");
    let k: Vec<&str> = m.observations.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(k, ["1"]);
    assert_eq!(
        (
            m.dropped.r#match,
            m.dropped.namespace,
            m.dropped.kind,
            m.dropped.event_type
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(m.dropped.total(), 5);
}

#[test]
fn ttl_and_details_come_through() {
    let p = ok("ttl: 2h
mapping:
  category: cost
  eventType: idle
  severity: {default: info}
  details: {n: '{{ .n }}', list: '{{ .l }}', none: '{{ .missing }}'}");
    let o = &p.apply(&json!({"n": 3, "l": [1, "a"]})).expect("maps")[0];
    assert_eq!(o.spec.ttl_seconds_after_creation, Some(7200));
    assert_eq!(o.spec.details, Some(json!({"n": "3", "list": "[1,\"a\"]"})));
}

#[test]
fn a_record_that_is_not_an_object_is_refused() {
    let e = ok(BASIC)
        .apply(&json!([{"findings": []}, "text"]))
        .expect_err("string");
    assert_eq!(e.path, "spec.mapping");
    assert!(
        e.message.contains("record 1") && e.message.contains("a string"),
        "{e}"
    );
}

#[test]
fn loading_refuses_what_cannot_build_an_observation() {
    let e =
        preset("mapping:\n  eventType: x\n  severity: {default: low}").expect_err("no category");
    match e {
        Error::Mapping(m) => assert_eq!(m.path, "spec.mapping.category"),
        other => panic!("{other}"),
    }
    let e = preset("filters: {minSeverity: high}").expect_err("no mapping");
    assert!(e.to_string().starts_with("spec.mapping:"), "{e}");
    // The shared validator runs first, and names its field.
    let e =
        preset("mapping:\n  category: security\n  eventType: Bad-Type\n  severity: {default: low}")
            .expect_err("invalid");
    assert!(
        matches!(e, Error::Load(_)) && e.to_string().contains("spec.mapping.eventType"),
        "{e}"
    );
    let e = preset("mapping:\n  category: security\n  eventType: x\n  severity: {default: low}\n  key: '{{ .a // \"b }}'")
        .expect_err("bad template");
    assert!(e.to_string().contains("spec.mapping.key"), "{e}");
    let two = format!(
        "{}---\n{}",
        "apiVersion: zen.kube-zen.io/v1alpha1\nkind: Ingester\nmetadata: {name: a}\nspec: {source: a, ingester: k8s-events}\n",
        "apiVersion: zen.kube-zen.io/v1alpha1\nkind: Ingester\nmetadata: {name: b}\nspec: {source: b, ingester: k8s-events}\n"
    );
    assert!(matches!(Preset::load(&two), Err(Error::Count(2))));
}

#[test]
fn nested_for_each_walks_every_level_and_lists_the_parents() {
    let p = ok("mapping:
  forEach: .groups[*].checks[*].results
  key: '{{ .parents[0].name }}/{{ .parents[1].id }}/{{ .item.n }}'
  category: compliance
  eventType: check
  severity: {default: low}
  details: {group: '{{ .parents[0].name }}', check: '{{ .parents[1].id }}'}");
    let found = p
        .apply(&json!({"groups": [
            {"name": "g1", "checks": [
                {"id": "c1", "results": [{"n": 1}, {"n": 2}]},
                {"id": "c2", "results": null},
                {"id": "c3", "results": {"n": 3}}
            ]},
            {"name": "g2", "checks": []},
            {"name": "g3"}
        ]}))
        .expect("maps");
    let k: Vec<&str> = found.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(k, ["g1/c1/1", "g1/c1/2", "g1/c3/3"]);
    let elements: Vec<Option<usize>> = found.iter().map(|o| o.element).collect();
    assert_eq!(elements, [Some(0), Some(1), Some(2)]);
    assert_eq!(
        found[2].spec.details,
        Some(json!({"group": "g1", "check": "c3"}))
    );
    let e = preset(
        "mapping:
  forEach: .groups[*]checks
  category: compliance
  eventType: check
  severity: {default: low}",
    )
    .expect_err("bad forEach");
    assert!(e.to_string().contains("spec.mapping.forEach"), "{e}");
}

#[test]
fn deduplication_fields_tell_findings_apart_and_a_bad_path_names_the_field() {
    let plain = ok(BASIC);
    let with_fields = ok(&format!(
        "{BASIC}\ndeduplication:\n  fields: [.item.image, .metadata.namespace]"
    ));
    let report = json!({"metadata": {"name": "r", "namespace": "ns"},
        "findings": [{"id": "a", "image": "nginx:1"}, {"id": "a", "image": "nginx:2"}]});
    let a = plain.apply(&report).expect("maps");
    assert_eq!(
        a[0].fingerprint(),
        a[1].fingerprint(),
        "same key without fields"
    );
    let b = with_fields.apply(&report).expect("maps");
    assert_eq!(b[0].key, "r/a|nginx:1|ns");
    assert_eq!(b[1].key, "r/a|nginx:2|ns");
    assert_ne!(b[0].fingerprint(), b[1].fingerprint());
    let err =
        preset(&format!("{BASIC}\ndeduplication:\n  fields: ['.item[']")).expect_err("bad path");
    assert!(
        err.to_string().contains("spec.deduplication.fields[0]"),
        "{err}"
    );
}

#[test]
fn for_each_keep_empty_keeps_an_element_without_inner_items_once() {
    let spec = "mapping:
  forEach: .groups[*].items
  forEachKeepEmpty: true
  key: '{{ .parents[0].id }}/{{ .item.id // \"none\" }}'
  category: security
  eventType: finding
  severity: {default: low}";
    let p = ok(spec);
    let found = p
        .apply(&json!({"groups": [{"id": "g1", "items": [{"id": "a"}, {"id": "b"}]}, {"id": "g2"}, {"id": "g3", "items": []}]}))
        .expect("maps");
    let keys: Vec<&str> = found.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["g1/a", "g1/b", "g2/none", "g3/none"]);
    let without = ok(&spec.replace("  forEachKeepEmpty: true\n", ""));
    assert_eq!(
        without
            .apply(&json!({"groups": [{"id": "g2"}]}))
            .expect("maps")
            .len(),
        0
    );
    let err = preset(&spec.replace(".groups[*].items", ".groups")).expect_err("not nested");
    assert!(
        err.to_string().contains("spec.mapping.forEachKeepEmpty"),
        "{err}"
    );
}
