//! The shared validator on whole documents: every shipped example is valid,
//! and each kind of mistake is reported at its field path.

use std::path::PathBuf;
use vigil_model::load::{ingesters_from_yaml, LoadError};

fn examples(kind: &str) -> Vec<(PathBuf, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(kind);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.clone(), std::fs::read_to_string(&p).expect("readable")))
        .collect()
}

#[test]
fn every_example_ingester_is_valid() {
    let all = examples("ingesters");
    assert!(
        all.len() >= 6,
        "expected an example per adapter, found {}",
        all.len()
    );
    let mut kinds = std::collections::BTreeSet::new();
    for (path, text) in all {
        let list = ingesters_from_yaml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(list.len(), 1, "{}", path.display());
        kinds.insert(list[0].spec.ingester.as_str());
    }
    assert_eq!(kinds.len(), 6, "one example per adapter kind: {kinds:?}");
}

#[test]
fn every_example_observation_is_valid() {
    for (path, text) in examples("observations") {
        let obs: vigil_model::Observation =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        vigil_model::validate::validate_observation(&obs.spec)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

const BASE: &str =
    "apiVersion: zen.kube-zen.io/v1alpha1\nkind: Ingester\nmetadata: {name: t}\nspec:\n";

fn load(spec: &str) -> Result<usize, String> {
    ingesters_from_yaml(&format!("{BASE}{spec}"))
        .map(|v| v.len())
        .map_err(|e| e.to_string())
}

fn assert_rejected(spec: &str, path: &str, fragment: &str) {
    let err = load(spec).expect_err(spec);
    assert!(
        err.contains(path) && err.contains(fragment),
        "expected {path:?} with {fragment:?}, got: {err}"
    );
}

#[test]
fn unknown_enum_values_name_the_field() {
    assert_rejected(
        "  source: x\n  ingester: k8s-events\n  mapping:\n    severity: {default: urgent}\n",
        "spec.mapping.severity.default",
        "urgent",
    );
    assert_rejected("  source: x\n  ingester: kafka\n", "spec.ingester", "kafka");
}

#[test]
fn unknown_fields_are_errors_not_ignored() {
    assert_rejected(
        "  source: x\n  ingester: k8s-events\n  filter: {}\n",
        "spec",
        "filter",
    );
    assert_rejected(
        "  source: x\n  ingester: k8s-events\n  deduplication: {windowSeconds: 5}\n",
        "spec.deduplication",
        "windowSeconds",
    );
}

#[test]
fn adapter_blocks_must_match_the_adapter() {
    assert_rejected(
        "  source: x\n  ingester: informer\n",
        "spec.informer",
        "required",
    );
    assert_rejected(
        "  source: x\n  ingester: k8s-events\n  webhook: {path: /x, format: falco}\n",
        "spec.webhook",
        "ignored",
    );
}

#[test]
fn values_are_checked_where_the_schema_cannot() {
    let cases = [
        ("  source: Bad_Name\n  ingester: k8s-events\n", "spec.source", "^[a-z0-9-]+$"),
        ("  source: x\n  ingester: k8s-events\n  ttl: 400d\n", "spec.ttl", "maximum"),
        ("  source: x\n  ingester: k8s-events\n  deduplication: {window: 5x}\n", "spec.deduplication.window", "invalid duration"),
        ("  source: x\n  ingester: k8s-events\n  rateLimit: {eventsPerSecond: 0}\n", "spec.rateLimit.eventsPerSecond", "positive"),
        (
            "  source: x\n  ingester: logs\n  logs: {podSelector: app=x, patterns: [{regex: '(', eventType: e}]}\n",
            "spec.logs.patterns[0].regex",
            "invalid regex",
        ),
        (
            "  source: x\n  ingester: k8s-events\n  mapping: {eventType: 'Bad Type'}\n",
            "spec.mapping.eventType",
            "^[a-z0-9_]+$",
        ),
        (
            "  source: x\n  ingester: k8s-events\n  mapping: {details: {a: '{{ .x'}}\n",
            "spec.mapping.details.a",
            "unclosed",
        ),
        (
            "  source: x\n  ingester: webhook\n  webhook: {path: /x, format: falco, auth: {type: bearer}}\n",
            "spec.webhook.auth",
            "exactly one of secretRef or secretFile",
        ),
        (
            "  source: x\n  ingester: webhook\n  webhook: {path: /x, format: falco, stages: [ResponseComplete]}\n",
            "spec.webhook.stages",
            "audit",
        ),
        ("  source: x\n  ingester: k8s-events\n  destinations: [{type: kafka}]\n", "spec.destinations[0].topic", "required"),
        (
            "  source: x\n  ingester: k8s-events\n  k8sEvents: {namespaces: [Prod]}\n",
            "spec.k8sEvents.namespaces[0]",
            "namespace",
        ),
        (
            "  source: x\n  ingester: configmap\n  configMap: {key: k, format: json}\n",
            "spec.configMap",
            "one of name or labelSelector",
        ),
    ];
    for (spec, path, fragment) in cases {
        assert_rejected(spec, path, fragment);
    }
}

#[test]
fn all_errors_are_reported_at_once() {
    let text = format!("{BASE}  source: x\n  ingester: k8s-events\n  ttl: 0s\n  rateLimit: {{eventsPerSecond: -1, burst: 0}}\n");
    match ingesters_from_yaml(&text).expect_err("invalid") {
        LoadError::Invalid { errors, name, .. } => {
            assert_eq!(name, "t");
            let paths: Vec<&str> = errors.0.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(
                paths,
                vec![
                    "spec.rateLimit.eventsPerSecond",
                    "spec.rateLimit.burst",
                    "spec.ttl"
                ]
            );
        }
        other => panic!("expected Invalid, got {other}"),
    }
}

#[test]
fn other_kinds_and_broken_yaml_are_refused_clearly() {
    let e = ingesters_from_yaml("apiVersion: v1\nkind: ConfigMap\n").expect_err("wrong kind");
    assert!(e.to_string().contains("v1/ConfigMap"), "{e}");
    let e = ingesters_from_yaml("spec: [unclosed").expect_err("bad yaml");
    assert!(matches!(e, LoadError::Syntax { .. }), "{e}");
    assert_eq!(load("  source: x\n  ingester: k8s-events\n"), Ok(1));
}
