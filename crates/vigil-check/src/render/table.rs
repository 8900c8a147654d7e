//! The terminal table: each object with failing or exempted checks, most
//! severe first, then scores, totals and the documents that could not be read.

use crate::catalogue::Pillar;
use crate::report::{ObjectReport, Report, Status};
use std::fmt::Write;

/// Renders `report` as plain text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for o in &report.objects {
        object(&mut out, o);
    }
    if report.failures().next().is_none() {
        out.push_str("No failing checks.\n\n");
    }
    summary(&mut out, report);
    out
}

fn object(out: &mut String, o: &ObjectReport) {
    let mut shown: Vec<_> = o
        .results
        .iter()
        .filter(|r| r.status != Status::Pass)
        .collect();
    if shown.is_empty() {
        return;
    }
    shown.sort_by(|a, b| {
        (
            a.status == Status::Exempt,
            std::cmp::Reverse(a.severity),
            &a.check,
        )
            .cmp(&(
                b.status == Status::Exempt,
                std::cmp::Reverse(b.severity),
                &b.check,
            ))
    });
    let name = match &o.namespace {
        Some(ns) => format!("{ns}/{}/{}", o.kind, o.name),
        None => format!("{}/{}", o.kind, o.name),
    };
    let _ = write!(out, "{name}  ({}", o.origin);
    if let Some(src) = &o.origin.helm_source {
        let _ = write!(out, ", from {src}");
    }
    out.push_str(")\n");
    for r in shown {
        let label = match r.status {
            Status::Exempt => "exempt".to_string(),
            _ => r.severity.to_string(),
        };
        let detail = match &r.exemption {
            Some(e) => vec![e.clone()],
            None => r.messages.clone(),
        };
        let _ = writeln!(
            out,
            "  {label:<9} {:<36} {}",
            r.check,
            detail.first().map_or("", String::as_str)
        );
        for more in detail.iter().skip(1) {
            let _ = writeln!(out, "  {:<9} {:<36} {more}", "", "");
        }
    }
    out.push('\n');
}

fn summary(out: &mut String, report: &Report) {
    let s = &report.summary;
    let score = |v: Option<u8>| v.map_or_else(|| "n/a".to_string(), |v| v.to_string());
    let _ = write!(out, "SCORES  overall {}", score(s.score));
    for p in &s.pillars {
        let _ = write!(out, " | {} {}", pillar_short(p.pillar), score(p.score));
    }
    out.push('\n');
    let t = &s.totals;
    let f = &t.failed_by_severity;
    let _ = writeln!(
        out,
        "TOTALS  {} objects, {} results: {} passed, {} failed ({} critical, {} high, {} medium, {} low, {} info), {} exempt",
        t.objects, t.results, t.passed, t.failed, f.critical, f.high, f.medium, f.low, f.info, t.exempt
    );
    if t.skipped_owned > 0 {
        let _ = writeln!(
            out,
            "        {} objects skipped: their controller is in the input",
            t.skipped_owned
        );
    }
    if !report.errors.is_empty() {
        let _ = writeln!(
            out,
            "ERRORS  {} documents could not be read:",
            report.errors.len()
        );
        for e in &report.errors {
            let _ = writeln!(out, "  {e}");
        }
    }
    for w in &report.warnings {
        let _ = writeln!(out, "WARNING {w}");
    }
}

fn pillar_short(p: Pillar) -> &'static str {
    match p {
        Pillar::Security => "security",
        Pillar::Reliability => "reliability",
        Pillar::PerformanceEfficiency => "performance",
        Pillar::CostOptimization => "cost",
        Pillar::OperationalExcellence => "operations",
        Pillar::Sustainability => "sustainability",
    }
}
