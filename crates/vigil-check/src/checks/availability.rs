//! Staying up: enough replicas, spread over nodes or zones, a priority
//! class for eviction order, restart policies that recover, no bare pods,
//! CronJobs that do not pile up missed runs. Disruption budgets are
//! `disruption`'s; autoscalers are `autoscaling`'s.

use super::{min_replicas, Outcome, Rule};
use crate::catalogue::{Check, Pillar};
use crate::index::Index;
use crate::object::{Manifest, Object, Workload, WorkloadKind};
use crate::util::selector;
use vigil_model::Severity;

pub(crate) const RULES: &[Rule] = &[
    Rule {
        check: Check {
            id: "reliability.replicas",
            pillar: Pillar::Reliability,
            severity: Severity::Medium,
            applies_to: "Deployment",
            description: "Deployments run at least 2 replicas (or are scaled by an HPA), so one pod's loss is not an outage.",
            remediation: "Set `spec.replicas: 2` or more, or let a HorizontalPodAutoscaler with minReplicas >= 2 scale it.",
            polaris: &["deploymentMissingReplicas"],
            kube_score: &["deployment-replicas"],
        },
        eval: replicas,
    },
    Rule {
        check: Check {
            id: "reliability.anti-affinity",
            pillar: Pillar::Reliability,
            severity: Severity::Medium,
            applies_to: "Deployment, StatefulSet, ReplicaSet, ReplicationController with 2+ replicas",
            description: "Multi-replica workloads spread their pods: a podAntiAffinity term or a topologySpreadConstraint that selects their own pods.",
            remediation: "Add `topologySpreadConstraints` over `kubernetes.io/hostname` (and `topology.kubernetes.io/zone`) selecting the pod's labels, or a preferred podAntiAffinity.",
            polaris: &["topologySpreadConstraint"],
            kube_score: &[
                "deployment-has-host-podantiaffinity",
                "statefulset-has-host-podantiaffinity",
                "pod-topology-spread-constraints",
            ],
        },
        eval: anti_affinity,
    },
    Rule {
        check: Check {
            id: "reliability.priority-class",
            pillar: Pillar::Reliability,
            severity: Severity::Low,
            applies_to: "workloads (pod spec)",
            description: "Pods name a priorityClassName, so the scheduler knows what to preempt and evict first.",
            remediation: "Set `priorityClassName` to one of the cluster's PriorityClasses.",
            polaris: &["priorityClassNotSet"],
            kube_score: &[],
        },
        eval: priority_class,
    },
    Rule {
        check: Check {
            id: "reliability.restart-policy",
            pillar: Pillar::Reliability,
            severity: Severity::Medium,
            applies_to: "Job, CronJob, bare Pod",
            description: "Jobs and CronJobs set restartPolicy OnFailure or Never; bare pods do not set Never (a crashed container would stay down).",
            remediation: "Set `restartPolicy: OnFailure` (or Never with a backoffLimit) in job templates; run long-lived pods under a Deployment.",
            polaris: &[],
            kube_score: &["cronjob-restartpolicy"],
        },
        eval: restart_policy,
    },
    Rule {
        check: Check {
            id: "reliability.bare-pod",
            pillar: Pillar::Reliability,
            severity: Severity::Medium,
            applies_to: "Pod",
            description: "Pods are managed by a controller; a bare pod is not recreated when its node fails or it is evicted.",
            remediation: "Run the pod from a Deployment, StatefulSet, DaemonSet or Job.",
            polaris: &[],
            kube_score: &[],
        },
        eval: bare_pod,
    },
    Rule {
        check: Check {
            id: "reliability.cronjob-deadline",
            pillar: Pillar::Reliability,
            severity: Severity::Low,
            applies_to: "CronJob",
            description: "CronJobs set startingDeadlineSeconds, so a run missed during an outage is skipped instead of started late (or never, after 100 misses).",
            remediation: "Set `spec.startingDeadlineSeconds` to how late a run may still start.",
            polaris: &[],
            kube_score: &["cronjob-has-deadline"],
        },
        eval: cronjob_deadline,
    },
];

fn replicas(m: &Manifest, ix: &Index<'_>) -> Outcome {
    let Some(w) = m.workload().filter(|w| w.kind == WorkloadKind::Deployment) else {
        return Outcome::Skip;
    };
    if ix
        .hpa_for(m.effective_namespace(), &m.kind, m.name())
        .is_some()
    {
        return Outcome::Pass;
    }
    let n = w.replicas.unwrap_or(1);
    Outcome::pass_unless(n < 2, || match w.replicas {
        Some(n) => format!("spec.replicas is {n}"),
        None => "spec.replicas is not set (1 replica)".into(),
    })
}

/// Whether the pod spreads itself with anti-affinity or spread constraints.
fn spreads(w: &Workload<'_>) -> bool {
    let own = w.pod_labels();
    let selects_own =
        |sel: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>| {
            sel.is_some_and(|s| !selector::is_empty(s) && selector::matches(s, own))
        };
    let anti = w
        .spec
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref());
    let by_affinity = anti.is_some_and(|a| {
        let required = a
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flatten();
        let preferred = a
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .map(|p| &p.pod_affinity_term);
        required
            .chain(preferred)
            .any(|t| !t.topology_key.is_empty() && selects_own(t.label_selector.as_ref()))
    });
    let by_spread = w
        .spec
        .topology_spread_constraints
        .iter()
        .flatten()
        .any(|c| !c.topology_key.is_empty() && selects_own(c.label_selector.as_ref()));
    by_affinity || by_spread
}

fn anti_affinity(m: &Manifest, ix: &Index<'_>) -> Outcome {
    let Some(w) = m.workload().filter(|w| w.kind.is_replicated()) else {
        return Outcome::Skip;
    };
    let n = min_replicas(m, &w, ix);
    if n < 2 {
        return Outcome::Skip;
    }
    Outcome::pass_unless(!spreads(&w), || {
        format!("{n} replicas with no podAntiAffinity or topologySpreadConstraint selecting their own pods")
    })
}

fn priority_class(m: &Manifest, _: &Index<'_>) -> Outcome {
    let Some(w) = m.workload() else {
        return Outcome::Skip;
    };
    let set = w
        .spec
        .priority_class_name
        .as_deref()
        .is_some_and(|p| !p.is_empty());
    Outcome::pass_unless(!set, || "priorityClassName is not set".into())
}

fn owned_by_controller(m: &Manifest) -> bool {
    m.meta()
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true))
}

fn restart_policy(m: &Manifest, _: &Index<'_>) -> Outcome {
    let Some(w) = m.workload() else {
        return Outcome::Skip;
    };
    let policy = w.spec.restart_policy.as_deref();
    match w.kind {
        WorkloadKind::Job | WorkloadKind::CronJob => match policy {
            Some("OnFailure" | "Never") => Outcome::Pass,
            Some(other) => Outcome::fail(format!(
                "restartPolicy is {other}; jobs need OnFailure or Never"
            )),
            None => Outcome::fail("restartPolicy is not set; jobs need OnFailure or Never"),
        },
        WorkloadKind::Pod if !owned_by_controller(m) => {
            Outcome::pass_unless(policy == Some("Never"), || {
                "bare pod with restartPolicy Never: a crashed container stays down".into()
            })
        }
        _ => Outcome::Skip,
    }
}

fn bare_pod(m: &Manifest, _: &Index<'_>) -> Outcome {
    if !matches!(m.object, Object::Pod(_)) {
        return Outcome::Skip;
    }
    Outcome::pass_unless(!owned_by_controller(m), || {
        "pod has no controller: nothing recreates it".into()
    })
}

fn cronjob_deadline(m: &Manifest, _: &Index<'_>) -> Outcome {
    let Object::CronJob(c) = &m.object else {
        return Outcome::Skip;
    };
    let set = c.spec.starting_deadline_seconds.is_some();
    Outcome::pass_unless(!set, || "startingDeadlineSeconds is not set".into())
}
