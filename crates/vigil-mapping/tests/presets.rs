//! The shipped presets (`deploy/ingesters/`) on real payloads copied into
//! `tests/fixtures/` (see its README for provenance), field by field.

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;
use vigil_mapping::{MappedObservation, Preset};
use vigil_model::{Category, ResourceRef, Severity};
use vigil_pipeline::enrich::{Audience, FINGERPRINT_LABEL, SOURCE_LABEL};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn preset(name: &str) -> Preset {
    let path = root()
        .join("../../deploy/ingesters")
        .join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    Preset::load(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn fixture_text(rel: &str) -> String {
    let path = root().join("tests/fixtures").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Every document of a YAML (or JSON) fixture.
fn docs(rel: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(&fixture_text(rel)).expect(rel);
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn one_doc(rel: &str) -> Value {
    let mut d = docs(rel);
    assert_eq!(d.len(), 1, "{rel}");
    d.remove(0)
}

fn trivy_dict() -> Value {
    serde_json::from_str(&fixture_text(
        "trivy-operator/defectdojo_all_reports_in_dict.json",
    ))
    .expect("json")
}

fn res(api_version: &str, kind: &str, name: &str, namespace: Option<&str>) -> Option<ResourceRef> {
    Some(ResourceRef {
        api_version: Some(api_version.into()),
        kind: Some(kind.into()),
        name: Some(name.into()),
        namespace: namespace.map(Into::into),
    })
}

fn detail<'a>(o: &'a MappedObservation, name: &str) -> Option<&'a str> {
    o.spec.details.as_ref()?.get(name)?.as_str()
}

fn detected(o: &MappedObservation) -> String {
    o.spec
        .detected_at
        .as_ref()
        .expect("detectedAt")
        .0
        .to_string()
}

fn keys(found: &[MappedObservation]) -> Vec<String> {
    found.iter().map(|o| o.key.clone()).collect()
}

fn is_name(name: &str, prefix: &str) -> bool {
    let Some(hex) = name.strip_prefix(prefix) else {
        return false;
    };
    name.len() <= 63 && hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------- Trivy

#[test]
fn trivy_maps_each_critical_and_high_vulnerability_of_the_report() {
    let dict = trivy_dict();
    let reports = &dict["vulnerabilityreports.aquasecurity.github.io"];
    let mapped = preset("trivy-vulnerabilityreport")
        .apply_counted(reports)
        .expect("maps");
    let found = &mapped.observations;
    // 41 vulnerabilities: 2 CRITICAL, 3 HIGH, 25 MEDIUM, 11 LOW.
    assert_eq!(found.len(), 5);
    assert_eq!(mapped.dropped.severity, 36);
    assert_eq!(mapped.dropped.total(), 36);
    let raw = reports[0]["report"]["vulnerabilities"]
        .as_array()
        .expect("array");
    let want: Vec<&Value> = raw
        .iter()
        .filter(|v| v["severity"] == "CRITICAL" || v["severity"] == "HIGH")
        .collect();
    for (o, v) in found.iter().zip(&want) {
        assert_eq!(o.spec.source, "trivy");
        assert_eq!(o.spec.category, Category::Security);
        assert_eq!(o.spec.event_type, "vulnerability");
        let sev = v["severity"].as_str().expect("severity").to_lowercase();
        assert_eq!(o.spec.severity.as_str(), sev);
        assert_eq!(
            o.spec.resource,
            res(
                "apps/v1",
                "ReplicaSet",
                "nginx-deployment-965685897",
                Some("default")
            )
        );
        assert_eq!(detail(o, "vulnerabilityID"), v["vulnerabilityID"].as_str());
        assert_eq!(detail(o, "package"), v["resource"].as_str());
        assert_eq!(
            detail(o, "installedVersion"),
            v["installedVersion"].as_str()
        );
        assert_eq!(detail(o, "fixedVersion"), v["fixedVersion"].as_str());
        assert_eq!(detail(o, "container"), Some("nginx"));
        assert_eq!(detail(o, "image"), Some("library/nginx:alpine"));
        assert_eq!(detected(o), "2023-03-23T16:23:01Z");
        assert_eq!(o.spec.ttl_seconds_after_creation, None);
        assert!(is_name(&o.name(), "trivy-vulnerability-"), "{}", o.name());
    }
    let ids: Vec<(&str, Severity)> = found
        .iter()
        .map(|o| (detail(o, "vulnerabilityID").expect("id"), o.spec.severity))
        .collect();
    assert_eq!(
        ids,
        [
            ("CVE-2023-23914", Severity::Critical),
            ("CVE-2023-23916", Severity::High),
            ("CVE-2023-23914", Severity::Critical),
            ("CVE-2023-23916", Severity::High),
            ("CVE-2022-3970", Severity::High),
        ]
    );
    assert_eq!(
        found[0].key,
        "default/ReplicaSet/nginx-deployment-965685897/nginx/CVE-2023-23914/curl/7.87.0-r1"
    );
    // The same CVE in curl and libcurl is two findings.
    let distinct: BTreeSet<String> = keys(found).into_iter().collect();
    assert_eq!(distinct.len(), 5);
    let names: BTreeSet<String> = found.iter().map(MappedObservation::name).collect();
    assert_eq!(names.len(), 5);
}

#[test]
fn trivy_preset_ignores_the_other_report_kinds_of_the_dump() {
    let dict = trivy_dict();
    let p = preset("trivy-vulnerabilityreport");
    for (kind, reports) in dict.as_object().expect("dict") {
        let n = p.apply(reports).expect(kind).len();
        let want = if kind.starts_with("vulnerabilityreports.") {
            5
        } else {
            0
        };
        assert_eq!(n, want, "{kind}");
    }
}

#[test]
fn trivy_docs_report_with_empty_fixed_versions() {
    let report = one_doc("trivy-operator/docs_vulnerability-report-1.yaml");
    let found = preset("trivy-vulnerabilityreport")
        .apply(&report)
        .expect("maps");
    assert_eq!(found.len(), 2);
    for o in &found {
        assert_eq!(o.spec.severity, Severity::Critical);
        assert_eq!(
            o.spec.resource,
            res("apps/v1", "ReplicaSet", "nginx-6d4cf56db6", Some("default"))
        );
        assert_eq!(detail(o, "registry"), Some("index.docker.io"));
        assert_eq!(detail(o, "image"), Some("library/nginx:1.16"));
        // No updateTimestamp and no creationTimestamp: no time, not an error.
        assert_eq!(o.spec.detected_at, None);
    }
    assert_eq!(detail(&found[0], "fixedVersion"), Some("0.9.1-2+deb10u1"));
    // `fixedVersion: ''` falls back to the preset's default.
    assert_eq!(detail(&found[1], "fixedVersion"), Some("none"));
    assert_eq!(detail(&found[1], "vulnerabilityID"), Some("CVE-2018-25009"));
    // An empty title is left out rather than written as "".
    assert_eq!(detail(&found[0], "title"), None);
}

#[test]
fn trivy_rescans_keep_keys_and_a_new_finding_adds_exactly_one() {
    let p = preset("trivy-vulnerabilityreport");
    let dict = trivy_dict();
    let report = dict["vulnerabilityreports.aquasecurity.github.io"][0].clone();
    let first = p.apply(&report).expect("maps");
    assert_eq!(keys(&first), keys(&p.apply(&report).expect("again")));

    // A re-scan: new time, findings in another order, one new HIGH finding.
    let mut rescan = report.clone();
    rescan["report"]["updateTimestamp"] = json!("2023-03-24T08:00:00Z");
    rescan["metadata"]["resourceVersion"] = json!("999999");
    let vulns = rescan["report"]["vulnerabilities"]
        .as_array_mut()
        .expect("array");
    vulns.reverse();
    vulns.push(
        json!({"vulnerabilityID": "CVE-2099-0001", "resource": "openssl",
        "installedVersion": "3.0.8-r0", "fixedVersion": null, "severity": "HIGH",
        "score": null, "title": "made up for the test"}),
    );
    let second = p.apply(&rescan).expect("maps");
    assert_eq!(second.len(), first.len() + 1);
    let before: BTreeSet<(String, String)> =
        first.iter().map(|o| (o.key.clone(), o.name())).collect();
    let after: BTreeSet<(String, String)> =
        second.iter().map(|o| (o.key.clone(), o.name())).collect();
    let new: Vec<_> = after.difference(&before).collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(new[0].0.ends_with("/CVE-2099-0001/openssl/3.0.8-r0"));
    assert!(before.is_subset(&after));
    let added = second.iter().find(|o| o.key == new[0].0).expect("new");
    let fresh = vigil_mapping::new_findings(&first, &second);
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0], added);
    assert!(vigil_mapping::new_findings(&second, &first).is_empty());
    // null fixedVersion and null score: default and omitted.
    assert_eq!(detail(added, "fixedVersion"), Some("none"));
    assert_eq!(detail(added, "score"), None);
}

#[test]
fn trivy_candidates_use_the_pipeline_names_and_labels() {
    let dict = trivy_dict();
    let found = preset("trivy-vulnerabilityreport")
        .apply(&dict["vulnerabilityreports.aquasecurity.github.io"])
        .expect("maps");
    let c = found[0].candidate("vigil-system", Audience::Customer);
    assert_eq!(c.name, found[0].name());
    assert_eq!(c.namespace, "default");
    assert_eq!(c.spec, found[0].spec);
    assert_eq!(c.fingerprint, found[0].fingerprint().to_hex());
    assert_eq!(
        c.labels.get(SOURCE_LABEL).map(String::as_str),
        Some("trivy")
    );
    assert_eq!(c.labels.get(FINGERPRINT_LABEL), Some(&c.fingerprint));
    // A window moves the name, never the fingerprint.
    assert_ne!(found[0].name_in_window(1), found[0].name());
    assert_ne!(found[0].fingerprint(), found[2].fingerprint());
}

#[test]
fn trivy_configaudit_maps_failed_checks_only() {
    let p = preset("trivy-configauditreport");
    let report = one_doc("trivy-operator/docs_configaudit-report-1.yaml");
    let m = p.apply_counted(&report).expect("maps");
    assert_eq!(m.dropped.r#match, 3); // the passing checks
    let got: Vec<(&str, Severity)> = m
        .observations
        .iter()
        .map(|o| (detail(o, "checkID").expect("id"), o.spec.severity))
        .collect();
    assert_eq!(
        got,
        [
            ("notReadOnlyRootFilesystem", Severity::Low),
            ("privilegeEscalationAllowed", Severity::Critical)
        ]
    );
    for o in &m.observations {
        assert_eq!(o.spec.source, "trivy");
        assert_eq!(o.spec.category, Category::Compliance);
        assert_eq!(o.spec.event_type, "config_audit");
        assert_eq!(
            o.spec.resource,
            res("apps/v1", "ReplicaSet", "nginx-6d4cf56db6", Some("default"))
        );
    }
    assert_eq!(
        m.observations[0].key,
        "default/ReplicaSet/nginx-6d4cf56db6/notReadOnlyRootFilesystem"
    );
    // The DefectDojo dump: one failed LOW check, with its message.
    let dict = trivy_dict();
    let found = p
        .apply(&dict["configauditreports.aquasecurity.github.io"])
        .expect("maps");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].spec.severity, Severity::Low);
    assert_eq!(detail(&found[0], "checkID"), Some("KSV014"));
    assert!(detail(&found[0], "messages")
        .expect("messages")
        .contains("readOnlyRootFilesystem"));
    assert_eq!(
        found[0].spec.resource,
        res(
            "apps/v1",
            "ReplicaSet",
            "nginx-deployment-965685897",
            Some("default")
        )
    );
}

#[test]
fn trivy_rbacassessment_takes_the_role_name_from_the_annotation() {
    let report = one_doc("trivy-operator/docs_rbacassessment-report-1.yaml");
    let found = preset("trivy-rbacassessmentreport")
        .apply(&report)
        .expect("maps");
    assert_eq!(found.len(), 1); // 16 checks, one failed
    let o = &found[0];
    assert_eq!(o.spec.event_type, "rbac_assessment");
    assert_eq!(o.spec.severity, Severity::Critical);
    assert_eq!(detail(o, "checkID"), Some("KSV041"));
    assert_eq!(
        o.spec.resource,
        res(
            "rbac.authorization.k8s.io/v1",
            "Role",
            "system:controller:token-cleaner",
            Some("default")
        )
    );
    assert_eq!(o.key, "default/Role/system:controller:token-cleaner/KSV041");
    assert!(is_name(&o.name(), "trivy-rbac-assessment-"), "{}", o.name());
}

#[test]
fn trivy_exposed_secrets_of_one_rule_in_one_file_stay_apart() {
    let p = preset("trivy-exposedsecretreport");
    let report = one_doc("trivy-operator/docs_exposedsecret-report-1.yaml");
    let found = p.apply(&report).expect("maps");
    assert_eq!(found.len(), 2);
    for o in &found {
        assert_eq!(o.spec.event_type, "exposed_secret");
        assert_eq!(o.spec.severity, Severity::High);
        assert_eq!(detail(o, "ruleID"), Some("stripe-access-token"));
        assert_eq!(detail(o, "target"), Some("/app/config/secret.yaml"));
        assert_eq!(detail(o, "container"), Some("app"));
        assert_eq!(
            o.spec.resource,
            res("apps/v1", "ReplicaSet", "app-67b77f5965", Some("default"))
        );
    }
    assert_ne!(found[0].key, found[1].key);
    assert_ne!(found[0].name(), found[1].name());
    let dict = trivy_dict();
    let found = p
        .apply(&dict["exposedsecretreports.aquasecurity.github.io"])
        .expect("maps");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].spec.severity, Severity::Critical);
    assert_eq!(detail(&found[0], "ruleID"), Some("aws-secret-access-key"));
    assert_eq!(detail(&found[0], "target"), Some("root/aws_secret.txt"));
}

// ---------------------------------------------------------------- Kyverno

#[test]
fn kyverno_policyreport_maps_failed_results_about_the_scope() {
    let report = one_doc("kyverno-policyreport/polr_v1alpha2_pod_kube-apiserver.yaml");
    let mapped = preset("kyverno-policyreport")
        .apply_counted(&report)
        .expect("maps");
    assert_eq!(mapped.observations.len(), 1);
    assert_eq!(mapped.dropped.r#match, 1); // the `pass` result
    let o = &mapped.observations[0];
    assert_eq!(o.spec.source, "kyverno");
    assert_eq!(o.spec.category, Category::Compliance);
    assert_eq!(o.spec.event_type, "policy_violation");
    assert_eq!(o.spec.severity, Severity::Medium);
    assert_eq!(
        o.spec.resource,
        res(
            "v1",
            "Pod",
            "kube-apiserver-kind-control-plane",
            Some("kube-system")
        )
    );
    assert_eq!(detail(o, "policy"), Some("disallow-host-namespaces"));
    assert_eq!(detail(o, "rule"), Some("host-namespaces"));
    assert_eq!(detail(o, "result"), Some("fail"));
    assert_eq!(detail(o, "engine"), Some("kyverno"));
    assert!(detail(o, "message")
        .expect("message")
        .contains("/spec/hostNetwork/"));
    assert_eq!(detected(o), "2023-12-06T13:19:22Z"); // timestamp.seconds
    assert_eq!(
        o.key,
        "disallow-host-namespaces/host-namespaces/Pod/kube-system/kube-apiserver-kind-control-plane/fail"
    );
}

#[test]
fn kyverno_policyreport_list_without_rule_or_severity() {
    let list = one_doc("kyverno-policyreport/polr-list_staging_vap_kubectl-get-o-yaml.yaml");
    assert_eq!(list["kind"], "List");
    let found = preset("kyverno-policyreport").apply(&list).expect("maps");
    assert_eq!(found.len(), 1);
    let o = &found[0];
    assert_eq!(o.record, 0);
    assert_eq!(o.element, Some(0));
    assert_eq!(o.spec.severity, Severity::Medium); // no severity: the default
    assert_eq!(
        o.spec.resource,
        res("apps/v1", "Deployment", "deployment-3", Some("staging-ns"))
    );
    assert_eq!(detail(o, "rule"), None);
    assert_eq!(detail(o, "engine"), Some("ValidatingAdmissionPolicy"));
    assert_eq!(detected(o), "2024-01-25T11:55:23Z");
    assert_eq!(
        o.key,
        "check-deployment-replicas//Deployment/staging-ns/deployment-3/fail"
    );
}

#[test]
fn kyverno_clusterpolicyreport_takes_the_result_resource() {
    let report = one_doc("kyverno-policyreport/cpolr_v1alpha2_kyverno-cli-merged.yaml");
    assert!(report["metadata"]["creationTimestamp"].is_null());
    let found = preset("kyverno-clusterpolicyreport")
        .apply(&report)
        .expect("maps");
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].spec.resource,
        res("apps/v1", "Deployment", "nginx-1", Some("staging"))
    );
    assert_eq!(detail(&found[0], "report"), Some("/merged"));
    assert_eq!(detected(&found[0]), "2024-02-08T12:21:11Z");
}

#[test]
fn kyverno_presets_on_a_falco_adapter_stream() {
    let d = docs("kyverno-policyreport/wg-policy_sample-falco-policy.yaml");
    assert_eq!(d.len(), 2);
    let ns = preset("kyverno-policyreport").apply(&d[0]).expect("polr");
    assert_eq!(ns.len(), 1);
    assert_eq!(
        ns[0].spec.resource,
        res("v1", "Pod", "a-pod", Some("my-namespace"))
    );
    assert_eq!(ns[0].spec.detected_at, None);
    let cluster = preset("kyverno-clusterpolicyreport")
        .apply(&d[1])
        .expect("cpolr");
    assert_eq!(cluster.len(), 1);
    // Neither resources nor scope nor a namespace: no affected object.
    assert_eq!(cluster[0].spec.resource, None);
    assert_eq!(detail(&cluster[0], "policy"), Some("audit"));
}

#[test]
fn kyverno_pass_and_skip_results_yield_nothing() {
    let p = preset("kyverno-clusterpolicyreport");
    let mut dropped = 0;
    for d in docs("kyverno-policyreport/cpolr_v1alpha2_generate_exceptions.yaml") {
        let m = p.apply_counted(&d).expect("maps");
        assert!(m.observations.is_empty());
        dropped += m.dropped.r#match;
    }
    assert_eq!(dropped, 2);
}

#[test]
fn kyverno_v1alpha1_status_shape_has_its_own_preset() {
    let report = one_doc("kyverno-policyreport/cpolr_v1alpha1_kyverno-cli_status-field.yaml");
    assert!(preset("kyverno-clusterpolicyreport")
        .apply(&report)
        .expect("maps")
        .is_empty());
    let found = preset("kyverno-clusterpolicyreport-v1alpha1")
        .apply(&report)
        .expect("maps");
    assert_eq!(found.len(), 1);
    let o = &found[0];
    assert_eq!(o.spec.resource, res("v1", "Pod", "nginx2", Some("default")));
    assert_eq!(detail(o, "result"), Some("fail"));
    assert_eq!(detail(o, "rule"), Some("validate-resources"));
    assert_eq!(o.spec.detected_at, None);
    assert_eq!(
        o.key,
        "require-pod-requests-limits/validate-resources/Pod/default/nginx2/fail"
    );
    // The namespaced v1alpha1 preset reads the same result shape.
    let mut polr = report.clone();
    polr["kind"] = json!("PolicyReport");
    polr["metadata"]["namespace"] = json!("default");
    let found = preset("kyverno-policyreport-v1alpha1")
        .apply(&polr)
        .expect("maps");
    assert_eq!(keys(&found), std::slice::from_ref(&o.key));
}

// ---------------------------------------------------------------- cert-manager

#[test]
fn cert_manager_not_ready_certificate_is_one_observation() {
    let cert = one_doc("cert-manager/certificate_not-ready_DoesNotExist_kubectl-get-o-yaml.yaml");
    let p = preset("cert-manager-certificate");
    let mapped = p.apply_counted(&cert).expect("maps");
    assert_eq!(mapped.observations.len(), 1);
    assert_eq!(mapped.dropped.r#match, 1); // the Issuing condition
    let o = &mapped.observations[0];
    assert_eq!(o.spec.source, "cert-manager");
    assert_eq!(o.spec.category, Category::Operations);
    assert_eq!(o.spec.event_type, "certificate_not_ready");
    assert_eq!(o.spec.severity, Severity::High);
    assert_eq!(
        o.spec.resource,
        res(
            "cert-manager.io/v1",
            "Certificate",
            "defaults-example-certificate-tls",
            Some("default")
        )
    );
    assert_eq!(detail(o, "reason"), Some("DoesNotExist"));
    assert_eq!(
        detail(o, "message"),
        Some("Issuing certificate as Secret does not exist")
    );
    assert_eq!(detail(o, "issuer"), Some("ClusterIssuer/our-corp-issuer"));
    assert_eq!(detail(o, "dnsNames"), Some(r#"["app.example.com"]"#));
    assert_eq!(detail(o, "notAfter"), None);
    assert_eq!(detected(o), "2024-01-12T17:47:04Z");
    assert_eq!(
        o.key,
        "default/defaults-example-certificate-tls/DoesNotExist"
    );

    // Missing apiVersion and kind (a trimmed dump): the preset's defaults.
    let mut bare = cert.clone();
    let meta = bare.as_object_mut().expect("object");
    meta.remove("apiVersion");
    meta.remove("kind");
    let again = p.apply(&bare).expect("maps");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].spec.resource, o.spec.resource);
    assert_eq!(again[0].key, o.key);
    assert_eq!(again[0].name(), o.name());
}

#[test]
fn cert_manager_ready_certificate_yields_nothing() {
    let cert = one_doc("cert-manager/qovery-engine_src-fs-rs_certificate_ready.yaml");
    let p = preset("cert-manager-certificate");
    assert!(p.apply(&cert).expect("maps").is_empty());
    // The same Certificate turned not ready does yield one.
    let mut broken = cert.clone();
    broken["status"]["conditions"][0]["status"] = json!("False");
    broken["status"]["conditions"][0]["reason"] = json!("Expired");
    let found = p.apply(&broken).expect("maps");
    assert_eq!(found.len(), 1);
    assert_eq!(detail(&found[0], "notAfter"), Some("2022-04-29T13:34:51Z"));
    assert_eq!(detail(&found[0], "issuer"), Some("ClusterIssuer/qovery"));
    // No conditions at all (status: null): nothing, not an error.
    broken["status"] = Value::Null;
    assert!(p.apply(&broken).expect("maps").is_empty());
}

#[test]
fn cert_manager_certificate_expiring_within_the_horizon() {
    let cert = one_doc("cert-manager/qovery-engine_src-fs-rs_certificate_ready.yaml");
    let p = preset("cert-manager-certificate-expiring");
    assert!(p.reads_clock());
    let at = |t: &str| t.parse::<k8s_openapi::jiff::Timestamp>().unwrap();
    // notAfter 2022-04-29T13:34:51Z: 31 days before, outside 30 days; 29, inside.
    let early = p.apply_at(&cert, at("2022-03-29T13:34:51Z")).expect("maps");
    assert!(early.observations.is_empty());
    assert_eq!(early.dropped.time, 1);
    let due = p
        .apply_at(&cert, at("2022-03-31T13:34:51Z"))
        .expect("maps")
        .observations;
    assert_eq!(due.len(), 1);
    let o = &due[0];
    assert_eq!(o.spec.event_type, "certificate_expiring");
    assert_eq!(o.spec.severity, Severity::High);
    assert_eq!(o.key, "qovery/qovery/2022-04-29T13:34:51Z");
    assert_eq!(detail(o, "renewalTime"), Some("2022-03-30T13:34:51Z"));
    assert_eq!(detail(o, "issuer"), Some("ClusterIssuer/qovery"));
    // Already expired is within the horizon too; never issued is not a finding here.
    assert_eq!(
        p.apply_at(&cert, at("2023-01-01T00:00:00Z"))
            .unwrap()
            .observations
            .len(),
        1
    );
    let mut unissued = cert.clone();
    unissued["status"] = json!({"conditions": []});
    assert!(p
        .apply_at(&unissued, at("2023-01-01T00:00:00Z"))
        .unwrap()
        .observations
        .is_empty());
    // The not-ready preset does not read the clock.
    assert!(!preset("cert-manager-certificate").reads_clock());
}

// ---------------------------------------------------------------- Checkov

fn checkov(rel: &str) -> Value {
    serde_json::from_str(&fixture_text(&format!("checkov/{rel}"))).expect(rel)
}

#[test]
fn checkov_maps_each_failed_check_of_every_framework() {
    let p = preset("checkov-configmap");
    // Checkov's array form: terraform (11 failed) then dockerfile (2 failed).
    let found = p
        .apply(&checkov(
            "defectdojo_checkov-report-multiple-check_type.json",
        ))
        .expect("maps");
    assert_eq!(found.len(), 13);
    assert_eq!(found.iter().filter(|o| o.record == 0).count(), 11);
    assert_eq!(found.iter().filter(|o| o.record == 1).count(), 2);
    for o in &found {
        assert_eq!(o.spec.source, "checkov");
        assert_eq!(o.spec.event_type, "iac_misconfiguration");
        assert_eq!(o.spec.category, Category::Compliance);
        assert_eq!(o.spec.severity, Severity::Medium); // severity: null → default
        assert_eq!(o.spec.resource, None);
        let ty = if o.record == 0 {
            "terraform"
        } else {
            "dockerfile"
        };
        assert_eq!(detail(o, "checkType"), Some(ty));
        assert!(o.key.starts_with(&format!("{ty}/")), "{}", o.key);
    }
    assert_eq!(
        found[0].key,
        "terraform/CKV_AWS_161//infra/terraform/aws/db-app.tf/aws_db_instance.default"
    );
    assert_eq!(
        detail(&found[0], "lines").map(|l| l.starts_with('[')),
        Some(true)
    );
    let distinct: BTreeSet<String> = keys(&found).into_iter().collect();
    assert_eq!(distinct.len(), 13);
}

#[test]
fn checkov_severities_and_empty_reports() {
    let p = preset("checkov-configmap");
    let found = p
        .apply(&checkov("defectdojo_checkov-report-severity.json"))
        .expect("maps");
    let sev: Vec<Severity> = found.iter().map(|o| o.spec.severity).collect();
    assert_eq!(
        sev,
        [
            Severity::Medium,
            Severity::Medium,
            Severity::Low,
            Severity::High
        ]
    );
    assert_eq!(detail(&found[0], "checkID"), Some("CKV_GCP_29"));
    assert_eq!(detail(&found[0], "file"), Some("/gcs.tf"));
    assert_eq!(
        detail(&found[0], "guideline"),
        Some("https://docs.bridgecrew.io/docs/bc_gcp_gcs_2")
    );
    for empty in [
        "defectdojo_checkov-report-0-vuln.json",
        "defectdojo_checkov2-report-0-vuln.json",
    ] {
        assert!(p.apply(&checkov(empty)).expect(empty).is_empty(), "{empty}");
    }
}

// ---------------------------------------------------------------- kube-bench

#[test]
fn kube_bench_maps_each_failed_test_two_arrays_deep() {
    let p = preset("kube-bench-configmap");
    let run: Value = serde_json::from_str(&fixture_text(
        "kube-bench/wg-policy_kube-bench-adapter_kube-bench-output.json",
    ))
    .expect("json");
    let m = p.apply_counted(&run).expect("maps");
    // 122 results: 36 FAIL (26 master, 10 node), 49 WARN, 37 PASS.
    assert_eq!(m.observations.len(), 36);
    assert_eq!(m.dropped.r#match, 86);
    let master = m
        .observations
        .iter()
        .filter(|o| detail(o, "nodeType") == Some("master"))
        .count();
    assert_eq!(master, 26);
    let o = &m.observations[0];
    assert_eq!(o.spec.source, "kube-bench");
    assert_eq!(o.spec.event_type, "cis_benchmark");
    assert_eq!(o.spec.category, Category::Compliance);
    assert_eq!(o.spec.severity, Severity::Medium);
    assert_eq!(o.spec.resource, None);
    assert_eq!(o.key, "master/1.6/1.1.1");
    assert_eq!(detail(o, "testNumber"), Some("1.1.1"));
    assert_eq!(
        detail(o, "section"),
        Some("1.1 Master Node Configuration Files")
    );
    assert_eq!(
        detail(o, "control"),
        Some("1 Master Node Security Configuration")
    );
    assert_eq!(detail(o, "scored"), Some("true"));
    assert!(detail(o, "remediation")
        .expect("remediation")
        .contains("chmod 644"));
    let distinct: BTreeSet<String> = keys(&m.observations).into_iter().collect();
    assert_eq!(distinct.len(), 36);
    // The element index counts results across the whole run.
    assert!(m
        .observations
        .windows(2)
        .all(|w| w[0].element < w[1].element));
    // A run with no FAIL (PASS and WARN only) yields nothing.
    let quiet: Value = serde_json::from_str(&fixture_text(
        "kube-bench/kube-bench_cmd-testdata_result.json",
    ))
    .expect("json");
    assert!(p.apply(&quiet).expect("maps").is_empty());
}

#[test]
fn every_shipped_preset_loads() {
    let dir = root().join("../../deploy/ingesters");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("deploy/ingesters") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).expect("read");
            Preset::load(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            n += 1;
        }
    }
    assert_eq!(n, 14);
}

/// Argo CD's own test Application (Healthy, Synced), and the states the Argo
/// CD controller writes into the same status when things go wrong.
fn argo_app() -> Value {
    one_doc("argo-cd/argo-cd_controller-testdata_diff-cache.yaml")
}

#[test]
fn argocd_healthy_and_synced_application_yields_nothing() {
    let app = argo_app();
    assert_eq!(app["status"]["health"]["status"], "Healthy");
    assert_eq!(app["status"]["sync"]["status"], "Synced");
    for name in ["argocd-application-health", "argocd-application-sync"] {
        let m = preset(name).apply_counted(&app).expect("maps");
        assert!(m.observations.is_empty(), "{name}");
        assert_eq!(m.dropped.r#match, 1, "{name}");
    }
}

#[test]
fn argocd_degraded_application_is_one_observation_per_revision() {
    let mut app = argo_app();
    app["status"]["health"] = json!({"status": "Degraded", "message": "Deployment \"test-lla\" exceeded its progress deadline"});
    let p = preset("argocd-application-health");
    let found = p.apply(&app).expect("maps");
    assert_eq!(found.len(), 1);
    let o = &found[0];
    assert_eq!(o.spec.event_type, "argocd_app_degraded");
    assert_eq!(o.spec.severity, Severity::High);
    assert_eq!(o.spec.category, vigil_model::Category::Operations);
    assert_eq!(
        o.spec.resource,
        res(
            "argoproj.io/v1alpha1",
            "Application",
            "velero-test",
            Some("argo-cd")
        )
    );
    assert_eq!(detail(o, "health"), Some("Degraded"));
    assert_eq!(detail(o, "revision"), Some("rev1"));
    assert_eq!(
        detail(o, "repoURL"),
        Some("https://github.com/mirakl/manifests-velero.git")
    );
    assert_eq!(
        detail(o, "destination"),
        Some("gke-alpha-01-europe-west1/test-lla")
    );
    assert_eq!(detected(o), "2024-03-05T07:33:04Z");
    // Reconciled again on the same revision: the same finding.
    let mut again = app.clone();
    again["status"]["reconciledAt"] = json!("2024-03-05T07:43:04Z");
    assert!(vigil_mapping::new_findings(&found, &p.apply(&again).unwrap()).is_empty());
    // Still degraded on a new revision: a new one.
    let mut next = app.clone();
    next["status"]["sync"]["revision"] = json!("rev2");
    assert_eq!(
        vigil_mapping::new_findings(&found, &p.apply(&next).unwrap()).len(),
        1
    );
    // Missing is medium.
    app["status"]["health"] = json!({"status": "Missing"});
    assert_eq!(p.apply(&app).unwrap()[0].spec.severity, Severity::Medium);
}

#[test]
fn argocd_out_of_sync_application_is_one_observation() {
    let mut app = argo_app();
    app["status"]["sync"]["status"] = json!("OutOfSync");
    app["status"]["resources"][1]["status"] = json!("OutOfSync");
    let found = preset("argocd-application-sync").apply(&app).expect("maps");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].spec.event_type, "argocd_app_out_of_sync");
    assert_eq!(found[0].key, "argo-cd/velero-test/rev1");
    assert_eq!(detail(&found[0], "health"), Some("Healthy"));
    assert!(preset("argocd-application-health")
        .apply(&app)
        .unwrap()
        .is_empty());
}

#[test]
fn kyverno_result_naming_several_resources_is_one_observation_each() {
    let mut report = one_doc("kyverno-policyreport/polr_v1alpha2_pod_kube-apiserver.yaml");
    let p = preset("kyverno-policyreport");
    // As the docs report stands, the failing result names no resource: one
    // Observation about the report's scope.
    let scoped = p.apply(&report).expect("maps");
    assert_eq!(scoped.len(), 1);
    assert_eq!(
        scoped[0].spec.resource.as_ref().unwrap().name.as_deref(),
        Some("kube-apiserver-kind-control-plane")
    );
    // The same result naming two pods: one each, keyed apart.
    let fail = report["results"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["result"] == "fail")
        .unwrap();
    fail["resources"] = json!([
        {"apiVersion": "v1", "kind": "Pod", "name": "a", "namespace": "shop"},
        {"apiVersion": "v1", "kind": "Pod", "name": "b", "namespace": "shop"}]);
    let found = p.apply(&report).expect("maps");
    let names: Vec<_> = found
        .iter()
        .map(|o| o.spec.resource.as_ref().unwrap().name.clone().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_ne!(found[0].key, found[1].key);
    assert_eq!(
        detail(&found[1], "policy"),
        Some("disallow-host-namespaces")
    );
    assert_eq!(
        found[1]
            .spec
            .resource
            .as_ref()
            .unwrap()
            .namespace
            .as_deref(),
        Some("shop")
    );
}
