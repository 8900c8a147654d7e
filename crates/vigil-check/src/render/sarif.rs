//! SARIF 2.1.0 (OASIS): one run whose rules are the whole catalogue (with
//! help text and help URIs), whose results are the failing checks located at
//! the file and line of their document, exempted checks as suppressed
//! results, and unreadable documents as tool execution notifications.

use crate::catalogue::{self, Check};
use crate::object::Origin;
use crate::report::{CheckResult, ObjectReport, Report, Status};
use serde_json::{json, Value};
use vigil_model::Severity;

pub const SARIF_VERSION: &str = "2.1.0";
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The report as a SARIF log.
pub fn render(report: &Report) -> Value {
    let checks: Vec<&Check> = catalogue::checks().collect();
    let rules: Vec<Value> = checks.iter().map(|c| rule(c)).collect();
    let results: Vec<Value> = report
        .objects
        .iter()
        .flat_map(|o| o.results.iter().map(move |r| (o, r)))
        .filter(|(_, r)| r.status != Status::Pass)
        .filter_map(|(o, r)| {
            let index = checks.iter().position(|c| c.id == r.check)?;
            Some(result(o, r, index))
        })
        .collect();
    let notifications: Vec<Value> = report
        .errors
        .iter()
        .map(|e| {
            let origin = Origin {
                file: e.file.clone(),
                document: e.document,
                item: e.item,
                line: e.line,
                helm_source: None,
            };
            json!({
                "level": "error",
                "message": {"text": e.to_string()},
                "locations": [{"physicalLocation": physical(&origin)}],
            })
        })
        .collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "vigil",
                "version": report.tool.version,
                "semanticVersion": report.tool.version,
                "informationUri": catalogue::DOCS_URL,
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}

/// The SARIF log as pretty JSON text.
pub fn to_string(report: &Report) -> String {
    serde_json::to_string_pretty(&render(report)).unwrap_or_default()
}

/// `error` for critical and high, `warning` for medium, `note` below.
pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning's numeric severity (0-10).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// `security.run-as-root` → `SecurityRunAsRoot`.
fn rule_name(id: &str) -> String {
    id.split(['.', '-'])
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|f| f.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn rule(c: &Check) -> Value {
    json!({
        "id": c.id,
        "name": rule_name(c.id),
        "shortDescription": {"text": c.description},
        "fullDescription": {"text": format!(
            "{} Applies to: {}. Pillar: {}.", c.description, c.applies_to, c.pillar.title())},
        "help": {
            "text": c.remediation,
            "markdown": format!("**Fix:** {}\n\nSee [{}]({}).", c.remediation, c.id, c.help_uri()),
        },
        "helpUri": c.help_uri(),
        "defaultConfiguration": {"level": level(c.severity)},
        "properties": {
            "pillar": c.pillar.as_str(),
            "severity": c.severity.as_str(),
            "security-severity": security_severity(c.severity),
            "tags": [c.pillar.as_str(), "kubernetes"],
            "polarisEquivalents": c.polaris,
            "kubeScoreEquivalents": c.kube_score,
        },
    })
}

fn object_name(o: &ObjectReport) -> String {
    match &o.namespace {
        Some(ns) => format!("{ns}/{}/{}", o.kind, o.name),
        None => format!("{}/{}", o.kind, o.name),
    }
}

/// A path as a URI reference: `/` separators, anything unusual percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn physical(origin: &Origin) -> Value {
    let mut loc = json!({"artifactLocation": {"uri": uri(&origin.file)}});
    if let Some(line) = origin.line {
        loc["region"] = json!({"startLine": line});
    }
    loc
}

fn result(o: &ObjectReport, r: &CheckResult, rule_index: usize) -> Value {
    let name = object_name(o);
    let text = if r.messages.is_empty() {
        format!("{name}: {}", r.check)
    } else {
        format!("{name}: {}", r.messages.join("; "))
    };
    let mut properties = json!({"document": o.origin.document, "pillar": r.pillar.as_str(), "severity": r.severity.as_str()});
    if let Some(item) = o.origin.item {
        properties["item"] = json!(item);
    }
    if let Some(src) = &o.origin.helm_source {
        properties["helmSource"] = json!(src);
    }
    let mut value = json!({
        "ruleId": r.check,
        "ruleIndex": rule_index,
        "level": level(r.severity),
        "message": {"text": text},
        "locations": [{
            "physicalLocation": physical(&o.origin),
            "logicalLocations": [{"name": o.name, "fullyQualifiedName": name, "kind": "resource"}],
        }],
        "partialFingerprints": {"vigilObjectCheck/v1": format!("{name}:{}", r.check)},
        "properties": properties,
    });
    if let Some(reason) = &r.exemption {
        let kind = if reason.starts_with("annotation") {
            "inSource"
        } else {
            "external"
        };
        value["suppressions"] = json!([{"kind": kind, "justification": reason}]);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_uris_and_levels() {
        assert_eq!(rule_name("security.run-as-root"), "SecurityRunAsRoot");
        assert_eq!(uri("deploy/my app.yaml"), "deploy/my%20app.yaml");
        assert_eq!(uri("a\\b.yaml"), "a/b.yaml");
        assert_eq!(level(Severity::High), "error");
        assert_eq!(level(Severity::Medium), "warning");
        assert_eq!(level(Severity::Info), "note");
    }
}
