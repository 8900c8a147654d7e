//! Falco alerts: Falco's JSON output (`json_output: true`; what it POSTs to
//! falcosidekick or a webhook, one object per line in a file), parsed into a
//! [`FalcoAlert`] and normalized into an Observation's content. Owns the
//! alert's schema, the priority → severity table and the choice of resource;
//! filtering, dedup and throttling are the pipeline's.
//!
//! Required: `rule`, `priority`, `output`, `time` (RFC 3339, nanoseconds
//! kept). Optional: `source` (`syscall`, `k8s_audit`, a plugin's name; older
//! Falco omits it), `tags`, `hostname`, `output_fields` (values of any JSON
//! type: strings, 19-digit nanosecond integers such as `evt.time`, `null`,
//! booleans; kept exactly).
//!
//! | priority | severity |
//! | --- | --- |
//! | `Emergency`, `Alert`, `Critical` | critical |
//! | `Error` | high |
//! | `Warning` | medium |
//! | `Notice` | low |
//! | `Informational` (or `Info`), `Debug` | info |
//!
//! Priorities compare case-insensitively. The Observation: category
//! `security`; `eventType` the rule in snake case (`Terminal shell in
//! container` → `terminal_shell_in_container`, at most 63 characters);
//! `detectedAt` the alert's `time`; `details` the alert's `rule`,
//! `priority`, `output`, `tags`, and `source`, `hostname`, `output_fields`
//! when present. The resource, from the output fields, first that applies:
//!
//! | output fields | resource |
//! | --- | --- |
//! | `k8s.pod.name` (+ `k8s.ns.name`) | `v1` Pod |
//! | `ka.target.resource` (+ `ka.target.name`, `ka.target.namespace`), k8s_audit rules | that object; kind from the resource name (see [`super::resources`]) |
//! | `k8s.ns.name` only | namespace only |
//! | `container.id` other than `host` | kind `Container`, name the id |
//! | none of these | none: a host-level alert |
//!
//! String values `""` and `<NA>` (Falco's "not available") count as absent.

use super::fields::{self, LineError, Problem, RecordError};
use super::resources;
use super::Target;
use crate::normalize::{snake_case, MAX_EVENT_TYPE_LEN};
use crate::throttle::ThrottleConfig;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use vigil_model::{Category, ObservationSpec, Severity};

/// The default `source` of Falco Observations.
pub const DEFAULT_SOURCE: &str = "falco";

/// The Falco source's settings.
#[derive(Debug, Clone)]
pub struct FalcoConfig {
    /// Written into each Observation's `source`; also names its throttle bucket.
    pub source: String,
    /// The rate of new Observations; `None` is the pipeline's own throttle
    /// settings (in a bucket of Falco's own either way).
    pub throttle: Option<ThrottleConfig>,
}

impl Default for FalcoConfig {
    /// Source `falco`, the pipeline's throttle settings.
    fn default() -> Self {
        Self {
            source: DEFAULT_SOURCE.to_string(),
            throttle: None,
        }
    }
}

/// Falco's rule priorities, most severe first (syslog levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FalcoPriority {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Informational,
    Debug,
}

impl FalcoPriority {
    pub const ALL: &'static [FalcoPriority] = &[
        FalcoPriority::Emergency,
        FalcoPriority::Alert,
        FalcoPriority::Critical,
        FalcoPriority::Error,
        FalcoPriority::Warning,
        FalcoPriority::Notice,
        FalcoPriority::Informational,
        FalcoPriority::Debug,
    ];

    /// Falco's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FalcoPriority::Emergency => "Emergency",
            FalcoPriority::Alert => "Alert",
            FalcoPriority::Critical => "Critical",
            FalcoPriority::Error => "Error",
            FalcoPriority::Warning => "Warning",
            FalcoPriority::Notice => "Notice",
            FalcoPriority::Informational => "Informational",
            FalcoPriority::Debug => "Debug",
        }
    }

    /// The Observation severity (the table in the module documentation).
    pub fn severity(self) -> Severity {
        match self {
            FalcoPriority::Emergency | FalcoPriority::Alert | FalcoPriority::Critical => {
                Severity::Critical
            }
            FalcoPriority::Error => Severity::High,
            FalcoPriority::Warning => Severity::Medium,
            FalcoPriority::Notice => Severity::Low,
            FalcoPriority::Informational | FalcoPriority::Debug => Severity::Info,
        }
    }
}

impl FromStr for FalcoPriority {
    type Err = ();

    /// Case-insensitive; `Info` is `Informational`, as Falco's own parser has it.
    fn from_str(s: &str) -> Result<Self, ()> {
        if s.eq_ignore_ascii_case("info") {
            return Ok(FalcoPriority::Informational);
        }
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or(())
    }
}

impl fmt::Display for FalcoPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const PRIORITIES: &str =
    "one of: Emergency, Alert, Critical, Error, Warning, Notice, Informational, Info, Debug";

/// One Falco alert.
#[derive(Debug, Clone, PartialEq)]
pub struct FalcoAlert {
    pub time: Timestamp,
    pub rule: String,
    pub priority: FalcoPriority,
    pub output: String,
    pub source: Option<String>,
    pub tags: Vec<String>,
    pub hostname: Option<String>,
    pub output_fields: Map<String, Value>,
}

impl FalcoAlert {
    /// One alert from JSON bytes (an HTTP body, a line).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, RecordError> {
        let value = serde_json::from_slice(bytes).map_err(|e| RecordError::syntax(&e))?;
        Self::from_value(value)
    }

    /// One alert from a JSON object already parsed.
    pub fn from_value(value: Value) -> Result<Self, RecordError> {
        let mut m = fields::root_object(value)?;
        let rule = fields::require_string(&mut m, "rule", "rule")?;
        let priority_text = fields::require_string(&mut m, "priority", "priority")?;
        let priority = priority_text.parse().map_err(|()| {
            RecordError::new(
                "priority",
                Problem::UnknownValue {
                    value: priority_text.clone(),
                    expected: PRIORITIES,
                },
            )
        })?;
        let output = match fields::take_string(&mut m, "output", "output")? {
            Some(o) => o,
            None => return Err(RecordError::new("output", Problem::Missing)),
        };
        let time_text = fields::require_string(&mut m, "time", "time")?;
        let time = fields::parse_time(&time_text, "time")?;
        Ok(Self {
            time,
            rule,
            priority,
            output,
            source: fields::take_string(&mut m, "source", "source")?,
            tags: fields::take_strings(&mut m, "tags", "tags")?,
            hostname: fields::take_string(&mut m, "hostname", "hostname")?,
            output_fields: fields::take_object(&mut m, "output_fields", "output_fields")?
                .unwrap_or_default(),
        })
    }

    /// A string output field; `""`, `<NA>`, `null` and non-strings are `None`.
    pub fn field(&self, key: &str) -> Option<&str> {
        match self.output_fields.get(key) {
            Some(Value::String(s)) if !s.is_empty() && s != "<NA>" => Some(s),
            _ => None,
        }
    }

    /// The object the alert is about (the table in the module documentation).
    pub fn target(&self) -> Target<'_> {
        let f = |k| self.field(k).unwrap_or("");
        if let Some(pod) = self.field("k8s.pod.name") {
            return Target {
                api_version: Cow::Borrowed("v1"),
                kind: "Pod",
                namespace: f("k8s.ns.name"),
                name: pod,
            };
        }
        if let Some(resource) = self.field("ka.target.resource") {
            let api_version = match resources::group_of(resource) {
                Some(group) => Cow::Owned(resources::api_version(group, "v1")),
                None => Cow::Borrowed(""),
            };
            return Target {
                api_version,
                kind: resources::kind_or_resource(resource, None),
                namespace: f("ka.target.namespace"),
                name: f("ka.target.name"),
            };
        }
        if let Some(namespace) = self.field("k8s.ns.name") {
            return Target {
                namespace,
                ..Target::default()
            };
        }
        match self.field("container.id") {
            Some(id) if id != "host" => Target {
                kind: "Container",
                name: id,
                ..Target::default()
            },
            _ => Target::default(),
        }
    }

    pub fn severity(&self) -> Severity {
        self.priority.severity()
    }

    /// The rule in snake case, within the schema's pattern and length.
    pub fn event_type(&self) -> String {
        event_type_of(&self.rule)
    }

    /// The alert as recorded.
    pub fn details(&self) -> Value {
        let mut d = Map::new();
        d.insert("rule".into(), self.rule.clone().into());
        d.insert("priority".into(), self.priority.as_str().into());
        d.insert("output".into(), self.output.clone().into());
        d.insert("tags".into(), self.tags.clone().into());
        if let Some(source) = &self.source {
            d.insert("source".into(), source.clone().into());
        }
        if let Some(hostname) = &self.hostname {
            d.insert("hostname".into(), hostname.clone().into());
        }
        if !self.output_fields.is_empty() {
            d.insert(
                "output_fields".into(),
                Value::Object(self.output_fields.clone()),
            );
        }
        Value::Object(d)
    }

    /// The Observation content, with `event_type` as computed by [`Self::event_type`].
    pub fn observation_spec(
        &self,
        source: &str,
        event_type: &str,
        ttl_seconds: i64,
    ) -> ObservationSpec {
        ObservationSpec {
            source: source.to_string(),
            category: Category::Security,
            severity: self.severity(),
            event_type: event_type.to_string(),
            resource: self.target().resource_ref(),
            details: Some(self.details()),
            detected_at: Some(Time(self.time)),
            ttl_seconds_after_creation: Some(ttl_seconds),
        }
    }
}

impl FromStr for FalcoAlert {
    type Err = RecordError;

    /// One alert from JSON text.
    fn from_str(text: &str) -> Result<Self, RecordError> {
        Self::from_slice(text.as_bytes())
    }
}

/// The alerts of a JSON-lines text (Falco's file output, a capture of its
/// HTTP output); blank lines are skipped, a bad line is an error of its own
/// and does not stop the others.
pub fn parse_lines(text: &str) -> impl Iterator<Item = Result<FalcoAlert, LineError>> + '_ {
    fields::json_lines(text).map(|(line, l)| l.parse().map_err(|error| LineError { line, error }))
}

/// `Terminal shell in container` → `terminal_shell_in_container`; a rule
/// with no letter or digit is `falco_rule`.
pub fn event_type_of(rule: &str) -> String {
    let mut t = snake_case(rule);
    t.truncate(MAX_EVENT_TYPE_LEN);
    while t.ends_with('_') {
        t.pop();
    }
    if t.is_empty() {
        t.push_str("falco_rule");
    }
    t
}

#[cfg(test)]
mod tests;
