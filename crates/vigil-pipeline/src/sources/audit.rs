//! Kubernetes audit events (`audit.k8s.io/v1`, and `v1beta1` whose fields
//! this reads are the same) parsed into an [`AuditEvent`], from the three
//! shapes they come in: one `Event` object, an `EventList` batch (what the
//! webhook backend POSTs: `{"kind":"EventList","items":[…]}`) and the log
//! backend's JSON lines. Owns the schema and its errors; which events are
//! worth an Observation is [`super::audit_rules`]'s.
//!
//! Required: `auditID`, `stage` (one of `RequestReceived`, `ResponseStarted`,
//! `ResponseComplete`, `Panic`), `verb`, `user.username`, and a time
//! (`stageTimestamp`, else `requestReceivedTimestamp`, else v1beta1's
//! `timestamp`). `kind`, when present, must be `Event` (`EventList` for a
//! batch) and `apiVersion`, when present, `audit.k8s.io/v1` or `v1beta1`
//! (logs written by some tools omit both). Everything else is optional.
//! `requestObject` and `responseObject` are kept as JSON for the rules.

use super::fields::{self, LineError, Problem, RecordError};
use super::resources;
use super::Target;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// The API versions read.
pub const API_VERSIONS: &[&str] = &["audit.k8s.io/v1", "audit.k8s.io/v1beta1"];

/// The stage of request handling an audit event was generated at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditStage {
    RequestReceived,
    ResponseStarted,
    ResponseComplete,
    Panic,
}

impl AuditStage {
    pub const ALL: &'static [AuditStage] = &[
        AuditStage::RequestReceived,
        AuditStage::ResponseStarted,
        AuditStage::ResponseComplete,
        AuditStage::Panic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditStage::RequestReceived => "RequestReceived",
            AuditStage::ResponseStarted => "ResponseStarted",
            AuditStage::ResponseComplete => "ResponseComplete",
            AuditStage::Panic => "Panic",
        }
    }
}

impl FromStr for AuditStage {
    type Err = ();

    /// Exact, as the API server writes it.
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for AuditStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made (or was impersonated by) a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditUser {
    pub username: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
}

/// The object a request was about (`objectRef`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditObjectRef {
    /// Plural, lowercase (`pods`).
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `""` for the core group.
    pub api_group: String,
    pub api_version: String,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub audit_id: String,
    /// `None` when the record omits it.
    pub api_version: Option<String>,
    /// `None`, `Metadata`, `Request` or `RequestResponse`.
    pub level: Option<String>,
    pub stage: AuditStage,
    pub request_uri: Option<String>,
    pub verb: String,
    pub user: AuditUser,
    pub impersonated_user: Option<AuditUser>,
    pub source_ips: Vec<String>,
    pub user_agent: Option<String>,
    /// `None` for non-resource requests (`/healthz`, `/version`, ...).
    pub object_ref: Option<AuditObjectRef>,
    pub response_code: Option<i64>,
    pub request_object: Option<Value>,
    pub response_object: Option<Value>,
    pub request_received: Option<Timestamp>,
    pub stage_timestamp: Option<Timestamp>,
    pub annotations: Vec<(String, String)>,
}

impl AuditEvent {
    /// One `Event` from JSON bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, RecordError> {
        let value = serde_json::from_slice(bytes).map_err(|e| RecordError::syntax(&e))?;
        Self::from_value(value)
    }

    /// One `Event` already parsed as JSON.
    pub fn from_value(value: Value) -> Result<Self, RecordError> {
        let mut m = fields::root_object(value)?;
        expect_kind(&mut m, "Event")?;
        Self::from_object(m)
    }

    fn from_object(mut m: Map<String, Value>) -> Result<Self, RecordError> {
        let api_version = fields::take_string(&mut m, "apiVersion", "apiVersion")?;
        if let Some(v) = &api_version {
            if !API_VERSIONS.contains(&v.as_str()) {
                return Err(RecordError::new(
                    "apiVersion",
                    Problem::UnknownValue {
                        value: v.clone(),
                        expected: "audit.k8s.io/v1 or audit.k8s.io/v1beta1",
                    },
                ));
            }
        }
        let audit_id = fields::require_string(&mut m, "auditID", "auditID")?;
        let stage_text = fields::require_string(&mut m, "stage", "stage")?;
        let stage = stage_text.parse().map_err(|()| {
            RecordError::new(
                "stage",
                Problem::UnknownValue {
                    value: stage_text.clone(),
                    expected: "one of: RequestReceived, ResponseStarted, ResponseComplete, Panic",
                },
            )
        })?;
        let verb = fields::require_string(&mut m, "verb", "verb")?;
        let user = match fields::take_object(&mut m, "user", "user")? {
            Some(u) => parse_user(u, "user")?,
            None => return Err(RecordError::new("user", Problem::Missing)),
        };
        let impersonated_user =
            fields::take_object(&mut m, "impersonatedUser", "impersonatedUser")?
                .map(|u| parse_user(u, "impersonatedUser"))
                .transpose()?;
        let stage_timestamp = fields::take_time(&mut m, "stageTimestamp", "stageTimestamp")?;
        let request_received = fields::take_time(
            &mut m,
            "requestReceivedTimestamp",
            "requestReceivedTimestamp",
        )?;
        let legacy = fields::take_time(&mut m, "timestamp", "timestamp")?;
        if stage_timestamp.is_none() && request_received.is_none() && legacy.is_none() {
            return Err(RecordError::new("stageTimestamp", Problem::Missing));
        }
        let response_code = match fields::take_object(&mut m, "responseStatus", "responseStatus")? {
            Some(mut s) => fields::take_i64(&mut s, "code", "responseStatus.code")?,
            None => None,
        };
        Ok(Self {
            audit_id,
            api_version,
            level: fields::take_string(&mut m, "level", "level")?,
            stage,
            request_uri: fields::take_string(&mut m, "requestURI", "requestURI")?,
            verb,
            user,
            impersonated_user,
            source_ips: fields::take_strings(&mut m, "sourceIPs", "sourceIPs")?,
            user_agent: fields::take_string(&mut m, "userAgent", "userAgent")?,
            object_ref: fields::take_object(&mut m, "objectRef", "objectRef")?
                .map(object_ref)
                .transpose()?,
            response_code,
            request_object: fields::take_value(&mut m, "requestObject"),
            response_object: fields::take_value(&mut m, "responseObject"),
            request_received: request_received.or(legacy),
            stage_timestamp,
            annotations: fields::take_string_map(&mut m, "annotations", "annotations")?,
        })
    }

    /// When the event happened: `stageTimestamp`, else when the request was received.
    pub fn time(&self) -> Timestamp {
        // One of them is set: parsing requires it.
        self.stage_timestamp
            .or(self.request_received)
            .unwrap_or_default()
    }

    /// `objectRef.resource`, or `""` for a non-resource request.
    pub fn resource(&self) -> &str {
        self.object_ref.as_ref().map_or("", |o| o.resource.as_str())
    }

    /// `objectRef.subresource`, or `""`.
    pub fn subresource(&self) -> &str {
        self.object_ref
            .as_ref()
            .map_or("", |o| o.subresource.as_str())
    }

    /// `objectRef.namespace`, or `""`.
    pub fn namespace(&self) -> &str {
        self.object_ref
            .as_ref()
            .map_or("", |o| o.namespace.as_str())
    }

    /// The object's name: `objectRef.name`, else (for a create, which has
    /// none yet) the created object's `metadata.name` from the response,
    /// else from the request.
    pub fn object_name(&self) -> &str {
        let from_ref = self.object_ref.as_ref().map_or("", |o| o.name.as_str());
        if !from_ref.is_empty() {
            return from_ref;
        }
        [&self.response_object, &self.request_object]
            .into_iter()
            .flatten()
            .find_map(|o| o["metadata"]["name"].as_str().filter(|n| !n.is_empty()))
            .unwrap_or("")
    }

    /// The namespace namespace rules apply to: `objectRef.namespace`, or for
    /// a Namespace itself its name.
    pub fn scope_namespace(&self) -> &str {
        match &self.object_ref {
            Some(o) if o.resource == "namespaces" && o.namespace.is_empty() => self.object_name(),
            Some(o) => &o.namespace,
            None => "",
        }
    }

    /// The request object's `metadata.generateName`, or `""`.
    pub fn generate_name(&self) -> &str {
        self.request_object
            .as_ref()
            .and_then(|o| o["metadata"]["generateName"].as_str())
            .unwrap_or("")
    }

    /// Whether the response was an error (`responseStatus.code` ≥ 400).
    pub fn failed(&self) -> bool {
        self.response_code.is_some_and(|c| c >= 400)
    }

    /// The object the request was about; the kind comes from the resource
    /// (see [`super::resources`]), `None` for a non-resource request.
    pub fn target(&self) -> Target<'_> {
        let Some(o) = &self.object_ref else {
            return Target::default();
        };
        let group = if o.api_group.is_empty() {
            resources::group_of(&o.resource).unwrap_or("")
        } else {
            o.api_group.as_str()
        };
        Target {
            api_version: Cow::Owned(resources::api_version(group, &o.api_version)),
            kind: resources::kind_or_resource(&o.resource, Some(group)),
            namespace: &o.namespace,
            name: self.object_name(),
        }
    }
}

impl FromStr for AuditEvent {
    type Err = RecordError;

    fn from_str(text: &str) -> Result<Self, RecordError> {
        Self::from_slice(text.as_bytes())
    }
}

/// The events of an HTTP body from the webhook backend: an `EventList`
/// (each item parsed on its own: a bad item is an error naming
/// `items[i]`, the others still parse) or a single `Event`. The outer error
/// is for a body that is neither.
pub fn parse_batch(bytes: &[u8]) -> Result<Vec<Result<AuditEvent, RecordError>>, RecordError> {
    let value = serde_json::from_slice(bytes).map_err(|e| RecordError::syntax(&e))?;
    parse_document(value)
}

/// [`parse_batch`] of a document already parsed as JSON (one value of a
/// stream of documents, as the agent's webhook reads them).
pub fn parse_value(value: Value) -> Result<Vec<Result<AuditEvent, RecordError>>, RecordError> {
    parse_document(value)
}

fn parse_document(value: Value) -> Result<Vec<Result<AuditEvent, RecordError>>, RecordError> {
    let mut m = fields::root_object(value)?;
    let kind = fields::take_string(&mut m, "kind", "kind")?;
    match kind.as_deref() {
        Some("EventList") => {
            let items = match m.remove("items") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items,
                Some(other) => {
                    return Err(RecordError::new(
                        "items",
                        Problem::WrongType {
                            expected: "a list",
                            found: fields::describe(&other),
                        },
                    ))
                }
            };
            Ok(items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    AuditEvent::from_value(item).map_err(|e| e.within(&format!("items[{i}]")))
                })
                .collect())
        }
        None | Some("Event") => Ok(vec![AuditEvent::from_object(m)]),
        Some(other) => Err(unknown_kind(other, "Event or EventList")),
    }
}

/// The events of an audit log file: JSON lines of `Event`s, as the log
/// backend writes them, or one JSON document (`Event` or `EventList`, a
/// saved webhook body). Every event is a result of its own, with the line it
/// starts on; a bad line does not stop the others.
pub fn parse_log(text: &str) -> Vec<Result<AuditEvent, LineError>> {
    let at = |line| move |error| LineError { line, error };
    let first_line = text
        .lines()
        .position(|l| !l.trim().is_empty())
        .map_or(1, |i| i + 1);
    // One document (possibly pretty-printed over many lines), if it is one.
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return match parse_document(value) {
            Ok(events) => events
                .into_iter()
                .map(|r| r.map_err(at(first_line)))
                .collect(),
            Err(e) => vec![Err(at(first_line)(e))],
        };
    }
    fields::json_lines(text)
        .map(|(line, l)| l.parse::<AuditEvent>().map_err(at(line)))
        .collect()
}

fn expect_kind(m: &mut Map<String, Value>, expected: &'static str) -> Result<(), RecordError> {
    match fields::take_string(m, "kind", "kind")? {
        None => Ok(()),
        Some(k) if k == expected => Ok(()),
        Some(other) => Err(unknown_kind(&other, expected)),
    }
}

fn unknown_kind(value: &str, expected: &'static str) -> RecordError {
    RecordError::new(
        "kind",
        Problem::UnknownValue {
            value: value.to_string(),
            expected,
        },
    )
}

fn parse_user(mut u: Map<String, Value>, path: &str) -> Result<AuditUser, RecordError> {
    Ok(AuditUser {
        username: fields::require_string(&mut u, "username", &format!("{path}.username"))?,
        uid: fields::take_string(&mut u, "uid", &format!("{path}.uid"))?,
        groups: fields::take_strings(&mut u, "groups", &format!("{path}.groups"))?,
    })
}

fn object_ref(mut o: Map<String, Value>) -> Result<AuditObjectRef, RecordError> {
    let mut s = |key: &str| {
        fields::take_string(&mut o, key, &format!("objectRef.{key}")).map(Option::unwrap_or_default)
    };
    Ok(AuditObjectRef {
        resource: s("resource")?,
        subresource: s("subresource")?,
        namespace: s("namespace")?,
        name: s("name")?,
        uid: s("uid")?,
        api_group: s("apiGroup")?,
        api_version: s("apiVersion")?,
    })
}

#[cfg(test)]
mod tests;
