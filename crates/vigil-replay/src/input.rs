//! Reads exported data into records, telling each record's kind from its own
//! shape: `kubectl get events -o json|yaml` (a `List`/`EventList`), JSON lines
//! of Kubernetes Events, audit logs (JSON lines of `audit.k8s.io` Events, or
//! an `EventList` batch), and Falco's JSON lines. A file may mix them. Pure:
//! text in, records out; a record that is not understood is reported with its
//! position and the field that is missing, and the rest is still read.

use serde_json::Value;
use std::fmt;
use vigil_model::json::kind_of;

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// A Kubernetes Event, core `v1` or `events.k8s.io/v1`.
    KubeEvent,
    /// An `audit.k8s.io` Event.
    Audit,
    /// A Falco alert.
    Falco,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::KubeEvent => "kubernetes-event",
            RecordKind::Audit => "k8s-audit",
            RecordKind::Falco => "falco",
        }
    }
}

/// The kind a user may force with `--format`, when detection is not wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Detect each record's kind from its fields.
    Auto,
    Only(RecordKind),
}

/// Where a record came from: the file and the line (JSON lines), document
/// (YAML) or list item, all counted from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub position: Position,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Line(usize),
    Document(usize),
    /// Item `item` of the list in line/document `of`.
    Item {
        of: usize,
        item: usize,
    },
}

impl Position {
    /// Orders positions within one input: by line or document, then item.
    pub fn sort_key(self) -> (usize, usize) {
        match self {
            Position::Line(n) | Position::Document(n) => (n, 0),
            Position::Item { of, item } => (of, item),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Position::Line(n) => write!(f, "{}:{n}", self.file),
            Position::Document(n) => write!(f, "{} document {n}", self.file),
            Position::Item { of, item } => {
                write!(f, "{} (list at {of}) items[{}]", self.file, item - 1)
            }
        }
    }
}

/// One record, classified but not yet converted.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    pub kind: RecordKind,
    pub origin: Origin,
    pub value: Value,
}

/// A record that could not be read; the replay counts it and goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub origin: Origin,
    pub message: String,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

/// Everything read from one text.
#[derive(Debug, Default)]
pub struct Parsed {
    pub records: Vec<RawRecord>,
    pub rejected: Vec<Rejected>,
    /// Well-formed Kubernetes objects that are not events (a Trivy report, or
    /// a Deployment in a mixed dump): replayed through a tool preset when one
    /// reads that kind, else counted as filtered `not_an_event`.
    pub objects: Vec<(Origin, Value)>,
}

/// Reads one file's text. JSON (one value, or JSON lines) is tried first;
/// text that is not JSON is read as (multi-document) YAML.
pub fn parse(file: &str, text: &str, format: Format) -> Parsed {
    let mut out = Parsed::default();
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return out;
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        // One JSON document (possibly pretty-printed over many lines)…
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            let origin = Origin {
                file: file.into(),
                position: Position::Line(1),
            };
            take(value, origin, format, &mut out);
            return out;
        }
        // …or JSON lines.
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let origin = Origin {
                file: file.into(),
                position: Position::Line(i + 1),
            };
            match serde_json::from_str::<Value>(line) {
                Ok(value) => take(value, origin, format, &mut out),
                Err(e) => out.rejected.push(Rejected {
                    origin,
                    message: format!("not JSON: {e}"),
                }),
            }
        }
        return out;
    }
    match serde_saphyr::from_multiple::<Value>(text) {
        Ok(docs) => {
            for (i, value) in docs.into_iter().enumerate().filter(|(_, v)| !v.is_null()) {
                let origin = Origin {
                    file: file.into(),
                    position: Position::Document(i + 1),
                };
                take(value, origin, format, &mut out);
            }
        }
        Err(e) => out.rejected.push(Rejected {
            origin: Origin {
                file: file.into(),
                position: Position::Document(1),
            },
            message: format!("neither JSON nor YAML: {e}"),
        }),
    }
    out
}

/// Adds one value: a list is unpacked, a record classified.
fn take(value: Value, origin: Origin, format: Format, out: &mut Parsed) {
    let of = match origin.position {
        Position::Line(n) | Position::Document(n) => n,
        Position::Item { of, .. } => of,
    };
    let file = origin.file.clone();
    let items = match value {
        Value::Array(items) => Some(items),
        Value::Object(mut map) if is_list(&map) => match map.remove("items") {
            Some(Value::Array(items)) => Some(items),
            Some(Value::Null) | None => Some(Vec::new()),
            Some(_) => {
                out.rejected.push(Rejected {
                    origin,
                    message: "items: expected an array".into(),
                });
                return;
            }
        },
        other => {
            classify_into(other, origin, format, out);
            None
        }
    };
    let Some(items) = items else { return };
    for (i, item) in items.into_iter().enumerate() {
        let origin = Origin {
            file: file.clone(),
            position: Position::Item { of, item: i + 1 },
        };
        classify_into(item, origin, format, out);
    }
}

/// `kind: List`, `kind: EventList` (core, events.k8s.io or audit) or a bare `{items: [...]}`.
fn is_list(map: &serde_json::Map<String, Value>) -> bool {
    match map.get("kind").and_then(Value::as_str) {
        Some(kind) => kind.ends_with("List"),
        None => map.contains_key("items") && !map.contains_key("metadata"),
    }
}

fn classify_into(value: Value, origin: Origin, format: Format, out: &mut Parsed) {
    let detected = classify(&value);
    let kind = match (format, detected) {
        (Format::Only(kind), _) => Ok(kind),
        (Format::Auto, result) => result,
    };
    match kind {
        Ok(kind) => out.records.push(RawRecord {
            kind,
            origin,
            value,
        }),
        Err(_) if is_other_object(&value) => out.objects.push((origin, value)),
        Err(message) => out.rejected.push(Rejected { origin, message }),
    }
}

/// Tells a record's kind from fields only that kind has; the error says
/// what was looked for.
pub fn classify(value: &Value) -> Result<RecordKind, String> {
    let Value::Object(map) = value else {
        return Err(format!("expected a JSON object, found {}", kind_of(value)));
    };
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api_version.starts_with("audit.k8s.io/") || map.contains_key("auditID") {
        return Ok(RecordKind::Audit);
    }
    if map.contains_key("rule") && map.contains_key("priority") {
        return Ok(RecordKind::Falco);
    }
    if let Some(kind) = map.get("kind").filter(|k| !k.is_string()) {
        return Err(format!("kind: expected a string, found {}", kind_of(kind)));
    }
    // eventrouter's lines wrap the Event: {"verb": "ADDED", "event": {...}}.
    if map.contains_key("verb") && map.get("event").is_some_and(Value::is_object) {
        return Ok(RecordKind::KubeEvent);
    }
    if api_version.starts_with("events.k8s.io/")
        || map.contains_key("involvedObject")
        || map.contains_key("regarding")
        || (map.get("kind").and_then(Value::as_str) == Some("Event") && map.contains_key("reason"))
    {
        return Ok(RecordKind::KubeEvent);
    }
    Err(
        "not a Kubernetes Event (no involvedObject or regarding), an audit Event (no auditID) \
         or a Falco alert (no rule and priority)"
            .into(),
    )
}

/// A Kubernetes object of some other kind: `apiVersion`, `kind` and `metadata.name`.
fn is_other_object(value: &Value) -> bool {
    value.get("apiVersion").is_some_and(Value::is_string)
        && value.get("kind").is_some_and(Value::is_string)
        && value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .is_some_and(Value::is_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(p: &Parsed) -> Vec<RecordKind> {
        p.records.iter().map(|r| r.kind).collect()
    }

    #[test]
    fn kubectl_list_output_is_unpacked_with_item_positions() {
        let text = r#"{"apiVersion":"v1","kind":"List","items":[
            {"metadata":{"name":"a"},"involvedObject":{"kind":"Pod"},"reason":"BackOff"},
            {"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"b"},"regarding":{"kind":"Pod"}}]}"#;
        let p = parse("events.json", text, Format::Auto);
        assert_eq!(kinds(&p), [RecordKind::KubeEvent, RecordKind::KubeEvent]);
        assert_eq!(
            p.records[1].origin.to_string(),
            "events.json (list at 1) items[1]"
        );
        assert!(p.rejected.is_empty());
    }

    #[test]
    fn json_lines_mix_kinds_and_report_bad_lines_by_number() {
        let text = concat!(
            r#"{"rule":"Terminal shell in container","priority":"Notice","output":"x","time":"2026-01-01T00:00:00Z"}"#,
            "\n\n",
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"1","stage":"ResponseComplete"}"#,
            "\n{oops\n",
            r#"{"hello":"world"}"#,
            "\n"
        );
        let p = parse("mixed.jsonl", text, Format::Auto);
        assert_eq!(kinds(&p), [RecordKind::Falco, RecordKind::Audit]);
        assert_eq!(p.records[1].origin.position, Position::Line(3));
        let rejected: Vec<String> = p.rejected.iter().map(ToString::to_string).collect();
        assert_eq!(rejected.len(), 2, "{rejected:?}");
        assert!(
            rejected[0].starts_with("mixed.jsonl:4: not JSON"),
            "{rejected:?}"
        );
        assert!(
            rejected[1].starts_with("mixed.jsonl:5: not a Kubernetes Event"),
            "{rejected:?}"
        );
    }

    #[test]
    fn an_audit_event_list_is_a_batch_of_audit_records() {
        let text = r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[
            {"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"1"},
            {"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"2"}]}"#;
        assert_eq!(
            kinds(&parse("audit.json", text, Format::Auto)),
            [RecordKind::Audit, RecordKind::Audit]
        );
    }

    #[test]
    fn yaml_documents_are_read_when_the_text_is_not_json() {
        let text = "---\napiVersion: v1\nkind: Event\nreason: Pulled\ninvolvedObject: {kind: Pod, name: a}\n---\n\
                    apiVersion: v1\nkind: Event\nreason: Started\ninvolvedObject: {kind: Pod, name: a}\n";
        let p = parse("stream.yaml", text, Format::Auto);
        assert_eq!(kinds(&p), [RecordKind::KubeEvent, RecordKind::KubeEvent]);
        assert_eq!(p.records[0].origin.to_string(), "stream.yaml document 1");
    }

    #[test]
    fn other_kubernetes_objects_are_skipped_and_bad_kinds_named() {
        let text =
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\nkind: 0\n";
        let p = parse("mixed.yaml", text, Format::Auto);
        assert!(p.records.is_empty());
        assert_eq!(p.objects.len(), 1);
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(
            p.rejected[0].message,
            "kind: expected a string, found a number"
        );
        let wrapped = serde_json::json!({"verb": "ADDED", "event": {"metadata": {"name": "e"}, "reason": "BackOff"}});
        assert_eq!(classify(&wrapped), Ok(RecordKind::KubeEvent));
    }

    #[test]
    fn a_forced_format_skips_detection() {
        let p = parse(
            "x.jsonl",
            r#"{"something":"else"}"#,
            Format::Only(RecordKind::Falco),
        );
        assert_eq!(kinds(&p), [RecordKind::Falco]);
    }

    #[test]
    fn an_event_without_apiversion_or_kind_is_still_an_event() {
        // kubernetes-event-exporter's payloads drop both.
        let v = serde_json::json!({"metadata": {"name": "x"}, "involvedObject": {"kind": "Pod"}, "reason": "BackOff"});
        assert_eq!(classify(&v), Ok(RecordKind::KubeEvent));
        assert!(classify(&serde_json::json!([1]))
            .unwrap_err()
            .contains("an array"));
    }
}
