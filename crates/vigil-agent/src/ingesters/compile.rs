//! An Ingester object → what the agent runs for it: the shared validator
//! (the same one `vigil validate` uses offline), the compiled mapping and the
//! resolved processing settings with their defaults. Pure.

use std::sync::Arc;
use std::time::Duration;
use vigil_mapping::Preset;
use vigil_model::ingester::{
    AdapterKind, ConfigMapAdapter, DestinationType, Filters, InformerAdapter, Ingester,
    K8sEventsAdapter, LogsAdapter, WebhookAdapter, WebhookFormat,
};
use vigil_model::validate::{FieldError, ValidationErrors};
use vigil_model::Category;
use vigil_pipeline::dedup::DedupConfig;
use vigil_pipeline::throttle::ThrottleConfig;

/// Fingerprints one Ingester's dedup stage remembers unless it says otherwise
/// (`spec.deduplication.maxEntries`).
pub const DEFAULT_DEDUP_ENTRIES: usize = 10_000;
/// New Observations a second one Ingester may create unless it says otherwise.
pub const DEFAULT_RATE: f64 = 100.0;

/// What the agent runs for one valid Ingester.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub ingester: Arc<Ingester>,
    pub adapter: Adapter,
    /// The mapping, for the adapters whose records are mapped.
    pub mapping: Option<Arc<Preset>>,
    /// `None`: `spec.deduplication.enabled: false`.
    pub dedup: Option<DedupConfig>,
    pub rate: ThrottleConfig,
    /// `spec.destinations[type=crd].namespace`: where every Observation goes.
    pub namespace_override: Option<String>,
}

/// The adapter settings, with namespaces resolved against the Ingester's own.
#[derive(Debug, Clone, PartialEq)]
pub enum Adapter {
    Informer(InformerAdapter),
    ConfigMap(ConfigMapAdapter),
    Logs(LogsSource),
    /// Kubernetes Events through the same pipeline as the agent's own
    /// Events source, configured by the Ingester.
    K8sEvents(K8sEventsAdapter),
    /// An HTTP endpoint served by every replica; records are pushed.
    Webhook(WebhookAdapter),
}

/// A logs adapter, its patterns compiled.
#[derive(Debug, Clone)]
pub struct LogsSource {
    pub adapter: LogsAdapter,
    pub namespace: String,
    pub patterns: Vec<(regex::Regex, String, vigil_model::Severity)>,
    pub category: Category,
}

impl PartialEq for LogsSource {
    fn eq(&self, other: &Self) -> bool {
        self.adapter == other.adapter && self.namespace == other.namespace
    }
}

impl Compiled {
    pub fn source(&self) -> &str {
        &self.ingester.spec.source
    }

    /// Whether the records are occurrences (log lines: one Observation per
    /// dedup window) rather than state (reports: one per finding while it lasts).
    pub fn occurrences(&self) -> bool {
        matches!(
            self.adapter,
            Adapter::Logs(_) | Adapter::K8sEvents(_) | Adapter::Webhook(_)
        )
    }

    /// The Events pipeline's settings for a k8s-events Ingester.
    pub fn events_pipeline(
        &self,
        enrich: vigil_pipeline::enrich::EnrichConfig,
        default_ttl: i64,
    ) -> vigil_pipeline::PipelineConfig {
        use vigil_pipeline::filter::FilterConfig;
        let spec = &self.ingester.spec;
        let f = spec.filters.clone().unwrap_or_default();
        let mut filter = FilterConfig {
            include_namespaces: f.include_namespaces,
            exclude_namespaces: f.exclude_namespaces,
            include_kinds: f.include_kinds,
            include_reasons: f.include_reasons,
            exclude_reasons: f.exclude_reasons,
            min_severity: f.min_severity,
            ..FilterConfig::default()
        };
        if let Some(Some(reasons)) = spec.k8s_events.as_ref().map(|k| k.normal_reasons.clone()) {
            filter.normal_allow = reasons;
        }
        let mut config = vigil_pipeline::PipelineConfig::for_kubernetes_events();
        config.source = spec.source.clone();
        config.filter = filter;
        config.enrich = enrich;
        if let Some(dedup) = &self.dedup {
            config.dedup = dedup.clone();
        } else {
            // No dedup: every occurrence is its own window (one second).
            config.dedup.window = Duration::from_secs(1);
        }
        config.throttle = self.rate.clone();
        config.ttl_seconds = spec
            .ttl
            .as_deref()
            .and_then(|t| vigil_model::duration::parse(t).ok())
            .map_or(default_ttl, |d| d.as_secs() as i64);
        config.fallback_namespace = self
            .namespace_override
            .clone()
            .or_else(|| self.ingester.metadata.namespace.clone())
            .unwrap_or_else(|| "default".into());
        config
    }
}

/// Sources whose records the agent's own normalizers read (Events, Falco,
/// audit): filtered by the Events filter, which has no such knobs as these,
/// and never mapped. Refused rather than ignored.
fn normalized_only(
    filters: Option<&Filters>,
    mapping: &Option<vigil_model::ingester::Mapping>,
    what: &str,
) -> Result<(), ValidationErrors> {
    if let Some(f) = filters {
        let unsupported = [
            ("excludeKinds", !f.exclude_kinds.is_empty()),
            ("includeEventTypes", !f.include_event_types.is_empty()),
            ("excludeEventTypes", !f.exclude_event_types.is_empty()),
            ("match", !f.r#match.is_empty()),
            ("before", f.before.is_some()),
        ];
        if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
            return Err(invalid(
                format!("spec.filters.{field}"),
                format!("not supported for {what} (use includeKinds, include/excludeReasons, include/excludeNamespaces, minSeverity)"),
            ));
        }
    }
    if mapping.is_some() {
        return Err(invalid(
            "spec.mapping",
            format!("{what} use the built-in normalizer; a mapping would be ignored"),
        ));
    }
    Ok(())
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> ValidationErrors {
    ValidationErrors(vec![FieldError {
        path: path.into(),
        message: message.into(),
    }])
}

/// Parses and checks an Ingester object as the API server stored it.
pub fn compile(object: serde_json::Value) -> Result<Compiled, ValidationErrors> {
    let ingester = vigil_model::load::ingester_from_value(object)?;
    let spec = &ingester.spec;
    let own_namespace = ingester
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let adapter =
        match spec.ingester {
            AdapterKind::Informer => Adapter::Informer(spec.informer.clone().expect("validated")),
            AdapterKind::ConfigMap => {
                let mut a = spec.config_map.clone().expect("validated");
                a.namespace.get_or_insert(own_namespace.clone());
                Adapter::ConfigMap(a)
            }
            AdapterKind::Logs => {
                let a = spec.logs.clone().expect("validated");
                let patterns = a
                    .patterns
                    .iter()
                    .map(|p| {
                        let re = regex::Regex::new(&p.regex).expect("validated");
                        let sev = p.severity.unwrap_or(vigil_model::Severity::Medium);
                        (re, p.event_type.clone(), sev)
                    })
                    .collect();
                Adapter::Logs(LogsSource {
                    namespace: a.namespace.clone().unwrap_or(own_namespace.clone()),
                    adapter: a,
                    patterns,
                    category: spec
                        .mapping
                        .as_ref()
                        .and_then(|m| m.category)
                        .unwrap_or(Category::Operations),
                })
            }
            AdapterKind::Webhook => {
                let w = spec.webhook.clone().expect("validated");
                match w.format {
                    WebhookFormat::Generic => {
                        if spec.mapping.is_none() {
                            return Err(invalid(
                                "spec.mapping",
                                "required for format generic: how pushed JSON becomes Observations",
                            ));
                        }
                    }
                    format => {
                        let what =
                            format!("{} webhook Ingesters", format!("{format:?}").to_lowercase());
                        normalized_only(spec.filters.as_ref(), &spec.mapping, &what)?;
                    }
                }
                Adapter::Webhook(w)
            }
            AdapterKind::K8sEvents => {
                normalized_only(spec.filters.as_ref(), &spec.mapping, "k8s-events Ingesters")?;
                Adapter::K8sEvents(spec.k8s_events.clone().unwrap_or_default())
            }
            AdapterKind::File => return Err(invalid(
                "spec.ingester",
                "file Ingesters are read offline by `vigil replay`; the agent does not run them",
            )),
        };
    let mapping = match &adapter {
        Adapter::Logs(_) | Adapter::K8sEvents(_) => None,
        Adapter::Webhook(w) if w.format != WebhookFormat::Generic => None,
        _ => Some(Arc::new(
            Preset::from_ingester(ingester.clone()).map_err(|e| invalid(e.path, e.message))?,
        )),
    };
    let mut namespace_override = None;
    for (i, d) in spec.destinations.iter().enumerate() {
        match d.destination_type {
            DestinationType::Crd => namespace_override = d.namespace.clone(),
            other => {
                return Err(invalid(
                    format!("spec.destinations[{i}].type"),
                    format!(
                        "{:?}: the agent writes Observation objects (type crd) only; ship elsewhere with the fleet exporter",
                        other
                    )
                    .to_lowercase(),
                ))
            }
        }
    }
    let dedup = match &spec.deduplication {
        Some(d) if d.enabled == Some(false) => None,
        d => {
            let window = d
                .as_ref()
                .and_then(|d| d.window.as_deref())
                .map(|w| {
                    vigil_model::duration::parse(w)
                        .map_err(|e| invalid("spec.deduplication.window", e.to_string()))
                })
                .transpose()?
                .unwrap_or(Duration::from_secs(300));
            Some(DedupConfig {
                window: window.max(Duration::from_secs(1)),
                max_entries: d
                    .as_ref()
                    .and_then(|d| d.max_entries)
                    .map(|n| n as usize)
                    .unwrap_or(DEFAULT_DEDUP_ENTRIES),
            })
        }
    };
    let rate = match &spec.rate_limit {
        Some(r) => ThrottleConfig {
            events_per_second: r.events_per_second,
            burst: r
                .burst
                .unwrap_or_else(|| r.events_per_second.ceil().max(1.0) as u32),
        },
        None => ThrottleConfig {
            events_per_second: DEFAULT_RATE,
            burst: (DEFAULT_RATE * 2.0) as u32,
        },
    };
    Ok(Compiled {
        ingester: Arc::new(ingester),
        adapter,
        mapping,
        dedup,
        rate,
        namespace_override,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(spec: serde_json::Value) -> serde_json::Value {
        super::super::test_support::object("t", "tools", spec)
    }

    fn informer(extra: serde_json::Value) -> serde_json::Value {
        object(super::super::test_support::informer_spec(extra))
    }

    fn first_error(value: serde_json::Value) -> String {
        compile(value).expect_err("invalid").0[0].to_string()
    }

    #[test]
    fn defaults_are_resolved() {
        let c = compile(informer(json!({}))).expect("valid");
        assert_eq!(c.dedup.as_ref().unwrap().window, Duration::from_secs(300));
        assert_eq!(c.dedup.as_ref().unwrap().max_entries, DEFAULT_DEDUP_ENTRIES);
        assert_eq!(c.rate.events_per_second, DEFAULT_RATE);
        assert!(c.mapping.is_some());
        assert!(!c.occurrences());
    }

    #[test]
    fn every_processing_field_takes_effect() {
        let c = compile(informer(json!({
            "deduplication": {"window": "1m", "maxEntries": 7},
            "rateLimit": {"eventsPerSecond": 2.5},
            "destinations": [{"type": "crd", "namespace": "sec"}]
        })))
        .expect("valid");
        assert_eq!(c.dedup.as_ref().unwrap().window, Duration::from_secs(60));
        assert_eq!(c.dedup.as_ref().unwrap().max_entries, 7);
        assert_eq!((c.rate.events_per_second, c.rate.burst), (2.5, 3));
        assert_eq!(c.namespace_override.as_deref(), Some("sec"));
        let off = compile(informer(json!({"deduplication": {"enabled": false}}))).unwrap();
        assert!(off.dedup.is_none());
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            first_error(informer(json!({"mapping": {"category": "security", "eventType": "x",
                "severity": {"default": "urgent"}}}))),
            "spec.mapping.severity.default: unknown variant `urgent`, expected one of `info`, `low`, `medium`, `high`, `critical`"
        );
        assert!(
            first_error(informer(json!({"mapping": {"category": "security",
            "eventType": "x", "severity": {"from": ".sev["}}})))
            .starts_with("spec.mapping.severity.from")
        );
        assert!(
            first_error(informer(json!({"mapping": null}))).starts_with("spec.mapping: required")
        );
        assert!(first_error(informer(
            json!({"destinations": [{"type": "kafka", "topic": "t"}]})
        ))
        .starts_with("spec.destinations[0].type: kafka"));
        let events = object(json!({"source": "ev", "ingester": "k8s-events",
            "filters": {"match": [{"path": ".reason", "values": ["x"]}]}}));
        assert!(first_error(events).starts_with("spec.filters.match: not supported"));
        let webhook = object(json!({"source": "x", "ingester": "webhook",
            "webhook": {"path": "/x", "format": "generic"}}));
        assert!(first_error(webhook).starts_with("spec.mapping: required for format generic"));
        let falco = object(json!({"source": "x", "ingester": "webhook",
            "webhook": {"path": "/x", "format": "falco"}, "filters": {"excludeKinds": ["Pod"]}}));
        let e = first_error(falco);
        assert!(
            e.starts_with("spec.filters.excludeKinds: not supported for falco webhook Ingesters"),
            "{e}"
        );
    }

    #[test]
    fn configmap_and_logs_default_to_the_ingesters_namespace() {
        let cm = compile(object(json!({"source": "kube-bench", "ingester": "configmap",
            "configMap": {"name": "r", "key": "report.json", "format": "kube-bench"},
            "mapping": {"category": "compliance", "eventType": "x", "severity": {"default": "low"}}})))
        .unwrap();
        let Adapter::ConfigMap(a) = &cm.adapter else {
            panic!()
        };
        assert_eq!(a.namespace.as_deref(), Some("tools"));
        let logs = compile(object(json!({"source": "app", "ingester": "logs",
            "logs": {"podSelector": "app=x", "patterns": [{"regex": "ERROR (?P<code>\\d+)", "eventType": "app_error", "severity": "high"}]}})))
        .unwrap();
        let Adapter::Logs(l) = &logs.adapter else {
            panic!()
        };
        assert_eq!(l.namespace, "tools");
        assert_eq!(l.category, Category::Operations);
        assert!(logs.occurrences() && logs.mapping.is_none());
    }

    #[test]
    fn a_k8s_events_ingester_configures_the_events_pipeline() {
        let c = compile(object(
            json!({"source": "events-shop", "ingester": "k8s-events",
            "k8sEvents": {"namespaces": ["shop"], "normalReasons": ["Killing"]},
            "filters": {"excludeReasons": ["BackOff"], "minSeverity": "medium"},
            "deduplication": {"window": "2m"}, "rateLimit": {"eventsPerSecond": 5},
            "ttl": "1d"}),
        ))
        .unwrap();
        let p = c.events_pipeline(Default::default(), 60);
        assert_eq!(p.source, "events-shop");
        assert_eq!(p.filter.normal_allow, ["Killing"]);
        assert_eq!(p.filter.exclude_reasons, ["BackOff"]);
        assert_eq!(p.filter.min_severity, Some(vigil_model::Severity::Medium));
        assert_eq!(p.dedup.window, Duration::from_secs(120));
        assert_eq!(p.throttle.events_per_second, 5.0);
        assert_eq!(p.ttl_seconds, 86_400);
        assert_eq!(p.fallback_namespace, "tools");
    }
}
