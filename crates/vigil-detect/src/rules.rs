//! Detection rules: the YAML format, its validation with precise field paths
//! (`rules[2].window.size: must be > 0`), the validated [`Rule`] and the
//! embedded default [`RuleSet`]. Owns what a rule means; applying rules to
//! signals is the engine's business.
//!
//! ```yaml
//! rules:
//!   - name: pod-crashloop            # DNS label, unique
//!     version: 1                     # default 1; part of the anomaly id
//!     match:                         # every condition given must hold
//!       source: [kubernetes-events]
//!       category: [operations]
//!       minSeverity: medium
//!       eventType: [pod_backoff]
//!       reason: [BackOff, CrashLoopBackOff]   # spec.details.reason
//!       namespace: ["*"]             # globs: * and ?
//!       audience: customer           # platform | customer
//!       kind: [Pod]                  # case-insensitive
//!     groupBy: [cluster, namespace, kind, name]
//!     window: {kind: tumbling, size: 5m}      # or {kind: hopping, size: 10m, hop: 1m}
//!     threshold: {count: 10}         # or {distinct: name, count: 5}
//!     severity: high
//!     category: operations
//!     description: "{count} back-offs of {kind} {namespace}/{name} within {window}"
//! ```

use crate::key::KeyField;
use crate::signal::Signal;
use crate::template::Template;
use crate::window::{WindowError, WindowSpec, MAX_WINDOW};
use serde::Deserialize;
use std::collections::HashMap;
use vigil_model::{Category, FieldError, Severity, ValidationErrors};
use vigil_pipeline::{glob, Audience};

/// The default rule set, as shipped (`rules/default.yaml`).
pub const DEFAULT_RULES_YAML: &str = include_str!("../rules/default.yaml");

/// Largest `threshold.count` of a distinct rule: the distinct values of one
/// group and window are remembered until the threshold is reached.
pub const MAX_DISTINCT_THRESHOLD: u64 = 10_000;

/// Longest rule name (a DNS label).
pub const MAX_RULE_NAME_LEN: usize = 63;

/// The description of a rule that gives none.
pub const DEFAULT_DESCRIPTION: &str = "{rule}: {count} matching events within {window}";

/// Why a rule file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Not YAML at all.
    #[error("not valid YAML: {0}")]
    Syntax(String),
    /// YAML of the wrong shape: a missing field, an unknown field, a wrong
    /// type or enum value, at `path`.
    #[error("{path}: {message}")]
    Field { path: String, message: String },
    /// Well-formed, but breaking the rules' rules; every problem found.
    #[error("{0}")]
    Invalid(ValidationErrors),
}

impl RuleError {
    /// The field path of every problem (`rules[2].window.size`).
    pub fn paths(&self) -> Vec<&str> {
        match self {
            RuleError::Syntax(_) => vec![],
            RuleError::Field { path, .. } => vec![path.as_str()],
            RuleError::Invalid(errors) => errors.0.iter().map(|e| e.path.as_str()).collect(),
        }
    }
}

// ---- the YAML format --------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRule {
    name: String,
    #[serde(default = "one")]
    version: u32,
    #[serde(default, rename = "match")]
    conditions: RawMatch,
    #[serde(default)]
    group_by: Vec<KeyField>,
    window: RawWindow,
    threshold: RawThreshold,
    severity: Severity,
    category: Category,
    #[serde(default)]
    description: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawMatch {
    #[serde(default)]
    source: Vec<String>,
    #[serde(default)]
    category: Vec<Category>,
    #[serde(default)]
    min_severity: Option<Severity>,
    #[serde(default)]
    event_type: Vec<String>,
    #[serde(default)]
    reason: Vec<String>,
    #[serde(default)]
    namespace: Vec<String>,
    #[serde(default)]
    audience: Option<AudienceName>,
    #[serde(default)]
    kind: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum AudienceName {
    Platform,
    Customer,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    kind: String,
    size: String,
    #[serde(default)]
    hop: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreshold {
    count: u64,
    #[serde(default)]
    distinct: Option<KeyField>,
}

// ---- validated rules --------------------------------------------------------

/// When a group's window fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// The occurrences (signal weights) reach `n`.
    Count(u64),
    /// The distinct values of `field` reach `count`.
    Distinct { field: KeyField, count: u64 },
}

impl Threshold {
    /// The number to reach.
    pub fn count(&self) -> u64 {
        match self {
            Threshold::Count(n) => *n,
            Threshold::Distinct { count, .. } => *count,
        }
    }

    /// The field counted distinct, if any.
    pub fn distinct(&self) -> Option<KeyField> {
        match self {
            Threshold::Count(_) => None,
            Threshold::Distinct { field, .. } => Some(*field),
        }
    }
}

/// A rule's `match`: every condition given must hold; an empty list or an
/// absent field is no condition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conditions {
    source: Vec<String>,
    category: Vec<Category>,
    min_severity: Option<Severity>,
    event_type: Vec<String>,
    reason: Vec<String>,
    namespace: Vec<String>,
    audience: Option<Audience>,
    kind: Vec<String>,
}

impl Conditions {
    /// Whether `signal` satisfies every condition.
    pub fn matches(&self, signal: &Signal<'_>) -> bool {
        (self.reason.is_empty() || self.reason.iter().any(|r| r == signal.reason))
            && self.matches_except_reason(signal)
    }

    /// Every condition but the reason (the engine's index has checked it).
    pub(crate) fn matches_except_reason(&self, s: &Signal<'_>) -> bool {
        let spec = s.spec;
        (self.event_type.is_empty() || self.event_type.contains(&spec.event_type))
            && (self.source.is_empty() || self.source.contains(&spec.source))
            && (self.category.is_empty() || self.category.contains(&spec.category))
            && self.min_severity.is_none_or(|min| spec.severity >= min)
            && self.audience.is_none_or(|a| a == s.audience)
            && (self.kind.is_empty() || {
                let kind = s.kind();
                self.kind.iter().any(|k| k.eq_ignore_ascii_case(kind))
            })
            && (self.namespace.is_empty() || glob::any_match(&self.namespace, s.namespace))
    }

    /// The reasons matched (empty: any).
    pub fn reasons(&self) -> &[String] {
        &self.reason
    }
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    name: String,
    version: u32,
    conditions: Conditions,
    group_by: Vec<KeyField>,
    window: WindowSpec,
    threshold: Threshold,
    severity: Severity,
    category: Category,
    description: Template,
}

impl Rule {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn version(&self) -> u32 {
        self.version
    }
    pub fn conditions(&self) -> &Conditions {
        &self.conditions
    }
    /// Whether `signal` matches the rule's `match`.
    pub fn matches(&self, signal: &Signal<'_>) -> bool {
        self.conditions.matches(signal)
    }
    /// The group key's fields, in order.
    pub fn group_by(&self) -> &[KeyField] {
        &self.group_by
    }
    pub fn window(&self) -> &WindowSpec {
        &self.window
    }
    pub fn threshold(&self) -> Threshold {
        self.threshold
    }
    /// Severity of the anomalies it raises.
    pub fn severity(&self) -> Severity {
        self.severity
    }
    /// Category of the anomalies it raises.
    pub fn category(&self) -> Category {
        self.category
    }
    pub fn description(&self) -> &Template {
        &self.description
    }
}

/// Validated rules, in file order (which is the order anomalies of one
/// signal come out in).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Parses and validates a rule file (`rules: [...]`).
    pub fn from_yaml(text: &str) -> Result<Self, RuleError> {
        let value: serde_json::Value =
            serde_saphyr::from_str(text).map_err(|e| RuleError::Syntax(e.to_string()))?;
        if value.is_null() {
            return Err(RuleError::Field {
                path: "rules".into(),
                message: "missing: the document is empty".into(),
            });
        }
        if !value.is_object() {
            return Err(RuleError::Field {
                path: "(root)".into(),
                message: "invalid type: expected a mapping with `rules:`".into(),
            });
        }
        let raw: RawFile = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            RuleError::Field {
                path: if path == "." { "(root)".into() } else { path },
                message: e.inner().to_string(),
            }
        })?;
        validate(raw).map_err(RuleError::Invalid)
    }

    /// The shipped rules ([`DEFAULT_RULES_YAML`]).
    pub fn default_rules() -> Self {
        // Validated by this crate's tests; a failure here is a build defect.
        Self::from_yaml(DEFAULT_RULES_YAML).expect("rules/default.yaml is valid")
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// These rules with `other`'s layered on top: a rule of `other` replaces
    /// the one of the same name in place, the others are appended in order.
    pub fn with_overrides(mut self, other: RuleSet) -> Self {
        for rule in other.rules {
            match self.rules.iter_mut().find(|r| r.name == rule.name) {
                Some(existing) => *existing = rule,
                None => self.rules.push(rule),
            }
        }
        self
    }
}

// ---- validation -------------------------------------------------------------

#[derive(Default)]
struct Collector(Vec<FieldError>);

impl Collector {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }
}

fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_RULE_NAME_LEN
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn all_bytes(s: &str, max: usize, ok: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(ok)
}

fn validate(raw: RawFile) -> Result<RuleSet, ValidationErrors> {
    let mut c = Collector::default();
    let mut rules = Vec::with_capacity(raw.rules.len());
    let mut first_of: HashMap<String, usize> = HashMap::new();
    for (i, r) in raw.rules.into_iter().enumerate() {
        let at = format!("rules[{i}]");
        if !is_dns_label(&r.name) {
            c.err(
                format!("{at}.name"),
                format!(
                    "{:?} must be a DNS label: lowercase letters, digits and '-', at most {MAX_RULE_NAME_LEN}, starting and ending with a letter or digit",
                    r.name
                ),
            );
        } else if let Some(first) = first_of.get(&r.name) {
            c.err(
                format!("{at}.name"),
                format!("{:?} is already the name of rules[{first}]", r.name),
            );
        } else {
            first_of.insert(r.name.clone(), i);
        }
        if let Some(rule) = validate_rule(&mut c, &at, r) {
            rules.push(rule);
        }
    }
    if c.0.is_empty() {
        Ok(RuleSet { rules })
    } else {
        Err(ValidationErrors(c.0))
    }
}

/// Checks one rule; `None` when it has errors (already collected).
fn validate_rule(c: &mut Collector, at: &str, r: RawRule) -> Option<Rule> {
    let before = c.0.len();
    if r.version == 0 {
        c.err(format!("{at}.version"), "must be > 0");
    }
    let m = &r.conditions;
    let lists = [
        ("source", &m.source),
        ("eventType", &m.event_type),
        ("reason", &m.reason),
        ("namespace", &m.namespace),
        ("kind", &m.kind),
    ];
    for (field, values) in lists {
        for (j, v) in values.iter().enumerate() {
            if let Some(problem) = match_value_problem(field, v) {
                c.err(
                    format!("{at}.match.{field}[{j}]"),
                    format!("{v:?} {problem}"),
                );
            }
        }
    }
    for (j, f) in r.group_by.iter().enumerate() {
        if r.group_by[..j].contains(f) {
            c.err(format!("{at}.groupBy[{j}]"), format!("{f} is listed twice"));
        }
    }
    let window = validate_window(c, at, &r.window);
    let threshold = validate_threshold(c, at, &r.threshold, &r.group_by);
    let text = r.description.as_deref().unwrap_or(DEFAULT_DESCRIPTION);
    let description = match Template::parse(text, &r.group_by) {
        Ok(t) => Some(t),
        Err(e) => {
            c.err(format!("{at}.description"), e.to_string());
            None
        }
    };
    if c.0.len() != before {
        return None;
    }
    Some(Rule {
        name: r.name,
        version: r.version,
        conditions: Conditions {
            source: r.conditions.source,
            category: r.conditions.category,
            min_severity: r.conditions.min_severity,
            event_type: r.conditions.event_type,
            reason: r.conditions.reason,
            namespace: r.conditions.namespace,
            audience: r.conditions.audience.map(|a| match a {
                AudienceName::Platform => Audience::Platform,
                AudienceName::Customer => Audience::Customer,
            }),
            kind: r.conditions.kind,
        },
        group_by: r.group_by,
        window: window?,
        threshold: threshold?,
        severity: r.severity,
        category: r.category,
        description: description?,
    })
}

/// What is wrong with one value of a `match` list, if anything.
fn match_value_problem(field: &str, v: &str) -> Option<&'static str> {
    let (ok, problem) = match field {
        "source" => (
            all_bytes(v, 63, |b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
            }),
            "must match ^[a-z0-9-]+$ (at most 63)",
        ),
        "eventType" => (
            all_bytes(v, 63, |b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
            }),
            "must match ^[a-z0-9_]+$ (at most 63)",
        ),
        "reason" => (
            all_bytes(v, 128, |b| b.is_ascii_graphic()),
            "must be 1 to 128 printable ASCII characters without spaces",
        ),
        "namespace" => (
            all_bytes(v, 253, |b| {
                b.is_ascii_alphanumeric() || b"*?._/-".contains(&b)
            }),
            "must be a glob of [A-Za-z0-9*?._/-] (at most 253)",
        ),
        _ => (
            all_bytes(v, 63, |b| b.is_ascii_alphanumeric()),
            "must be a kind name of letters and digits (at most 63)",
        ),
    };
    (!ok).then_some(problem)
}

fn validate_window(c: &mut Collector, at: &str, w: &RawWindow) -> Option<WindowSpec> {
    let mut duration = |field: &str, text: &str| match vigil_model::duration::parse(text) {
        Ok(d) => Some(d),
        Err(e) => {
            c.err(format!("{at}.window.{field}"), e.to_string());
            None
        }
    };
    let size = duration("size", &w.size);
    let hop = w.hop.as_deref().map(|h| duration("hop", h));
    let window_err = |c: &mut Collector, field: &str, e: WindowError| {
        c.err(format!("{at}.window.{field}"), e.to_string());
    };
    match w.kind.as_str() {
        "tumbling" => {
            if hop.is_some() {
                c.err(
                    format!("{at}.window.hop"),
                    "only hopping windows have a hop",
                );
            }
            match WindowSpec::tumbling(size?) {
                Ok(spec) => hop.is_none().then_some(spec),
                Err(e) => {
                    window_err(c, "size", e);
                    None
                }
            }
        }
        "hopping" => {
            let Some(hop) = hop else {
                c.err(
                    format!("{at}.window.hop"),
                    "required for a hopping window (e.g. hop: 1m)",
                );
                return None;
            };
            let size = size?;
            if let Err(e) = WindowSpec::tumbling(size) {
                window_err(c, "size", e);
                return None;
            }
            match WindowSpec::hopping(size, hop?) {
                Ok(spec) => Some(spec),
                Err(e) => {
                    window_err(c, "hop", e);
                    None
                }
            }
        }
        "sliding" | "session" => {
            c.err(
                format!("{at}.window.kind"),
                format!(
                    "{:?} windows are not supported; use hopping with a small hop (e.g. size: 5m, hop: 30s) for a sliding view",
                    w.kind
                ),
            );
            None
        }
        other => {
            c.err(
                format!("{at}.window.kind"),
                format!("unknown window kind {other:?}, expected tumbling or hopping"),
            );
            None
        }
    }
    .filter(|spec| spec.size() <= MAX_WINDOW)
}

fn validate_threshold(
    c: &mut Collector,
    at: &str,
    t: &RawThreshold,
    group_by: &[KeyField],
) -> Option<Threshold> {
    let before = c.0.len();
    if t.count == 0 {
        c.err(format!("{at}.threshold.count"), "must be > 0");
    }
    let threshold = match t.distinct {
        None => Threshold::Count(t.count),
        Some(field) => {
            if t.count > MAX_DISTINCT_THRESHOLD {
                c.err(
                    format!("{at}.threshold.count"),
                    format!("must be at most {MAX_DISTINCT_THRESHOLD} for a distinct count"),
                );
            }
            if group_by.contains(&field) {
                c.err(
                    format!("{at}.threshold.distinct"),
                    format!("{field} is in groupBy, so every group has exactly one distinct value"),
                );
            }
            Threshold::Distinct {
                field,
                count: t.count,
            }
        }
    };
    (c.0.len() == before).then_some(threshold)
}

#[cfg(test)]
mod tests;
