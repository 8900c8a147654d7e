//! PodDisruptionBudgets: multi-replica workloads have one, each one says
//! how much disruption it allows, and none allows none (which blocks every
//! node drain and upgrade).

use super::{min_replicas, Outcome, Rule};
use crate::catalogue::{Check, Pillar};
use crate::index::Index;
use crate::object::{Manifest, Object};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use vigil_model::Severity;

pub(crate) const RULES: &[Rule] = &[
    Rule {
        check: Check {
            id: "reliability.pdb",
            pillar: Pillar::Reliability,
            severity: Severity::Medium,
            applies_to: "Deployment, StatefulSet, ReplicaSet, ReplicationController with 2+ replicas",
            description: "Multi-replica workloads are covered by a PodDisruptionBudget in their namespace that selects their pods.",
            remediation: "Add a PodDisruptionBudget with `maxUnavailable: 1` whose selector matches the pod template's labels.",
            polaris: &["missingPodDisruptionBudget"],
            kube_score: &["deployment-has-poddisruptionbudget", "statefulset-has-poddisruptionbudget"],
        },
        eval: pdb_present,
    },
    Rule {
        check: Check {
            id: "reliability.pdb-blocking",
            pillar: Pillar::Reliability,
            severity: Severity::High,
            applies_to: "PodDisruptionBudget (and the workloads it selects in the input)",
            description: "PodDisruptionBudgets allow at least one disruption: not maxUnavailable 0, not minAvailable 100% or >= the selected workload's (minimum) replicas.",
            remediation: "Use `maxUnavailable: 1` (or a minAvailable below the replica count, HPA minReplicas included).",
            polaris: &["pdbDisruptionsIsZero", "pdbMinAvailableGreaterThanHPAMinReplicas"],
            kube_score: &[],
        },
        eval: pdb_blocking,
    },
    Rule {
        check: Check {
            id: "reliability.pdb-policy",
            pillar: Pillar::Reliability,
            severity: Severity::Low,
            applies_to: "PodDisruptionBudget",
            description: "PodDisruptionBudgets set a selector and minAvailable or maxUnavailable.",
            remediation: "Set `spec.selector` and `spec.maxUnavailable` (or `spec.minAvailable`).",
            polaris: &[],
            kube_score: &["poddisruptionbudget-has-policy"],
        },
        eval: pdb_policy,
    },
];

fn pdb_present(m: &Manifest, ix: &Index<'_>) -> Outcome {
    let Some(w) = m.workload().filter(|w| w.kind.is_replicated()) else {
        return Outcome::Skip;
    };
    let n = min_replicas(m, &w, ix);
    if n < 2 {
        return Outcome::Skip;
    }
    let covered = ix
        .pdbs_for(m.effective_namespace(), w.pod_labels())
        .next()
        .is_some();
    Outcome::pass_unless(!covered, || {
        format!(
            "{n} replicas and no PodDisruptionBudget in namespace {} selects their pods",
            m.effective_namespace()
        )
    })
}

/// A percentage (`"50%"`) as a number; None for anything else.
fn percent(v: &IntOrString) -> Option<f64> {
    match v {
        IntOrString::String(s) => s.strip_suffix('%')?.trim().parse().ok(),
        IntOrString::Int(_) => None,
    }
}

fn pdb_blocking(m: &Manifest, ix: &Index<'_>) -> Outcome {
    let Object::PodDisruptionBudget(pdb) = &m.object else {
        return Outcome::Skip;
    };
    let Some(spec) = &pdb.spec else {
        return Outcome::Pass;
    };
    if let Some(max) = &spec.max_unavailable {
        let zero = matches!(max, IntOrString::Int(0)) || percent(max) == Some(0.0);
        return Outcome::pass_unless(zero, || {
            "maxUnavailable is 0: no pod can ever be evicted".into()
        });
    }
    let Some(min) = &spec.min_available else {
        return Outcome::Pass;
    };
    if percent(min).is_some_and(|p| p >= 100.0) {
        return Outcome::fail("minAvailable is 100%: no pod can ever be evicted");
    }
    let Some(sel) = &spec.selector else {
        return Outcome::Pass;
    };
    let mut findings: Vec<String> = ix
        .workloads_selected_by(m.effective_namespace(), sel)
        .filter(|(_, w)| w.kind.is_replicated())
        .filter_map(|(wm, w)| {
            let replicas = min_replicas(wm, &w, ix);
            let needed = match min {
                IntOrString::Int(n) => f64::from(*n),
                IntOrString::String(_) => (f64::from(replicas) * percent(min)? / 100.0).ceil(),
            };
            (replicas > 0 && needed >= f64::from(replicas)).then(|| {
                format!(
                    "minAvailable {} keeps all {replicas} (minimum) replicas of {} {} up: no pod can be evicted",
                    match min {
                        IntOrString::Int(n) => n.to_string(),
                        IntOrString::String(s) => s.clone(),
                    },
                    wm.kind,
                    wm.name()
                )
            })
        })
        .collect();
    findings.sort();
    Outcome::from_findings(findings)
}

fn pdb_policy(m: &Manifest, _: &Index<'_>) -> Outcome {
    let Object::PodDisruptionBudget(pdb) = &m.object else {
        return Outcome::Skip;
    };
    let spec = pdb.spec.as_ref();
    let mut findings = Vec::new();
    if spec.and_then(|s| s.selector.as_ref()).is_none() {
        findings.push("spec.selector is not set: the budget covers no pod".to_string());
    }
    if spec.is_none_or(|s| s.min_available.is_none() && s.max_unavailable.is_none()) {
        findings.push("neither minAvailable nor maxUnavailable is set".to_string());
    }
    Outcome::from_findings(findings)
}
