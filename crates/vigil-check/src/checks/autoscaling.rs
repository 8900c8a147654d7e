//! HorizontalPodAutoscalers: Deployments have one, its bounds make sense
//! (room to scale, a floor of two), it targets something in the input, and
//! the workload does not fight it with a fixed `spec.replicas`.

use super::{Outcome, Rule};
use crate::catalogue::{Check, Pillar};
use crate::index::Index;
use crate::object::{Manifest, Object, WorkloadKind};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerSpec;
use vigil_model::Severity;

pub(crate) const RULES: &[Rule] = &[
    Rule {
        check: Check {
            id: "performance.hpa",
            pillar: Pillar::PerformanceEfficiency,
            severity: Severity::Low,
            applies_to: "Deployment (HPAs in the input, same namespace)",
            description: "Deployments are scaled by a HorizontalPodAutoscaler, so capacity follows load instead of a fixed guess.",
            remediation: "Add a HorizontalPodAutoscaler (autoscaling/v2) whose scaleTargetRef names the Deployment.",
            polaris: &[],
            kube_score: &[],
        },
        eval: hpa_present,
    },
    Rule {
        check: Check {
            id: "performance.hpa-bounds",
            pillar: Pillar::PerformanceEfficiency,
            severity: Severity::Medium,
            applies_to: "HorizontalPodAutoscaler",
            description: "An HPA's maxReplicas is greater than its minReplicas (default 1), leaving it room to scale.",
            remediation: "Set `maxReplicas` above `minReplicas`.",
            polaris: &["hpaMaxAvailability"],
            kube_score: &[],
        },
        eval: hpa_bounds,
    },
    Rule {
        check: Check {
            id: "reliability.hpa-min-replicas",
            pillar: Pillar::Reliability,
            severity: Severity::Medium,
            applies_to: "HorizontalPodAutoscaler",
            description: "An HPA never scales below 2 replicas (minReplicas >= 2; the default is 1).",
            remediation: "Set `minReplicas: 2` or more.",
            polaris: &["hpaMinAvailability"],
            kube_score: &["horizontalpodautoscaler-replicas"],
        },
        eval: hpa_min_replicas,
    },
    Rule {
        check: Check {
            id: "reliability.hpa-target",
            pillar: Pillar::Reliability,
            severity: Severity::Low,
            applies_to: "HorizontalPodAutoscaler (workloads in the input)",
            description: "An HPA's scaleTargetRef names a Deployment, StatefulSet, ReplicaSet or ReplicationController that exists in its namespace.",
            remediation: "Fix `scaleTargetRef` (kind, name) or delete the orphaned HPA.",
            polaris: &[],
            kube_score: &["horizontalpodautoscaler-has-target"],
        },
        eval: hpa_target,
    },
    Rule {
        check: Check {
            id: "operations.hpa-replicas-set",
            pillar: Pillar::OperationalExcellence,
            severity: Severity::Low,
            applies_to: "Deployment, StatefulSet scaled by an HPA in the input (authored manifests: objects read from a cluster always have replicas set)",
            description: "Workloads scaled by an HPA leave spec.replicas unset, so every apply does not reset the replica count the HPA chose.",
            remediation: "Remove `spec.replicas` from the manifest; the HPA owns it.",
            polaris: &[],
            kube_score: &["deployment-targeted-by-hpa-does-not-have-replicas-configured"],
        },
        eval: hpa_replicas_set,
    },
];

fn hpa_spec(m: &Manifest) -> Option<&HorizontalPodAutoscalerSpec> {
    match &m.object {
        Object::HorizontalPodAutoscaler(h) => Some(&h.spec),
        _ => None,
    }
}

fn hpa_present(m: &Manifest, ix: &Index<'_>) -> Outcome {
    if m.workload()
        .is_none_or(|w| w.kind != WorkloadKind::Deployment)
    {
        return Outcome::Skip;
    }
    let found = ix
        .hpa_for(m.effective_namespace(), &m.kind, m.name())
        .is_some();
    Outcome::pass_unless(!found, || {
        "no HorizontalPodAutoscaler targets this Deployment".into()
    })
}

fn hpa_bounds(m: &Manifest, _: &Index<'_>) -> Outcome {
    if !matches!(m.object, Object::HorizontalPodAutoscaler(_)) {
        return Outcome::Skip;
    }
    let Some(spec) = hpa_spec(m) else {
        return Outcome::fail("spec is not set");
    };
    let min = spec.min_replicas.unwrap_or(1);
    let max = spec.max_replicas;
    if min > max {
        Outcome::fail(format!(
            "minReplicas {min} is greater than maxReplicas {max}"
        ))
    } else {
        Outcome::pass_unless(min == max, || {
            format!("minReplicas and maxReplicas are both {max}: no room to scale")
        })
    }
}

fn hpa_min_replicas(m: &Manifest, _: &Index<'_>) -> Outcome {
    if !matches!(m.object, Object::HorizontalPodAutoscaler(_)) {
        return Outcome::Skip;
    }
    let min = hpa_spec(m).and_then(|s| s.min_replicas);
    Outcome::pass_unless(min.unwrap_or(1) < 2, || match min {
        Some(n) => format!("minReplicas is {n}"),
        None => "minReplicas is not set (1)".into(),
    })
}

const SCALABLE: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "ReplicaSet",
    "ReplicationController",
];

fn hpa_target(m: &Manifest, ix: &Index<'_>) -> Outcome {
    if !matches!(m.object, Object::HorizontalPodAutoscaler(_)) {
        return Outcome::Skip;
    }
    let Some(target) = hpa_spec(m).map(|s| &s.scale_target_ref) else {
        return Outcome::fail("spec.scaleTargetRef is not set");
    };
    if !SCALABLE.contains(&target.kind.as_str()) {
        return Outcome::Pass; // a custom resource (Rollout, ...): cannot tell
    }
    let found = ix
        .workload(m.effective_namespace(), &target.kind, &target.name)
        .is_some();
    Outcome::pass_unless(!found, || {
        format!(
            "targets {} {} which is not in namespace {}",
            target.kind,
            target.name,
            m.effective_namespace()
        )
    })
}

fn hpa_replicas_set(m: &Manifest, ix: &Index<'_>) -> Outcome {
    let Some(w) = m
        .workload()
        .filter(|w| matches!(w.kind, WorkloadKind::Deployment | WorkloadKind::StatefulSet))
    else {
        return Outcome::Skip;
    };
    // An object read back from an API server (resourceVersion set) always has
    // spec.replicas, filled in by defaulting: only authored manifests can tell.
    let from_server = m.meta().resource_version.is_some();
    if from_server
        || ix
            .hpa_for(m.effective_namespace(), &m.kind, m.name())
            .is_none()
    {
        return Outcome::Skip;
    }
    Outcome::pass_unless(w.replicas.is_some(), || {
        format!(
            "spec.replicas is {} although an HPA scales this workload",
            w.replicas.unwrap_or_default()
        )
    })
}
