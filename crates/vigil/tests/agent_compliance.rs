//! In-agent compliance on the real control plane: the agent (compliance on,
//! a short interval) grades a Deployment created through the API, writes one
//! Observation per failing check with a deterministic name, keeps them on
//! re-runs, applies the ClusterReport; once the Deployment is fixed the
//! Observations of the fixed checks disappear and the report's totals drop;
//! once it is deleted, none of its Observations remain.
//!
//! The shared plane carries other tests' objects: the agent grades only this
//! test's namespace (`--watch-namespaces`), cluster-scoped RBAC (which other
//! tests change concurrently) is exempted through the compliance config, and
//! the report has this test's own name.

mod common;

use common::{grant_agent, Agent};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::Client;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use vigil_model::{Category, ClusterReport, Observation, Severity};
use vigil_test_support::{apply_yaml, Plane, TestUser};

const REPORT_LABEL: &str = "vigil.kube-zen.io/compliance-report";

/// Privileged, no probes, no resources, no securityContext hardening.
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n\
spec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    \
spec:\n      containers:\n      - name: web\n        image: nginx:1.27.3\n        securityContext: {privileged: true}\n";

/// What fails on that Deployment (as `vigil check -f` reports it for the same manifest).
const FAILING: &[&str] = &[
    "cost.cpu-limits",
    "operations.metrics",
    "operations.recommended-labels",
    "performance.cpu-requests",
    "performance.hpa",
    "performance.memory-requests",
    "reliability.anti-affinity",
    "reliability.liveness-probe",
    "reliability.memory-limits",
    "reliability.pdb",
    "reliability.priority-class",
    "reliability.readiness-probe",
    "security.capabilities-not-dropped",
    "security.image-pull-policy",
    "security.network-policy",
    "security.privilege-escalation",
    "security.privileged",
    "security.read-only-root-filesystem",
    "security.run-as-root",
    "security.seccomp-profile",
    "security.service-account-token",
];

/// Fixed by the patch below: not privileged, with both probes.
const FIXED: &[&str] = &[
    "reliability.liveness-probe",
    "reliability.readiness-probe",
    "security.privileged",
];

/// The compliance Observations about Deployment `web`, by check id.
async fn findings(client: &Client, ns: &str) -> BTreeMap<String, Observation> {
    let api: Api<Observation> = Api::namespaced(client.clone(), ns);
    let list = api
        .list(&ListParams::default().labels(&format!("{REPORT_LABEL}={ns}")))
        .await
        .expect("list Observations");
    list.items
        .into_iter()
        .filter(|o| {
            o.spec.resource.as_ref().is_some_and(|r| {
                r.kind.as_deref() == Some("Deployment")
                    && r.name.as_deref() == Some("web")
                    && r.namespace.as_deref() == Some(ns)
            })
        })
        .map(|o| {
            let check = o.spec.details.as_ref().expect("details")["check"]
                .as_str()
                .expect("details.check")
                .to_string();
            (check, o)
        })
        .collect()
}

async fn report(client: &Client, name: &str) -> Option<ClusterReport> {
    Api::<ClusterReport>::all(client.clone())
        .get_opt(name)
        .await
        .expect("get ClusterReport")
}

/// Polls until `done` holds for (findings, report), with a deadline.
async fn wait_for(
    client: &Client,
    ns: &str,
    agent: &Agent,
    what: &str,
    done: impl Fn(&BTreeMap<String, Observation>, &ClusterReport) -> bool,
) -> (BTreeMap<String, Observation>, ClusterReport) {
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        let now = findings(client, ns).await;
        if let Some(r) = report(client, ns).await {
            if done(&now, &r) {
                return (now, r);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never reached; findings {:?}\n{}",
            now.keys().collect::<Vec<_>>(),
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn failing_checks_become_observations_and_disappear_when_fixed() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("compliance").await;
    grant_agent(&admin, &ns).await;
    apply_yaml(
        &admin,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: test-user-vigil-agent-compliance}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: vigil-agent-compliance}\n\
         subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: vigil}]\n",
        "default",
    )
    .await
    .expect("bind user vigil to the compliance role");
    apply_yaml(&admin, DEPLOYMENT, &ns)
        .await
        .expect("the Deployment");

    let config = format!(
        "compliance:\n  enabled: true\n  interval: 10s\n  reportName: {ns}\n  config:\n    exemptions:\n    \
         - kinds: [ClusterRole, ClusterRoleBinding]\n      reason: other tests change cluster-wide RBAC concurrently\n"
    );
    let agent = Agent::start(&plane.kubeconfig(TestUser::Vigil), &ns, &config);

    // First run: exactly the failing checks, one Observation each.
    let failing = ids(FAILING);
    let (before, first) = wait_for(&admin, &ns, &agent, "the first run", |f, _| {
        f.keys().cloned().collect::<BTreeSet<_>>() == failing
    })
    .await;
    for (check, o) in &before {
        let s = &o.spec;
        assert_eq!(s.category, Category::Compliance, "{check}");
        assert_eq!(s.source, "vigil-check", "{check}");
        assert_eq!(s.event_type, check.replace(['.', '-'], "_"));
        let details = s.details.as_ref().expect("details");
        let pillar = match check.split('.').next() {
            Some("performance") => "performance-efficiency",
            Some("cost") => "cost-optimization",
            Some("operations") => "operational-excellence",
            Some(other) => other,
            None => "",
        };
        assert_eq!(details["pillar"], pillar, "{check}: {details}");
        assert_eq!(details["check"], check.as_str());
        assert!(
            !details["remediation"].as_str().unwrap_or("").is_empty(),
            "{check}"
        );
        assert!(
            !details["message"].as_str().unwrap_or("").is_empty(),
            "{check}"
        );
        let r = s.resource.as_ref().expect("resource");
        assert_eq!(r.api_version.as_deref(), Some("apps/v1"));
        assert!(s.detected_at.is_some() && s.ttl_seconds_after_creation.is_some());
        let name = o.metadata.name.as_deref().expect("name");
        assert!(
            name.starts_with(&format!("check-{}-", check.replace('.', "-"))),
            "{name}"
        );
    }
    assert_eq!(
        before["security.privileged"].spec.severity,
        Severity::Critical
    );
    assert_eq!(
        before["reliability.liveness-probe"].spec.severity,
        Severity::Medium
    );

    // The report: scores, totals, cluster metadata, inventory of the namespace.
    let spec = &first.spec;
    assert!(spec.generated_at.is_some());
    assert_eq!(spec.namespaces, vec![ns.clone()]);
    assert!(spec.score.is_some_and(|s| s < 100), "{:?}", spec.score);
    assert!(spec.pillars.security.score.is_some_and(|s| s < 100));
    assert!(spec.pillars.security.failed >= 9, "{spec:?}");
    assert!(spec.pillars.reliability.failed >= 6, "{spec:?}");
    assert!(spec.totals.failed_by_severity.critical >= 1);
    assert!(spec.totals.failed >= FAILING.len() as u64);
    assert_eq!(
        spec.totals.failed,
        spec.totals.failed_by_severity.critical
            + spec.totals.failed_by_severity.high
            + spec.totals.failed_by_severity.medium
            + spec.totals.failed_by_severity.low
            + spec.totals.failed_by_severity.info
    );
    assert!(spec.totals.exempt > 0, "cluster-wide RBAC is exempted");
    assert_eq!(spec.inventory.namespaces, 1);
    assert_eq!(spec.inventory.workloads.get("Deployment"), Some(&1));
    assert_eq!(spec.inventory.services, 0);
    assert!(
        spec.cluster
            .kubernetes_version
            .as_deref()
            .is_some_and(|v| v.starts_with("v1.37")),
        "{:?}",
        spec.cluster
    );
    // The test plane runs no kubelet.
    assert_eq!(spec.cluster.node_count, Some(0));
    assert_eq!(spec.cluster.provider, "unknown");
    assert_eq!(spec.findings.capped, 0);
    assert!(spec.errors.is_empty(), "{:?}", spec.errors);

    // Re-runs keep the same objects (deterministic names, nothing duplicated).
    let runs = "vigil_compliance_runs_total{result=\"ok\"}";
    let done = agent.metric(runs).await;
    let deadline = Instant::now() + common::DEADLINE;
    while agent.metric(runs).await < done + 1.0 {
        assert!(Instant::now() < deadline, "no second run\n{}", agent.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let again = findings(&admin, &ns).await;
    let uids = |m: &BTreeMap<String, Observation>| -> Vec<(String, Option<String>)> {
        m.values()
            .map(|o| {
                (
                    o.metadata.name.clone().unwrap_or_default(),
                    o.metadata.uid.clone(),
                )
            })
            .collect()
    };
    assert_eq!(
        uids(&again),
        uids(&before),
        "the same Observations, not new ones"
    );
    assert!(
        agent
            .metric("vigil_compliance_observations_total{result=\"unchanged\"}")
            .await
            >= FAILING.len() as f64
    );

    // Fix the Deployment: its fixed checks' Observations go, the totals drop.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(admin.clone(), &ns);
    let fix = json!({"spec": {"template": {"spec": {"containers": [{
        "name": "web",
        "securityContext": {"privileged": false},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
    }]}}}});
    deployments
        .patch("web", &PatchParams::default(), &Patch::Strategic(&fix))
        .await
        .expect("patch the Deployment");
    let still: BTreeSet<String> = failing.difference(&ids(FIXED)).cloned().collect();
    let (after, fixed) = wait_for(&admin, &ns, &agent, "the fix", |f, r| {
        f.keys().cloned().collect::<BTreeSet<_>>() == still
            && r.spec.totals.failed == first.spec.totals.failed - FIXED.len() as u64
    })
    .await;
    let t = (&first.spec.totals, &fixed.spec.totals);
    assert_eq!(
        t.1.failed_by_severity.critical,
        t.0.failed_by_severity.critical - 1
    );
    assert_eq!(
        t.1.failed_by_severity.medium,
        t.0.failed_by_severity.medium - 2
    );
    assert_eq!(t.1.passed, t.0.passed + FIXED.len() as u64);
    assert!(fixed.spec.pillars.reliability.failed == first.spec.pillars.reliability.failed - 2);
    assert!(fixed.spec.generated_at > first.spec.generated_at);
    assert!(
        fixed.spec.findings.resolved >= FIXED.len() as u64
            || agent
                .metric("vigil_compliance_observations_total{result=\"resolved\"}")
                .await
                >= FIXED.len() as f64
    );
    // The Observations of what still fails are the same objects.
    for (check, o) in &after {
        assert_eq!(o.metadata.uid, before[check].metadata.uid, "{check}");
    }

    // Delete the Deployment: none of its Observations remain.
    deployments
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete the Deployment");
    let (_, gone) = wait_for(&admin, &ns, &agent, "the deletion", |f, r| {
        f.is_empty() && !r.spec.inventory.workloads.contains_key("Deployment")
    })
    .await;
    assert!(gone.spec.totals.failed < fixed.spec.totals.failed);

    assert_eq!(agent.metric_sum("vigil_compliance_errors_total").await, 0.0);
    assert_eq!(
        agent
            .metric("vigil_compliance_runs_total{result=\"error\"}")
            .await,
        0.0
    );
    assert!(
        agent
            .metric("vigil_compliance_run_duration_seconds_count")
            .await
            >= 3.0
    );
}
