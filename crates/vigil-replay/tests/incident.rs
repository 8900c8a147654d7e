//! The bundled incident (`examples/incident/`) replayed: the exact
//! Observations, anomalies and accounting `vigil demo` shows.

use std::collections::BTreeMap;
use vigil_detect::KeyField;
use vigil_model::Severity;
use vigil_replay::{demo, input, replay, ReplayOptions, Report};

fn incident() -> Report {
    replay(
        demo::inputs(),
        &ReplayOptions {
            cluster: demo::CLUSTER.into(),
            ..Default::default()
        },
    )
}

fn key(report: &Report, rule: &str) -> Vec<BTreeMap<&'static str, String>> {
    report
        .anomalies
        .iter()
        .filter(|a| a.rule == rule)
        .map(|a| a.key.iter().map(|(f, v)| (f.as_str(), v.clone())).collect())
        .collect()
}

#[test]
fn the_incident_yields_exactly_the_storm_anomalies() {
    let report = incident();
    let rules: Vec<&str> = report.anomalies.iter().map(|a| a.rule.as_str()).collect();
    assert_eq!(
        rules,
        ["pod-crashloop", "volume-mount-failures"],
        "{:#?}",
        report.anomalies
    );

    let crash = &report.anomalies[0];
    assert_eq!(crash.key_value(KeyField::Cluster), Some("demo"));
    assert_eq!(crash.key_value(KeyField::Namespace), Some("shop"));
    assert_eq!(
        crash.key_value(KeyField::Name),
        Some("checkout-6d8f7b9c5d-x7k2p")
    );
    assert_eq!(crash.window_start.to_string(), "2026-11-20T14:00:00Z");
    assert_eq!(crash.window_end.to_string(), "2026-11-20T14:05:00Z");
    // The first BackOff Event already counts 12 occurrences.
    assert_eq!(crash.count, 12);
    assert_eq!(crash.audience.as_str(), "customer");
    assert_eq!(crash.severity, Severity::High);

    assert_eq!(
        key(&report, "volume-mount-failures"),
        [BTreeMap::from([
            ("cluster", "demo".to_string()),
            ("namespace", "monitoring-system".to_string()),
            ("kind", "Pod".to_string()),
            ("name", "prometheus-k8s-0".to_string()),
        ])]
    );
    let mount = &report.anomalies[1];
    assert_eq!((mount.count, mount.audience.as_str()), (14, "platform"));
}

#[test]
fn the_incident_events_are_accounted_for() {
    let report = incident();
    let s = &report.summary;
    assert!(s.balanced(), "{s:?}");
    assert_eq!(s.by_kind.get("kubernetes-event"), Some(&26));
    // 17 Normal rollout chatter events; the rest are Warnings.
    assert_eq!(s.filtered.get("normal_type"), Some(&17), "{s:?}");
    let from_events: Vec<(&str, &str, u64)> = report
        .observations
        .iter()
        .filter(|o| o.candidate.spec.source == "kubernetes-events")
        .map(|o| {
            let r = o.candidate.spec.resource.as_ref().expect("resource");
            (
                r.namespace.as_deref().unwrap_or(""),
                o.candidate.spec.event_type.as_str(),
                o.occurrences,
            )
        })
        .collect();
    // Sorted by event time: BackOff and Unhealthy of three pods fold into one
    // Observation each (pod names are volatile), with their repeats counted.
    let mut sorted = from_events.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            ("kube-system", "pod_backoff", 1),
            ("monitoring-system", "volume_mount_failed", 1),
            ("my-app", "pod_backoff", 1),
            ("shop", "pod_backoff", 3),
            ("shop", "probe_failed", 3),
        ]
    );
    assert_eq!(s.deduped, 4);
}

#[test]
fn replay_is_deterministic_and_independent_of_file_order() {
    let a = incident();
    let mut inputs = demo::inputs();
    inputs.reverse();
    let b = replay(
        inputs,
        &ReplayOptions {
            cluster: demo::CLUSTER.into(),
            ..Default::default()
        },
    );
    assert_eq!(
        (&a.observations, &a.anomalies, &a.summary),
        (&b.observations, &b.anomalies, &b.summary)
    );
    assert_eq!(a.to_table(), incident().to_table());
}

#[test]
fn json_lines_are_observation_objects_then_a_summary() {
    let report = incident();
    let text = report.to_json_lines();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let (summary, objects) = lines.split_last().expect("lines");
    assert_eq!(
        summary["summary"]["observations"],
        report.summary.observations
    );
    assert_eq!(
        objects.len() as u64,
        report.summary.observations + report.summary.anomalies
    );
    for o in objects {
        assert_eq!(o["apiVersion"], "zen.kube-zen.io/v1");
        assert_eq!(o["kind"], "Observation");
        let name = o["metadata"]["name"].as_str().expect("name");
        assert!(name.len() <= 63 && !name.is_empty(), "{name}");
        // Every object is a valid Observation as the API server would take it.
        let _: vigil_model::Observation =
            serde_json::from_value(o.clone()).expect("an Observation");
    }
    let anomalies: Vec<&serde_json::Value> = objects
        .iter()
        .filter(|o| o["spec"]["eventType"] == "anomaly")
        .collect();
    assert_eq!(anomalies.len(), 2);
    assert_eq!(anomalies[0]["spec"]["details"]["rule"], "pod-crashloop");
}

#[test]
fn a_bad_record_is_named_counted_and_does_not_stop_the_replay() {
    let text = concat!(
        r#"{"metadata":{"name":"a","uid":"1"},"involvedObject":{"kind":"Pod","namespace":"shop","name":"p"},"#,
        r#""type":"Warning","reason":"FailedMount","message":"m","lastTimestamp":"2026-01-01T00:00:00Z"}"#,
        "\n",
        r#"{"metadata":{"name":"b"},"involvedObject":{"kind":"Pod","name":["not","a","name"]},"type":"Warning"}"#,
        "\n",
        "not json at all\n"
    );
    let report = replay(
        vec![input::parse("dump.jsonl", text, input::Format::Auto)],
        &ReplayOptions::default(),
    );
    assert_eq!(
        (
            report.summary.read,
            report.summary.invalid,
            report.summary.observations
        ),
        (3, 2, 1)
    );
    assert!(report.summary.balanced());
    let messages: Vec<String> = report.rejected.iter().map(ToString::to_string).collect();
    assert!(
        messages[0].starts_with("dump.jsonl:2: involvedObject.name: invalid type"),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("dump.jsonl:3: not JSON"),
        "{messages:?}"
    );
}

#[test]
fn falco_and_audit_records_of_the_incident_become_security_observations() {
    let report = incident();
    let mut found: Vec<(&str, &str, Severity, String)> = report
        .observations
        .iter()
        .filter(|o| o.candidate.spec.source == "falco" || o.candidate.spec.source == "k8s-audit")
        .map(|o| {
            let s = &o.candidate.spec;
            let r = s.resource.as_ref().expect("resource");
            let what = format!(
                "{}/{}",
                r.kind.as_deref().unwrap_or(""),
                r.name.as_deref().unwrap_or("")
            );
            (s.source.as_str(), s.event_type.as_str(), s.severity, what)
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (
                "falco",
                "terminal_shell_in_container",
                Severity::Low,
                "Pod/alpine-deployment-77789455d6-m7flp".to_string()
            ),
            (
                "k8s-audit",
                "anonymous_request",
                Severity::High,
                "Namespace/foo".to_string()
            ),
            (
                "k8s-audit",
                "rbac_changed",
                Severity::Medium,
                "ClusterRoleBinding/some-reader-binding".to_string()
            ),
            (
                "k8s-audit",
                "rbac_cluster_admin_binding",
                Severity::Critical,
                "ClusterRoleBinding/some-reader-binding".to_string()
            ),
        ]
    );
    assert_eq!(report.summary.invalid, 0, "{:?}", report.rejected);
    assert_eq!(
        report.summary.observations, 14,
        "9 from events, Falco and audit; 5 from Trivy"
    );
}

#[test]
fn the_trivy_report_becomes_one_observation_per_critical_or_high_cve() {
    let report = incident();
    let trivy: Vec<_> = report
        .observations
        .iter()
        .filter(|o| o.candidate.spec.source == "trivy")
        .collect();
    // The real report lists 41 vulnerabilities: 2 critical and 3 high are kept
    // (the preset's minSeverity: high), 36 are dropped by that filter.
    assert_eq!(trivy.len(), 5);
    assert_eq!(
        trivy
            .iter()
            .filter(|o| o.candidate.spec.severity == Severity::Critical)
            .count(),
        2
    );
    assert_eq!(report.summary.filtered.get("preset_filter"), Some(&36));
    assert!(report.summary.balanced(), "{:?}", report.summary);
    let cves: std::collections::BTreeSet<&str> = trivy
        .iter()
        .map(|o| {
            o.candidate
                .spec
                .details
                .as_ref()
                .and_then(|d| d["vulnerabilityID"].as_str())
                .expect("CVE id")
        })
        .collect();
    assert_eq!(
        cves,
        ["CVE-2022-3970", "CVE-2023-23914", "CVE-2023-23916"]
            .into_iter()
            .collect()
    );
    for o in &trivy {
        let r = o.candidate.spec.resource.as_ref().expect("resource");
        assert_eq!(
            (r.kind.as_deref(), r.namespace.as_deref(), r.name.as_deref()),
            (
                Some("ReplicaSet"),
                Some("default"),
                Some("nginx-deployment-965685897")
            )
        );
        assert_eq!(
            o.candidate
                .labels
                .get("vigil.kube-zen.io/audience")
                .map(String::as_str),
            Some("customer")
        );
        assert!(
            o.candidate.name.starts_with("trivy-vulnerability-") && o.candidate.name.len() <= 63,
            "{}",
            o.candidate.name
        );
    }
    // Distinct findings, distinct names.
    let names: std::collections::BTreeSet<&str> =
        trivy.iter().map(|o| o.candidate.name.as_str()).collect();
    assert_eq!(names.len(), 5);
}

#[test]
fn a_report_scanned_again_counts_each_finding_again() {
    let text = demo::FILES
        .iter()
        .find(|(name, _)| name.ends_with("trivy.json"))
        .expect("the Trivy report")
        .1;
    let scans = (0..3)
        .map(|_| input::parse("trivy.json", text, input::Format::Auto))
        .collect();
    let report = replay(scans, &ReplayOptions::default());
    assert_eq!(report.summary.observations, 5, "{:?}", report.summary);
    assert_eq!(report.summary.deduped, 10);
    assert!(
        report.observations.iter().all(|o| o.occurrences == 3),
        "three scans, three occurrences each"
    );
    assert!(report.summary.balanced(), "{:?}", report.summary);
}
