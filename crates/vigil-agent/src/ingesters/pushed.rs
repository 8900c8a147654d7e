//! What a webhook Ingester does with the records pushed to its endpoint, on
//! every replica: Falco alerts and audit events go through the agent's own
//! normalizers and rules with the Ingester's settings (source, filters,
//! dedup, rate limit, TTL); any other JSON (`format: generic`) through the
//! Ingester's mapping and its own dedup and rate limit. Pure apart from the
//! time passed in.

use super::compile::Compiled;
use super::stage::Stage;
use super::status::Counters;
use k8s_openapi::jiff::Timestamp;
use std::sync::Arc;
use vigil_model::ingester::WebhookFormat;
use vigil_pipeline::enrich::{EnrichConfig, Enricher};
use vigil_pipeline::sources::SourcesConfig;
use vigil_pipeline::{AuditEvent, DropReason, FalcoAlert, Outcome, Pipeline, SystemClock};

pub struct Pushed {
    pub source: Arc<str>,
    pub counters: Arc<Counters>,
    pub format: WebhookFormat,
    how: How,
    /// Where findings the mapping's filters drop are counted (`None` in tests).
    pub metrics: Option<crate::metrics::Metrics>,
}

enum How {
    /// Falco or audit: the agent's normalizers in a pipeline of the Ingester's own.
    Records(Box<Pipeline>),
    /// Generic: the mapping, then the Ingester's dedup and rate limit.
    Mapped {
        mapping: Arc<vigil_mapping::Preset>,
        stage: Box<Stage>,
    },
}

impl Pushed {
    /// `sources` are the agent's Falco and audit settings (audit rules,
    /// system users…), taken as they are apart from the source name.
    pub fn new(
        compiled: &Compiled,
        format: WebhookFormat,
        counters: Arc<Counters>,
        enrich: EnrichConfig,
        default_ttl: i64,
        sources: &SourcesConfig,
    ) -> Self {
        let source: Arc<str> = compiled.source().into();
        let how = match (format, compiled.mapping.clone()) {
            (WebhookFormat::Generic, Some(mapping)) => How::Mapped {
                mapping,
                stage: Box::new(Stage::new(compiled, Enricher::new(enrich), default_ttl)),
            },
            _ => {
                let config = compiled.events_pipeline(enrich, default_ttl);
                let mut sources = sources.clone();
                sources.falco.source = source.to_string();
                sources.falco.throttle = Some(compiled.rate.clone());
                sources.audit.source = source.to_string();
                sources.audit.throttle = Some(compiled.rate.clone());
                How::Records(Box::new(Pipeline::with_sources(
                    config,
                    sources,
                    Arc::new(SystemClock),
                )))
            }
        };
        Self {
            source,
            counters,
            format,
            how,
            metrics: None,
        }
    }

    pub fn falco(&mut self, alert: &FalcoAlert) -> Outcome {
        self.counters.event_at(Timestamp::now());
        let outcome = match &mut self.how {
            How::Records(p) => p.process_falco(alert),
            How::Mapped { .. } => unreachable!("a generic endpoint parses no Falco alert"),
        };
        self.count(&outcome);
        outcome
    }

    /// An audit event, unless the endpoint's stage and verb filter already
    /// dropped it (`endpoint_drop`); counted on the Ingester either way.
    pub fn audit(&mut self, event: &AuditEvent, endpoint_drop: Option<DropReason>) -> Outcome {
        self.counters.event_at(Timestamp::now());
        let outcome = match (endpoint_drop, &mut self.how) {
            (Some(reason), _) => Outcome::Dropped(reason),
            (None, How::Records(p)) => p.process_audit(event),
            (None, How::Mapped { .. }) => {
                unreachable!("a generic endpoint parses no audit event")
            }
        };
        self.count(&outcome);
        outcome
    }

    /// One pushed JSON value: the outcomes of its findings, or the mapping
    /// error naming the Ingester field (counted on the Ingester).
    pub fn generic(&mut self, value: &serde_json::Value, now: Timestamp) -> Vec<Outcome> {
        self.counters.event_at(now);
        let How::Mapped { mapping, stage } = &mut self.how else {
            return Vec::new();
        };
        let mapped = match mapping.apply_at(value, now) {
            Ok(mapped) => mapped,
            Err(err) => {
                self.counters.error(format!("pushed record: {err}"));
                return Vec::new();
            }
        };
        Counters::add(&self.counters.filtered, mapped.dropped.total());
        if let Some(m) = &self.metrics {
            super::runtime::count_mapping_drops(m, &self.source, &mapped.dropped);
        }
        let outcomes: Vec<Outcome> = mapped
            .observations
            .iter()
            .map(|m| stage.decide(m, now))
            .collect();
        for o in &outcomes {
            self.count(o);
        }
        outcomes
    }

    fn count(&self, outcome: &Outcome) {
        match outcome {
            Outcome::Repeat(_) => Counters::add(&self.counters.deduped, 1),
            Outcome::Dropped(_) => Counters::add(&self.counters.filtered, 1),
            Outcome::Emit(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compiled(spec: serde_json::Value) -> Compiled {
        super::super::test_support::compiled_in("hook", "tools", spec)
    }

    fn pushed(spec: serde_json::Value, format: WebhookFormat) -> Pushed {
        Pushed::new(
            &compiled(spec),
            format,
            Arc::new(Counters::default()),
            EnrichConfig::default(),
            60,
            &SourcesConfig::default(),
        )
    }

    #[test]
    fn falco_alerts_take_the_ingesters_source_ttl_and_filters() {
        let mut p = pushed(
            json!({"source": "falco-edge", "ingester": "webhook", "ttl": "2h",
                   "webhook": {"path": "/ingest/falco", "format": "falco"},
                   "filters": {"excludeNamespaces": ["kube-system"]}}),
            WebhookFormat::Falco,
        );
        let alert = |ns: &str| -> FalcoAlert {
            FalcoAlert::from_value(json!({"output": "shell", "priority": "Warning", "rule": "Terminal shell in container",
                "time": "2026-11-23T10:00:00.123456789Z", "output_fields": {"k8s.ns.name": ns, "k8s.pod.name": "web-1"}}))
            .unwrap()
        };
        let Outcome::Emit(c) = p.falco(&alert("shop")) else {
            panic!()
        };
        assert_eq!(c.spec.source, "falco-edge");
        assert_eq!(c.spec.ttl_seconds_after_creation, Some(7200));
        assert!(matches!(
            p.falco(&alert("kube-system")),
            Outcome::Dropped(_)
        ));
        assert_eq!(
            p.counters
                .filtered
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }

    #[test]
    fn generic_json_is_mapped_deduplicated_and_errors_are_counted() {
        let mut p = pushed(
            json!({"source": "ci", "ingester": "webhook",
                   "webhook": {"path": "/ingest/ci", "format": "generic"},
                   "mapping": {"key": "{{ .pipeline }}/{{ .job }}", "category": "operations",
                       "eventType": "{{ .event // \"ci_failure\" }}", "severity": {"from": ".level", "default": "low"},
                       "details": {"job": "{{ .job }}"}}}),
            WebhookFormat::Generic,
        );
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let out = p.generic(
            &json!([{"pipeline": "p", "job": "build", "level": "high"},
                                     {"pipeline": "p", "job": "test"}]),
            now,
        );
        assert_eq!(out.len(), 2);
        let Outcome::Emit(c) = &out[0] else { panic!() };
        assert_eq!(
            (c.spec.source.as_str(), c.spec.severity),
            ("ci", vigil_model::Severity::High)
        );
        assert_eq!(c.namespace, "tools");
        // Pushed again within the window: a repeat.
        let again = p.generic(&json!({"pipeline": "p", "job": "build"}), now);
        assert!(matches!(again[0], Outcome::Repeat(_)));
        assert!(p
            .generic(
                &json!({"pipeline": "p", "job": "x", "event": "Bad Type"}),
                now
            )
            .is_empty());
        let s = super::super::status::build(
            None,
            &super::super::status::Readiness::Running,
            None,
            &p.counters,
            now,
        );
        assert_eq!(s.errors, Some(1));
        assert!(s
            .last_error
            .unwrap()
            .starts_with("pushed record: spec.mapping.eventType"));
        assert_eq!(s.events_received, Some(3));
    }
}
