//! What the detector reads: one occurrence of an Observation, borrowed, with
//! the context the Observation itself does not carry (cluster, audience,
//! event time, an id). Owns the conversion from the pipeline's output; it
//! holds no state.

use crate::key::KeyField;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;
use vigil_model::ObservationSpec;
use vigil_pipeline::enrich::AUDIENCE_LABEL;
use vigil_pipeline::{Audience, Candidate};

/// One occurrence (or several folded into one, see `occurrences`) of an
/// Observation, as the detector sees it. Borrowed, so building one costs no
/// allocation.
#[derive(Debug, Clone, Copy)]
pub struct Signal<'a> {
    /// The cluster it came from (`""` for a single-cluster agent that does not care).
    pub cluster: &'a str,
    /// The namespace the finding is about (`""` for cluster-scoped objects).
    pub namespace: &'a str,
    /// Who it is for; travels to the anomaly.
    pub audience: Audience,
    pub spec: &'a ObservationSpec,
    /// `spec.details.reason` (`""` when absent); what `match.reason` and
    /// `groupBy: [reason]` read.
    pub reason: &'a str,
    /// Weight: how many occurrences this signal stands for (a repeat folded by
    /// dedup still counts). `0` counts as 1.
    pub occurrences: u64,
    /// Event time: when it happened, not when it arrived.
    pub at: Timestamp,
    /// Identifies the occurrence: the same id is counted once per window
    /// (a redelivery), and ids are the anomaly's samples. `""` means no id:
    /// never deduplicated, never sampled.
    pub id: &'a str,
}

impl<'a> Signal<'a> {
    /// One occurrence of `spec` at event time `at`: namespace from
    /// `spec.resource.namespace`, reason from `spec.details.reason`.
    pub fn new(
        cluster: &'a str,
        audience: Audience,
        spec: &'a ObservationSpec,
        at: Timestamp,
        id: &'a str,
    ) -> Self {
        Self {
            cluster,
            namespace: spec
                .resource
                .as_ref()
                .and_then(|r| r.namespace.as_deref())
                .unwrap_or(""),
            audience,
            spec,
            reason: reason_of(spec),
            occurrences: 1,
            at,
            id,
        }
    }

    /// A new Observation from the pipeline: its audience label (platform when
    /// missing or unknown: never route to a customer what enrich did not give
    /// them), its `detectedAt` as event time (else `fallback_at`, the
    /// caller's clock), its name as id (unique per emitted Observation).
    pub fn from_candidate(
        cluster: &'a str,
        candidate: &'a Candidate,
        fallback_at: Timestamp,
    ) -> Self {
        let at = candidate
            .spec
            .detected_at
            .as_ref()
            .map_or(fallback_at, |t| t.0);
        Self::new(
            cluster,
            audience_of(&candidate.labels),
            &candidate.spec,
            at,
            &candidate.name,
        )
    }

    /// The same signal standing for `occurrences` occurrences.
    pub fn with_occurrences(mut self, occurrences: u64) -> Self {
        self.occurrences = occurrences;
        self
    }

    /// The same signal under another id (e.g. `<name>#<occurrence>` for a
    /// repeat of an emitted Observation).
    pub fn with_id(mut self, id: &'a str) -> Self {
        self.id = id;
        self
    }

    /// `spec.resource.kind`, or `""`.
    pub fn kind(&self) -> &'a str {
        self.spec
            .resource
            .as_ref()
            .and_then(|r| r.kind.as_deref())
            .unwrap_or("")
    }

    /// `spec.resource.name`, or `""`.
    pub fn name(&self) -> &'a str {
        self.spec
            .resource
            .as_ref()
            .and_then(|r| r.name.as_deref())
            .unwrap_or("")
    }

    /// The value of a group-by field.
    pub fn value(&self, field: KeyField) -> &'a str {
        match field {
            KeyField::Cluster => self.cluster,
            KeyField::Namespace => self.namespace,
            KeyField::Kind => self.kind(),
            KeyField::Name => self.name(),
            KeyField::Reason => self.reason,
            KeyField::EventType => &self.spec.event_type,
            KeyField::Source => &self.spec.source,
            KeyField::Audience => self.audience.as_str(),
        }
    }
}

/// `spec.details.reason` when it is a string, else `""`.
pub fn reason_of(spec: &ObservationSpec) -> &str {
    spec.details
        .as_ref()
        .and_then(|d| d.get("reason"))
        .and_then(|r| r.as_str())
        .unwrap_or("")
}

/// The audience enrich wrote into a label set; platform unless it says customer.
pub fn audience_of(labels: &BTreeMap<String, String>) -> Audience {
    match labels.get(AUDIENCE_LABEL).map(String::as_str) {
        Some("customer") => Audience::Customer,
        _ => Audience::Platform,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;
    use vigil_model::{Category, ResourceRef, Severity};

    fn spec() -> ObservationSpec {
        ObservationSpec {
            source: "kubernetes-events".into(),
            category: Category::Operations,
            severity: Severity::High,
            event_type: "pod_backoff".into(),
            resource: Some(ResourceRef {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some("web-0".into()),
                namespace: Some("shop".into()),
            }),
            details: Some(json!({"reason": "BackOff", "count": 3})),
            detected_at: Some(Time("2026-01-01T00:00:05Z".parse().expect("time"))),
            ttl_seconds_after_creation: None,
        }
    }

    #[test]
    fn fields_come_from_the_spec() {
        let spec = spec();
        let at: Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let s = Signal::new("c1", Audience::Customer, &spec, at, "e-1");
        let values: Vec<&str> = KeyField::ALL.iter().map(|f| s.value(*f)).collect();
        assert_eq!(
            values,
            [
                "c1",
                "shop",
                "Pod",
                "web-0",
                "BackOff",
                "pod_backoff",
                "kubernetes-events",
                "customer"
            ]
        );
        assert_eq!((s.occurrences, s.at, s.id), (1, at, "e-1"));
        let s = s.with_occurrences(4).with_id("e-2");
        assert_eq!((s.occurrences, s.id), (4, "e-2"));
    }

    #[test]
    fn missing_fields_are_empty() {
        let bare = ObservationSpec {
            resource: None,
            details: Some(json!({"reason": 7})),
            ..spec()
        };
        let s = Signal::new("", Audience::Platform, &bare, Timestamp::UNIX_EPOCH, "");
        assert_eq!(
            (s.namespace, s.kind(), s.name(), s.reason),
            ("", "", "", "")
        );
    }

    #[test]
    fn candidates_carry_audience_time_and_name() {
        let mut c = Candidate {
            name: "kubernetes-events-pod-backoff-0123456789abcdef".into(),
            namespace: "shop".into(),
            labels: BTreeMap::from([(AUDIENCE_LABEL.to_string(), "customer".to_string())]),
            spec: spec(),
            fingerprint: "0000000000000001".into(),
        };
        let fallback: Timestamp = "2030-01-01T00:00:00Z".parse().expect("time");
        let s = Signal::from_candidate("c1", &c, fallback);
        assert_eq!(s.audience, Audience::Customer);
        assert_eq!(
            s.at,
            "2026-01-01T00:00:05Z".parse::<Timestamp>().expect("time")
        );
        assert_eq!(s.id, c.name);
        assert_eq!(s.reason, "BackOff");
        c.labels.clear();
        c.spec.detected_at = None;
        let s = Signal::from_candidate("c1", &c, fallback);
        assert_eq!(
            (s.audience, s.at),
            (Audience::Platform, fallback),
            "no label is platform, no time is the fallback"
        );
    }
}
