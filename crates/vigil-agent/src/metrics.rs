//! The agent's metrics, all under `vigil_`, rendered as OpenMetrics text.
//! Labels are bounded sets (source, reason, stage), never per-object values.
//!
//! Accounting invariant, per source: every occurrence the source hands over is
//! `received`, and ends as exactly one of `created`, `filtered{reason}`,
//! `deduped{stage}` or `create_errors{reason}`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub source: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub source: String,
    /// `window`: a repeat inside the dedup window; `conflict`: the API server
    /// already had the Observation (409), e.g. after a restart.
    pub stage: String,
}

/// A webhook endpoint: its configured name (a bounded set), never its path.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointCodeLabels {
    pub endpoint: String,
    /// The HTTP status code answered.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointReasonLabels {
    pub endpoint: String,
    pub reason: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn request_duration_histogram() -> Histogram {
    // 25 µs .. ~0.8 s
    Histogram::new(exponential_buckets(0.000_025, 2.0, 16))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

/// The state of an Ingester: `ready`, `invalid` (spec refused), `failing` (source cannot read).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

/// Every metric the agent exports.
#[derive(Clone)]
pub struct Metrics {
    pub ingesters: Family<StateLabels, Gauge>,
    pub ingester_errors: Counter,
    pub observations_updated: Family<ReasonLabels, Counter>,
    pub ingester_sources: Gauge,
    pub ingester_status_writes: Family<ResultLabels, Counter>,
    pub events_received: Family<SourceLabels, Counter>,
    pub events_skipped: Family<ReasonLabels, Counter>,
    pub observations_created: Family<SourceLabels, Counter>,
    pub observations_filtered: Family<ReasonLabels, Counter>,
    pub observations_deduped: Family<StageLabels, Counter>,
    pub observations_create_errors: Family<ReasonLabels, Counter>,
    pub repeat_patches: Family<ReasonLabels, Counter>,
    pub write_retries: Family<ReasonLabels, Counter>,
    pub processing_duration: Histogram,
    pub queue_depth: Gauge,
    pub queue_capacity: Gauge,
    pub writes_in_flight: Gauge,
    pub dedup_cache_size: Gauge,
    pub dedup_evictions: Counter,
    pub pending_repeats: Gauge,
    pub watch_restarts: Family<SourceLabels, Counter>,
    pub source_restarts: Family<SourceLabels, Counter>,
    pub checkpoint_writes: Family<ReasonLabels, Counter>,
    pub anomalies: Family<RuleLabels, Counter>,
    pub anomaly_writes: Family<ResultLabels, Counter>,
    pub detector_late: Counter,
    pub detector_entries: Gauge,
    pub detector_evictions: Counter,
    pub detector_unknown_repeats: Counter,
    pub webhook_requests: Family<EndpointCodeLabels, Counter>,
    pub webhook_records_accepted: Family<EndpointLabels, Counter>,
    pub webhook_records_rejected: Family<EndpointReasonLabels, Counter>,
    pub webhook_request_duration: HistogramFamily<EndpointLabels>,
    pub webhook_queue_depth: Family<EndpointLabels, Gauge>,
    pub webhook_queue_capacity: Family<EndpointLabels, Gauge>,
    pub leader: Gauge,
    pub leader_transitions: Counter,
    pub gc_deleted: Family<ResultLabels, Counter>,
    pub gc_errors: Family<ResultLabels, Counter>,
    pub gc_backlog: Gauge,
    pub gc_duration: Histogram,
    pub compliance_runs: Family<ResultLabels, Counter>,
    pub compliance_duration: Histogram,
    pub compliance_findings: Gauge,
    pub compliance_findings_capped: Counter,
    pub compliance_observations: Family<ResultLabels, Counter>,
    pub compliance_errors: Family<ResultLabels, Counter>,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            ingesters: Family::default(),
            ingester_errors: Counter::default(),
            observations_updated: Family::default(),
            ingester_sources: Gauge::default(),
            ingester_status_writes: Family::default(),
            events_received: Family::default(),
            events_skipped: Family::default(),
            observations_created: Family::default(),
            observations_filtered: Family::default(),
            observations_deduped: Family::default(),
            observations_create_errors: Family::default(),
            repeat_patches: Family::default(),
            write_retries: Family::default(),
            // 50 µs .. ~1.6 s
            processing_duration: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            queue_depth: Gauge::default(),
            queue_capacity: Gauge::default(),
            writes_in_flight: Gauge::default(),
            dedup_cache_size: Gauge::default(),
            dedup_evictions: Counter::default(),
            pending_repeats: Gauge::default(),
            watch_restarts: Family::default(),
            source_restarts: Family::default(),
            checkpoint_writes: Family::default(),
            anomalies: Family::default(),
            anomaly_writes: Family::default(),
            detector_late: Counter::default(),
            detector_entries: Gauge::default(),
            detector_evictions: Counter::default(),
            detector_unknown_repeats: Counter::default(),
            webhook_requests: Family::default(),
            webhook_records_accepted: Family::default(),
            webhook_records_rejected: Family::default(),
            webhook_request_duration: Family::new_with_constructor(request_duration_histogram),
            webhook_queue_depth: Family::default(),
            webhook_queue_capacity: Family::default(),
            leader: Gauge::default(),
            leader_transitions: Counter::default(),
            gc_deleted: Family::default(),
            gc_errors: Family::default(),
            gc_backlog: Gauge::default(),
            // 10 ms .. ~5.5 min
            gc_duration: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
            compliance_runs: Family::default(),
            // 10 ms .. ~5.5 min
            compliance_duration: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
            compliance_findings: Gauge::default(),
            compliance_findings_capped: Counter::default(),
            compliance_observations: Family::default(),
            compliance_errors: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("vigil");
        r.register(
            "events_received",
            "Event occurrences handed over by a source",
            m.events_received.clone(),
        );
        r.register(
            "events_skipped",
            "Events not processed because they were already processed (reason: checkpoint, unchanged)",
            m.events_skipped.clone(),
        );
        r.register(
            "observations_created",
            "Observations created",
            m.observations_created.clone(),
        );
        r.register(
            "observations_filtered",
            "Events dropped by the pipeline, by reason",
            m.observations_filtered.clone(),
        );
        r.register(
            "observations_deduped",
            "Events folded into an existing Observation",
            m.observations_deduped.clone(),
        );
        r.register(
            "observations_create_errors",
            "Observations that could not be written and were given up, by reason",
            m.observations_create_errors.clone(),
        );
        r.register(
            "repeat_patches",
            "Repeat-count patches on existing Observations, by result",
            m.repeat_patches.clone(),
        );
        r.register(
            "write_retries",
            "API writes retried, by reason",
            m.write_retries.clone(),
        );
        r.register(
            "event_processing_duration_seconds",
            "From an event leaving the queue to its outcome being settled (written, dropped or folded)",
            m.processing_duration.clone(),
        );
        r.register(
            "queue_depth",
            "Events waiting between the source and the pipeline",
            m.queue_depth.clone(),
        );
        r.register(
            "queue_capacity",
            "Bound of the source-to-pipeline queue",
            m.queue_capacity.clone(),
        );
        r.register(
            "writes_in_flight",
            "Observation creates in flight",
            m.writes_in_flight.clone(),
        );
        r.register(
            "dedup_cache_size",
            "Entries in the dedup cache",
            m.dedup_cache_size.clone(),
        );
        r.register(
            "dedup_evictions",
            "Dedup entries evicted because the cache was full",
            m.dedup_evictions.clone(),
        );
        r.register(
            "pending_repeats",
            "Observations with repeat counts waiting to be patched",
            m.pending_repeats.clone(),
        );
        r.register(
            "watch_restarts",
            "Watch errors after which the watch was re-established",
            m.watch_restarts.clone(),
        );
        r.register(
            "source_restarts",
            "Times the supervisor restarted a failed source",
            m.source_restarts.clone(),
        );
        r.register(
            "checkpoint_writes",
            "Checkpoint writes, by result",
            m.checkpoint_writes.clone(),
        );
        r.register(
            "anomalies",
            "Anomalies raised by the detector, by rule",
            m.anomalies.clone(),
        );
        r.register(
            "anomaly_writes",
            "Anomaly Observation writes, by result (created, exists, or the error reason)",
            m.anomaly_writes.clone(),
        );
        r.register(
            "detector_late_signals",
            "Occurrences older than the detector's watermark, not counted by rules",
            m.detector_late.clone(),
        );
        r.register(
            "detector_entries",
            "Live (rule, key, window) entries in the detector",
            m.detector_entries.clone(),
        );
        r.register(
            "detector_evictions",
            "Detector state forgotten before its window closed because a bound was reached",
            m.detector_evictions.clone(),
        );
        r.register(
            "detector_unknown_repeats",
            "Repeats of an Observation the detector feed no longer remembered (not counted by rules)",
            m.detector_unknown_repeats.clone(),
        );
        r.register(
            "webhook_requests",
            "Webhook requests answered, by endpoint and HTTP status code",
            m.webhook_requests.clone(),
        );
        r.register(
            "webhook_records_accepted",
            "Records accepted into an endpoint's queue (answered 2xx); each is then counted once in events_received",
            m.webhook_records_accepted.clone(),
        );
        r.register(
            "webhook_records_rejected",
            "Records of a request refused as a whole (reason: malformed, queue_full, too_many, shutting_down)",
            m.webhook_records_rejected.clone(),
        );
        r.register(
            "webhook_request_duration_seconds",
            "From a webhook request's arrival to its answer",
            m.webhook_request_duration.clone(),
        );
        r.register(
            "webhook_queue_depth",
            "Records accepted by an endpoint and not yet through the pipeline",
            m.webhook_queue_depth.clone(),
        );
        r.register(
            "webhook_queue_capacity",
            "Bound of an endpoint's queue, in records",
            m.webhook_queue_capacity.clone(),
        );
        r.register(
            "leader",
            "1 while this replica holds the leader Lease (runs the Events source, the checkpoint and GC), else 0",
            m.leader.clone(),
        );
        r.register(
            "leader_transitions",
            "Times this replica gained or lost leadership",
            m.leader_transitions.clone(),
        );
        r.register(
            "gc_deleted",
            "Observations deleted by garbage collection (result: expired, over_limit)",
            m.gc_deleted.clone(),
        );
        r.register(
            "gc_errors",
            "Garbage-collection API calls that failed (result: list, delete)",
            m.gc_errors.clone(),
        );
        r.register(
            "gc_backlog",
            "Observations planned for deletion in the current garbage-collection pass",
            m.gc_backlog.clone(),
        );
        r.register(
            "gc_duration_seconds",
            "Duration of a garbage-collection pass",
            m.gc_duration.clone(),
        );
        r.register(
            "compliance_runs",
            "Compliance runs (leader only), by result: ok, error (a list, write or delete failed)",
            m.compliance_runs.clone(),
        );
        r.register(
            "compliance_run_duration_seconds",
            "Duration of a compliance run: reading the cluster, checking, writing",
            m.compliance_duration.clone(),
        );
        r.register(
            "compliance_findings",
            "Failing check results found by the last compliance run",
            m.compliance_findings.clone(),
        );
        r.register(
            "compliance_findings_capped",
            "Failing check results not written as Observations because of compliance.maxObservations",
            m.compliance_findings_capped.clone(),
        );
        r.register(
            "compliance_observations",
            "Compliance Observations by result: applied (created or changed), unchanged, resolved (deleted)",
            m.compliance_observations.clone(),
        );
        r.register(
            "compliance_errors",
            "Compliance API calls that failed, by result: list, apply, delete, report",
            m.compliance_errors.clone(),
        );
        r.register(
            "ingesters",
            "Ingesters known to the controller (leader only), by state: ready, invalid (spec refused; the last valid generation keeps running), failing (the source cannot read)",
            m.ingesters.clone(),
        );
        r.register(
            "ingester_errors",
            "Source objects or records an Ingester could not read or map (each also counted in the Ingester's status.errors)",
            m.ingester_errors.clone(),
        );
        r.register(
            "observations_updated",
            "Observations of Ingester findings whose content changed (a new severity, a fix available), by reason: updated, created (it was gone), or why it failed; not part of the received accounting (no new record)",
            m.observations_updated.clone(),
        );
        r.register(
            "ingester_sources",
            "Ingester source tasks running (watches, log followers' parents); back to the number of ready Ingesters after a delete or an edit",
            m.ingester_sources.clone(),
        );
        r.register(
            "ingester_status_writes",
            "Ingester status updates, by result: ok, error",
            m.ingester_status_writes.clone(),
        );
        m
    }

    pub fn endpoint(endpoint: &str) -> EndpointLabels {
        EndpointLabels {
            endpoint: endpoint.to_string(),
        }
    }

    pub fn endpoint_code(endpoint: &str, code: u16) -> EndpointCodeLabels {
        EndpointCodeLabels {
            endpoint: endpoint.to_string(),
            code: code.to_string(),
        }
    }

    pub fn endpoint_reason(endpoint: &str, reason: &str) -> EndpointReasonLabels {
        EndpointReasonLabels {
            endpoint: endpoint.to_string(),
            reason: reason.to_string(),
        }
    }

    pub fn rule(rule: &str) -> RuleLabels {
        RuleLabels {
            rule: rule.to_string(),
        }
    }

    pub fn result(result: &str) -> ResultLabels {
        ResultLabels {
            result: result.to_string(),
        }
    }

    pub fn source(source: &str) -> SourceLabels {
        SourceLabels {
            source: source.to_string(),
        }
    }

    pub fn reason(source: &str, reason: &str) -> ReasonLabels {
        ReasonLabels {
            source: source.to_string(),
            reason: reason.to_string(),
        }
    }

    pub fn stage(source: &str, stage: &str) -> StageLabels {
        StageLabels {
            source: source.to_string(),
            stage: stage.to_string(),
        }
    }
}

/// The registry and its metrics, shared by the agent's tasks and the server.
pub struct Telemetry {
    pub registry: Registry,
    pub metrics: Metrics,
}

impl Telemetry {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        Self { registry, metrics }
    }

    /// OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_openmetrics_with_the_vigil_prefix() {
        let t = Telemetry::new();
        t.metrics
            .events_received
            .get_or_create(&Metrics::source("kubernetes-events"))
            .inc_by(3);
        t.metrics
            .observations_filtered
            .get_or_create(&Metrics::reason("kubernetes-events", "normal_type"))
            .inc();
        let text = t.render();
        assert!(
            text.contains("vigil_events_received_total{source=\"kubernetes-events\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("vigil_observations_filtered_total{source=\"kubernetes-events\",reason=\"normal_type\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "not OpenMetrics: {text}");
    }
}
