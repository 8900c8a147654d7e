//! The check configuration (YAML or JSON), in the spirit of Polaris's: turn
//! checks off, override their severity, exempt workloads by check,
//! namespace, name and kind globs, and allow or refuse exemptions written
//! as annotations. Parsed strictly and validated before anything runs;
//! every error names its field path. Applying it is `engine`'s job.
//!
//! ```yaml
//! checks:
//!   reliability.priority-class: off        # disable
//!   security.image-pull-policy: medium     # override the severity
//!   "operations.*": info                   # globs; an exact id wins over a glob
//! exemptions:
//!   - checks: [security.host-network, security.host-path]
//!     namespaces: [kube-system, "monitoring-*"]
//!     names: ["node-exporter*"]
//!     kinds: [DaemonSet]
//!     reason: node agents read the host
//! annotationExemptions: true               # honour exemption annotations (default)
//! ```

use crate::catalogue;
use crate::object::Manifest;
use crate::util::glob;
use serde::Deserialize;
use std::collections::BTreeMap;
use vigil_model::{FieldError, Severity, ValidationErrors};

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("not valid YAML: {0}")]
    Syntax(String),
    #[error("{path}: {message}")]
    Field { path: String, message: String },
    #[error("{0}")]
    Invalid(ValidationErrors),
}

impl ConfigError {
    /// Every error as (field path, message).
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            ConfigError::Syntax(m) => vec![FieldError {
                path: String::new(),
                message: m.clone(),
            }],
            ConfigError::Field { path, message } => vec![FieldError {
                path: path.clone(),
                message: message.clone(),
            }],
            ConfigError::Invalid(e) => e.0.clone(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    /// Severity names, or `off`; YAML 1.1 readers turn a bare `off` into
    /// `false`, so values are read as JSON and `false` means off.
    checks: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    exemptions: Vec<RawExemption>,
    #[serde(default = "yes")]
    annotation_exemptions: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExemption {
    #[serde(default)]
    checks: Vec<String>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// What the config says about one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Off,
    Severity(Severity),
}

/// One exemption rule; an empty list matches anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exemption {
    pub checks: Vec<String>,
    pub namespaces: Vec<String>,
    pub names: Vec<String>,
    pub kinds: Vec<String>,
    pub reason: Option<String>,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    settings: BTreeMap<&'static str, Setting>,
    exemptions: Vec<Exemption>,
    annotation_exemptions: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            settings: BTreeMap::new(),
            exemptions: Vec::new(),
            annotation_exemptions: true,
        }
    }
}

impl Config {
    /// Parses and validates a config file's text.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        let value: serde_json::Value = serde_saphyr::from_str(text)
            .map_err(|e| ConfigError::Syntax(e.without_snippet().to_string()))?;
        if value.is_null() {
            return Ok(Config::default());
        }
        let raw: RawConfig =
            serde_path_to_error::deserialize(value).map_err(|e| ConfigError::Field {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        validate(raw).map_err(ConfigError::Invalid)
    }

    /// Whether the check runs at all.
    pub fn enabled(&self, id: &str) -> bool {
        self.settings.get(id) != Some(&Setting::Off)
    }

    /// The severity a failure of `check` is reported with.
    pub fn severity(&self, check: &catalogue::Check) -> Severity {
        match self.settings.get(check.id) {
            Some(Setting::Severity(s)) => *s,
            _ => check.severity,
        }
    }

    /// Whether annotations on objects may exempt them.
    pub fn annotation_exemptions(&self) -> bool {
        self.annotation_exemptions
    }

    /// The config exemption covering `check` on `m`, as a reason to report.
    pub fn exemption(&self, check: &str, m: &Manifest) -> Option<String> {
        let any = |globs: &[String], value: Option<&str>| {
            globs.is_empty() || value.is_some_and(|v| globs.iter().any(|g| glob::matches(g, v)))
        };
        self.exemptions
            .iter()
            .enumerate()
            .find(|(_, e)| {
                any(&e.checks, Some(check))
                    && any(&e.namespaces, m.scope_namespace())
                    && any(&e.names, Some(m.name()))
                    && any(&e.kinds, Some(&m.kind))
            })
            .map(|(i, e)| match &e.reason {
                Some(r) => format!("config exemptions[{i}]: {r}"),
                None => format!("config exemptions[{i}]"),
            })
    }
}

const SETTINGS: &str = "off, info, low, medium, high, critical";

fn parse_setting(v: &serde_json::Value) -> Option<Setting> {
    match v {
        serde_json::Value::Bool(false) => Some(Setting::Off),
        serde_json::Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "off" | "disabled" | "ignore" => Some(Setting::Off),
            other => other.parse().ok().map(Setting::Severity),
        },
        _ => None,
    }
}

/// Check ids a pattern names (a glob may name several).
fn ids_matching(pattern: &str) -> Vec<&'static str> {
    catalogue::checks()
        .map(|c| c.id)
        .filter(|id| glob::matches(pattern, id))
        .collect()
}

fn validate(raw: RawConfig) -> Result<Config, ValidationErrors> {
    let mut errors = Vec::new();
    let mut err = |path: String, message: String| errors.push(FieldError { path, message });
    // Most specific pattern wins: exact ids, then longer globs.
    let mut ordered: Vec<(&String, &serde_json::Value)> = raw.checks.iter().collect();
    ordered.sort_by_key(|(k, _)| (!k.contains(['*', '?']), k.len()));
    let mut settings = BTreeMap::new();
    for (pattern, value) in ordered {
        let path = format!("checks.{pattern}");
        let ids = ids_matching(pattern);
        if ids.is_empty() {
            err(
                path.clone(),
                format!("no check matches {pattern:?} (see `vigil check --catalogue`)"),
            );
        }
        match parse_setting(value) {
            Some(s) => settings.extend(ids.into_iter().map(|id| (id, s))),
            None => err(
                path,
                format!("unknown value {value}, expected one of: {SETTINGS}"),
            ),
        }
    }
    let mut exemptions = Vec::new();
    for (i, e) in raw.exemptions.into_iter().enumerate() {
        let at = format!("exemptions[{i}]");
        if e.checks.is_empty()
            && e.namespaces.is_empty()
            && e.names.is_empty()
            && e.kinds.is_empty()
        {
            err(
                at.clone(),
                "an exemption must set at least one of checks, namespaces, names, kinds".into(),
            );
        }
        for (j, c) in e.checks.iter().enumerate() {
            if ids_matching(c).is_empty() {
                err(
                    format!("{at}.checks[{j}]"),
                    format!("no check matches {c:?}"),
                );
            }
        }
        for (field, list) in [
            ("namespaces", &e.namespaces),
            ("names", &e.names),
            ("kinds", &e.kinds),
        ] {
            for (j, v) in list.iter().enumerate() {
                if v.trim().is_empty() {
                    err(format!("{at}.{field}[{j}]"), "must not be empty".into());
                }
            }
        }
        exemptions.push(Exemption {
            checks: e.checks,
            namespaces: e.namespaces,
            names: e.names,
            kinds: e.kinds,
            reason: e.reason,
        });
    }
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    Ok(Config {
        settings,
        exemptions,
        annotation_exemptions: raw.annotation_exemptions,
    })
}

#[cfg(test)]
mod tests;
