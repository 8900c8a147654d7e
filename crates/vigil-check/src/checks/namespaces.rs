//! Per-namespace guard rails: a ResourceQuota (a ceiling on what the
//! namespace may consume) and a LimitRange (defaults for containers that
//! set none). Judged on the Namespace objects of the input only, so
//! checking one application's manifests does not blame its namespace.

use super::{Outcome, Rule};
use crate::catalogue::{Check, Pillar};
use crate::index::Index;
use crate::object::{Manifest, Object};
use vigil_model::Severity;

pub(crate) const RULES: &[Rule] = &[
    Rule {
        check: Check {
            id: "cost.resource-quota",
            pillar: Pillar::CostOptimization,
            severity: Severity::Medium,
            applies_to: "Namespace (ResourceQuotas in the input)",
            description: "Every namespace has a ResourceQuota capping the CPU, memory and objects it can claim.",
            remediation: "Add a ResourceQuota to the namespace (requests.cpu, requests.memory, limits.memory, pods).",
            polaris: &[],
            kube_score: &[],
        },
        eval: resource_quota,
    },
    Rule {
        check: Check {
            id: "performance.limit-range",
            pillar: Pillar::PerformanceEfficiency,
            severity: Severity::Low,
            applies_to: "Namespace (LimitRanges in the input)",
            description: "Every namespace has a LimitRange giving containers default requests and limits.",
            remediation: "Add a LimitRange with `type: Container` default and defaultRequest values.",
            polaris: &[],
            kube_score: &[],
        },
        eval: limit_range,
    },
];

fn namespace_name(m: &Manifest) -> Option<&str> {
    matches!(m.object, Object::Namespace(_)).then(|| m.name())
}

fn resource_quota(m: &Manifest, ix: &Index<'_>) -> Outcome {
    let Some(ns) = namespace_name(m) else {
        return Outcome::Skip;
    };
    Outcome::pass_unless(!ix.has_quota(ns), || {
        format!("namespace {ns} has no ResourceQuota")
    })
}

fn limit_range(m: &Manifest, ix: &Index<'_>) -> Outcome {
    let Some(ns) = namespace_name(m) else {
        return Outcome::Skip;
    };
    Outcome::pass_unless(!ix.has_limit_range(ns), || {
        format!("namespace {ns} has no LimitRange")
    })
}
