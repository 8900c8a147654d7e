//! `vigil replay` over every real recorded payload the project keeps
//! (crates/vigil-pipeline/tests/fixtures: Kubernetes Events in several
//! shapes, eventrouter lines, Falco alerts, audit events): each file is read
//! as a user would hand it over, kinds are told apart, the malformed sample
//! is named, and what comes out is what those samples mean.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use vigil_replay::{input, replay, ReplayOptions, Report};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vigil-pipeline/tests/fixtures")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "json" || e == "jsonl" || e == "yaml")
        {
            out.push(path);
        }
    }
}

fn replay_all() -> Report {
    let mut paths = Vec::new();
    files(&fixtures(), &mut paths);
    assert!(paths.len() > 50, "fixtures missing: {}", paths.len());
    let inputs = paths
        .iter()
        .map(|p| {
            let name = p
                .strip_prefix(fixtures())
                .expect("under fixtures")
                .display()
                .to_string();
            input::parse(
                &name,
                &std::fs::read_to_string(p).expect("read fixture"),
                input::Format::Auto,
            )
        })
        .collect();
    replay(inputs, &ReplayOptions::default())
}

#[test]
fn every_fixture_is_read_and_accounted_for() {
    let report = replay_all();
    let s = &report.summary;
    assert!(s.balanced(), "{s:?}");
    // 17 Falco alerts in 5 files (one per line).
    assert_eq!(s.by_kind.get("falco"), Some(&17), "{s:?}");
    // 47 audit files: 45 hold one event, create_configmap_sensitive_values
    // six (JSON lines), fal_01_003 is the malformed one.
    assert_eq!(s.by_kind.get("k8s-audit"), Some(&51), "{s:?}");
    // kspan's stream interleaves Deployments, ReplicaSets and Pods with its Events.
    assert!(
        s.filtered.get("not_an_event").is_some_and(|n| *n > 0),
        "{s:?}"
    );
    // The one malformed audit sample ({"kind": 0}) is refused by name, and only it.
    let rejected: Vec<String> = report.rejected.iter().map(ToString::to_string).collect();
    assert_eq!(s.invalid, 1, "{rejected:?}");
    assert!(rejected[0].contains("fal_01_003.json"), "{rejected:?}");
    assert!(
        rejected[0].ends_with("kind: expected a string, found a number"),
        "{rejected:?}"
    );
}

#[test]
fn the_samples_mean_what_they_say() {
    let report = replay_all();
    let types: BTreeSet<(&str, &str)> = report
        .observations
        .iter()
        .map(|o| {
            (
                o.candidate.spec.source.as_str(),
                o.candidate.spec.event_type.as_str(),
            )
        })
        .collect();
    for expected in [
        ("k8s-audit", "rbac_cluster_admin_binding"),
        ("k8s-audit", "anonymous_request"),
        ("k8s-audit", "privileged_pod_created"),
        ("k8s-audit", "host_namespace_pod_created"),
        ("k8s-audit", "rbac_wildcard_role"),
        ("falco", "terminal_shell_in_container"),
        ("kubernetes-events", "pod_backoff"),
    ] {
        assert!(types.contains(&expected), "no {expected:?} among {types:?}");
    }
    // Audit events at stage ResponseStarted (exec, attach) are dropped by stage.
    assert!(
        report
            .summary
            .filtered
            .get("audit_stage")
            .is_some_and(|n| *n >= 2),
        "{:?}",
        report.summary
    );
}

#[test]
fn replaying_twice_gives_the_same_report() {
    assert_eq!(replay_all(), replay_all());
}

/// Argo CD's own test Application, degraded and drifted as the Argo CD
/// controller would write it: both Application presets map it, once each,
/// and the accounting counts the findings of both.
#[test]
fn an_argo_cd_application_goes_through_both_of_its_presets() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../vigil-mapping/tests/fixtures/argo-cd/argo-cd_controller-testdata_diff-cache.yaml",
    );
    let text = std::fs::read_to_string(&path).expect("argo fixture");
    let healthy = replay(
        vec![input::parse("app.yaml", &text, input::Format::Auto)],
        &ReplayOptions::default(),
    );
    assert!(healthy.observations.is_empty());
    assert_eq!(healthy.summary.filtered.get("preset_filter"), Some(&2));
    assert!(healthy.summary.balanced(), "{:?}", healthy.summary);
    let drifted = text
        .replacen(
            "  health:\n    status: Healthy",
            "  health:\n    status: Degraded",
            1,
        )
        .replace(
            "    revision: rev1\n    status: Synced",
            "    revision: rev1\n    status: OutOfSync",
        );
    assert_ne!(drifted, text);
    let report = replay(
        vec![input::parse("app.yaml", &drifted, input::Format::Auto)],
        &ReplayOptions::default(),
    );
    let types: BTreeSet<&str> = report
        .observations
        .iter()
        .map(|o| o.candidate.spec.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        BTreeSet::from(["argocd_app_degraded", "argocd_app_out_of_sync"])
    );
    assert!(report.summary.balanced(), "{:?}", report.summary);
}
