//! Exemptions (annotations in vigil's, Polaris's and kube-score's forms, and
//! config rules by check, namespace, name and kind), disabled checks and
//! severity overrides, seen through the report.

use vigil_check::{parse_manifests, CheckResult, Config, Report, Status};
use vigil_model::Severity;

/// A privileged, untagged container in `ns/name` with extra annotations.
fn workload(kind: &str, ns: &str, name: &str, annotations: &str) -> String {
    let api = if kind == "Pod" { "v1" } else { "apps/v1" };
    let pod = "containers: [{name: app, image: nginx, securityContext: {privileged: true}}]";
    let spec = if kind == "Pod" {
        format!("spec: {{{pod}}}")
    } else {
        format!("spec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{{pod}}}")
    };
    format!("apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {ns}\n  annotations: {{{annotations}}}\n{spec}\n")
}

fn run(text: &str, config: &Config) -> Report {
    let parsed = parse_manifests("t.yaml", text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    vigil_check::run(&parsed, config)
}

fn result<'r>(report: &'r Report, object: &str, check: &str) -> &'r CheckResult {
    report
        .objects
        .iter()
        .find(|o| o.name == object)
        .and_then(|o| o.results.iter().find(|r| r.check == check))
        .unwrap_or_else(|| panic!("no result for {object} {check}"))
}

fn status(report: &Report, object: &str, check: &str) -> Status {
    result(report, object, check).status
}

#[test]
fn without_exemptions_both_checks_fail() {
    let r = run(
        &workload("Deployment", "shop", "web", ""),
        &Config::default(),
    );
    assert_eq!(status(&r, "web", "security.privileged"), Status::Fail);
    assert_eq!(status(&r, "web", "security.image-tag"), Status::Fail);
}

#[test]
fn vigil_annotation_lists_ids_and_globs_with_a_reason() {
    let text = workload(
        "Deployment",
        "shop",
        "web",
        "vigil.kube-zen.io/exempt: \"security.privileged, reliability.*\", vigil.kube-zen.io/exempt-reason: needs /dev",
    );
    let r = run(&text, &Config::default());
    let privileged = result(&r, "web", "security.privileged");
    assert_eq!(privileged.status, Status::Exempt);
    assert_eq!(
        privileged.exemption.as_deref(),
        Some("annotation vigil.kube-zen.io/exempt: needs /dev")
    );
    assert!(privileged.messages.is_empty());
    assert_eq!(status(&r, "web", "reliability.replicas"), Status::Exempt);
    assert_eq!(status(&r, "web", "security.image-tag"), Status::Fail);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn vigil_annotation_true_exempts_everything_and_exemptions_do_not_score() {
    let text = workload(
        "Deployment",
        "shop",
        "web",
        "vigil.kube-zen.io/exempt: \"true\"",
    );
    let r = run(&text, &Config::default());
    let results = &r.objects[0].results;
    assert!(!results.is_empty());
    assert!(results.iter().all(|x| x.status == Status::Exempt));
    assert_eq!(r.summary.score, None);
    assert_eq!(r.summary.totals.exempt, results.len());
    assert!(!r.fails_at(Severity::Info));
}

#[test]
fn annotation_on_the_pod_template_counts_too() {
    let text = workload("Deployment", "shop", "web", "")
        .replace("metadata: {labels: {app: web}}", "metadata: {labels: {app: web}, annotations: {vigil.kube-zen.io/exempt: security.image-tag}}");
    let r = run(&text, &Config::default());
    assert_eq!(status(&r, "web", "security.image-tag"), Status::Exempt);
    assert_eq!(status(&r, "web", "security.privileged"), Status::Fail);
}

#[test]
fn unknown_ids_in_the_annotation_are_warnings() {
    let text = workload(
        "Pod",
        "shop",
        "p",
        "vigil.kube-zen.io/exempt: \"security.privileged,security.privilegd\"",
    );
    let r = run(&text, &Config::default());
    assert_eq!(status(&r, "p", "security.privileged"), Status::Exempt);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(
        r.warnings[0].contains("\"security.privilegd\", which matches no check"),
        "{}",
        r.warnings[0]
    );
}

#[test]
fn polaris_annotations_map_through_the_equivalents() {
    let text = workload(
        "Deployment",
        "shop",
        "web",
        "polaris.fairwinds.com/runAsPrivileged-exempt: \"true\"",
    );
    let r = run(&text, &Config::default());
    let privileged = result(&r, "web", "security.privileged");
    assert_eq!(privileged.status, Status::Exempt);
    assert_eq!(
        privileged.exemption.as_deref(),
        Some("annotation polaris.fairwinds.com/runAsPrivileged-exempt")
    );
    assert_eq!(status(&r, "web", "security.image-tag"), Status::Fail);

    let text = workload(
        "Deployment",
        "shop",
        "web",
        "polaris.fairwinds.com/exempt: \"true\"",
    );
    let r = run(&text, &Config::default());
    assert!(r.objects[0]
        .results
        .iter()
        .all(|x| x.status == Status::Exempt));

    let text = workload(
        "Deployment",
        "shop",
        "web",
        "polaris.fairwinds.com/runAsPrivileged-exempt: \"false\"",
    );
    assert_eq!(
        status(
            &run(&text, &Config::default()),
            "web",
            "security.privileged"
        ),
        Status::Fail
    );
}

#[test]
fn kube_score_ignore_maps_through_the_equivalents() {
    let text = workload(
        "Deployment",
        "shop",
        "web",
        "kube-score/ignore: \"container-image-tag, pod-probes\"",
    );
    let r = run(&text, &Config::default());
    assert_eq!(status(&r, "web", "security.image-tag"), Status::Exempt);
    assert_eq!(
        status(&r, "web", "reliability.liveness-probe"),
        Status::Exempt
    );
    assert_eq!(
        status(&r, "web", "reliability.readiness-probe"),
        Status::Exempt
    );
    assert_eq!(status(&r, "web", "security.privileged"), Status::Fail);
}

#[test]
fn annotations_are_ignored_when_the_config_refuses_them() {
    let text = workload(
        "Deployment",
        "shop",
        "web",
        "vigil.kube-zen.io/exempt: \"true\"",
    );
    let config = Config::from_yaml("annotationExemptions: false").expect("valid");
    let r = run(&text, &config);
    assert_eq!(status(&r, "web", "security.privileged"), Status::Fail);
}

#[test]
fn config_exemptions_by_namespace_name_and_kind_globs() {
    let text = [
        workload("DaemonSet", "kube-system", "node-exporter", ""),
        workload("Deployment", "kube-system", "coredns", ""),
        workload("DaemonSet", "monitoring-eu", "node-exporter", ""),
        workload("DaemonSet", "shop", "node-exporter", ""),
    ]
    .join("---\n");
    let config = Config::from_yaml(
        "exemptions:\n  - checks: [\"security.privileged\"]\n    namespaces: [kube-system, \"monitoring-*\"]\n    names: [\"node-*\"]\n    kinds: [DaemonSet]\n    reason: node agent\n",
    )
    .expect("valid");
    let r = run(&text, &config);
    let by_object: Vec<(String, Status)> = r
        .objects
        .iter()
        .map(|o| {
            let s = o
                .results
                .iter()
                .find(|x| x.check == "security.privileged")
                .expect("result")
                .status;
            (
                format!("{}/{}", o.namespace.as_deref().unwrap_or(""), o.name),
                s,
            )
        })
        .collect();
    assert_eq!(
        by_object,
        [
            ("kube-system/node-exporter".to_string(), Status::Exempt),
            ("kube-system/coredns".to_string(), Status::Fail),
            ("monitoring-eu/node-exporter".to_string(), Status::Exempt),
            ("shop/node-exporter".to_string(), Status::Fail),
        ]
    );
    let exempted = result(&r, "node-exporter", "security.privileged");
    assert_eq!(
        exempted.exemption.as_deref(),
        Some("config exemptions[0]: node agent")
    );
    assert_eq!(
        status(&r, "node-exporter", "security.image-tag"),
        Status::Fail
    );
}

#[test]
fn config_namespace_exemptions_cover_the_namespace_object_itself() {
    let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
    let config = Config::from_yaml("exemptions:\n  - namespaces: [kube-system]\n").expect("valid");
    let r = run(text, &config);
    assert_eq!(
        status(&r, "kube-system", "cost.resource-quota"),
        Status::Exempt
    );
    assert_eq!(status(&r, "shop", "cost.resource-quota"), Status::Fail);
}

#[test]
fn disabled_checks_are_not_evaluated_and_overrides_change_severity_and_gates() {
    let text = workload("Deployment", "shop", "web", "");
    let default = run(&text, &Config::default());
    assert!(default.fails_at(Severity::Critical));
    let config =
        Config::from_yaml("checks:\n  security.privileged: off\n  security.image-tag: critical\n")
            .expect("valid");
    let r = run(&text, &config);
    assert!(r.objects[0]
        .results
        .iter()
        .all(|x| x.check != "security.privileged"));
    assert_eq!(
        result(&r, "web", "security.image-tag").severity,
        Severity::Critical
    );
    assert!(
        r.fails_at(Severity::Critical),
        "image-tag now gates at critical"
    );
    let config =
        Config::from_yaml("checks:\n  security.privileged: medium\n  security.image-tag: low\n")
            .expect("valid");
    let r = run(&text, &config);
    assert!(!r.fails_at(Severity::Critical));
    assert!(
        r.fails_at(Severity::High),
        "privilege-escalation keeps its default, high"
    );
    assert_eq!(
        result(&r, "web", "security.privileged").severity,
        Severity::Medium
    );
}
