use super::*;
use crate::object::Object;

fn kinds(p: &Parsed) -> Vec<String> {
    p.manifests
        .iter()
        .map(|m| format!("{}/{}", m.kind, m.name()))
        .collect()
}

const POD: &str =
    "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: x:1}]}\n";

#[test]
fn multi_document_yaml_with_lines() {
    let text = format!("{POD}---\n# comment\n{}", POD.replace("name: a", "name: b"));
    let p = parse_manifests("f.yaml", &text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(kinds(&p), ["Pod/a", "Pod/b"]);
    assert_eq!(p.manifests[0].origin.line, Some(1));
    assert_eq!(p.manifests[1].origin.document, 2);
    assert_eq!(p.manifests[1].origin.line, Some(7));
}

#[test]
fn lists_are_flattened_with_item_numbers() {
    let text = r#"
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Namespace, metadata: {name: one}}
  - {apiVersion: v1, kind: Namespace, metadata: {name: two}}
---
apiVersion: v1
kind: NamespaceList
items:
  - {apiVersion: v1, kind: Namespace, metadata: {name: three}}
"#;
    let p = parse_manifests("l.yaml", text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(
        kinds(&p),
        ["Namespace/one", "Namespace/two", "Namespace/three"]
    );
    assert_eq!(p.manifests[1].origin.item, Some(2));
    assert_eq!(p.manifests[2].origin.document, 2);
    assert_eq!(p.manifests[2].origin.item, Some(1));
}

#[test]
fn json_objects_lists_and_arrays() {
    let list = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}]}"#;
    assert_eq!(kinds(&parse_manifests("l.json", list)), ["Namespace/a"]);
    let array =
        "\n\n[{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"b\"}}]";
    let p = parse_manifests("a.json", array);
    assert_eq!(kinds(&p), ["Namespace/b"]);
    assert_eq!(p.manifests[0].origin.line, Some(3));
    let broken = "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \n}";
    let p = parse_manifests("b.json", broken);
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].line, Some(4));
    assert!(
        p.errors[0].message.starts_with("not valid JSON"),
        "{}",
        p.errors[0]
    );
}

#[test]
fn yaml_flow_mappings_are_not_mistaken_for_json() {
    let text = "{apiVersion: v1, kind: Namespace, metadata: {name: flow}}\n---\n{apiVersion: v1, kind: Namespace, metadata: {name: two}}\n";
    let p = parse_manifests("flow.yaml", text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(kinds(&p), ["Namespace/flow", "Namespace/two"]);
}

#[test]
fn helm_output_keeps_its_template_and_skips_empty_documents() {
    let text = format!(
        "---\n# Source: web/templates/empty.yaml\n---\n# Source: web/templates/pod.yaml\n{POD}---\n"
    );
    let p = parse_manifests("rendered.yaml", &text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(kinds(&p), ["Pod/a"]);
    let origin = &p.manifests[0].origin;
    assert_eq!(
        origin.helm_source.as_deref(),
        Some("web/templates/pod.yaml")
    );
    assert_eq!((origin.document, origin.line), (2, Some(5)));
}

#[test]
fn a_malformed_document_is_reported_and_the_rest_still_read() {
    let text = format!(
        "{POD}---\nkind: [unclosed\n---\n{}",
        POD.replace("name: a", "name: c")
    );
    let p = parse_manifests("m.yaml", &text);
    assert_eq!(kinds(&p), ["Pod/a", "Pod/c"]);
    assert_eq!(p.errors.len(), 1);
    let e = &p.errors[0];
    assert_eq!((e.file.as_str(), e.document), ("m.yaml", 2));
    assert!(e.message.starts_with("not valid YAML"), "{e}");
    assert!(
        e.to_string().starts_with("m.yaml: document 2 (line "),
        "{e}"
    );
}

#[test]
fn type_errors_name_the_object_and_the_field() {
    let text =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: many\n";
    let p = parse_manifests("d.yaml", text);
    assert!(p.manifests.is_empty());
    assert_eq!(p.errors.len(), 1);
    let msg = &p.errors[0].message;
    assert!(
        msg.starts_with("Deployment web: spec.replicas: invalid type"),
        "{msg}"
    );
    let nested = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - {name: c, ports: [{containerPort: http}]}\n";
    let msg = &parse_manifests("p.yaml", nested).errors[0].message;
    assert!(
        msg.contains("spec.containers[0].ports[0].containerPort"),
        "{msg}"
    );
}

#[test]
fn documents_that_are_not_objects() {
    let p = parse_manifests(
        "s.yaml",
        "just a string\n---\n- a\n---\nkind: Pod\n---\napiVersion: v1\n",
    );
    assert!(p.manifests.is_empty());
    let messages: Vec<&str> = p.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 4, "{messages:?}");
    assert!(messages[0].contains("found a string"), "{messages:?}");
    assert!(messages[1].contains("found a sequence"), "{messages:?}");
    assert!(
        messages[2].contains("apiVersion and kind must both be set"),
        "{messages:?}"
    );
    assert!(
        messages[3].contains("apiVersion and kind must both be set"),
        "{messages:?}"
    );
}

#[test]
fn removed_api_versions_are_read_through_the_current_type() {
    let text = "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old}\nspec:\n  template:\n    spec: {containers: [{name: c, image: x:1}]}\n";
    let p = parse_manifests("old.yaml", text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let m = &p.manifests[0];
    assert_eq!(m.api_version, "extensions/v1beta1");
    assert!(matches!(m.object, Object::Deployment(_)));
    assert!(m.workload().is_some());
}

#[test]
fn unknown_kinds_and_same_named_custom_kinds_are_kept_as_json() {
    let text = "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m, namespace: obs}\nspec: {}\n---\napiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: custom}\nspec: {anything: 1}\n";
    let p = parse_manifests("x.yaml", text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert!(p
        .manifests
        .iter()
        .all(|m| matches!(m.object, Object::Other { .. })));
    assert_eq!(p.manifests[0].namespace(), Some("obs"));
    assert!(p.manifests[1].workload().is_none());
}
