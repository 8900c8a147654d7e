//! The agent's configuration: one typed struct, read from an optional YAML
//! file and overridden by flags and environment (the binary maps those onto
//! [`Overrides`]), validated before anything runs, with errors naming the key.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use vigil_model::Severity;
use vigil_pipeline::sources::audit::AuditStage;
use vigil_pipeline::sources::{AuditConfig, SourcesConfig};
use vigil_pipeline::{dedup, enrich, filter, throttle, PipelineConfig};

pub use crate::compliance::{ComplianceSection, ComplianceSettings};
pub use crate::gc::GcSettings;
pub use crate::leader::ElectionSettings;

pub use crate::sources::webhook::config::{
    AuditEndpointSection, AuthSection, EndpointKind, EndpointSection, WebhookEndpoint,
    WebhookRateLimit, WebhookSettings, WebhooksSection,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid configuration: {key}: {message}")]
    Invalid { key: String, message: String },
}

pub(crate) fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

/// Which Events API to watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum EventsApi {
    /// `events.k8s.io/v1` when the server serves it, else core `v1`.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "events.k8s.io/v1")]
    EventsV1,
    #[serde(rename = "v1")]
    CoreV1,
}

impl std::str::FromStr for EventsApi {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "events.k8s.io/v1" => Ok(Self::EventsV1),
            "v1" => Ok(Self::CoreV1),
            other => Err(format!(
                "unknown events API {other:?}: use auto, events.k8s.io/v1 or v1"
            )),
        }
    }
}

/// The whole agent configuration (the file's shape).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Address of `/health`, `/ready` and `/metrics`.
    pub listen: SocketAddr,
    /// The agent's own namespace: its checkpoint lives here, and Observations
    /// of events without a namespace go here.
    pub namespace: String,
    /// The `source` of the Observations it writes.
    pub source: String,
    pub events_api: EventsApi,
    /// Watch only these namespaces (one watch each); empty = the whole cluster.
    pub namespaces: Vec<String>,
    pub filter: FilterSection,
    pub platform: PlatformSection,
    pub dedup: DedupSection,
    pub rate_limit: RateLimitSection,
    /// TTL of each Observation (`ttlSecondsAfterCreation`), e.g. `7d`.
    pub ttl: String,
    /// Events buffered between the watch and the pipeline; when full, the
    /// watch waits (back-pressure), it never drops.
    pub queue_capacity: usize,
    pub writer: WriterSection,
    pub checkpoint: CheckpointSection,
    pub detect: DetectSection,
    /// HTTP intake of push-based tools (Falco, the API server's audit
    /// webhook); see docs/WEBHOOKS.md. No endpoint, no listener.
    pub webhooks: WebhooksSection,
    /// Lease-based leader election between replicas (off by default for the
    /// CLI; the Helm chart turns it on).
    pub leader_election: LeaderElectionSection,
    /// TTL garbage collection of Observations (leader only).
    pub gc: GcSection,
    /// Periodic well-architected checks of the cluster (leader only; off by default).
    pub compliance: ComplianceSection,
    /// The Ingester controller (leader only): sources declared as objects.
    pub ingesters: IngestersSection,
}

/// Which Ingester objects the agent runs (see docs/INGESTERS.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct IngestersSection {
    /// Run the Ingester controller (default true).
    pub enabled: bool,
    /// Namespaces whose Ingesters are run; empty means those of
    /// `namespaces` (the Events watch), and when that is empty too, all.
    pub namespaces: Vec<String>,
    /// How often Ingesters whose filters read the clock (`filters.before`)
    /// map their objects again (default 5m, at least 1s).
    pub resync_interval: String,
    /// Serve webhook Ingesters on this replica's webhook listener
    /// (`webhooks.listen`, started even without configured endpoints).
    /// Default false; the Helm chart turns it on.
    pub serve_webhooks: bool,
}

impl Default for IngestersSection {
    fn default() -> Self {
        Self {
            enabled: true,
            namespaces: Vec::new(),
            resync_interval: "5m".into(),
            serve_webhooks: false,
        }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            namespace: "vigil-system".into(),
            source: "kubernetes-events".into(),
            events_api: EventsApi::Auto,
            namespaces: Vec::new(),
            filter: FilterSection::default(),
            platform: PlatformSection::default(),
            dedup: DedupSection::default(),
            rate_limit: RateLimitSection::default(),
            ttl: "7d".into(),
            queue_capacity: 10_000,
            writer: WriterSection::default(),
            checkpoint: CheckpointSection::default(),
            detect: DetectSection::default(),
            webhooks: WebhooksSection::default(),
            leader_election: LeaderElectionSection::default(),
            gc: GcSection::default(),
            compliance: ComplianceSection::default(),
            ingesters: IngestersSection::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LeaderElectionSection {
    pub enabled: bool,
    /// The Lease (in `namespace`) the replicas share.
    pub lease_name: String,
    pub lease_duration: String,
    /// A leader that has not renewed for this long stops acting.
    pub renew_deadline: String,
    pub retry_period: String,
    /// This replica's identity; default: env `POD_NAME`, else hostname-pid.
    pub identity: Option<String>,
}

impl Default for LeaderElectionSection {
    fn default() -> Self {
        Self {
            enabled: false,
            lease_name: "vigil-agent".into(),
            lease_duration: "15s".into(),
            renew_deadline: "10s".into(),
            retry_period: "2s".into(),
            identity: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct GcSection {
    pub enabled: bool,
    pub interval: String,
    /// Observations kept per namespace at most (oldest deleted first); 0 = no limit.
    pub max_per_namespace: usize,
    /// Observations per list page.
    pub page_size: u32,
    /// Deletes in flight at once.
    pub concurrency: usize,
}

impl Default for GcSection {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: "1m".into(),
            max_per_namespace: 10_000,
            page_size: 500,
            concurrency: 8,
        }
    }
}

/// The default identity: the pod's name, else hostname-pid.
fn default_identity() -> String {
    if let Ok(name) = std::env::var("POD_NAME") {
        if !name.is_empty() {
            return name;
        }
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "vigil".into());
    format!("{host}-{}", std::process::id())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FilterSection {
    /// `type=Normal` reasons that still become Observations.
    pub normal_allow: Vec<String>,
    pub include_namespaces: Vec<String>,
    pub exclude_namespaces: Vec<String>,
    pub include_kinds: Vec<String>,
    pub include_reasons: Vec<String>,
    pub exclude_reasons: Vec<String>,
    pub min_severity: Option<Severity>,
}

impl Default for FilterSection {
    fn default() -> Self {
        Self {
            normal_allow: filter::DEFAULT_NORMAL_ALLOW
                .iter()
                .map(|s| s.to_string())
                .collect(),
            include_namespaces: Vec::new(),
            exclude_namespaces: Vec::new(),
            include_kinds: Vec::new(),
            include_reasons: Vec::new(),
            exclude_reasons: Vec::new(),
            min_severity: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct PlatformSection {
    /// Namespace globs whose Observations are labelled audience=platform.
    pub namespaces: Vec<String>,
    /// Namespace labels that also mark a platform namespace (all must match).
    pub namespace_labels: BTreeMap<String, String>,
}

impl Default for PlatformSection {
    fn default() -> Self {
        let defaults = enrich::EnrichConfig::default();
        Self {
            namespaces: defaults.platform_namespaces,
            namespace_labels: defaults.platform_namespace_labels,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct DedupSection {
    pub window: String,
    pub max_entries: usize,
}

impl Default for DedupSection {
    fn default() -> Self {
        Self {
            window: "5m".into(),
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RateLimitSection {
    pub events_per_second: f64,
    pub burst: u32,
}

impl Default for RateLimitSection {
    fn default() -> Self {
        Self {
            events_per_second: 500.0,
            burst: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WriterSection {
    /// Creates in flight at once.
    pub concurrency: usize,
    /// Client-side request rate to the API server (requests/s) and burst.
    pub qps: f64,
    pub burst: u32,
    /// Repeats are folded per Observation and patched at most this often.
    pub repeat_flush_interval: String,
    /// Observations with pending repeat counts held at once.
    pub max_pending_repeats: usize,
}

impl Default for WriterSection {
    fn default() -> Self {
        Self {
            concurrency: 32,
            qps: 500.0,
            burst: 1000,
            repeat_flush_interval: "2s".into(),
            max_pending_repeats: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct CheckpointSection {
    pub enabled: bool,
    /// ConfigMap (in `namespace`) holding the last fully processed resourceVersion.
    pub config_map: String,
    pub interval: String,
}

impl Default for CheckpointSection {
    fn default() -> Self {
        Self {
            enabled: true,
            config_map: "vigil-checkpoint".into(),
            interval: "5s".into(),
        }
    }
}

/// Windowed anomaly detection over the Observations (crates/vigil-detect).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct DetectSection {
    pub enabled: bool,
    /// The cluster's name in anomaly keys (`groupBy: [cluster]`).
    pub cluster: String,
    /// The built-in storm rules (see crates/vigil-detect/README.md).
    pub default_rules: bool,
    /// A YAML rule file added to (or, by name, replacing) the defaults.
    pub rules_file: Option<String>,
    /// How far behind the newest event time an occurrence still counts.
    pub allowed_lateness: String,
    /// Live (rule, key, window) entries at most.
    pub max_entries: usize,
}

impl Default for DetectSection {
    fn default() -> Self {
        Self {
            enabled: true,
            cluster: String::new(),
            default_rules: true,
            rules_file: None,
            allowed_lateness: "30s".into(),
            max_entries: 100_000,
        }
    }
}

/// Values given on the command line or in the environment; they win over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub namespace: Option<String>,
    pub namespaces: Option<Vec<String>>,
    pub events_api: Option<EventsApi>,
    pub checkpoint_config_map: Option<String>,
    pub webhook_listen: Option<SocketAddr>,
}

/// The configuration validated into the values the agent runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: AgentConfig,
    pub pipeline: PipelineConfig,
    pub repeat_flush_interval: Duration,
    pub checkpoint_interval: Duration,
    /// The detector's rules and bounds; `None` when detection is off.
    pub detect: Option<(vigil_detect::RuleSet, vigil_detect::DetectorConfig)>,
    /// The push-based sources' pipeline settings (Falco, audit).
    pub sources: SourcesConfig,
    /// The webhook listener and endpoints, secrets read; no endpoint: no listener.
    pub webhooks: WebhookSettings,
    /// Leader election; `None`: this replica leads from the start.
    pub election: Option<ElectionSettings>,
    /// TTL garbage collection; `None` when off.
    pub gc: Option<GcSettings>,
    /// The periodic compliance run; `None` when off.
    pub compliance: Option<ComplianceSettings>,
    /// `ingesters.resyncInterval`.
    pub ingesters_resync: Duration,
}

impl AgentConfig {
    /// Reads a YAML file (unknown keys are errors).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text).map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn from_yaml(text: &str) -> Result<Self, String> {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    pub fn apply(mut self, o: Overrides) -> Self {
        if let Some(v) = o.listen {
            self.listen = v;
        }
        if let Some(v) = o.namespace {
            self.namespace = v;
        }
        if let Some(v) = o.namespaces {
            self.namespaces = v;
        }
        if let Some(v) = o.events_api {
            self.events_api = v;
        }
        if let Some(v) = o.checkpoint_config_map {
            self.checkpoint.config_map = v;
        }
        if let Some(v) = o.webhook_listen {
            self.webhooks.listen = v;
        }
        self
    }

    /// Checks every value and builds the pipeline configuration.
    pub fn validate(self) -> Result<Settings, ConfigError> {
        let duration = |key: &str, text: &str| {
            vigil_model::duration::parse(text).map_err(|e| invalid(key, format!("{text:?}: {e}")))
        };
        if !is_dns_label(&self.namespace) {
            return Err(invalid(
                "namespace",
                format!("{:?} is not a namespace name", self.namespace),
            ));
        }
        if let Some(bad) = self.namespaces.iter().find(|n| !is_dns_label(n)) {
            return Err(invalid(
                "namespaces",
                format!("{bad:?} is not a namespace name"),
            ));
        }
        if self.source.is_empty()
            || self.source.len() > 63
            || !self
                .source
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(
                "source",
                "must be 1-63 characters of a-z, 0-9 and -",
            ));
        }
        let ttl = duration("ttl", &self.ttl)?;
        let ttl_seconds = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        if !(1..=vigil_model::observation::MAX_TTL_SECONDS).contains(&ttl_seconds) {
            return Err(invalid(
                "ttl",
                format!(
                    "must be between 1s and {}s",
                    vigil_model::observation::MAX_TTL_SECONDS
                ),
            ));
        }
        let window = duration("dedup.window", &self.dedup.window)?;
        if window.is_zero() {
            return Err(invalid("dedup.window", "must be greater than zero"));
        }
        if self.dedup.max_entries == 0 {
            return Err(invalid("dedup.maxEntries", "must be at least 1"));
        }
        if !(self.rate_limit.events_per_second.is_finite()
            && self.rate_limit.events_per_second > 0.0)
        {
            return Err(invalid(
                "rateLimit.eventsPerSecond",
                "must be a positive number",
            ));
        }
        if self.rate_limit.burst == 0 {
            return Err(invalid("rateLimit.burst", "must be at least 1"));
        }
        if self.queue_capacity == 0 {
            return Err(invalid("queueCapacity", "must be at least 1"));
        }
        if self.writer.concurrency == 0 {
            return Err(invalid("writer.concurrency", "must be at least 1"));
        }
        if !(self.writer.qps.is_finite() && self.writer.qps > 0.0) {
            return Err(invalid("writer.qps", "must be a positive number"));
        }
        if self.writer.burst == 0 {
            return Err(invalid("writer.burst", "must be at least 1"));
        }
        if self.writer.max_pending_repeats == 0 {
            return Err(invalid("writer.maxPendingRepeats", "must be at least 1"));
        }
        let repeat_flush_interval = duration(
            "writer.repeatFlushInterval",
            &self.writer.repeat_flush_interval,
        )?;
        let checkpoint_interval = duration("checkpoint.interval", &self.checkpoint.interval)?;
        if self.checkpoint.enabled && !is_dns_subdomain(&self.checkpoint.config_map) {
            return Err(invalid(
                "checkpoint.configMap",
                format!("{:?} is not a ConfigMap name", self.checkpoint.config_map),
            ));
        }
        let election = self.election_settings()?;
        let gc = self.gc_settings(ttl_seconds)?;
        let detect = self.detect_settings()?;
        let webhooks = self.webhooks.validate("webhooks")?;
        let sources = sources_for(&webhooks.endpoints);
        let pipeline = PipelineConfig {
            source: self.source.clone(),
            filter: filter::FilterConfig {
                normal_allow: self.filter.normal_allow.clone(),
                include_namespaces: self.filter.include_namespaces.clone(),
                exclude_namespaces: self.filter.exclude_namespaces.clone(),
                include_kinds: self.filter.include_kinds.clone(),
                include_reasons: self.filter.include_reasons.clone(),
                exclude_reasons: self.filter.exclude_reasons.clone(),
                min_severity: self.filter.min_severity,
            },
            enrich: enrich::EnrichConfig {
                platform_namespaces: self.platform.namespaces.clone(),
                platform_namespace_labels: self.platform.namespace_labels.clone(),
            },
            dedup: dedup::DedupConfig {
                window,
                max_entries: self.dedup.max_entries,
            },
            throttle: throttle::ThrottleConfig {
                events_per_second: self.rate_limit.events_per_second,
                burst: self.rate_limit.burst,
            },
            ttl_seconds,
            fallback_namespace: self.namespace.clone(),
        };
        let ingesters_resync =
            duration("ingesters.resyncInterval", &self.ingesters.resync_interval)?;
        if ingesters_resync < Duration::from_secs(1) {
            return Err(invalid("ingesters.resyncInterval", "must be at least 1s"));
        }
        let compliance = self.compliance.validate(
            &self.namespaces,
            &self.namespace,
            ttl_seconds,
            &pipeline.enrich,
        )?;
        Ok(Settings {
            config: self,
            pipeline,
            repeat_flush_interval,
            checkpoint_interval,
            detect,
            sources,
            webhooks,
            election,
            gc,
            compliance,
            ingesters_resync,
        })
    }

    fn election_settings(&self) -> Result<Option<ElectionSettings>, ConfigError> {
        let e = &self.leader_election;
        if !e.enabled {
            return Ok(None);
        }
        let duration = |key: &str, text: &str| {
            let key = format!("leaderElection.{key}");
            match vigil_model::duration::parse(text) {
                Ok(d) if d.is_zero() => Err(invalid(&key, "must be greater than zero")),
                Ok(d) => Ok(d),
                Err(err) => Err(invalid(&key, format!("{text:?}: {err}"))),
            }
        };
        let lease_duration = duration("leaseDuration", &e.lease_duration)?;
        let renew_deadline = duration("renewDeadline", &e.renew_deadline)?;
        let retry_period = duration("retryPeriod", &e.retry_period)?;
        if lease_duration < Duration::from_secs(1) || lease_duration.subsec_nanos() != 0 {
            return Err(invalid(
                "leaderElection.leaseDuration",
                "must be a whole number of seconds, at least 1s (the Lease stores seconds)",
            ));
        }
        if renew_deadline >= lease_duration {
            return Err(invalid(
                "leaderElection.renewDeadline",
                "must be shorter than leaderElection.leaseDuration",
            ));
        }
        if retry_period >= renew_deadline {
            return Err(invalid(
                "leaderElection.retryPeriod",
                "must be shorter than leaderElection.renewDeadline",
            ));
        }
        if !is_dns_subdomain(&e.lease_name) {
            return Err(invalid(
                "leaderElection.leaseName",
                format!("{:?} is not a Lease name", e.lease_name),
            ));
        }
        let identity = match &e.identity {
            Some(id) if id.trim().is_empty() => {
                return Err(invalid("leaderElection.identity", "must not be empty"))
            }
            Some(id) => id.clone(),
            None => default_identity(),
        };
        Ok(Some(ElectionSettings {
            lease_name: e.lease_name.clone(),
            namespace: self.namespace.clone(),
            identity,
            lease_duration,
            renew_deadline,
            retry_period,
        }))
    }

    fn gc_settings(&self, default_ttl_seconds: i64) -> Result<Option<GcSettings>, ConfigError> {
        let g = &self.gc;
        if !g.enabled {
            return Ok(None);
        }
        let interval = vigil_model::duration::parse(&g.interval)
            .map_err(|e| invalid("gc.interval", format!("{:?}: {e}", g.interval)))?;
        if interval.is_zero() {
            return Err(invalid("gc.interval", "must be greater than zero"));
        }
        if g.page_size == 0 {
            return Err(invalid("gc.pageSize", "must be at least 1"));
        }
        if g.concurrency == 0 {
            return Err(invalid("gc.concurrency", "must be at least 1"));
        }
        Ok(Some(GcSettings {
            interval,
            default_ttl_seconds,
            max_per_namespace: g.max_per_namespace,
            page_size: g.page_size,
            concurrency: g.concurrency,
            namespaces: self.namespaces.clone(),
        }))
    }

    fn detect_settings(
        &self,
    ) -> Result<Option<(vigil_detect::RuleSet, vigil_detect::DetectorConfig)>, ConfigError> {
        let d = &self.detect;
        if !d.enabled {
            return Ok(None);
        }
        let lateness = vigil_model::duration::parse(&d.allowed_lateness).map_err(|e| {
            invalid(
                "detect.allowedLateness",
                format!("{:?}: {e}", d.allowed_lateness),
            )
        })?;
        if d.max_entries == 0 {
            return Err(invalid("detect.maxEntries", "must be at least 1"));
        }
        let mut rules = if d.default_rules {
            vigil_detect::RuleSet::default_rules()
        } else {
            vigil_detect::RuleSet::from_yaml("rules: []")
                .map_err(|e| invalid("detect.defaultRules", e.to_string()))?
        };
        if let Some(path) = &d.rules_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| invalid("detect.rulesFile", format!("reading {path}: {e}")))?;
            let extra = vigil_detect::RuleSet::from_yaml(&text)
                .map_err(|e| invalid("detect.rulesFile", format!("{path}: {e}")))?;
            rules = rules.with_overrides(extra);
        } else if !d.default_rules {
            return Err(invalid(
                "detect.rulesFile",
                "required when detect.defaultRules is false",
            ));
        }
        let config = vigil_detect::DetectorConfig {
            allowed_lateness: lateness,
            max_entries: d.max_entries,
            ..Default::default()
        };
        Ok(Some((rules, config)))
    }
}

/// The pipeline's settings for the push-based sources. The stage and verb
/// filter is each audit endpoint's own (applied before the pipeline), so the
/// pipeline's lets through every stage any endpoint selects, and every verb.
fn sources_for(endpoints: &[WebhookEndpoint]) -> SourcesConfig {
    let mut stages: Vec<AuditStage> = Vec::new();
    for e in endpoints.iter().filter(|e| e.kind == EndpointKind::Audit) {
        for s in &e.audit_stages {
            if !stages.contains(s) {
                stages.push(*s);
            }
        }
    }
    let mut audit = AuditConfig::default();
    if !stages.is_empty() {
        audit.stages = stages;
    }
    audit.verbs = Vec::new();
    SourcesConfig {
        audit,
        ..SourcesConfig::default()
    }
}

pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(result: Result<Settings, ConfigError>) -> String {
        match result {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid-key error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_validate() {
        let settings = AgentConfig::default()
            .validate()
            .expect("defaults are valid");
        assert_eq!(settings.pipeline.ttl_seconds, 604_800);
        assert_eq!(settings.pipeline.dedup.window, Duration::from_secs(300));
        assert_eq!(settings.repeat_flush_interval, Duration::from_secs(2));
    }

    #[test]
    fn file_values_are_read_and_unknown_keys_rejected() {
        let config = AgentConfig::from_yaml(
            "namespaces: [a, b]\ndedup:\n  window: 10m\nfilter:\n  minSeverity: high\n",
        )
        .expect("valid yaml");
        assert_eq!(config.namespaces, vec!["a", "b"]);
        assert_eq!(config.filter.min_severity, Some(Severity::High));
        let settings = config.validate().expect("valid");
        assert_eq!(settings.pipeline.dedup.window, Duration::from_secs(600));

        let err = AgentConfig::from_yaml("dedup:\n  windwo: 10m\n").expect_err("typo must fail");
        assert!(err.contains("windwo"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let with = |change: fn(&mut AgentConfig)| {
            let mut c = AgentConfig::default();
            change(&mut c);
            key_of(c.validate())
        };
        assert_eq!(with(|c| c.dedup.window = "soon".into()), "dedup.window");
        assert_eq!(with(|c| c.ttl = "800d".into()), "ttl");
        assert_eq!(with(|c| c.namespaces = vec!["Bad_NS".into()]), "namespaces");
        assert_eq!(with(|c| c.writer.qps = 0.0), "writer.qps");
        assert_eq!(with(|c| c.rate_limit.burst = 0), "rateLimit.burst");
        assert_eq!(
            with(|c| c.checkpoint.config_map = "Not Valid".into()),
            "checkpoint.configMap"
        );
    }

    #[test]
    fn leader_election_and_gc_are_read_and_validated() {
        let settings = AgentConfig::default().validate().expect("defaults");
        assert_eq!(settings.election, None, "election is off by default");
        let gc = settings.gc.expect("gc is on by default");
        assert_eq!(gc.interval, Duration::from_secs(60));
        assert_eq!(gc.default_ttl_seconds, 604_800, "the configured ttl");
        assert_eq!(
            (gc.max_per_namespace, gc.page_size, gc.concurrency),
            (10_000, 500, 8)
        );

        let config = AgentConfig::from_yaml(
            "ttl: 1h\nleaderElection:\n  enabled: true\n  identity: pod-a\n  leaseDuration: 6s\n  \
             renewDeadline: 4s\n  retryPeriod: 500ms\ngc:\n  interval: 1s\n  maxPerNamespace: 0\n",
        )
        .expect("yaml");
        let settings = config.validate().expect("valid");
        let e = settings.election.expect("enabled");
        assert_eq!(e.identity, "pod-a");
        assert_eq!(e.lease_name, "vigil-agent");
        assert_eq!(e.namespace, "vigil-system");
        assert_eq!(
            (e.lease_duration, e.renew_deadline, e.retry_period),
            (
                Duration::from_secs(6),
                Duration::from_secs(4),
                Duration::from_millis(500)
            )
        );
        let gc = settings.gc.expect("enabled");
        assert_eq!(gc.interval, Duration::from_secs(1));
        assert_eq!(gc.default_ttl_seconds, 3600);
        assert_eq!(gc.max_per_namespace, 0);

        let off = AgentConfig::from_yaml("gc:\n  enabled: false\n").expect("yaml");
        assert_eq!(off.validate().expect("valid").gc, None);
        let default_identity = AgentConfig::from_yaml("leaderElection: {enabled: true}\n")
            .expect("yaml")
            .validate()
            .expect("valid")
            .election
            .expect("enabled")
            .identity;
        assert!(!default_identity.is_empty());
    }

    #[test]
    fn bad_election_and_gc_values_name_their_key() {
        let with = |change: fn(&mut AgentConfig)| {
            let mut c = AgentConfig::default();
            c.leader_election.enabled = true;
            change(&mut c);
            key_of(c.validate())
        };
        assert_eq!(
            with(|c| c.leader_election.renew_deadline = "15s".into()),
            "leaderElection.renewDeadline"
        );
        assert_eq!(
            with(|c| c.leader_election.retry_period = "10s".into()),
            "leaderElection.retryPeriod"
        );
        assert_eq!(
            with(|c| c.leader_election.lease_duration = "soon".into()),
            "leaderElection.leaseDuration"
        );
        assert_eq!(
            with(|c| c.leader_election.lease_duration = "1500ms".into()),
            "leaderElection.leaseDuration"
        );
        assert_eq!(
            with(|c| c.leader_election.lease_name = "Bad Name".into()),
            "leaderElection.leaseName"
        );
        assert_eq!(
            with(|c| c.leader_election.identity = Some(" ".into())),
            "leaderElection.identity"
        );
        assert_eq!(with(|c| c.gc.interval = "0s".into()), "gc.interval");
        assert_eq!(with(|c| c.gc.page_size = 0), "gc.pageSize");
        assert_eq!(with(|c| c.gc.concurrency = 0), "gc.concurrency");
        let err = AgentConfig::from_yaml("leaderElection:\n  leaseDurtion: 5s\n")
            .expect_err("typo must fail");
        assert!(err.contains("leaseDurtion"), "{err}");
    }

    #[test]
    fn overrides_win_over_the_file() {
        let file = AgentConfig::from_yaml("namespace: from-file\n").expect("yaml");
        let merged = file.apply(Overrides {
            namespace: Some("from-flag".into()),
            ..Default::default()
        });
        assert_eq!(merged.namespace, "from-flag");
    }
}
