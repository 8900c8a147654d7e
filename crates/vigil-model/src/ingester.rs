//! The `Ingester` kind (`zen.kube-zen.io/v1alpha1`): a source declared as data.
//! Owns the shape of every adapter's settings and of the processing a source
//! asks for (filters, mapping, dedup, rate limit, TTL, destinations). Running
//! them is the agent's job; checking them is [`crate::validate`]'s.

use crate::observation::{Category, Severity};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A source and how its records become Observations. Every field has an
/// effect; a block for an adapter other than `ingester` is an error, not ignored.
// kube's `printcolumn(...)` repeats `type_ = "string"`, which clippy reads as
// duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "zen.kube-zen.io",
    version = "v1alpha1",
    kind = "Ingester",
    namespaced,
    status = "IngesterStatus",
    shortname = "ing",
    category = "vigil",
    doc = "Declares a source of Observations and how its records are filtered, mapped, deduplicated and delivered.",
    printcolumn(name = "Source", type_ = "string", json_path = ".spec.source"),
    printcolumn(name = "Adapter", type_ = "string", json_path = ".spec.ingester"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngesterSpec {
    /// Tool name written into each Observation's `source`.
    #[schemars(pattern(r"^[a-z0-9-]+$"), length(min = 1, max = 63))]
    pub source: String,
    /// Which adapter reads the source; its settings go in the block of the same name.
    pub ingester: AdapterKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub informer: Option<InformerAdapter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookAdapter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogsAdapter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_events: Option<K8sEventsAdapter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapAdapter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileAdapter>,
    /// Drop records early; every drop is counted with its reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
    /// How source fields become Observation fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<Mapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deduplication: Option<Deduplication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// TTL of the Observations written (duration, at most 365d; default 7d).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(ms|s|m|h|d))+$"))]
    pub ttl: Option<String>,
    /// Where Observations go; default: Observation objects in the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<Destination>,
}

/// The adapters an Ingester can declare.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum AdapterKind {
    /// Watch any group/version/resource.
    #[serde(rename = "informer")]
    Informer,
    /// Receive pushed JSON over HTTP (Falco, audit, generic).
    #[serde(rename = "webhook")]
    Webhook,
    /// Follow container logs and match lines.
    #[serde(rename = "logs")]
    Logs,
    /// Kubernetes Events.
    #[serde(rename = "k8s-events")]
    K8sEvents,
    /// A report stored in a ConfigMap key.
    #[serde(rename = "configmap")]
    ConfigMap,
    /// A file of records (offline replay, mounted reports).
    #[serde(rename = "file")]
    File,
}

impl AdapterKind {
    /// The wire spelling, which is also the name of the settings block's field.
    pub fn as_str(self) -> &'static str {
        match self {
            AdapterKind::Informer => "informer",
            AdapterKind::Webhook => "webhook",
            AdapterKind::Logs => "logs",
            AdapterKind::K8sEvents => "k8s-events",
            AdapterKind::ConfigMap => "configmap",
            AdapterKind::File => "file",
        }
    }
}

/// Group, version and resource (plural) of the watched kind.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gvr {
    /// API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    pub version: String,
    /// Plural resource name, e.g. `vulnerabilityreports`.
    pub resource: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InformerAdapter {
    pub gvr: Gvr,
    /// Namespaces to watch, one watch each; empty means one cluster-wide watch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_selector: Option<String>,
    /// Emit on deletes too (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_delete: Option<bool>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// Falco JSON output: one alert per request or JSON lines.
    Falco,
    /// Kubernetes audit webhook bodies (`EventList`) or single Events.
    Audit,
    /// Any JSON object or array, mapped with `spec.mapping`.
    Generic,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookAdapter {
    /// URL path served by every replica, e.g. `/ingest/falco`.
    #[schemars(pattern(r"^/[A-Za-z0-9/_.-]*$"))]
    pub path: String,
    pub format: WebhookFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<WebhookAuth>,
    /// Largest body accepted; larger ones get 413 (default 1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 67_108_864))]
    pub max_body_bytes: Option<u64>,
    /// Records buffered for this webhook; when full, 429 with Retry-After (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub queue_capacity: Option<u32>,
    /// Audit only: the stages kept (default `ResponseComplete`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    /// Audit only: the verbs kept (default all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verbs: Vec<String>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    None,
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// HMAC-SHA256 of the body, hex, in `header`.
    Hmac,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookAuth {
    #[serde(rename = "type")]
    pub auth_type: AuthType,
    /// The secret, from a Secret in the Ingester's namespace ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
    /// ... or from a mounted file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<String>,
    /// HMAC only: the header carrying the signature (default `X-Vigil-Signature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Require a client certificate signed by the configured client CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<bool>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogsAdapter {
    /// Namespace of the pods; default the Ingester's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Label selector of the pods to follow, e.g. `app=sealed-secrets`.
    pub pod_selector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Lines matching none of these are dropped.
    pub patterns: Vec<LogPattern>,
    /// How far back to read when a pod is first seen (default 0: from now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86_400))]
    pub since_seconds: Option<i64>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogPattern {
    /// Regular expression; named groups become details.
    pub regex: String,
    #[schemars(pattern(r"^[a-z0-9_]+$"))]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum EventsApi {
    /// `events.k8s.io/v1` (default).
    #[serde(rename = "events.k8s.io/v1")]
    EventsV1,
    /// Core `v1` Events, for clusters or RBAC that only allow those.
    #[serde(rename = "v1")]
    CoreV1,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sEventsAdapter {
    /// Namespaces to watch (for namespace-scoped RBAC); empty means cluster-wide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<EventsApi>,
    /// `Normal` event reasons kept; replaces the documented default allow-list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal_reasons: Option<Vec<String>>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReportFormat {
    Json,
    Yaml,
    KubeBench,
    Checkov,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMapAdapter {
    /// Namespace of the ConfigMaps; default the Ingester's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// One ConfigMap by name ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ... or every ConfigMap matching a label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// The data key holding the report.
    pub key: String,
    pub format: ReportFormat,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FileFormat {
    /// Detect from content.
    Auto,
    /// `kubectl get events -o json` output or JSON lines of Events.
    K8sEvents,
    /// Audit log JSON lines.
    Audit,
    /// Falco JSON lines.
    Falco,
    /// Any JSON, mapped with `spec.mapping`.
    Json,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileAdapter {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FileFormat>,
}

/// Early drops. Globs use `*` and `?`. Include lists, when set, admit only
/// what they name; exclude lists win over include lists.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filters {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_event_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_event_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
    /// Keep only records whose field at `path` has one of `values`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub r#match: Vec<FieldMatch>,
    /// Keep only records whose time at `path` falls before now + `within`
    /// (a certificate's `.status.notAfter` within `720h`). Informer Ingesters
    /// re-evaluate their objects periodically so a finding appears as time
    /// passes, not only when the object changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<TimeHorizon>,
}

/// A time field and a horizon from now.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeHorizon {
    /// Field path of an RFC 3339 time or Unix time, e.g. `.status.notAfter`.
    pub path: String,
    /// Duration from now, e.g. `720h` (at most 3650d).
    #[schemars(pattern(r"^([0-9]+(ms|s|m|h|d))+$"))]
    pub within: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldMatch {
    /// Field path in the source record, e.g. `.result`.
    pub path: String,
    pub values: Vec<String>,
}

/// Source record → Observation. Paths look like `.report.artifact.tag` or
/// `.items[0].name`; templates embed paths as `{{ .path }}`. With `forEach`,
/// `.item` is the current element and every other path reads the whole record.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mapping {
    /// Path of an array: one Observation per element (e.g. one per finding).
    /// Arrays nested in its elements are expanded with `[*]`
    /// (`.Controls[*].tests[*].results`); `.parents` then lists the enclosing
    /// elements, outermost first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    /// With a nested `forEach`: an element whose inner array is missing or
    /// empty still yields one Observation, with `.item` null (a policy
    /// result naming no resource is about the report's scope). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each_keep_empty: Option<bool>,
    /// Template of a stable per-element key, so re-scans dedup per finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// Template of the eventType; must render to `^[a-z0-9_]+$`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<SeverityMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceMapping>,
    /// Detail name → template; each becomes a key of `spec.details`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    /// Template of the event time (RFC 3339 or Unix nanoseconds); default: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_at: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeverityMapping {
    /// Path of the tool's severity value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Tool value → severity, matched case-insensitively; unmapped values
    /// that spell a severity are taken as is.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub map: BTreeMap<String, Severity>,
    /// Used when the value is missing or unmapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Severity>,
}

/// Templates for the affected object's fields.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deduplication {
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Repeats of one fingerprint within this window are one Observation (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(ms|s|m|h|d))+$"))]
    pub window: Option<String>,
    /// Extra source paths folded into the fingerprint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Fingerprints remembered at once (default 100000); the oldest are evicted, counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10_000_000))]
    pub max_entries: Option<u32>,
}

/// A token bucket; excess records are dropped and counted.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    pub events_per_second: f64,
    /// Default: one second's worth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub burst: Option<u32>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DestinationType {
    /// Observation objects in the cluster.
    Crd,
    Kafka,
    Nats,
    Amqp,
    Webhook,
    File,
    Stdout,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Destination {
    #[serde(rename = "type")]
    pub destination_type: DestinationType,
    /// crd: namespace to write into (default: the affected object's, else the Ingester's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// kafka / nats / amqp: topic, subject or routing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// webhook: target URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// file: output path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Written by the agent through the status subresource only.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngesterStatus {
    /// `Ready`: True when the spec is valid and the source runs; False names the field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the source last delivered a record: a silent source shows here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_received: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observations_created: Option<u64>,
    /// Observations whose finding changed (a new severity, a fix available) and were updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observations_updated: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_filtered: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_deduped: Option<u64>,
    /// Records or objects the source could not read or map (see `lastError`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
    /// The latest of those problems, naming the field and the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}
