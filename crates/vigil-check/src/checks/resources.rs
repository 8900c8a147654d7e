//! Container resources: CPU and memory requests (scheduling), limits
//! (isolation), and how far limits overcommit requests. Pod-level
//! `spec.resources` counts for every container. Namespace quotas and limit
//! ranges are `namespaces`'.

use super::{per_container, Outcome, Rule};
use crate::catalogue::{Check, Pillar};
use crate::index::Index;
use crate::object::{Manifest, Workload};
use crate::util::quantity;
use k8s_openapi::api::core::v1::{Container, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use vigil_model::Severity;

const CONTAINERS: &str = "workloads (each container and init container)";

/// Largest limit / request before the overcommit is flagged.
pub(crate) const MAX_CPU_RATIO: f64 = 4.0;
pub(crate) const MAX_MEMORY_RATIO: f64 = 2.0;

pub(crate) const RULES: &[Rule] = &[
    Rule {
        check: Check {
            id: "performance.cpu-requests",
            pillar: Pillar::PerformanceEfficiency,
            severity: Severity::Medium,
            applies_to: CONTAINERS,
            description: "Containers request CPU, so the scheduler places them where the CPU is.",
            remediation: "Set `resources.requests.cpu` to the container's typical use.",
            polaris: &["cpuRequestsMissing"],
            kube_score: &["container-resources"],
        },
        eval: cpu_requests,
    },
    Rule {
        check: Check {
            id: "performance.memory-requests",
            pillar: Pillar::PerformanceEfficiency,
            severity: Severity::Medium,
            applies_to: CONTAINERS,
            description: "Containers request memory, so the scheduler does not overcommit the node.",
            remediation: "Set `resources.requests.memory` to the container's working set.",
            polaris: &["memoryRequestsMissing"],
            kube_score: &["container-resources"],
        },
        eval: memory_requests,
    },
    Rule {
        check: Check {
            id: "reliability.memory-limits",
            pillar: Pillar::Reliability,
            severity: Severity::Medium,
            applies_to: CONTAINERS,
            description: "Containers set a memory limit, so a leak kills the container, not its neighbours.",
            remediation: "Set `resources.limits.memory` (equal to the request for Guaranteed QoS).",
            polaris: &["memoryLimitsMissing"],
            kube_score: &["container-resources"],
        },
        eval: memory_limits,
    },
    Rule {
        check: Check {
            id: "cost.cpu-limits",
            pillar: Pillar::CostOptimization,
            severity: Severity::Low,
            applies_to: CONTAINERS,
            description: "Containers set a CPU limit, so one workload cannot take a node's spare CPU from the others it shares the bill with.",
            remediation: "Set `resources.limits.cpu`, or exempt latency-critical workloads that must burst.",
            polaris: &["cpuLimitsMissing"],
            kube_score: &["container-resources"],
        },
        eval: cpu_limits,
    },
    Rule {
        check: Check {
            id: "cost.limit-request-ratio",
            pillar: Pillar::CostOptimization,
            severity: Severity::Medium,
            applies_to: CONTAINERS,
            description: "Limits stay close to requests: CPU limit at most 4x the request, memory limit at most 2x, never below the request.",
            remediation: "Raise the request to what the container uses (or lower the limit), so nodes are not sold twice.",
            polaris: &[],
            kube_score: &[],
        },
        eval: limit_request_ratio,
    },
];

fn get<'a>(
    r: Option<&'a ResourceRequirements>,
    limits: bool,
    resource: &str,
) -> Option<&'a Quantity> {
    let map = if limits {
        r?.limits.as_ref()
    } else {
        r?.requests.as_ref()
    };
    map?.get(resource)
}

/// A finding when neither the container nor the pod sets `requests|limits.<resource>`.
fn missing(w: &Workload<'_>, c: &Container, limits: bool, resource: &str) -> Option<String> {
    let set = get(c.resources.as_ref(), limits, resource)
        .or_else(|| get(w.spec.resources.as_ref(), limits, resource))
        .is_some();
    let field = if limits { "limits" } else { "requests" };
    (!set).then(|| format!("resources.{field}.{resource} is not set"))
}

fn cpu_requests(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |w, c| missing(w, c, false, "cpu"))
}

fn memory_requests(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |w, c| missing(w, c, false, "memory"))
}

fn memory_limits(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |w, c| missing(w, c, true, "memory"))
}

fn cpu_limits(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |w, c| missing(w, c, true, "cpu"))
}

fn ratio_finding(c: &Container, resource: &str, max: f64) -> Option<String> {
    let r = c.resources.as_ref();
    let (limit_q, request_q) = (get(r, true, resource)?, get(r, false, resource)?);
    let (limit, request) = (quantity::parse(&limit_q.0)?, quantity::parse(&request_q.0)?);
    if limit < request {
        return Some(format!(
            "{resource} limit {} is below its request {}",
            limit_q.0, request_q.0
        ));
    }
    (request > 0.0 && limit / request > max).then(|| {
        format!(
            "{resource} limit {} is {:.1}x the request {} (at most {max}x)",
            limit_q.0,
            limit / request,
            request_q.0
        )
    })
}

fn limit_request_ratio(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |_, c| {
        let found: Vec<String> = [("cpu", MAX_CPU_RATIO), ("memory", MAX_MEMORY_RATIO)]
            .into_iter()
            .filter_map(|(res, max)| ratio_finding(c, res, max))
            .collect();
        (!found.is_empty()).then(|| found.join("; "))
    })
}
