//! The pipeline's view of a Kubernetes Event, built from either API
//! (`events.k8s.io/v1` or core `v1`), so no stage knows which one it came from.
//! Conversion never fails: a missing field becomes empty (or `None`).

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::events::v1 as events;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

/// The object an event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// One Kubernetes Event, as the pipeline needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KubeEvent {
    pub uid: String,
    /// The Event object's own namespace and name.
    pub namespace: String,
    pub name: String,
    pub resource_version: String,
    /// `Normal` or `Warning` (anything else is treated like Warning).
    pub type_: String,
    pub reason: String,
    pub message: String,
    pub regarding: ObjectRef,
    pub reporting_controller: String,
    pub reporting_instance: String,
    /// How many times it happened (deprecatedCount / series.count / count), at least 1.
    pub count: i64,
    pub first_time: Option<Timestamp>,
    /// The latest occurrence (series.lastObservedTime, lastTimestamp, eventTime, creation).
    pub last_time: Option<Timestamp>,
}

impl KubeEvent {
    /// The namespace the event is about: the regarding object's, else the
    /// Event's own (cluster-scoped objects such as Nodes have none).
    pub fn effective_namespace(&self) -> &str {
        if self.regarding.namespace.is_empty() {
            &self.namespace
        } else {
            &self.regarding.namespace
        }
    }

    /// Whether the event is `type=Normal` (case-insensitively); everything
    /// else, including an empty type, counts as Warning.
    pub fn is_normal(&self) -> bool {
        self.type_.eq_ignore_ascii_case("Normal")
    }
}

impl From<core::ObjectReference> for ObjectRef {
    fn from(r: core::ObjectReference) -> Self {
        Self {
            api_version: r.api_version.unwrap_or_default(),
            kind: r.kind.unwrap_or_default(),
            namespace: r.namespace.unwrap_or_default(),
            name: r.name.unwrap_or_default(),
            uid: r.uid.unwrap_or_default(),
        }
    }
}

/// Moves the strings out of the Event; the owned form is the cheap one when
/// the Event itself is not kept.
impl From<events::Event> for KubeEvent {
    fn from(e: events::Event) -> Self {
        let event_time = e.event_time.map(|t| t.0);
        let created = e.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let (series_count, series_last) = match e.series {
            Some(s) => (Some(i64::from(s.count)), Some(s.last_observed_time.0)),
            None => (None, None),
        };
        let source_component = e.deprecated_source.and_then(|s| s.component);
        let meta = e.metadata;
        Self {
            uid: meta.uid.unwrap_or_default(),
            namespace: meta.namespace.unwrap_or_default(),
            name: meta.name.unwrap_or_default(),
            resource_version: meta.resource_version.unwrap_or_default(),
            type_: e.type_.unwrap_or_default(),
            reason: e.reason.unwrap_or_default(),
            message: e.note.unwrap_or_default(),
            regarding: e.regarding.map(ObjectRef::from).unwrap_or_default(),
            reporting_controller: first_non_empty(e.reporting_controller, source_component),
            reporting_instance: e.reporting_instance.unwrap_or_default(),
            count: count(series_count.or(e.deprecated_count.map(i64::from))),
            first_time: e
                .deprecated_first_timestamp
                .map(|t| t.0)
                .or(event_time)
                .or(created),
            last_time: series_last
                .or(e.deprecated_last_timestamp.map(|t| t.0))
                .or(event_time)
                .or(created),
        }
    }
}

impl From<core::Event> for KubeEvent {
    fn from(e: core::Event) -> Self {
        let event_time = e.event_time.map(|t| t.0);
        let created = e.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let (series_count, series_last) = match e.series {
            Some(s) => (s.count.map(i64::from), s.last_observed_time.map(|t| t.0)),
            None => (None, None),
        };
        let source_component = e.source.and_then(|s| s.component);
        let meta = e.metadata;
        Self {
            uid: meta.uid.unwrap_or_default(),
            namespace: meta.namespace.unwrap_or_default(),
            name: meta.name.unwrap_or_default(),
            resource_version: meta.resource_version.unwrap_or_default(),
            type_: e.type_.unwrap_or_default(),
            reason: e.reason.unwrap_or_default(),
            message: e.message.unwrap_or_default(),
            regarding: ObjectRef::from(e.involved_object),
            reporting_controller: first_non_empty(e.reporting_component, source_component),
            reporting_instance: e.reporting_instance.unwrap_or_default(),
            count: count(series_count.or(e.count.map(i64::from))),
            first_time: e.first_timestamp.map(|t| t.0).or(event_time).or(created),
            last_time: series_last
                .or(e.last_timestamp.map(|t| t.0))
                .or(event_time)
                .or(created),
        }
    }
}

/// Copies only the fields the pipeline reads (not managedFields, labels, ...).
impl From<&events::Event> for KubeEvent {
    fn from(e: &events::Event) -> Self {
        KubeEvent::from(events::Event {
            metadata: slim_meta(&e.metadata),
            deprecated_count: e.deprecated_count,
            deprecated_first_timestamp: e.deprecated_first_timestamp.clone(),
            deprecated_last_timestamp: e.deprecated_last_timestamp.clone(),
            deprecated_source: e.deprecated_source.clone(),
            event_time: e.event_time.clone(),
            note: e.note.clone(),
            reason: e.reason.clone(),
            regarding: e.regarding.clone(),
            reporting_controller: e.reporting_controller.clone(),
            reporting_instance: e.reporting_instance.clone(),
            series: e.series.clone(),
            type_: e.type_.clone(),
            ..Default::default()
        })
    }
}

/// Copies only the fields the pipeline reads (not managedFields, labels, ...).
impl From<&core::Event> for KubeEvent {
    fn from(e: &core::Event) -> Self {
        KubeEvent::from(core::Event {
            metadata: slim_meta(&e.metadata),
            count: e.count,
            event_time: e.event_time.clone(),
            first_timestamp: e.first_timestamp.clone(),
            involved_object: e.involved_object.clone(),
            last_timestamp: e.last_timestamp.clone(),
            message: e.message.clone(),
            reason: e.reason.clone(),
            reporting_component: e.reporting_component.clone(),
            reporting_instance: e.reporting_instance.clone(),
            series: e.series.clone(),
            source: e.source.clone(),
            type_: e.type_.clone(),
            ..Default::default()
        })
    }
}

fn slim_meta(m: &ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        uid: m.uid.clone(),
        namespace: m.namespace.clone(),
        name: m.name.clone(),
        resource_version: m.resource_version.clone(),
        creation_timestamp: m.creation_timestamp.clone(),
        ..Default::default()
    }
}

/// The first value that is set and not empty (recorders write `""` for unset).
fn first_non_empty(preferred: Option<String>, fallback: Option<String>) -> String {
    preferred
        .filter(|s| !s.is_empty())
        .or(fallback)
        .unwrap_or_default()
}

fn count(value: Option<i64>) -> i64 {
    value.unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> Option<Timestamp> {
        Some(s.parse().expect("valid timestamp"))
    }

    #[test]
    fn events_v1_prefers_the_series_and_reads_note_and_regarding() {
        let e: events::Event = serde_json::from_value(json!({
            "metadata": {"name": "web-1.17a", "namespace": "shop", "uid": "u-1",
                         "resourceVersion": "42", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "eventTime": "2026-01-01T00:00:01.000000Z",
            "series": {"count": 7, "lastObservedTime": "2026-01-01T00:05:00.500000Z"},
            "deprecatedCount": 3,
            "deprecatedLastTimestamp": "2026-01-01T00:04:00Z",
            "type": "Warning", "reason": "BackOff", "note": "Back-off restarting failed container",
            "regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": "shop", "name": "web-1", "uid": "p-1"},
            "reportingController": "kubelet", "reportingInstance": "node-a",
            "deprecatedSource": {"component": "ignored"}
        }))
        .expect("valid event");
        let k = KubeEvent::from(&e);
        assert_eq!(k.count, 7);
        assert_eq!(k.last_time, at("2026-01-01T00:05:00.5Z"));
        assert_eq!(k.first_time, at("2026-01-01T00:00:01Z"));
        assert_eq!(k.message, "Back-off restarting failed container");
        assert_eq!(k.regarding.name, "web-1");
        assert_eq!(k.regarding.uid, "p-1");
        assert_eq!(k.reporting_controller, "kubelet");
        assert_eq!(k.reporting_instance, "node-a");
        assert_eq!((k.uid.as_str(), k.resource_version.as_str()), ("u-1", "42"));
    }

    #[test]
    fn events_v1_falls_back_to_deprecated_fields_then_creation() {
        let e: events::Event = serde_json::from_value(json!({
            "metadata": {"name": "n.1", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "deprecatedCount": 4,
            "deprecatedFirstTimestamp": "2026-01-01T00:01:00Z",
            "deprecatedLastTimestamp": "2026-01-01T00:02:00Z",
            "deprecatedSource": {"component": "node-controller"},
            "reportingController": ""
        }))
        .expect("valid event");
        let k = KubeEvent::from(&e);
        assert_eq!(k.count, 4);
        assert_eq!(k.first_time, at("2026-01-01T00:01:00Z"));
        assert_eq!(k.last_time, at("2026-01-01T00:02:00Z"));
        assert_eq!(k.reporting_controller, "node-controller");

        let bare: events::Event = serde_json::from_value(
            json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}}),
        )
        .expect("valid event");
        let k = KubeEvent::from(&bare);
        assert_eq!(k.count, 1);
        assert_eq!(k.last_time, at("2026-01-01T00:00:00Z"));
        assert_eq!(k.first_time, k.last_time);
        assert_eq!(k.regarding, ObjectRef::default());
    }

    #[test]
    fn core_v1_reads_count_timestamps_message_and_source() {
        let e: core::Event = serde_json::from_value(json!({
            "metadata": {"name": "x.1", "namespace": "default", "creationTimestamp": "2017-09-01T13:07:41Z"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "docker-registry-1-p08jj"},
            "reason": "Unhealthy", "message": "Readiness probe failed",
            "source": {"component": "kubelet", "host": "fed2"},
            "reportingComponent": "",
            "firstTimestamp": "2017-08-31T17:08:21Z", "lastTimestamp": "2017-09-01T13:16:51Z",
            "count": 6, "type": "Warning"
        }))
        .expect("valid event");
        let k = KubeEvent::from(&e);
        assert_eq!(k.count, 6);
        assert_eq!(k.first_time, at("2017-08-31T17:08:21Z"));
        assert_eq!(k.last_time, at("2017-09-01T13:16:51Z"));
        assert_eq!(k.reporting_controller, "kubelet");
        assert_eq!(k.message, "Readiness probe failed");
        assert_eq!(k.effective_namespace(), "default");
        assert!(!k.is_normal());
    }

    #[test]
    fn core_v1_uses_event_time_when_timestamps_are_null_and_clamps_count() {
        let e: core::Event = serde_json::from_value(json!({
            "metadata": {"creationTimestamp": "2024-09-05T12:52:10Z", "namespace": "ops"},
            "involvedObject": {"kind": "Node", "name": "node-a"},
            "eventTime": "2024-09-05T12:52:10.819462Z",
            "firstTimestamp": null, "lastTimestamp": null,
            "count": 0,
            "series": {"count": null},
            "reportingComponent": "falcosecurity.org/falco-talon",
            "type": "Normal"
        }))
        .expect("valid event");
        let k = KubeEvent::from(&e);
        assert_eq!(k.count, 1);
        assert_eq!(k.last_time, at("2024-09-05T12:52:10.819462Z"));
        assert_eq!(k.first_time, k.last_time);
        assert_eq!(k.reporting_controller, "falcosecurity.org/falco-talon");
        assert_eq!(
            k.effective_namespace(),
            "ops",
            "a Node has no namespace of its own"
        );
        assert!(k.is_normal());
    }

    #[test]
    fn owned_and_borrowed_conversions_agree() {
        let e: core::Event = serde_json::from_value(json!({
            "metadata": {"name": "x.1", "namespace": "ns", "uid": "u", "resourceVersion": "9",
                         "labels": {"a": "b"}, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "involvedObject": {"kind": "Pod", "namespace": "ns", "name": "p", "uid": "pu", "apiVersion": "v1"},
            "reason": "BackOff", "message": "m", "type": "Warning", "count": 2,
            "source": {"component": "kubelet"}, "reportingInstance": "node-a",
            "lastTimestamp": "2026-01-01T00:01:00Z"
        }))
        .expect("valid event");
        let borrowed = KubeEvent::from(&e);
        assert_eq!(borrowed, KubeEvent::from(e));
        assert_eq!(
            (borrowed.count, borrowed.reporting_instance.as_str()),
            (2, "node-a")
        );
        let v: events::Event = serde_json::from_value(json!({
            "metadata": {"uid": "u"}, "note": "n", "series": {"count": 3, "lastObservedTime": "2026-01-01T00:00:00.000000Z"},
            "regarding": {"kind": "Node", "name": "a"}
        }))
        .expect("valid event");
        assert_eq!(KubeEvent::from(&v), KubeEvent::from(v));
    }

    #[test]
    fn core_v1_series_wins_over_count() {
        let e: core::Event = serde_json::from_value(json!({
            "metadata": {},
            "involvedObject": {},
            "count": 2, "lastTimestamp": "2026-01-01T00:00:00Z",
            "series": {"count": 9, "lastObservedTime": "2026-01-01T00:09:00.000000Z"}
        }))
        .expect("valid event");
        let k = KubeEvent::from(&e);
        assert_eq!(k.count, 9);
        assert_eq!(k.last_time, at("2026-01-01T00:09:00Z"));
        assert_eq!(k.first_time, None);
    }
}
