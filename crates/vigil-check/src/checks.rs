//! The checks, one module per family; each module declares its checks'
//! descriptors beside the functions that evaluate them. A check sees one
//! object and the cross-object [`Index`]; it never reads config, exemptions
//! or severities (the engine applies those).

mod autoscaling;
mod availability;
mod disruption;
mod host;
mod images;
mod namespaces;
mod network;
mod operations;
mod probes;
mod rbac;
mod resources;
mod secrets;
mod security_context;
mod sustainability;

use crate::catalogue::Check;
use crate::index::Index;
use crate::object::{Manifest, Workload};
use k8s_openapi::api::core::v1::Container;

/// A check and the function that evaluates it.
#[derive(Clone)]
pub(crate) struct Rule {
    pub check: Check,
    pub eval: fn(&Manifest, &Index<'_>) -> Outcome,
}

/// What one check concluded about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The check does not apply to this object.
    Skip,
    Pass,
    /// Failed; one message per offending spot (container, rule, subject).
    Fail(Vec<String>),
}

impl Outcome {
    pub fn from_findings(findings: Vec<String>) -> Outcome {
        if findings.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(findings)
        }
    }

    pub fn fail(message: impl Into<String>) -> Outcome {
        Outcome::Fail(vec![message.into()])
    }

    pub fn pass_unless(failed: bool, message: impl FnOnce() -> String) -> Outcome {
        if failed {
            Outcome::fail(message())
        } else {
            Outcome::Pass
        }
    }
}

/// Every family's checks; the catalogue orders them.
pub(crate) const FAMILIES: &[&[Rule]] = &[
    security_context::RULES,
    host::RULES,
    images::RULES,
    secrets::RULES,
    network::RULES,
    rbac::RULES,
    probes::RULES,
    availability::RULES,
    disruption::RULES,
    autoscaling::RULES,
    resources::RULES,
    namespaces::RULES,
    operations::RULES,
    sustainability::RULES,
];

/// Runs `f` on every container and init container of a workload; a finding
/// is prefixed with the container it is about. Skips non-workloads.
pub(crate) fn per_container(
    m: &Manifest,
    f: impl Fn(&Workload<'_>, &Container) -> Option<String>,
) -> Outcome {
    let Some(w) = m.workload() else {
        return Outcome::Skip;
    };
    Outcome::from_findings(
        w.containers()
            .filter_map(|(what, c)| f(&w, c).map(|msg| format!("{what} \"{}\": {msg}", c.name)))
            .collect(),
    )
}

/// The workload, when `m` is one and `applies` accepts it.
pub(crate) fn workload_where<'m>(
    m: &'m Manifest,
    applies: impl Fn(&Workload<'m>) -> bool,
) -> Option<Workload<'m>> {
    m.workload().filter(|w| applies(w))
}

/// Replicas a replicated workload runs with: its HPA's minimum when an HPA
/// scales it, else `spec.replicas` (default 1).
pub(crate) fn min_replicas(m: &Manifest, w: &Workload<'_>, ix: &Index<'_>) -> i32 {
    match ix.hpa_for(m.effective_namespace(), &m.kind, m.name()) {
        Some(hpa) => hpa.spec.min_replicas.unwrap_or(1),
        None => w.replicas.unwrap_or(1),
    }
}
