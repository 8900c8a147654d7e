//! The check catalogue: every check's stable id, pillar, default severity,
//! description, remediation and its Polaris / kube-score equivalents. The
//! descriptors live beside their code in `checks::*`; this module gathers
//! them in one stable order and answers look-ups. It evaluates nothing.

use crate::checks::{self, Rule};
use schemars::JsonSchema;
use serde::Serialize;
use std::fmt;
use std::sync::OnceLock;
use vigil_model::Severity;

/// The six pillars of the Kubernetes well-architected framework.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Pillar {
    Security,
    Reliability,
    PerformanceEfficiency,
    CostOptimization,
    OperationalExcellence,
    Sustainability,
}

impl Pillar {
    /// Every pillar, in report order.
    pub const ALL: [Pillar; 6] = [
        Pillar::Security,
        Pillar::Reliability,
        Pillar::PerformanceEfficiency,
        Pillar::CostOptimization,
        Pillar::OperationalExcellence,
        Pillar::Sustainability,
    ];

    /// The wire spelling (`performance-efficiency`).
    pub fn as_str(self) -> &'static str {
        match self {
            Pillar::Security => "security",
            Pillar::Reliability => "reliability",
            Pillar::PerformanceEfficiency => "performance-efficiency",
            Pillar::CostOptimization => "cost-optimization",
            Pillar::OperationalExcellence => "operational-excellence",
            Pillar::Sustainability => "sustainability",
        }
    }

    /// The human name (`Performance Efficiency`).
    pub fn title(self) -> &'static str {
        match self {
            Pillar::Security => "Security",
            Pillar::Reliability => "Reliability",
            Pillar::PerformanceEfficiency => "Performance Efficiency",
            Pillar::CostOptimization => "Cost Optimization",
            Pillar::OperationalExcellence => "Operational Excellence",
            Pillar::Sustainability => "Sustainability",
        }
    }
}

impl fmt::Display for Pillar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check as users see it: what it verifies and how to fix a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// Stable id, `<pillar prefix>.<name>` (`security.privileged`); never reused.
    pub id: &'static str,
    pub pillar: Pillar,
    /// Severity of a failure unless the config overrides it.
    pub severity: Severity,
    /// Which objects it looks at, for the docs (`workloads`, `ClusterRoleBinding`).
    pub applies_to: &'static str,
    /// One line: what a passing object looks like.
    pub description: &'static str,
    /// What to change when it fails.
    pub remediation: &'static str,
    /// Polaris check ids that test the same thing (empty when none does).
    pub polaris: &'static [&'static str],
    /// kube-score test ids that test the same thing (empty when none does).
    pub kube_score: &'static [&'static str],
}

impl Check {
    /// Where the check is documented (the anchor in docs/CHECKS.md).
    pub fn help_uri(&self) -> String {
        format!("{DOCS_URL}#{}", self.id.replace('.', "-"))
    }
}

/// The published catalogue page.
pub const DOCS_URL: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/CHECKS.md");

pub(crate) fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let mut all: Vec<Rule> = checks::FAMILIES
            .iter()
            .flat_map(|family| family.iter().cloned())
            .collect();
        all.sort_by_key(|r| (r.check.pillar, r.check.id));
        all
    })
}

/// Every check, grouped by pillar then sorted by id.
pub fn checks() -> impl Iterator<Item = &'static Check> {
    rules().iter().map(|r| &r.check)
}

/// The check with this id.
pub fn find(id: &str) -> Option<&'static Check> {
    checks().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_are_unique_and_prefixed_by_their_pillar() {
        let mut seen = BTreeSet::new();
        for c in checks() {
            assert!(seen.insert(c.id), "duplicate id {}", c.id);
            let prefix = match c.pillar {
                Pillar::Security => "security.",
                Pillar::Reliability => "reliability.",
                Pillar::PerformanceEfficiency => "performance.",
                Pillar::CostOptimization => "cost.",
                Pillar::OperationalExcellence => "operations.",
                Pillar::Sustainability => "sustainability.",
            };
            assert!(c.id.starts_with(prefix), "{} is not under {prefix}", c.id);
            let name = &c.id[prefix.len()..];
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'),
                "{} is not kebab-case",
                c.id
            );
        }
    }

    #[test]
    fn every_descriptor_is_filled_in() {
        for c in checks() {
            assert!(!c.description.is_empty(), "{}", c.id);
            assert!(!c.remediation.is_empty(), "{}", c.id);
            assert!(!c.applies_to.is_empty(), "{}", c.id);
            assert!(
                !c.description.contains('\n'),
                "{} description is one line",
                c.id
            );
        }
    }

    #[test]
    fn every_pillar_has_checks() {
        for p in Pillar::ALL {
            assert!(checks().any(|c| c.pillar == p), "{p} has no check");
        }
    }

    #[test]
    fn find_knows_every_id_and_nothing_else() {
        assert_eq!(
            find("security.privileged").map(|c| c.id),
            Some("security.privileged")
        );
        assert!(find("security.nope").is_none());
        assert_eq!(
            checks().filter_map(|c| find(c.id)).count(),
            checks().count()
        );
    }
}
