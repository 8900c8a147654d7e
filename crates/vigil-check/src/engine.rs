//! Running the catalogue over an input: every enabled check on every
//! object it applies to, exemptions (annotations, then config) and severity
//! overrides applied, then scores and totals. Pure and deterministic: the
//! same input and config give the same report.

use crate::catalogue::{self, Pillar};
use crate::checks::Outcome;
use crate::config::Config;
use crate::exempt;
use crate::index::Index;
use crate::input::Parsed;
use crate::object::Manifest;
use crate::report::{
    self, CheckResult, ObjectReport, PillarScore, Report, Status, Summary, Tool, Totals,
};

/// Checks everything `parsed` holds; its read errors are carried into the report.
pub fn run(parsed: &Parsed, config: &Config) -> Report {
    let mut report = check(&parsed.manifests, config);
    report.errors = parsed.errors.clone();
    report.summary.totals.errors = parsed.errors.len();
    report
}

/// Checks `manifests` as one input (cross-object checks see all of them).
pub fn check(manifests: &[Manifest], config: &Config) -> Report {
    let index = Index::new(manifests);
    let rules: Vec<_> = catalogue::rules()
        .iter()
        .filter(|r| config.enabled(r.check.id))
        .collect();
    let known: Vec<&str> = catalogue::checks().map(|c| c.id).collect();
    let mut objects = Vec::with_capacity(manifests.len());
    let mut warnings = Vec::new();
    let mut skipped_owned = 0;
    for m in manifests {
        if owned_by_input(m, &index) {
            skipped_owned += 1;
            continue;
        }
        if config.annotation_exemptions() {
            warnings.extend(exempt::unknown_entries(m, &known));
        }
        let results = rules
            .iter()
            .filter_map(|rule| {
                let outcome = (rule.eval)(m, &index);
                let (status, messages) = match outcome {
                    Outcome::Skip => return None,
                    Outcome::Pass => (Status::Pass, Vec::new()),
                    Outcome::Fail(msgs) => (Status::Fail, msgs),
                };
                let exemption = config
                    .annotation_exemptions()
                    .then(|| exempt::by_annotation(&rule.check, m))
                    .flatten()
                    .or_else(|| config.exemption(rule.check.id, m));
                Some(CheckResult {
                    check: rule.check.id.to_string(),
                    pillar: rule.check.pillar,
                    severity: config.severity(&rule.check),
                    status: if exemption.is_some() {
                        Status::Exempt
                    } else {
                        status
                    },
                    messages: if exemption.is_some() {
                        Vec::new()
                    } else {
                        messages
                    },
                    exemption,
                })
            })
            .collect();
        objects.push(ObjectReport {
            api_version: m.api_version.clone(),
            kind: m.kind.clone(),
            name: m.name().to_string(),
            namespace: m.namespace().map(str::to_string),
            origin: m.origin.clone(),
            results,
        });
    }
    let summary = summarize(&objects, skipped_owned);
    Report {
        schema_version: report::SCHEMA_VERSION.to_string(),
        tool: Tool {
            name: "vigil".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        summary,
        objects,
        errors: Vec::new(),
        warnings,
    }
}

/// Whether `m`'s controller is itself in the input (and checked there).
fn owned_by_input(m: &Manifest, index: &Index<'_>) -> bool {
    m.meta().owner_references.iter().flatten().any(|o| {
        o.controller == Some(true)
            && index
                .workload(m.effective_namespace(), &o.kind, &o.name)
                .is_some()
    })
}

fn summarize(objects: &[ObjectReport], skipped_owned: usize) -> Summary {
    let all = || objects.iter().flat_map(|o| o.results.iter());
    let mut totals = Totals {
        objects: objects.len(),
        skipped_owned,
        ..Totals::default()
    };
    for r in all() {
        totals.results += 1;
        match r.status {
            Status::Pass => totals.passed += 1,
            Status::Exempt => totals.exempt += 1,
            Status::Fail => {
                totals.failed += 1;
                totals.failed_by_severity.add(r.severity);
            }
        }
    }
    let pillars = Pillar::ALL
        .iter()
        .map(|&p| {
            let of = || all().filter(move |r| r.pillar == p);
            PillarScore {
                pillar: p,
                score: report::score(of()),
                passed: of().filter(|r| r.status == Status::Pass).count(),
                failed: of().filter(|r| r.status == Status::Fail).count(),
                exempt: of().filter(|r| r.status == Status::Exempt).count(),
            }
        })
        .collect();
    Summary {
        score: report::score(all()),
        pillars,
        totals,
    }
}
