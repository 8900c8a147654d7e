//! What the detector raises: an [`Anomaly`], its deterministic id and
//! object name, and its form as an Observation. Owns the id scheme and the
//! Observation layout of anomalies; when one is raised is the engine's
//! business.
//!
//! The id is SHA-256 over (rule, rule version, key, window), nothing else:
//! the same rule crossing its threshold for the same key in the same window
//! is the same anomaly in every process, every replay and every replica, so
//! a sink's create-or-conflict writes it once.

use crate::key::KeyField;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use vigil_model::{Category, ObservationSpec, ResourceRef, Severity};
use vigil_pipeline::enrich::{AUDIENCE_LABEL, SOURCE_LABEL};
use vigil_pipeline::Audience;

/// `spec.source` of anomaly Observations. Signals from this source are
/// never counted, so anomalies fed back in cannot feed themselves.
pub const SOURCE: &str = "vigil-detect";
/// `spec.eventType` of anomaly Observations.
pub const EVENT_TYPE: &str = "anomaly";
/// Label carrying the rule's name.
pub const RULE_LABEL: &str = "vigil.kube-zen.io/rule";
/// Longest object name: a DNS label.
pub const MAX_NAME_LEN: usize = 63;

/// A rule's threshold crossed by one group key in one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub rule: String,
    pub rule_version: u32,
    /// The group key, in the rule's `groupBy` order.
    pub key: Vec<(KeyField, String)>,
    /// The window, `[start, end)`.
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    /// Occurrences (or distinct values, see `distinct`) counted when the
    /// threshold was crossed: at least `threshold`.
    pub count: u64,
    pub threshold: u64,
    /// The field counted distinct, for distinct rules.
    pub distinct: Option<KeyField>,
    /// Ids of the first signals counted (at most the configured number).
    pub samples: Vec<String>,
    pub severity: Severity,
    pub category: Category,
    /// The rule's description, filled in.
    pub description: String,
    /// Customer only if every signal counted was for the customer; otherwise
    /// platform (a cross-tenant anomaly never goes to one tenant).
    pub audience: Audience,
    /// Event time of the signal that crossed the threshold.
    pub detected_at: Timestamp,
}

impl Anomaly {
    /// 64 hex digits of SHA-256 over rule, rule version, key and window.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"vigil-anomaly-v1");
        field(&mut h, self.rule.as_bytes());
        h.update(self.rule_version.to_be_bytes());
        h.update((self.key.len() as u64).to_be_bytes());
        for (f, v) in &self.key {
            field(&mut h, f.as_str().as_bytes());
            field(&mut h, v.as_bytes());
        }
        h.update(self.window_start.as_millisecond().to_be_bytes());
        h.update(self.window_end.as_millisecond().to_be_bytes());
        let digest = h.finalize();
        let mut out = String::with_capacity(64);
        for b in digest.iter() {
            push_hex_byte(&mut out, *b);
        }
        out
    }

    /// `anomaly-<rule>-<first 16 hex of the id>`: a DNS label of at most
    /// [`MAX_NAME_LEN`], the same wherever the anomaly is raised.
    pub fn name(&self) -> String {
        let id = self.id();
        let mut name = String::with_capacity(MAX_NAME_LEN);
        name.push_str("anomaly-");
        for c in self.rule.chars() {
            let c = c.to_ascii_lowercase();
            let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            };
            if !(c == '-' && name.ends_with('-')) {
                name.push(c);
            }
        }
        name.truncate(MAX_NAME_LEN - 17);
        while name.ends_with('-') {
            name.pop();
        }
        name.push('-');
        name.push_str(&id[..16]);
        name
    }

    /// The key's value for `field`, if the rule groups by it.
    pub fn key_value(&self, field: KeyField) -> Option<&str> {
        self.key
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v.as_str())
    }

    /// The namespace the anomaly is about, when the rule groups by a
    /// namespace and it is not empty: where its Observation belongs.
    pub fn namespace(&self) -> Option<&str> {
        self.key_value(KeyField::Namespace)
            .filter(|n| !n.is_empty())
    }

    /// Audience, source and rule labels for its Observation.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                AUDIENCE_LABEL.to_string(),
                self.audience.as_str().to_string(),
            ),
            (SOURCE_LABEL.to_string(), SOURCE.to_string()),
            (RULE_LABEL.to_string(), self.rule.clone()),
        ])
    }

    /// The anomaly as an Observation: source `vigil-detect`, eventType
    /// `anomaly`, the rule's severity and category, the object (or
    /// namespace) it is about, and the details (rule, ruleVersion, key,
    /// window, count, threshold, samples, description, audience, id).
    pub fn to_observation_spec(&self) -> ObservationSpec {
        let mut key = Map::new();
        for (f, v) in &self.key {
            key.insert(f.as_str().to_string(), v.clone().into());
        }
        let mut details = Map::new();
        details.insert("rule".into(), self.rule.clone().into());
        details.insert("ruleVersion".into(), self.rule_version.into());
        details.insert("key".into(), Value::Object(key));
        details.insert(
            "window".into(),
            json!({"start": self.window_start.to_string(), "end": self.window_end.to_string()}),
        );
        details.insert("count".into(), self.count.into());
        details.insert("threshold".into(), self.threshold.into());
        if let Some(d) = self.distinct {
            details.insert("distinct".into(), d.as_str().into());
        }
        details.insert("samples".into(), self.samples.clone().into());
        details.insert("description".into(), self.description.clone().into());
        details.insert("audience".into(), self.audience.as_str().into());
        details.insert("anomalyId".into(), self.id().into());
        ObservationSpec {
            source: SOURCE.to_string(),
            category: self.category,
            severity: self.severity,
            event_type: EVENT_TYPE.to_string(),
            resource: self.resource(),
            details: Some(Value::Object(details)),
            detected_at: Some(Time(self.detected_at)),
            ttl_seconds_after_creation: None,
        }
    }

    /// The object when the key names one, else the namespace, else nothing.
    fn resource(&self) -> Option<ResourceRef> {
        let some = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_string);
        let namespace = some(self.namespace());
        if let Some(name) = some(self.key_value(KeyField::Name)) {
            return Some(ResourceRef {
                api_version: None,
                kind: some(self.key_value(KeyField::Kind)),
                name: Some(name),
                namespace,
            });
        }
        namespace.map(|ns| ResourceRef {
            api_version: Some("v1".into()),
            kind: Some("Namespace".into()),
            name: Some(ns.clone()),
            namespace: Some(ns),
        })
    }
}

/// Length-prefixed, so no two different field lists hash the same bytes.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

fn push_hex_byte(out: &mut String, b: u8) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(char::from(DIGITS[usize::from(b >> 4)]));
    out.push(char::from(DIGITS[usize::from(b & 0xf)]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("valid time")
    }

    fn anomaly() -> Anomaly {
        Anomaly {
            rule: "pod-crashloop".into(),
            rule_version: 1,
            key: vec![
                (KeyField::Cluster, "c1".into()),
                (KeyField::Namespace, "shop".into()),
                (KeyField::Kind, "Pod".into()),
                (KeyField::Name, "web-0".into()),
            ],
            window_start: ts("2026-01-01T00:05:00Z"),
            window_end: ts("2026-01-01T00:10:00Z"),
            count: 10,
            threshold: 10,
            distinct: None,
            samples: vec!["e-1".into(), "e-2".into()],
            severity: Severity::High,
            category: Category::Operations,
            description: "Pod shop/web-0 restarted".into(),
            audience: Audience::Customer,
            detected_at: ts("2026-01-01T00:06:00Z"),
        }
    }

    #[test]
    fn the_id_depends_on_rule_version_key_and_window_only() {
        let a = anomaly();
        let id = a.id();
        assert_eq!(id.len(), 64);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        // What fired it, and when, does not change the id.
        let same = Anomaly {
            count: 99,
            samples: vec![],
            description: "other".into(),
            audience: Audience::Platform,
            detected_at: ts("2026-01-01T00:09:00Z"),
            ..a.clone()
        };
        assert_eq!(same.id(), id);
        type Change = Box<dyn Fn(&mut Anomaly)>;
        let changes: Vec<Change> = vec![
            Box::new(|a| a.rule = "pod-crashloop2".into()),
            Box::new(|a| a.rule_version = 2),
            Box::new(|a| a.key[3].1 = "web-1".into()),
            Box::new(|a| a.key[3].0 = KeyField::Reason),
            Box::new(|a| {
                a.key.pop();
            }),
            Box::new(|a| a.window_start = ts("2026-01-01T00:04:00Z")),
            Box::new(|a| a.window_end = ts("2026-01-01T00:11:00Z")),
            // Moving a byte between adjacent values must not collide.
            Box::new(|a| {
                a.key[2].1 = "Podw".into();
                a.key[3].1 = "eb-0".into();
            }),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut b = a.clone();
            change(&mut b);
            assert_ne!(b.id(), id, "change {i}");
        }
    }

    #[test]
    fn names_are_short_dns_labels_built_from_rule_and_id() {
        let a = anomaly();
        let name = a.name();
        assert_eq!(name, format!("anomaly-pod-crashloop-{}", &a.id()[..16]));
        let long = Anomaly {
            rule: "a-very-long-rule-name-that-goes-on-and-on-and-on-for-ever-x".into(),
            ..a
        };
        let name = long.name();
        assert!(name.len() <= MAX_NAME_LEN, "{name}");
        assert!(name.starts_with("anomaly-a-very-long-rule"), "{name}");
        assert!(name.ends_with(&long.id()[..16]));
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{name}"
        );
        assert!(!name.contains("--"), "{name}");
    }

    #[test]
    fn the_observation_carries_rule_key_window_count_and_samples() {
        let a = anomaly();
        let spec = a.to_observation_spec();
        vigil_model::validate::validate_observation(&spec).expect("a valid Observation");
        assert_eq!(
            (spec.source.as_str(), spec.event_type.as_str()),
            ("vigil-detect", "anomaly")
        );
        assert_eq!(
            (spec.severity, spec.category),
            (Severity::High, Category::Operations)
        );
        assert_eq!(
            spec.resource,
            Some(ResourceRef {
                api_version: None,
                kind: Some("Pod".into()),
                name: Some("web-0".into()),
                namespace: Some("shop".into()),
            })
        );
        assert_eq!(spec.detected_at, Some(Time(ts("2026-01-01T00:06:00Z"))));
        let details = spec.details.expect("details");
        assert_eq!(
            details,
            json!({
                "rule": "pod-crashloop", "ruleVersion": 1,
                "key": {"cluster": "c1", "namespace": "shop", "kind": "Pod", "name": "web-0"},
                "window": {"start": "2026-01-01T00:05:00Z", "end": "2026-01-01T00:10:00Z"},
                "count": 10, "threshold": 10, "samples": ["e-1", "e-2"],
                "description": "Pod shop/web-0 restarted", "audience": "customer",
                "anomalyId": a.id(),
            })
        );
        assert_eq!(a.namespace(), Some("shop"));
        assert_eq!(
            a.labels().get(AUDIENCE_LABEL).map(String::as_str),
            Some("customer")
        );
        assert_eq!(
            a.labels().get(RULE_LABEL).map(String::as_str),
            Some("pod-crashloop")
        );
    }

    #[test]
    fn namespace_and_cluster_keys_map_to_the_namespace_or_nothing() {
        let ns_only = Anomaly {
            key: vec![
                (KeyField::Cluster, "c1".into()),
                (KeyField::Namespace, "shop".into()),
            ],
            distinct: Some(KeyField::Name),
            ..anomaly()
        };
        let spec = ns_only.to_observation_spec();
        let r = spec.resource.expect("the namespace");
        assert_eq!(
            (r.kind.as_deref(), r.name.as_deref()),
            (Some("Namespace"), Some("shop"))
        );
        assert_eq!(
            spec.details.as_ref().and_then(|d| d.get("distinct")),
            Some(&json!("name"))
        );
        let cluster_only = Anomaly {
            key: vec![
                (KeyField::Cluster, "c1".into()),
                (KeyField::Namespace, "".into()),
            ],
            ..anomaly()
        };
        assert_eq!(cluster_only.namespace(), None);
        assert_eq!(cluster_only.to_observation_spec().resource, None);
    }
}
