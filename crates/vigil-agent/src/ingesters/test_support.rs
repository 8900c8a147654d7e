//! Builders shared by the Ingester modules' unit tests: an Ingester object,
//! it compiled, a small informer spec, a finding.

use super::compile::{compile, Compiled};
use serde_json::{json, Value};
use vigil_mapping::MappedObservation;
use vigil_model::{Category, ObservationSpec, ResourceRef, Severity};

/// An Ingester object as the API server hands it over.
pub fn object(name: &str, namespace: &str, spec: Value) -> Value {
    json!({"apiVersion": "zen.kube-zen.io/v1alpha1", "kind": "Ingester",
           "metadata": {"name": name, "namespace": namespace, "uid": "u1", "generation": 1},
           "spec": spec})
}

/// Ingester `name` in `namespace`, compiled; panics when invalid.
pub fn compiled_in(name: &str, namespace: &str, spec: Value) -> Compiled {
    compile(object(name, namespace, spec)).unwrap_or_else(|e| panic!("{e}"))
}

/// Ingester `t` in `tools`, compiled.
pub fn compiled(spec: Value) -> Compiled {
    compiled_in("t", "tools", spec)
}

/// An informer of `x.io/v1 reports` mapping each record to one low
/// `finding`, with the top-level fields of `extra` set over it.
pub fn informer_spec(extra: Value) -> Value {
    let mut spec = json!({"source": "tool", "ingester": "informer",
        "informer": {"gvr": {"group": "x.io", "version": "v1", "resource": "reports"}},
        "mapping": {"category": "security", "eventType": "finding",
                    "severity": {"default": "low"}}});
    for (k, v) in extra.as_object().expect("an object") {
        spec[k] = v.clone();
    }
    spec
}

/// A high `finding` of source `tool` keyed `key`, about Deployment `web`
/// in `namespace` (no resource without one).
pub fn finding(key: &str, namespace: Option<&str>) -> MappedObservation {
    MappedObservation {
        spec: ObservationSpec {
            source: "tool".into(),
            category: Category::Security,
            severity: Severity::High,
            event_type: "finding".into(),
            resource: namespace.map(|ns| ResourceRef {
                api_version: Some("apps/v1".into()),
                kind: Some("Deployment".into()),
                name: Some("web".into()),
                namespace: Some(ns.into()),
            }),
            details: None,
            detected_at: None,
            ttl_seconds_after_creation: None,
        },
        key: key.into(),
        record: 0,
        element: None,
    }
}
