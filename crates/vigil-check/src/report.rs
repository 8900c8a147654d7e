//! The report: results per object and check, per-pillar scores, totals,
//! input errors and warnings. Its JSON form is versioned
//! ([`SCHEMA_VERSION`]) and its JSON Schema is generated from these types
//! (docs/CHECKS.md). Rendering other formats is `render`'s.

use crate::catalogue::Pillar;
use crate::input::InputError;
use crate::object::Origin;
use schemars::JsonSchema;
use serde::Serialize;
use vigil_model::Severity;

/// Changes when a field is removed or changes meaning; adding fields does not.
pub const SCHEMA_VERSION: &str = "vigil.kube-zen.io/check-report/v1";

/// A whole run.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: String,
    pub tool: Tool,
    pub summary: Summary,
    /// Every object checked, in input order, with every check that applied.
    pub objects: Vec<ObjectReport>,
    /// Documents that could not be read; the rest were still checked.
    pub errors: Vec<InputError>,
    /// Problems that did not stop the run (e.g. an exemption naming no check).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// 0-100 over every pillar; null when no check applied.
    pub score: Option<u8>,
    /// One entry per pillar, in framework order.
    pub pillars: Vec<PillarScore>,
    pub totals: Totals,
}

/// A pillar's score: severity-weighted share of passing results.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PillarScore {
    pub pillar: Pillar,
    /// 0-100; null when no check of the pillar applied.
    pub score: Option<u8>,
    pub passed: usize,
    pub failed: usize,
    pub exempt: usize,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Objects checked.
    pub objects: usize,
    /// Objects not checked because their controller is in the input
    /// (a ReplicaSet of a Deployment, a Pod of a ReplicaSet).
    pub skipped_owned: usize,
    /// Results (object × applicable, enabled check).
    pub results: usize,
    pub passed: usize,
    pub failed: usize,
    pub exempt: usize,
    /// Failed results by effective severity.
    pub failed_by_severity: SeverityCounts,
    /// Documents that could not be read.
    pub errors: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SeverityCounts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
}

impl SeverityCounts {
    pub fn add(&mut self, s: Severity) {
        match s {
            Severity::Critical => self.critical += 1,
            Severity::High => self.high += 1,
            Severity::Medium => self.medium += 1,
            Severity::Low => self.low += 1,
            Severity::Info => self.info += 1,
        }
    }
}

/// One object and its results.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReport {
    /// As written in the input.
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// As written; absent for cluster-scoped objects and when left to `kubectl -n`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub origin: Origin,
    pub results: Vec<CheckResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Would be evaluated, but an annotation or the config exempts it.
    Exempt,
}

/// One check on one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// The catalogue id (`security.privileged`).
    pub check: String,
    pub pillar: Pillar,
    /// Effective severity (the config may override the default).
    pub severity: Severity,
    pub status: Status,
    /// For failures: what is wrong, one entry per spot (container, rule, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    /// For exemptions: which annotation or config entry, and its reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemption: Option<String>,
}

/// How much a result weighs in a score.
pub fn weight(s: Severity) -> u32 {
    match s {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 5,
        Severity::Critical => 8,
    }
}

/// 100 × weight of passes / weight of passes and failures, rounded; None when nothing counted.
pub fn score<'a>(results: impl Iterator<Item = &'a CheckResult>) -> Option<u8> {
    let (mut pass, mut all) = (0u64, 0u64);
    for r in results {
        let w = u64::from(weight(r.severity));
        match r.status {
            Status::Pass => {
                pass += w;
                all += w;
            }
            Status::Fail => all += w,
            Status::Exempt => {}
        }
    }
    (all > 0).then(|| u8::try_from((pass * 100 + all / 2) / all).unwrap_or(100))
}

impl Report {
    /// Failing results, with their object.
    pub fn failures(&self) -> impl Iterator<Item = (&ObjectReport, &CheckResult)> {
        self.objects
            .iter()
            .flat_map(|o| o.results.iter().map(move |r| (o, r)))
            .filter(|(_, r)| r.status == Status::Fail)
    }

    /// Whether any failure has at least severity `threshold`.
    pub fn fails_at(&self, threshold: Severity) -> bool {
        self.failures().any(|(_, r)| r.severity >= threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(severity: Severity, status: Status) -> CheckResult {
        CheckResult {
            check: "x".into(),
            pillar: Pillar::Security,
            severity,
            status,
            messages: vec![],
            exemption: None,
        }
    }

    #[test]
    fn score_weighs_by_severity_and_ignores_exemptions() {
        let rs = [
            result(Severity::Critical, Status::Fail), // 8
            result(Severity::Low, Status::Pass),      // 2
            result(Severity::High, Status::Exempt),
        ];
        assert_eq!(score(rs.iter()), Some(20));
        assert_eq!(score([].iter()), None);
        assert_eq!(score(rs[1..].iter()), Some(100));
        assert_eq!(score(rs[2..].iter()), None);
    }
}
