//! The one validator for Ingesters and Observations, shared by the in-cluster
//! controller and the offline YAML path. Every error names the field path
//! (`spec.mapping.severity.default`), so a user can fix it without guessing.
//! It checks what the CRD schema cannot: cross-field rules, regexes, templates.

use crate::duration;
use crate::ingester::*;
use crate::observation::{ObservationSpec, MAX_TTL_SECONDS};
use crate::template::{FieldPath, Template};
use regex::Regex;
use std::fmt;
use std::sync::OnceLock;

/// One problem, at one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path from the object root, e.g. `spec.webhook.auth.secretRef`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in one object (validation does not stop at the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

impl ValidationErrors {
    /// The first error's path, for a condition's reason or a metric label.
    pub fn first_path(&self) -> Option<&str> {
        self.0.first().map(|e| e.path.as_str())
    }
}

#[derive(Default)]
struct Collector(Vec<FieldError>);

impl Collector {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }
    fn finish(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.0))
        }
    }
}

fn source_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-z0-9-]{1,63}$").expect("static regex"))
}

fn event_type_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-z0-9_]{1,63}$").expect("static regex"))
}

fn dns_label_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$").expect("static regex"))
}

fn glob_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[A-Za-z0-9*?._/-]{1,253}$").expect("static regex"))
}

/// Checks an Observation spec the way the CRD schema does, for offline paths
/// that never meet an API server.
pub fn validate_observation(spec: &ObservationSpec) -> Result<(), ValidationErrors> {
    let mut c = Collector::default();
    if !source_re().is_match(&spec.source) {
        c.err(
            "spec.source",
            format!("{:?} must match ^[a-z0-9-]+$ (at most 63)", spec.source),
        );
    }
    if !event_type_re().is_match(&spec.event_type) {
        c.err(
            "spec.eventType",
            format!("{:?} must match ^[a-z0-9_]+$ (at most 63)", spec.event_type),
        );
    }
    if let Some(ttl) = spec.ttl_seconds_after_creation {
        if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
            c.err(
                "spec.ttlSecondsAfterCreation",
                format!("{ttl} is outside 1..={MAX_TTL_SECONDS}"),
            );
        }
    }
    if let Some(details) = &spec.details {
        if !details.is_object() {
            c.err("spec.details", "must be an object");
        }
    }
    c.finish()
}

/// Checks an Ingester spec: adapter blocks, selectors, regexes, templates,
/// durations, bounds and destinations.
pub fn validate_ingester(spec: &IngesterSpec) -> Result<(), ValidationErrors> {
    let mut c = Collector::default();
    if !source_re().is_match(&spec.source) {
        c.err(
            "spec.source",
            format!("{:?} must match ^[a-z0-9-]+$ (at most 63)", spec.source),
        );
    }
    check_adapter_blocks(spec, &mut c);
    if let Some(a) = &spec.informer {
        check_informer(a, &mut c);
    }
    if let Some(a) = &spec.webhook {
        check_webhook(a, &mut c);
    }
    if let Some(a) = &spec.logs {
        check_logs(a, &mut c);
    }
    if let Some(a) = &spec.k8s_events {
        check_namespaces("spec.k8sEvents.namespaces", &a.namespaces, &mut c);
    }
    if let Some(a) = &spec.config_map {
        check_config_map(a, &mut c);
    }
    if let Some(a) = &spec.file {
        if a.path.trim().is_empty() {
            c.err("spec.file.path", "must not be empty");
        }
    }
    if let Some(f) = &spec.filters {
        check_filters(f, &mut c);
    }
    if let Some(m) = &spec.mapping {
        check_mapping(m, &mut c);
    }
    if let Some(d) = &spec.deduplication {
        if let Some(w) = &d.window {
            check_duration("spec.deduplication.window", w, 30 * 86_400, &mut c);
        }
        for (i, f) in d.fields.iter().enumerate() {
            check_path(&format!("spec.deduplication.fields[{i}]"), f, &mut c);
        }
        if d.max_entries == Some(0) {
            c.err("spec.deduplication.maxEntries", "must be at least 1");
        }
    }
    if let Some(r) = &spec.rate_limit {
        if !(r.events_per_second.is_finite() && r.events_per_second > 0.0) {
            c.err(
                "spec.rateLimit.eventsPerSecond",
                format!("{} must be a positive number", r.events_per_second),
            );
        }
        if r.burst == Some(0) {
            c.err("spec.rateLimit.burst", "must be at least 1");
        }
    }
    if let Some(ttl) = &spec.ttl {
        check_duration("spec.ttl", ttl, MAX_TTL_SECONDS as u64, &mut c);
    }
    for (i, d) in spec.destinations.iter().enumerate() {
        check_destination(&format!("spec.destinations[{i}]"), d, &mut c);
    }
    c.finish()
}

/// The block named by `spec.ingester` must be present (except k8s-events,
/// whose settings all default), and no other adapter's block may be.
fn check_adapter_blocks(spec: &IngesterSpec, c: &mut Collector) {
    let blocks = [
        (AdapterKind::Informer, "informer", spec.informer.is_some()),
        (AdapterKind::Webhook, "webhook", spec.webhook.is_some()),
        (AdapterKind::Logs, "logs", spec.logs.is_some()),
        (
            AdapterKind::K8sEvents,
            "k8sEvents",
            spec.k8s_events.is_some(),
        ),
        (
            AdapterKind::ConfigMap,
            "configMap",
            spec.config_map.is_some(),
        ),
        (AdapterKind::File, "file", spec.file.is_some()),
    ];
    for (kind, field, present) in blocks {
        if kind == spec.ingester && !present && kind != AdapterKind::K8sEvents {
            c.err(
                format!("spec.{field}"),
                format!("required when spec.ingester is {:?}", kind.as_str()),
            );
        }
        if kind != spec.ingester && present {
            c.err(
                format!("spec.{field}"),
                format!(
                    "set, but spec.ingester is {:?}: it would be ignored",
                    spec.ingester.as_str()
                ),
            );
        }
    }
}

fn check_informer(a: &InformerAdapter, c: &mut Collector) {
    let plural = Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("static regex");
    if !plural.is_match(&a.gvr.resource) {
        c.err(
            "spec.informer.gvr.resource",
            format!(
                "{:?} must be a lowercase plural resource name",
                a.gvr.resource
            ),
        );
    }
    if a.gvr.version.trim().is_empty() {
        c.err("spec.informer.gvr.version", "must not be empty");
    }
    if !a.gvr.group.is_empty() && !a.gvr.group.split('.').all(|p| dns_label_re().is_match(p)) {
        c.err(
            "spec.informer.gvr.group",
            format!("{:?} is not a DNS subdomain", a.gvr.group),
        );
    }
    check_namespaces("spec.informer.namespaces", &a.namespaces, c);
    if let Some(s) = &a.label_selector {
        check_selector("spec.informer.labelSelector", s, c);
    }
    if let Some(s) = &a.field_selector {
        check_selector("spec.informer.fieldSelector", s, c);
    }
}

fn check_webhook(a: &WebhookAdapter, c: &mut Collector) {
    if !a.path.starts_with('/') || a.path.contains("..") || a.path.contains("//") {
        c.err(
            "spec.webhook.path",
            format!("{:?} must be an absolute path without '..' or '//'", a.path),
        );
    }
    if let Some(n) = a.max_body_bytes {
        if !(1024..=64 * 1024 * 1024).contains(&n) {
            c.err(
                "spec.webhook.maxBodyBytes",
                format!("{n} is outside 1024..=67108864"),
            );
        }
    }
    if let Some(n) = a.queue_capacity {
        if !(1..=1_000_000).contains(&n) {
            c.err(
                "spec.webhook.queueCapacity",
                format!("{n} is outside 1..=1000000"),
            );
        }
    }
    if a.format != WebhookFormat::Audit {
        if !a.stages.is_empty() {
            c.err("spec.webhook.stages", "only applies to format \"audit\"");
        }
        if !a.verbs.is_empty() {
            c.err("spec.webhook.verbs", "only applies to format \"audit\"");
        }
    }
    const STAGES: [&str; 4] = [
        "RequestReceived",
        "ResponseStarted",
        "ResponseComplete",
        "Panic",
    ];
    for (i, s) in a.stages.iter().enumerate() {
        if !STAGES.contains(&s.as_str()) {
            c.err(
                format!("spec.webhook.stages[{i}]"),
                format!(
                    "unknown stage {s:?}, expected one of: {}",
                    STAGES.join(", ")
                ),
            );
        }
    }
    if let Some(auth) = &a.auth {
        let sources =
            usize::from(auth.secret_ref.is_some()) + usize::from(auth.secret_file.is_some());
        match auth.auth_type {
            AuthType::None if sources > 0 => c.err(
                "spec.webhook.auth",
                "type \"none\" takes no secretRef or secretFile",
            ),
            AuthType::Bearer | AuthType::Hmac if sources != 1 => c.err(
                "spec.webhook.auth",
                "exactly one of secretRef or secretFile is required",
            ),
            _ => {}
        }
        if auth.header.is_some() && auth.auth_type != AuthType::Hmac {
            c.err("spec.webhook.auth.header", "only applies to type \"hmac\"");
        }
        if let Some(r) = &auth.secret_ref {
            if !dns_label_re().is_match(&r.name)
                && !r.name.split('.').all(|p| dns_label_re().is_match(p))
            {
                c.err(
                    "spec.webhook.auth.secretRef.name",
                    format!("{:?} is not a valid Secret name", r.name),
                );
            }
            if r.key.is_empty() {
                c.err("spec.webhook.auth.secretRef.key", "must not be empty");
            }
        }
    }
}

fn check_logs(a: &LogsAdapter, c: &mut Collector) {
    check_selector("spec.logs.podSelector", &a.pod_selector, c);
    if a.pod_selector.trim().is_empty() {
        c.err(
            "spec.logs.podSelector",
            "must not be empty: following every pod's logs is never wanted",
        );
    }
    if a.patterns.is_empty() {
        c.err("spec.logs.patterns", "at least one pattern is required");
    }
    for (i, p) in a.patterns.iter().enumerate() {
        if let Err(e) = Regex::new(&p.regex) {
            c.err(
                format!("spec.logs.patterns[{i}].regex"),
                format!("invalid regex: {e}"),
            );
        }
        if !event_type_re().is_match(&p.event_type) {
            c.err(
                format!("spec.logs.patterns[{i}].eventType"),
                format!("{:?} must match ^[a-z0-9_]+$", p.event_type),
            );
        }
    }
    if let Some(ns) = &a.namespace {
        check_namespaces("spec.logs.namespace", std::slice::from_ref(ns), c);
    }
}

fn check_config_map(a: &ConfigMapAdapter, c: &mut Collector) {
    match (&a.name, &a.label_selector) {
        (Some(_), Some(_)) => c.err("spec.configMap", "set name or labelSelector, not both"),
        (None, None) => c.err("spec.configMap", "one of name or labelSelector is required"),
        (None, Some(s)) => check_selector("spec.configMap.labelSelector", s, c),
        (Some(_), None) => {}
    }
    if a.key.is_empty() {
        c.err("spec.configMap.key", "must not be empty");
    }
}

fn check_filters(f: &Filters, c: &mut Collector) {
    for (field, globs) in [
        ("includeNamespaces", &f.include_namespaces),
        ("excludeNamespaces", &f.exclude_namespaces),
        ("includeKinds", &f.include_kinds),
        ("excludeKinds", &f.exclude_kinds),
        ("includeReasons", &f.include_reasons),
        ("excludeReasons", &f.exclude_reasons),
        ("includeEventTypes", &f.include_event_types),
        ("excludeEventTypes", &f.exclude_event_types),
    ] {
        for (i, g) in globs.iter().enumerate() {
            if !glob_re().is_match(g) {
                c.err(
                    format!("spec.filters.{field}[{i}]"),
                    format!("{g:?} is not a valid glob (letters, digits, * ? . _ / -)"),
                );
            }
        }
    }
    if let Some(b) = &f.before {
        check_path("spec.filters.before.path", &b.path, c);
        check_duration("spec.filters.before.within", &b.within, 3650 * 86_400, c);
    }
    for (i, m) in f.r#match.iter().enumerate() {
        check_path(&format!("spec.filters.match[{i}].path"), &m.path, c);
        if m.values.is_empty() {
            c.err(
                format!("spec.filters.match[{i}].values"),
                "at least one value is required",
            );
        }
    }
}

fn check_mapping(m: &Mapping, c: &mut Collector) {
    if m.for_each_keep_empty == Some(true)
        && m.for_each.as_deref().is_none_or(|p| !p.contains("[*]"))
    {
        c.err(
            "spec.mapping.forEachKeepEmpty",
            "only has an effect with a nested forEach (a path with [*])",
        );
    }
    if let Some(p) = &m.for_each {
        if let Err(e) = crate::template::parse_for_each(p) {
            c.err("spec.mapping.forEach", e.to_string());
        }
    }
    if let Some(t) = &m.key {
        check_template("spec.mapping.key", t, c);
    }
    if let Some(t) = &m.event_type {
        if let Some(tpl) = check_template("spec.mapping.eventType", t, c) {
            if tpl.is_literal() && !event_type_re().is_match(t) {
                c.err(
                    "spec.mapping.eventType",
                    format!("{t:?} must match ^[a-z0-9_]+$"),
                );
            }
        }
    }
    if let Some(s) = &m.severity {
        if let Some(p) = &s.from {
            check_path("spec.mapping.severity.from", p, c);
        }
        if s.from.is_none() && s.default.is_none() {
            c.err("spec.mapping.severity", "set from (with map) or default");
        }
        if s.from.is_none() && !s.map.is_empty() {
            c.err(
                "spec.mapping.severity.map",
                "needs spec.mapping.severity.from to read the value to map",
            );
        }
    }
    if let Some(r) = &m.resource {
        for (field, t) in [
            ("apiVersion", &r.api_version),
            ("kind", &r.kind),
            ("name", &r.name),
            ("namespace", &r.namespace),
        ] {
            if let Some(t) = t {
                check_template(&format!("spec.mapping.resource.{field}"), t, c);
            }
        }
    }
    for (name, t) in &m.details {
        if name.is_empty() {
            c.err("spec.mapping.details", "detail names must not be empty");
        }
        check_template(&format!("spec.mapping.details.{name}"), t, c);
    }
    if let Some(t) = &m.detected_at {
        check_template("spec.mapping.detectedAt", t, c);
    }
}

fn check_destination(path: &str, d: &Destination, c: &mut Collector) {
    let need = |c: &mut Collector, field: &str, v: &Option<String>| {
        if v.as_deref().is_none_or(str::is_empty) {
            c.err(
                format!("{path}.{field}"),
                format!(
                    "required for type {:?}",
                    format!("{:?}", d.destination_type).to_lowercase()
                ),
            );
        }
    };
    match d.destination_type {
        DestinationType::Kafka | DestinationType::Nats | DestinationType::Amqp => {
            need(c, "topic", &d.topic)
        }
        DestinationType::Webhook => {
            need(c, "url", &d.url);
            if let Some(u) = &d.url {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    c.err(
                        format!("{path}.url"),
                        format!("{u:?} must be an http:// or https:// URL"),
                    );
                }
            }
        }
        DestinationType::File => need(c, "path", &d.path),
        DestinationType::Crd | DestinationType::Stdout => {}
    }
    if let Some(ns) = &d.namespace {
        if d.destination_type != DestinationType::Crd {
            c.err(format!("{path}.namespace"), "only applies to type \"crd\"");
        }
        check_namespaces(&format!("{path}.namespace"), std::slice::from_ref(ns), c);
    }
}

fn check_namespaces(path: &str, namespaces: &[String], c: &mut Collector) {
    for (i, ns) in namespaces.iter().enumerate() {
        if !dns_label_re().is_match(ns) {
            let at = if namespaces.len() == 1 && !path.ends_with('s') {
                path.to_string()
            } else {
                format!("{path}[{i}]")
            };
            c.err(at, format!("{ns:?} is not a valid namespace name"));
        }
    }
}

fn check_selector(path: &str, selector: &str, c: &mut Collector) {
    let ok = selector.split(',').all(|term| {
        let term = term.trim();
        !term.is_empty()
            && term
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || " =!()_./-".contains(ch))
    });
    if !ok && !selector.is_empty() {
        c.err(path, format!("{selector:?} is not a valid selector"));
    }
}

fn check_path(path: &str, text: &str, c: &mut Collector) {
    if let Err(e) = FieldPath::parse(text) {
        c.err(path, e.to_string());
    }
}

fn check_template(path: &str, text: &str, c: &mut Collector) -> Option<Template> {
    Template::parse(text)
        .map_err(|e| c.err(path, e.to_string()))
        .ok()
}

fn check_duration(path: &str, text: &str, max_secs: u64, c: &mut Collector) {
    match duration::parse(text) {
        Err(e) => c.err(path, e.to_string()),
        Ok(d) if d.as_secs() == 0 => c.err(path, format!("{text:?} must be at least 1s")),
        Ok(d) if d.as_secs() > max_secs => c.err(
            path,
            format!(
                "{text:?} exceeds the maximum of {}",
                duration::format(std::time::Duration::from_secs(max_secs))
            ),
        ),
        Ok(_) => {}
    }
}
