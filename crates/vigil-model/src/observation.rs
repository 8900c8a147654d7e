//! The `Observation` kind (`zen.kube-zen.io/v1`, also served as `v1alpha1`):
//! one normalized finding from any tool. Owns the type, its enums and bounds;
//! how Observations are produced is the pipeline's business.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Longest `ttlSecondsAfterCreation` the API accepts: one year.
pub const MAX_TTL_SECONDS: i64 = 31_536_000;
/// TTL applied when neither the Observation nor its Ingester sets one: 7 days.
pub const DEFAULT_TTL_SECONDS: i64 = 604_800;

/// What a tool found, normalized. Required: `source`, `category`, `severity`,
/// `eventType`; the API server enforces enums, patterns and the TTL bound.
// kube's `printcolumn(...)` repeats `type_ = "string"`, which clippy reads as
// duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "zen.kube-zen.io",
    version = "v1",
    kind = "Observation",
    namespaced,
    status = "ObservationStatus",
    shortname = "obs",
    shortname = "obsv",
    category = "vigil",
    doc = "A normalized, deduplicated finding from a security, compliance or infrastructure tool.",
    printcolumn(name = "Source", type_ = "string", json_path = ".spec.source"),
    printcolumn(name = "Severity", type_ = "string", json_path = ".spec.severity"),
    printcolumn(name = "Category", type_ = "string", json_path = ".spec.category"),
    printcolumn(name = "EventType", type_ = "string", json_path = ".spec.eventType"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ObservationSpec {
    /// Tool that produced the finding (trivy, falco, kyverno, kubernetes-events, ...).
    #[schemars(pattern(r"^[a-z0-9-]+$"), length(min = 1, max = 63))]
    pub source: String,
    /// Broad class of the finding.
    pub category: Category,
    /// Normalized severity.
    pub severity: Severity,
    /// Kind of finding (vulnerability, runtime_threat, policy_violation, anomaly, ...).
    #[schemars(pattern(r"^[a-z0-9_]+$"), length(min = 1, max = 63))]
    pub event_type: String,
    /// The Kubernetes object the finding is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceRef>,
    /// Tool-specific details, preserved as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_object")]
    pub details: Option<serde_json::Value>,
    /// When the tool detected it (RFC 3339), the event's own time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_at: Option<Time>,
    /// Seconds after creation at which the Observation is garbage-collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 31_536_000))]
    pub ttl_seconds_after_creation: Option<i64>,
}

/// Written by consumers through the status subresource only.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservationStatus {
    /// Whether a downstream consumer has processed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed: Option<bool>,
    /// When it was last processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_processed_at: Option<Time>,
}

/// The object a finding is about.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Kept so RBAC and multi-tenancy can scope by namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

fn free_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "Tool-specific details, preserved as given.",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl FromStr for $name {
            type Err = String;
            /// Case-insensitive, so tool spellings like `CRITICAL` parse.
            fn from_str(s: &str) -> Result<Self, String> {
                $(if s.eq_ignore_ascii_case($text) { return Ok($name::$variant); })+
                let allowed: Vec<&str> = vec![$($text),+];
                Err(format!("unknown value {s:?}, expected one of: {}", allowed.join(", ")))
            }
        }
    };
}

string_enum! {
    /// Normalized severity; ordered from least to most severe.
    Severity {
        Info => "info",
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
}

string_enum! {
    /// Broad class of a finding (zen-watcher's set).
    Category {
        Security => "security",
        Compliance => "compliance",
        Performance => "performance",
        Operations => "operations",
        Cost => "cost",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_from_info_to_critical() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::High > Severity::Medium);
        assert!(Severity::Low > Severity::Info);
        assert_eq!(Severity::ALL.first(), Some(&Severity::Info));
    }

    #[test]
    fn enums_parse_case_insensitively_and_name_the_choices() {
        assert_eq!("CRITICAL".parse::<Severity>(), Ok(Severity::Critical));
        assert_eq!("Compliance".parse::<Category>(), Ok(Category::Compliance));
        let err = "urgent".parse::<Severity>().unwrap_err();
        assert!(
            err.contains("\"urgent\"") && err.contains("info, low, medium, high, critical"),
            "{err}"
        );
    }

    #[test]
    fn spec_round_trips_with_camel_case_fields() {
        let json = serde_json::json!({
            "source": "falco", "category": "security", "severity": "high",
            "eventType": "runtime_threat",
            "resource": {"kind": "Pod", "name": "web-0", "namespace": "shop"},
            "details": {"rule": "Terminal shell in container", "n": [1, 2]},
            "detectedAt": "2026-11-22T10:00:00Z",
            "ttlSecondsAfterCreation": 3600
        });
        let spec: ObservationSpec = serde_json::from_value(json.clone()).expect("valid spec");
        assert_eq!(spec.severity, Severity::High);
        assert_eq!(
            spec.resource.as_ref().and_then(|r| r.name.as_deref()),
            Some("web-0")
        );
        assert_eq!(serde_json::to_value(&spec).expect("serializes"), json);
    }
}
