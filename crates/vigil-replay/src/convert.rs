//! Turns a classified record into the typed value its pipeline takes, with
//! an error that names the field when the record does not fit (the record is
//! then counted as invalid and the replay goes on).

use crate::input::{RawRecord, RecordKind};
use k8s_openapi::api::{core::v1 as core, events::v1 as events};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use vigil_pipeline::sources::{AuditEvent, FalcoAlert};
use vigil_pipeline::KubeEvent;

/// A record ready for the pipeline, with its event time (for ordering).
#[derive(Debug, Clone)]
pub enum Typed {
    Kube(Box<KubeEvent>),
    Falco(Box<FalcoAlert>),
    Audit(Box<AuditEvent>),
    /// One finding of a tool report, already mapped by its preset.
    Mapped(Box<vigil_mapping::MappedObservation>),
}

impl Typed {
    /// When it happened, if the record says.
    pub fn event_time(&self) -> Option<Timestamp> {
        match self {
            Typed::Kube(e) => e.last_time.or(e.first_time),
            Typed::Falco(a) => Some(a.time),
            Typed::Audit(e) => Some(e.time()),
            Typed::Mapped(o) => o.spec.detected_at.as_ref().map(|t| t.0),
        }
    }
}

/// Converts; the error names the field (`involvedObject.name: invalid type: ...`).
pub fn convert(record: &RawRecord) -> Result<Typed, String> {
    match record.kind {
        RecordKind::KubeEvent => kube_event(&record.value).map(|e| Typed::Kube(Box::new(e))),
        RecordKind::Falco => FalcoAlert::from_value(record.value.clone())
            .map(|a| Typed::Falco(Box::new(a)))
            .map_err(|e| e.to_string()),
        RecordKind::Audit => AuditEvent::from_value(record.value.clone())
            .map(|e| Typed::Audit(Box::new(e)))
            .map_err(|e| e.to_string()),
    }
}

fn kube_event(value: &Value) -> Result<KubeEvent, String> {
    // eventrouter's lines wrap the Event: {"verb": "ADDED", "event": {...}}.
    let value = match (value.get("event"), value.get("verb")) {
        (Some(inner @ Value::Object(_)), Some(_)) => inner,
        _ => value,
    };
    let is_events_v1 = value.get("apiVersion").and_then(Value::as_str) == Some("events.k8s.io/v1")
        || (value.get("regarding").is_some() && value.get("involvedObject").is_none());
    if is_events_v1 {
        typed::<events::Event>(value).map(|e| KubeEvent::from(&e))
    } else {
        typed::<core::Event>(value).map(|e| KubeEvent::from(&e))
    }
}

fn typed<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Origin, Position};
    use serde_json::json;

    fn record(kind: RecordKind, value: Value) -> RawRecord {
        RawRecord {
            kind,
            origin: Origin {
                file: "t".into(),
                position: Position::Line(1),
            },
            value,
        }
    }

    #[test]
    fn both_event_apis_and_eventrouter_lines_convert() {
        let core = json!({"metadata": {"name": "a", "uid": "u1"}, "involvedObject": {"kind": "Pod", "name": "p"},
                          "reason": "BackOff", "type": "Warning", "lastTimestamp": "2026-01-01T00:00:00Z", "count": 3});
        let Ok(Typed::Kube(e)) = convert(&record(RecordKind::KubeEvent, core.clone())) else {
            panic!("an Event")
        };
        assert_eq!(
            (e.uid.as_str(), e.regarding.name.as_str(), e.count),
            ("u1", "p", 3)
        );
        assert_eq!(
            Typed::Kube(e).event_time(),
            Some("2026-01-01T00:00:00Z".parse().unwrap())
        );

        let v1 = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "b"},
                        "regarding": {"kind": "Node", "name": "n1"}, "reason": "NodeNotReady", "note": "x",
                        "eventTime": "2026-01-01T00:00:00.000000Z"});
        let Ok(Typed::Kube(e)) = convert(&record(RecordKind::KubeEvent, v1)) else {
            panic!("an Event")
        };
        assert_eq!(
            (e.regarding.kind.as_str(), e.message.as_str()),
            ("Node", "x")
        );

        let wrapped = json!({"verb": "UPDATED", "event": core});
        let Ok(Typed::Kube(e)) = convert(&record(RecordKind::KubeEvent, wrapped)) else {
            panic!("an Event")
        };
        assert_eq!(e.reason, "BackOff");
    }

    #[test]
    fn falco_and_audit_records_convert_with_their_time() {
        let alert = json!({"rule": "Terminal shell in container", "priority": "Notice", "output": "x",
                           "time": "2026-01-01T00:00:00.123456789Z", "output_fields": {}});
        let Ok(t @ Typed::Falco(_)) = convert(&record(RecordKind::Falco, alert)) else {
            panic!("a Falco alert")
        };
        assert_eq!(
            t.event_time().map(|t| t.to_string()),
            Some("2026-01-01T00:00:00.123456789Z".into())
        );
        let bad = json!({"rule": "r", "priority": "Urgent", "output": "x", "time": "2026-01-01T00:00:00Z"});
        let err = convert(&record(RecordKind::Falco, bad)).unwrap_err();
        assert!(err.contains("priority"), "{err}");
        let audit = json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "a1",
                           "stage": "ResponseComplete", "verb": "get",
                           "requestURI": "/api/v1/namespaces/shop/secrets/db", "user": {"username": "alice"},
                           "objectRef": {"resource": "secrets", "namespace": "shop", "name": "db", "apiVersion": "v1"},
                           "requestReceivedTimestamp": "2026-01-01T00:00:01.000000Z",
                           "stageTimestamp": "2026-01-01T00:00:01.500000Z"});
        let Ok(t @ Typed::Audit(_)) = convert(&record(RecordKind::Audit, audit)) else {
            panic!("an audit event")
        };
        assert!(t.event_time().is_some());
    }

    #[test]
    fn a_bad_field_is_named() {
        let bad = json!({"metadata": {"name": "a"}, "involvedObject": {"kind": "Pod", "name": 7}, "reason": "BackOff"});
        let err = convert(&record(RecordKind::KubeEvent, bad)).unwrap_err();
        assert!(
            err.starts_with("involvedObject.name: invalid type"),
            "{err}"
        );
        let bad_time =
            json!({"metadata": {"name": "a"}, "involvedObject": {}, "lastTimestamp": "yesterday"});
        let err = convert(&record(RecordKind::KubeEvent, bad_time)).unwrap_err();
        assert!(err.starts_with("lastTimestamp:"), "{err}");
    }
}
