//! The replay itself: records in event-time order through the same pipeline
//! the agent runs (one per source, as in the agent), then through the
//! anomaly detector, into a [`Report`]. Pure and deterministic: the clock is
//! the records' own time, the order is event time then input position.

use crate::convert::{convert, Typed};
use crate::input::{Parsed, Rejected};
use crate::report::{ReplayedObservation, Report, Summary};
use k8s_openapi::jiff::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;
use vigil_detect::{Anomaly, Detector, DetectorConfig, Feed, RuleSet};
use vigil_pipeline::{KubeEvent, ManualClock, Outcome, Pipeline, PipelineConfig};

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The cluster name anomalies are keyed by (`groupBy: [cluster]`).
    pub cluster: String,
    /// The Kubernetes Events pipeline's configuration (the agent's defaults).
    pub events: PipelineConfig,
    pub rules: RuleSet,
    pub detector: DetectorConfig,
    /// Rejected records kept with their message (all are counted).
    pub max_rejected_shown: usize,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            cluster: "replay".into(),
            events: PipelineConfig::for_kubernetes_events(),
            rules: RuleSet::default_rules(),
            detector: DetectorConfig::default(),
            max_rejected_shown: 20,
        }
    }
}

/// Replays everything read, in event-time order.
pub fn replay(inputs: Vec<Parsed>, options: &ReplayOptions) -> Report {
    let mut summary = Summary::default();
    // (input, position in it, record): shown in input order.
    let mut rejected: Vec<(usize, (usize, usize), Rejected)> = Vec::new();
    let mut reject = |input: usize, r: Rejected, summary: &mut Summary| {
        summary.invalid += 1;
        rejected.push((input, r.origin.position.sort_key(), r));
    };
    let mut typed: Vec<(Option<Timestamp>, usize, String, Typed)> = Vec::new();
    // The shipped presets always load (a unit test loads them all).
    let presets = crate::presets::Presets::shipped().ok();
    let enricher = vigil_pipeline::enrich::Enricher::new(options.events.enrich.clone());
    for (input, parsed) in inputs.into_iter().enumerate() {
        for r in parsed.rejected {
            summary.read += 1;
            reject(input, r, &mut summary);
        }
        for (origin, object) in parsed.objects {
            summary.read += 1;
            let matching = presets
                .as_ref()
                .map(|p| p.for_object(&object))
                .unwrap_or_default();
            if matching.is_empty() {
                *summary
                    .filtered
                    .entry("not_an_event".to_string())
                    .or_default() += 1;
                continue;
            }
            *summary
                .by_kind
                .entry("tool-report".to_string())
                .or_default() += 1;
            // Every preset of the kind maps the object (Argo CD's health and
            // sync); a report counts as one record per finding of them all,
            // so the accounting still balances.
            let mut mapped_all = Vec::new();
            let mut dropped = 0u64;
            let mut failed = None;
            for preset in matching {
                match preset.apply_counted(&object) {
                    Ok(mapped) => {
                        dropped += mapped.dropped.total();
                        mapped_all.extend(mapped.observations);
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                reject(
                    input,
                    Rejected {
                        origin,
                        message: e.to_string(),
                    },
                    &mut summary,
                );
                continue;
            }
            let findings = mapped_all.len() as u64 + dropped;
            if findings == 0 {
                *summary
                    .filtered
                    .entry("no_findings".to_string())
                    .or_default() += 1;
                continue;
            }
            summary.read += findings - 1;
            if dropped > 0 {
                *summary
                    .filtered
                    .entry("preset_filter".to_string())
                    .or_default() += dropped;
            }
            for o in mapped_all {
                let at = o.spec.detected_at.as_ref().map(|t| t.0);
                typed.push((
                    at,
                    typed.len(),
                    format!("{origin}#{}", o.key),
                    Typed::Mapped(Box::new(o)),
                ));
            }
        }
        for record in parsed.records {
            summary.read += 1;
            *summary
                .by_kind
                .entry(record.kind.as_str().to_string())
                .or_default() += 1;
            match convert(&record) {
                Ok(t) => {
                    let id = record.origin.to_string();
                    typed.push((t.event_time(), typed.len(), id, t));
                }
                Err(message) => reject(
                    input,
                    Rejected {
                        origin: record.origin,
                        message,
                    },
                    &mut summary,
                ),
            }
        }
    }
    rejected.sort_by_key(|r| (r.0, r.1));
    let rejected: Vec<Rejected> = rejected
        .into_iter()
        .take(options.max_rejected_shown)
        .map(|(_, _, r)| r)
        .collect();
    // Event time, then input order: the same input always replays the same way.
    typed.sort_by_key(|t| (t.0, t.1));

    let start = typed
        .iter()
        .find_map(|t| t.0)
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let clock = Arc::new(ManualClock::new(start));
    let mut engine = Engine {
        pipeline: Pipeline::new(options.events.clone(), clock.clone()),
        clock,
        now: start,
        detector: Detector::new(options.rules.clone(), options.detector.clone()),
        observations: Vec::new(),
        by_name: HashMap::new(),
        // A replay keeps every Observation anyway: remember them all.
        feed: Feed::new(&options.cluster, usize::MAX),
        anomalies: Vec::new(),
        summary,
    };
    for (at, _, origin, record) in typed {
        engine.advance(at);
        match record {
            Typed::Kube(event) => engine.kube_event(&event, &origin),
            Typed::Falco(alert) => {
                let outcome = engine.pipeline.process_falco(&alert);
                engine.outcome(outcome, alert.time, &origin, 1);
            }
            Typed::Mapped(o) => {
                let resource = o.spec.resource.clone().unwrap_or_default();
                let audience = enricher.audience_of(
                    resource.kind.as_deref().unwrap_or_default(),
                    resource.namespace.as_deref().unwrap_or_default(),
                    resource.name.as_deref().unwrap_or_default(),
                );
                let candidate = o.candidate(&options.events.fallback_namespace, audience);
                let at = o.spec.detected_at.as_ref().map_or(engine.now, |t| t.0);
                // Dedup by the deterministic name, as the API server would (409).
                let outcome = match engine.by_name.get(&candidate.name) {
                    Some(&index) => Outcome::Repeat(vigil_pipeline::Repeat {
                        occurrences: engine.observations[index].occurrences + 1,
                        name: candidate.name,
                        namespace: candidate.namespace,
                        last_seen: at,
                    }),
                    None => Outcome::Emit(Box::new(candidate)),
                };
                engine.outcome(outcome, at, &origin, 1);
            }
            Typed::Audit(event) => {
                let outcome = engine.pipeline.process_audit(&event);
                let id = if event.audit_id.is_empty() {
                    origin.clone()
                } else {
                    event.audit_id.clone()
                };
                engine.outcome(outcome, event.time(), &id, 1);
            }
        }
    }
    engine.finish(rejected)
}

struct Engine {
    pipeline: Pipeline,
    clock: Arc<ManualClock>,
    now: Timestamp,
    detector: Detector,
    observations: Vec<ReplayedObservation>,
    /// Observation name → index in `observations`.
    by_name: HashMap<String, usize>,
    feed: Feed,
    anomalies: Vec<Anomaly>,
    summary: Summary,
}

impl Engine {
    /// The clock follows the records' time and never goes back.
    fn advance(&mut self, at: Option<Timestamp>) {
        if let Some(at) = at {
            if at > self.now {
                self.now = at;
                self.clock.set(at);
            }
        }
    }

    fn kube_event(&mut self, event: &KubeEvent, origin: &str) {
        // A dump holds each Event once with its final count: every occurrence
        // counts for detection, and an update only its growth.
        let weight = self.feed.weight(event);
        let outcome = self.pipeline.process(event);
        let at = event.last_time.unwrap_or(self.now);
        let id = if event.uid.is_empty() {
            origin.to_string()
        } else {
            format!("{}@{}", event.uid, event.resource_version)
        };
        self.outcome(outcome, at, &id, weight);
    }

    fn outcome(&mut self, outcome: Outcome, at: Timestamp, id: &str, weight: u64) {
        self.feed.observe(
            &outcome,
            at,
            id,
            weight,
            &mut self.detector,
            &mut self.anomalies,
        );
        match outcome {
            Outcome::Dropped(reason) => {
                *self
                    .summary
                    .filtered
                    .entry(reason.as_str().to_string())
                    .or_default() += 1;
            }
            Outcome::Repeat(repeat) => {
                self.summary.deduped += 1;
                if let Some(&index) = self.by_name.get(&repeat.name) {
                    let o = &mut self.observations[index];
                    o.occurrences = repeat.occurrences;
                    o.last_seen = Some(repeat.last_seen);
                }
            }
            Outcome::Emit(candidate) => {
                self.summary.observations += 1;
                let index = self.observations.len();
                self.by_name.insert(candidate.name.clone(), index);
                self.observations.push(ReplayedObservation {
                    candidate: *candidate,
                    occurrences: 1,
                    last_seen: None,
                });
            }
        }
    }

    fn finish(mut self, rejected: Vec<Rejected>) -> Report {
        let stats = self.detector.stats();
        self.summary.anomalies = self.anomalies.len() as u64;
        self.summary.late = stats.late;
        self.observations.sort_by(|a, b| {
            let t = |o: &ReplayedObservation| o.candidate.spec.detected_at.as_ref().map(|t| t.0);
            (t(a), &a.candidate.name).cmp(&(t(b), &b.candidate.name))
        });
        self.anomalies.sort_by(|a, b| {
            (a.window_start, &a.rule, a.id()).cmp(&(b.window_start, &b.rule, b.id()))
        });
        Report {
            observations: self.observations,
            anomalies: self.anomalies,
            summary: self.summary,
            rejected,
        }
    }
}
