//! The stages composed: one call per event, one [`Outcome`] back.
//! Owns the order of stages and nothing else.
//!
//! filter (type, namespace, kind, reason) → normalize → filter (minimum
//! severity) → enrich → dedup → throttle. Two shortcuts keep the hot path
//! cheap without changing a result: enrich's labels and the Observation's
//! content are built only for an event that will be emitted (they never
//! influence dedup), and an Event delivered again unchanged (same uid and
//! resourceVersion, as a relist does) is dropped before dedup as
//! [`DropReason::Unchanged`] instead of counting as another occurrence.
//!
//! An Observation lives in the regarding object's namespace; events about
//! cluster-scoped objects (Nodes, ...) or about nothing go to
//! `fallback_namespace`.
//!
//! Falco alerts and audit events take the same stages through
//! [`Pipeline::process_record`] (see [`records`]): same filter (namespace
//! and minimum severity), enrich, dedup cache and Observation names, and a
//! throttle bucket per source.

use crate::clock::Clock;
use crate::dedup::{DedupWindow, Seen};
use crate::enrich::Enricher;
use crate::event::KubeEvent;
use crate::filter::EventFilter;
use crate::fingerprint::{observation_name, Fingerprinter};
use crate::normalize::{self, Normalizer};
use crate::sources::audit_rules::AuditRules;
use crate::sources::SourcesConfig;
use crate::throttle::TokenBucket;
use crate::versions::SeenVersions;
use crate::{dedup, enrich, filter, throttle};
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;
use vigil_model::ObservationSpec;

/// Everything the pipeline is configured by, for one source.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Written into each Observation's `source`.
    pub source: String,
    pub filter: filter::FilterConfig,
    pub enrich: enrich::EnrichConfig,
    pub dedup: dedup::DedupConfig,
    pub throttle: throttle::ThrottleConfig,
    /// `ttlSecondsAfterCreation` of every Observation.
    pub ttl_seconds: i64,
    /// Where Observations of events without a namespace go.
    pub fallback_namespace: String,
}

impl PipelineConfig {
    /// The Kubernetes Events source with every default: source
    /// `kubernetes-events`, TTL 7 days, fallback namespace `vigil-system`,
    /// the recommended filter and platform namespaces, a 5-minute dedup
    /// window of 100 000 entries, 500 new Observations a second (burst 1000).
    pub fn for_kubernetes_events() -> Self {
        Self {
            source: "kubernetes-events".to_string(),
            filter: filter::FilterConfig::default(),
            enrich: enrich::EnrichConfig::default(),
            dedup: dedup::DedupConfig::default(),
            throttle: throttle::ThrottleConfig::default(),
            ttl_seconds: vigil_model::observation::DEFAULT_TTL_SECONDS,
            fallback_namespace: "vigil-system".to_string(),
        }
    }
}

impl Default for PipelineConfig {
    /// [`PipelineConfig::for_kubernetes_events`].
    fn default() -> Self {
        Self::for_kubernetes_events()
    }
}

/// Why an event produced no Observation. Every one is counted by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// `type=Normal` and its reason is not on the allow-list.
    NormalType,
    /// Namespace excluded, or not included.
    Namespace,
    /// Involved-object kind not selected.
    Kind,
    /// Reason excluded, or not included.
    Reason,
    /// Below the minimum severity.
    Severity,
    /// Over the source's rate limit.
    Throttled,
    /// The same Event (uid) at the same resourceVersion, delivered again (a
    /// relist), or the same audit request again (a webhook retry, a second
    /// stage of one request): not a new occurrence.
    Unchanged,
    /// An audit event at a stage not selected (by default all but `ResponseComplete`).
    AuditStage,
    /// An audit event whose verb is not selected.
    AuditVerb,
    /// An audit event no audit rule matches: routine API traffic.
    AuditNoRule,
}

impl DropReason {
    pub const ALL: &'static [DropReason] = &[
        DropReason::NormalType,
        DropReason::Namespace,
        DropReason::Kind,
        DropReason::Reason,
        DropReason::Severity,
        DropReason::Throttled,
        DropReason::Unchanged,
        DropReason::AuditStage,
        DropReason::AuditVerb,
        DropReason::AuditNoRule,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NormalType => "normal_type",
            DropReason::Namespace => "namespace",
            DropReason::Kind => "kind",
            DropReason::Reason => "reason",
            DropReason::Severity => "severity",
            DropReason::Throttled => "throttled",
            DropReason::Unchanged => "unchanged",
            DropReason::AuditStage => "audit_stage",
            DropReason::AuditVerb => "audit_verb",
            DropReason::AuditNoRule => "audit_no_rule",
        }
    }
}

/// An occurrence of something already emitted in the current window.
#[derive(Debug, Clone, PartialEq)]
pub struct Repeat {
    /// Name and namespace of the Observation it repeats.
    pub name: String,
    pub namespace: String,
    /// Occurrences this process has seen in the window, the first included (≥ 2).
    pub occurrences: u64,
    pub last_seen: Timestamp,
}

/// A new Observation to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Deterministic: derived from the fingerprint and the window.
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub spec: ObservationSpec,
    /// Hex content fingerprint (without the window).
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Dropped(DropReason),
    Repeat(Repeat),
    Emit(Box<Candidate>),
}

/// The stages, in order, with their state (dedup cache, token buckets).
pub struct Pipeline {
    config: PipelineConfig,
    sources: SourcesConfig,
    clock: Arc<dyn Clock>,
    filter: EventFilter,
    normalizer: Normalizer,
    enricher: Enricher,
    fingerprinter: Fingerprinter,
    dedup: DedupWindow,
    versions: SeenVersions,
    throttle: TokenBucket,
    audit_rules: AuditRules,
    /// Audit requests taken into account (auditID + receive time, verb, URI,
    /// user), so a re-delivery is not an occurrence.
    audit_ids: SeenVersions,
    falco_throttle: TokenBucket,
    audit_throttle: TokenBucket,
}

/// Which token bucket a new Observation spends from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    Events,
    Falco,
    Audit,
}

impl Pipeline {
    /// A pipeline with the push-based sources at their defaults
    /// ([`SourcesConfig::default`]).
    pub fn new(config: PipelineConfig, clock: Arc<dyn Clock>) -> Self {
        Self::with_sources(config, SourcesConfig::default(), clock)
    }

    /// A pipeline with the Falco and audit sources configured too.
    pub fn with_sources(
        config: PipelineConfig,
        sources: SourcesConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let bucket = |own: &Option<throttle::ThrottleConfig>| {
            TokenBucket::new(own.as_ref().unwrap_or(&config.throttle))
        };
        Self {
            filter: EventFilter::new(&config.filter),
            normalizer: Normalizer::new(),
            enricher: Enricher::new(config.enrich.clone()),
            fingerprinter: Fingerprinter::new(),
            dedup: DedupWindow::new(&config.dedup),
            versions: SeenVersions::new(config.dedup.max_entries),
            throttle: TokenBucket::new(&config.throttle),
            audit_rules: AuditRules::new(&sources.audit),
            audit_ids: SeenVersions::new(config.dedup.max_entries),
            falco_throttle: bucket(&sources.falco.throttle),
            audit_throttle: bucket(&sources.audit.throttle),
            sources,
            config,
            clock,
        }
    }

    /// Runs one event through every stage.
    pub fn process(&mut self, event: &KubeEvent) -> Outcome {
        if let Err(reason) = self.filter.check_early(event) {
            return Outcome::Dropped(reason);
        }
        let class = self.normalizer.classify(event);
        if let Err(reason) = self.filter.check_severity(class.severity) {
            return Outcome::Dropped(reason);
        }
        let version = self
            .versions
            .version_of(&event.uid, &event.resource_version);
        if version.is_some_and(|v| self.versions.is_unchanged(v)) {
            return Outcome::Dropped(DropReason::Unchanged);
        }
        let fingerprint = self.fingerprinter.fingerprint(&self.config.source, event);
        let (window, seen) = match self.admit(Bucket::Events, fingerprint, event.last_time) {
            Ok(admitted) => admitted,
            Err(reason) => return Outcome::Dropped(reason),
        };
        if let Some(v) = version {
            self.versions.record(v);
        }
        let source = self.config.source.as_str();
        let name = observation_name(source, &class.event_type, fingerprint, window);
        let namespace = self.observation_namespace(event);
        match seen {
            Seen::Again {
                occurrences,
                last_seen,
            } => Outcome::Repeat(Repeat {
                name,
                namespace,
                occurrences,
                last_seen,
            }),
            Seen::First => Outcome::Emit(Box::new(Candidate {
                name,
                namespace,
                labels: self.enricher.labels(event, source, fingerprint),
                spec: normalize::observation_spec(event, &class, source, self.config.ttl_seconds),
                fingerprint: fingerprint.to_hex(),
            })),
        }
    }

    /// Dedup, then throttle for a first sighting: the window and what dedup
    /// saw, or [`DropReason::Throttled`]. `at` is the record's event time
    /// (the clock's now when it has none).
    fn admit(
        &mut self,
        bucket: Bucket,
        fingerprint: crate::Fingerprint,
        at: Option<Timestamp>,
    ) -> Result<(i64, Seen), DropReason> {
        let now = self.clock.now();
        let (window, seen) = self.dedup.observe(fingerprint, at.unwrap_or(now), now);
        let tokens = match bucket {
            Bucket::Events => &mut self.throttle,
            Bucket::Falco => &mut self.falco_throttle,
            Bucket::Audit => &mut self.audit_throttle,
        };
        if seen == Seen::First && !tokens.try_take(now) {
            // Not emitted, so not remembered: the next occurrence may emit.
            self.dedup.forget(fingerprint, window);
            return Err(DropReason::Throttled);
        }
        Ok((window, seen))
    }

    /// Records a namespace's labels (from the agent's namespace cache) for enrich.
    pub fn set_namespace_labels(&mut self, namespace: &str, labels: BTreeMap<String, String>) {
        self.enricher.set_namespace_labels(namespace, &labels);
    }

    /// Forgets a deleted namespace's labels.
    pub fn remove_namespace(&mut self, namespace: &str) {
        self.enricher.remove_namespace(namespace);
    }

    /// Entries in the dedup cache now (a gauge).
    pub fn dedup_entries(&self) -> usize {
        self.dedup.len()
    }

    /// The dedup cache's bound (`dedup.max_entries`).
    pub fn dedup_capacity(&self) -> usize {
        self.dedup.capacity()
    }

    /// Dedup entries evicted because the cache was full, since start (a counter).
    pub fn dedup_evictions(&self) -> u64 {
        self.dedup.evictions()
    }

    /// Event uids whose last resourceVersion is remembered (a gauge, bounded
    /// by `dedup.max_entries`).
    pub fn tracked_event_versions(&self) -> usize {
        self.versions.len()
    }

    /// The configuration the pipeline runs with.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// The push-based sources' configuration.
    pub fn sources_config(&self) -> &SourcesConfig {
        &self.sources
    }

    fn observation_namespace(&self, event: &KubeEvent) -> String {
        match event.regarding.namespace.as_str() {
            "" => self.config.fallback_namespace.clone(),
            ns => ns.to_string(),
        }
    }
}

pub mod records;

pub use records::Record;

#[cfg(test)]
mod tests;
