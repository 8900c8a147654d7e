//! Not wasting the cluster: finished Jobs cleaned up, CronJob runs that do
//! not pile up on each other. Resource sizing is `resources`'.

use super::{Outcome, Rule};
use crate::catalogue::{Check, Pillar};
use crate::index::Index;
use crate::object::{Manifest, Object};
use vigil_model::Severity;

pub(crate) const RULES: &[Rule] = &[
    Rule {
        check: Check {
            id: "sustainability.job-ttl",
            pillar: Pillar::Sustainability,
            severity: Severity::Low,
            applies_to: "Job not owned by a CronJob",
            description: "Jobs set ttlSecondsAfterFinished, so finished Jobs and their pods are garbage-collected instead of piling up in etcd.",
            remediation: "Set `spec.ttlSecondsAfterFinished` (for example 86400).",
            polaris: &[],
            kube_score: &[],
        },
        eval: job_ttl,
    },
    Rule {
        check: Check {
            id: "sustainability.cronjob-concurrency",
            pillar: Pillar::Sustainability,
            severity: Severity::Low,
            applies_to: "CronJob",
            description: "CronJobs set concurrencyPolicy Forbid or Replace, so slow runs do not stack up and multiply their resource use.",
            remediation: "Set `spec.concurrencyPolicy: Forbid` (or Replace).",
            polaris: &[],
            kube_score: &[],
        },
        eval: cronjob_concurrency,
    },
];

fn job_ttl(m: &Manifest, _: &Index<'_>) -> Outcome {
    let Object::Job(job) = &m.object else {
        return Outcome::Skip;
    };
    let owned = m
        .meta()
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "CronJob");
    if owned {
        return Outcome::Skip;
    }
    let ttl = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished);
    Outcome::pass_unless(ttl.is_none(), || {
        "ttlSecondsAfterFinished is not set".into()
    })
}

fn cronjob_concurrency(m: &Manifest, _: &Index<'_>) -> Outcome {
    let Object::CronJob(c) = &m.object else {
        return Outcome::Skip;
    };
    match c.spec.concurrency_policy.as_deref() {
        Some("Forbid" | "Replace") => Outcome::Pass,
        Some(other) => Outcome::fail(format!("concurrencyPolicy is {other}")),
        None => Outcome::fail("concurrencyPolicy is not set (Allow)"),
    }
}
