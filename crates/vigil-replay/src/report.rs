//! What a replay found, and its two renderings: a readable table (the
//! default) and JSON lines (`-o json`): one Observation object per line,
//! anomalies included, then one summary line.

use crate::input::Rejected;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use vigil_detect::Anomaly;
use vigil_model::Severity;
use vigil_pipeline::enrich::AUDIENCE_LABEL;
use vigil_pipeline::Candidate;

/// An Observation the replay would have written, with its repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayedObservation {
    pub candidate: Candidate,
    /// Occurrences folded into it, the first included.
    pub occurrences: u64,
    pub last_seen: Option<Timestamp>,
}

/// The accounting: `read = invalid + filtered + deduped + observations`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records read, valid or not.
    pub read: u64,
    /// Records by detected kind (invalid JSON lines have no kind).
    pub by_kind: BTreeMap<String, u64>,
    /// Records that could not be read or converted.
    pub invalid: u64,
    /// Dropped by the pipeline, by reason.
    pub filtered: BTreeMap<String, u64>,
    /// Repeats folded into an Observation already emitted.
    pub deduped: u64,
    pub observations: u64,
    pub anomalies: u64,
    /// Signals older than the detector's watermark (ignored by detection).
    pub late: u64,
}

impl Summary {
    pub fn filtered_total(&self) -> u64 {
        self.filtered.values().sum()
    }

    /// Every record has exactly one outcome.
    pub fn balanced(&self) -> bool {
        self.read == self.invalid + self.filtered_total() + self.deduped + self.observations
    }

    pub fn to_json(&self) -> Value {
        json!({
            "read": self.read, "byKind": self.by_kind, "invalid": self.invalid,
            "filtered": self.filtered_total(), "filteredByReason": self.filtered,
            "deduped": self.deduped, "observations": self.observations,
            "anomalies": self.anomalies, "late": self.late,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// In event-time order.
    pub observations: Vec<ReplayedObservation>,
    /// In window order.
    pub anomalies: Vec<Anomaly>,
    pub summary: Summary,
    /// The first rejected records, with the reason (all are counted in the summary).
    pub rejected: Vec<Rejected>,
}

impl Report {
    /// Observations (and anomalies, as Observations) as Kubernetes objects,
    /// one JSON document per line, then `{"summary": {...}}`.
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for o in &self.observations {
            let mut spec =
                serde_json::to_value(&o.candidate.spec).expect("an ObservationSpec serializes");
            if let Some(details) = spec.get_mut("details").and_then(Value::as_object_mut) {
                details.insert("occurrences".into(), o.occurrences.into());
                if let Some(t) = o.last_seen {
                    details.insert("lastSeen".into(), t.to_string().into());
                }
            }
            line(
                &mut out,
                object(
                    &o.candidate.name,
                    &o.candidate.namespace,
                    &o.candidate.labels,
                    spec,
                ),
            );
        }
        for a in &self.anomalies {
            let spec = serde_json::to_value(a.to_observation_spec())
                .expect("an ObservationSpec serializes");
            line(
                &mut out,
                object(&a.name(), a.namespace().unwrap_or(""), &a.labels(), spec),
            );
        }
        let mut summary = self.summary.to_json();
        summary["rejected"] = self
            .rejected
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .into();
        line(&mut out, json!({ "summary": summary }));
        out
    }

    /// The readable form: Observations by severity, the anomalies, the
    /// accounting.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let mut rows: Vec<&ReplayedObservation> = self.observations.iter().collect();
        rows.sort_by_key(|o| std::cmp::Reverse(o.candidate.spec.severity));
        let _ = writeln!(out, "OBSERVATIONS ({})", rows.len());
        let mut table = vec![row([
            "SEVERITY", "CATEGORY", "AUDIENCE", "SOURCE", "TYPE", "RESOURCE", "COUNT", "WHEN",
        ])];
        for o in rows {
            let c = &o.candidate;
            table.push(row([
                c.spec.severity.as_str(),
                c.spec.category.as_str(),
                c.labels.get(AUDIENCE_LABEL).map_or("-", String::as_str),
                &c.spec.source,
                &c.spec.event_type,
                &resource(c),
                &o.occurrences.to_string(),
                &c.spec
                    .detected_at
                    .as_ref()
                    .map_or("-".to_string(), |t| t.0.to_string()),
            ]));
        }
        render(&mut out, &table);

        let _ = writeln!(out, "\nANOMALIES ({})", self.anomalies.len());
        let mut table = vec![row([
            "SEVERITY",
            "RULE",
            "KEY",
            "WINDOW",
            "COUNT",
            "DESCRIPTION",
        ])];
        for a in &self.anomalies {
            let key: Vec<String> = a
                .key
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(f, v)| format!("{}={v}", f.as_str()))
                .collect();
            table.push(row([
                a.severity.as_str(),
                &a.rule,
                &key.join(","),
                &format!(
                    "{} +{}",
                    a.window_start,
                    short(a.window_end.duration_since(a.window_start))
                ),
                &a.count.to_string(),
                &a.description,
            ]));
        }
        render(&mut out, &table);

        let s = &self.summary;
        let _ = writeln!(out, "\nSUMMARY");
        let kinds: Vec<String> = s.by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(out, "  read          {} ({})", s.read, kinds.join(", "));
        let _ = writeln!(out, "  invalid       {}", s.invalid);
        let reasons: Vec<String> = s.filtered.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            out,
            "  filtered      {} ({})",
            s.filtered_total(),
            reasons.join(", ")
        );
        let _ = writeln!(out, "  deduplicated  {}", s.deduped);
        let by_severity = self.tally(Severity::ALL.iter().rev().copied(), |o| {
            o.candidate.spec.severity
        });
        let _ = writeln!(
            out,
            "  observations  {} ({})",
            s.observations,
            by_severity.join(", ")
        );
        let by_category = self.tally(vigil_model::Category::ALL.iter().copied(), |o| {
            o.candidate.spec.category
        });
        let _ = writeln!(
            out,
            "                by category: {}",
            by_category.join(", ")
        );
        let _ = writeln!(out, "  anomalies     {}", s.anomalies);
        if s.late > 0 {
            let _ = writeln!(
                out,
                "  late          {} (older than the detector's watermark; not counted by rules)",
                s.late
            );
        }
        for r in &self.rejected {
            let _ = writeln!(out, "  rejected: {r}");
        }
        if s.invalid as usize > self.rejected.len() {
            let _ = writeln!(
                out,
                "  ... and {} more rejected",
                s.invalid as usize - self.rejected.len()
            );
        }
        out
    }
}

impl Report {
    /// `"<value> <count>"` for each value (in the order given) that some
    /// Observation has.
    fn tally<T: PartialEq + std::fmt::Display>(
        &self,
        values: impl Iterator<Item = T>,
        of: impl Fn(&ReplayedObservation) -> T,
    ) -> Vec<String> {
        values
            .filter_map(|v| {
                let n = self.observations.iter().filter(|o| of(o) == v).count();
                (n > 0).then(|| format!("{v} {n}"))
            })
            .collect()
    }
}

fn object(name: &str, namespace: &str, labels: &BTreeMap<String, String>, spec: Value) -> Value {
    let mut metadata = json!({"name": name, "labels": labels});
    if !namespace.is_empty() {
        metadata["namespace"] = namespace.into();
    }
    json!({"apiVersion": "zen.kube-zen.io/v1", "kind": "Observation", "metadata": metadata, "spec": spec})
}

fn line(out: &mut String, v: Value) {
    out.push_str(&v.to_string());
    out.push('\n');
}

fn resource(c: &Candidate) -> String {
    match &c.spec.resource {
        Some(r) => {
            let kind = r.kind.as_deref().unwrap_or("?");
            let name = r.name.as_deref().unwrap_or("?");
            match r.namespace.as_deref().filter(|n| !n.is_empty()) {
                Some(ns) => format!("{kind}/{ns}/{name}"),
                None => format!("{kind}/{name}"),
            }
        }
        None => "-".into(),
    }
}

fn short(d: k8s_openapi::jiff::SignedDuration) -> String {
    let s = d.as_secs();
    if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// Left-aligned columns; the last column is not padded.
fn render(out: &mut String, table: &[Vec<String>]) {
    let columns = table.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in table {
        let mut text = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == columns {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
}
