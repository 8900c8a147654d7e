//! One running Ingester: its source (informer, ConfigMap or logs) under a
//! supervisor, and the loop that maps what the source reads, keeps only new
//! findings, passes them through the Ingester's own dedup and rate limit and
//! hands the outcome to the agent's pipeline queue (back-pressure, never a
//! drop). Aborting the task stops the source and everything it spawned.

use super::compile::{Adapter, Compiled};
use super::findings::Findings;
use super::stage::Stage;
use super::status::Counters;
use crate::sources::SourceItem;
use crate::task::AbortOnDrop;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use vigil_mapping::MappedObservation;
use vigil_pipeline::enrich::{EnrichConfig, Enricher};
use vigil_pipeline::Outcome;

/// Objects tracked per Ingester for the findings diff.
pub const MAX_OBJECTS: usize = 50_000;
/// Changes buffered between a source and its mapping loop.
const CHANGES: usize = 256;

/// What a source reads.
#[derive(Debug)]
pub enum Change {
    /// A (re)list of `stream` begins.
    Listing { stream: String },
    /// An object was listed, added or updated: `object` is what is mapped
    /// (for a ConfigMap, the parsed report).
    Applied {
        stream: String,
        key: String,
        object: serde_json::Value,
    },
    Deleted {
        key: String,
        object: serde_json::Value,
    },
    /// The (re)list of `stream` is complete: the source reads again.
    Synced { stream: String },
    /// A log line of a container.
    Line {
        namespace: String,
        pod: String,
        container: String,
        text: String,
    },
    /// A record that could not be read (named), the source goes on.
    Unreadable(String),
    /// The source cannot read at all right now (it retries).
    Failing(String),
}

/// Everything an Ingester's runtime needs from the agent.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub metrics: crate::metrics::Metrics,
    /// How often objects are mapped again when the mapping reads the clock
    /// (`spec.filters.before`).
    pub resync_every: Duration,
    pub queue: mpsc::Sender<SourceItem>,
    pub enrich: EnrichConfig,
    pub default_ttl: i64,
}

/// Runs until aborted (or the agent's queue closes).
pub async fn run(compiled: Arc<Compiled>, counters: Arc<Counters>, cx: Context) {
    match &compiled.adapter {
        Adapter::K8sEvents(adapter) => {
            let adapter = adapter.clone();
            return run_events(compiled, adapter, counters, cx).await;
        }
        // Pushed records are taken by the webhook endpoints of every replica.
        Adapter::Webhook(_) => return,
        _ => {}
    }
    let (changes, mut rx) = mpsc::channel(CHANGES);
    let source = tokio::spawn(supervise(
        compiled.clone(),
        cx.client.clone(),
        changes,
        cx.metrics.ingester_sources.clone(),
    ));
    let _stop_source = AbortOnDrop(source);
    let mut mapper = Mapping::new(compiled, counters, &cx);
    let mut resync = tokio::time::interval(cx.resync_every);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    resync.reset();
    loop {
        let outcomes = tokio::select! {
            change = rx.recv() => match change {
                Some(change) => mapper.change(change, Timestamp::now()),
                None => return,
            },
            _ = resync.tick(), if mapper.reads_clock() => mapper.resync(Timestamp::now()),
        };
        for outcome in outcomes {
            let item = SourceItem::Ingested {
                source: mapper.source.clone(),
                outcome: Box::new(outcome),
                counters: mapper.counters.clone(),
            };
            if cx.queue.send(item).await.is_err() {
                return; // the agent is shutting down
            }
        }
        for candidate in mapper.take_updates() {
            let item = SourceItem::IngestedUpdate {
                source: mapper.source.clone(),
                candidate: Box::new(candidate),
                counters: mapper.counters.clone(),
            };
            if cx.queue.send(item).await.is_err() {
                return;
            }
        }
    }
}

type Gauge = prometheus_client::metrics::gauge::Gauge;

/// Counts a source task in `vigil_ingester_sources` for as long as it lives
/// (dropped when the task ends or is aborted).
struct Running(Gauge);

impl Running {
    fn new(gauge: Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A k8s-events Ingester: the agent's Events source and pipeline (normalize,
/// filter, dedup, throttle), configured by the Ingester, with no checkpoint:
/// after a restart, Events of the current dedup window conflict (409)
/// instead of duplicating.
async fn run_events(
    compiled: Arc<Compiled>,
    adapter: vigil_model::ingester::K8sEventsAdapter,
    counters: Arc<Counters>,
    cx: Context,
) {
    use crate::config::EventsApi;
    use crate::sources::k8s_events::{resolve_api, EventSource};
    use vigil_model::ingester::EventsApi as Wanted;
    let wanted = match adapter.api {
        None => EventsApi::Auto,
        Some(Wanted::EventsV1) => EventsApi::EventsV1,
        Some(Wanted::CoreV1) => EventsApi::CoreV1,
    };
    let api = loop {
        match resolve_api(&cx.client, wanted).await {
            Ok(api) => break api,
            Err(err) => {
                counters.source_failing(Some(format!("resolving the Events API: {err}")));
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    let source = Arc::new(EventSource::new(
        cx.client.clone(),
        api,
        adapter.namespaces.clone(),
        compiled.source(),
    ));
    let (tx, mut rx) = mpsc::channel(1024);
    let metrics = cx.metrics.clone();
    let running = Running::new(cx.metrics.ingester_sources.clone());
    let watch = tokio::spawn(async move {
        let _running = running;
        // Its own health: an Ingester's watch does not decide the agent's /ready.
        let health = crate::health::Health::new();
        loop {
            match source.run(&tx, &health, &metrics).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "k8s-events ingester source failed; restarting")
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    let _stop_watch = AbortOnDrop(watch);
    let config = compiled.events_pipeline(cx.enrich.clone(), cx.default_ttl);
    let mut pipeline = vigil_pipeline::Pipeline::new(config, Arc::new(vigil_pipeline::SystemClock));
    let source: Arc<str> = compiled.source().into();
    while let Some(item) = rx.recv().await {
        let event = match item {
            SourceItem::Event { event, .. } => event,
            SourceItem::Synced { .. } => {
                counters.source_failing(None);
                continue;
            }
            _ => continue,
        };
        counters.event_at(Timestamp::now());
        let outcome = pipeline.process(&event);
        match &outcome {
            Outcome::Repeat(_) => Counters::add(&counters.deduped, 1),
            Outcome::Dropped(_) => Counters::add(&counters.filtered, 1),
            Outcome::Emit(_) => {}
        }
        let item = SourceItem::Ingested {
            source: source.clone(),
            outcome: Box::new(outcome),
            counters: counters.clone(),
        };
        if cx.queue.send(item).await.is_err() {
            return;
        }
    }
}

/// The mapping side of a runtime. Pure apart from the clock passed in.
pub struct Mapping {
    pub findings: Findings,
    pub stage: Stage,
    pub compiled: Arc<Compiled>,
    pub counters: Arc<Counters>,
    pub source: Arc<str>,
    /// The latest version of each object, kept only when the mapping reads
    /// the clock, to map again as time passes: key → (stream, object).
    objects: Option<std::collections::HashMap<String, (String, serde_json::Value)>>,
    /// Where findings the mapping's filters drop are counted (`None` in tests).
    metrics: Option<crate::metrics::Metrics>,
    /// Known findings that now say something else: their Observations are
    /// updated ([`Mapping::take_updates`]).
    updates: Vec<vigil_pipeline::Candidate>,
}

impl Mapping {
    pub fn new(compiled: Arc<Compiled>, counters: Arc<Counters>, cx: &Context) -> Self {
        let mut mapping = Self::with(compiled, counters, cx.enrich.clone(), cx.default_ttl);
        mapping.metrics = Some(cx.metrics.clone());
        mapping
    }

    pub fn with(
        compiled: Arc<Compiled>,
        counters: Arc<Counters>,
        enrich: EnrichConfig,
        default_ttl: i64,
    ) -> Self {
        let reads_clock = compiled.mapping.as_ref().is_some_and(|m| m.reads_clock());
        Self {
            findings: Findings::new(MAX_OBJECTS),
            stage: Stage::new(&compiled, Enricher::new(enrich), default_ttl),
            source: compiled.source().into(),
            objects: reads_clock.then(Default::default),
            compiled,
            counters,
            metrics: None,
            updates: Vec::new(),
        }
    }

    /// The Observations to update since the last call (findings whose
    /// content changed: a new severity, a fix now available). Report
    /// findings only; occurrences are new Observations instead.
    pub fn take_updates(&mut self) -> Vec<vigil_pipeline::Candidate> {
        std::mem::take(&mut self.updates)
    }

    pub fn reads_clock(&self) -> bool {
        self.objects.is_some()
    }

    /// Maps every kept object again as of `now`: the findings that became
    /// due since (a certificate now within its expiry horizon).
    pub fn resync(&mut self, now: Timestamp) -> Vec<Outcome> {
        let Some(objects) = self.objects.take() else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for (key, (stream, object)) in &objects {
            if let Some(mapped) = self.map(key, object, now) {
                found.extend(self.findings.update(stream, key, mapped));
            }
        }
        self.objects = Some(objects);
        self.decide(found, now)
    }

    fn keep(&mut self, stream: &str, key: &str, object: &serde_json::Value) {
        if let Some(objects) = self.objects.as_mut() {
            if objects.len() < MAX_OBJECTS || objects.contains_key(key) {
                objects.insert(key.to_string(), (stream.to_string(), object.clone()));
            }
        }
    }

    /// The outcomes one change yields (emits, repeats and drops alike).
    pub fn change(&mut self, change: Change, now: Timestamp) -> Vec<Outcome> {
        let found = match change {
            Change::Listing { stream } => {
                self.findings.relist_started(&stream);
                return Vec::new();
            }
            Change::Synced { stream } => {
                self.findings.relisted(&stream);
                if let Some(objects) = self.objects.as_mut() {
                    objects.retain(|k, (s, _)| *s != stream || self.findings.knows(k));
                }
                self.counters.source_failing(None);
                return Vec::new();
            }
            Change::Failing(message) => {
                self.counters.source_failing(Some(message));
                return Vec::new();
            }
            Change::Unreadable(message) => {
                self.counters.error(message);
                return Vec::new();
            }
            Change::Applied {
                stream,
                key,
                object,
            } => {
                self.counters.event_at(now);
                self.keep(&stream, &key, &object);
                let Some(mapped) = self.map(&key, &object, now) else {
                    return Vec::new();
                };
                let (fresh, changed) = self.findings.update_with_changes(&stream, &key, mapped);
                if !self.compiled.occurrences() {
                    for c in &changed {
                        self.updates.push(self.stage.candidate(c, 0));
                    }
                }
                fresh
            }
            Change::Deleted { key, object } => {
                self.counters.event_at(now);
                self.findings.remove(&key);
                if let Some(objects) = self.objects.as_mut() {
                    objects.remove(&key);
                }
                if !self.on_delete() {
                    return Vec::new();
                }
                let Some(mapped) = self.map(&key, &object, now) else {
                    return Vec::new();
                };
                mapped.into_iter().map(deleted).collect()
            }
            Change::Line {
                namespace,
                pod,
                container,
                text,
            } => {
                self.counters.event_at(now);
                self.line(&namespace, &pod, &container, &text, now)
            }
        };
        self.decide(found, now)
    }

    fn decide(&mut self, found: Vec<MappedObservation>, now: Timestamp) -> Vec<Outcome> {
        found
            .iter()
            .map(|f| {
                let outcome = self.stage.decide(f, now);
                match &outcome {
                    Outcome::Repeat(_) => Counters::add(&self.counters.deduped, 1),
                    Outcome::Dropped(_) => Counters::add(&self.counters.filtered, 1),
                    Outcome::Emit(_) => {}
                }
                outcome
            })
            .collect()
    }

    fn on_delete(&self) -> bool {
        matches!(&self.compiled.adapter, Adapter::Informer(a) if a.on_delete == Some(true))
    }

    fn map(
        &self,
        key: &str,
        object: &serde_json::Value,
        now: Timestamp,
    ) -> Option<Vec<MappedObservation>> {
        let mapping = self.compiled.mapping.as_ref()?;
        match mapping.apply_at(object, now) {
            Ok(mapped) => {
                Counters::add(&self.counters.filtered, mapped.dropped.total());
                if let Some(m) = &self.metrics {
                    count_mapping_drops(m, &self.source, &mapped.dropped);
                }
                Some(mapped.observations)
            }
            Err(err) => {
                self.counters.error(format!("{key}: {err}"));
                None
            }
        }
    }

    /// The Observations a log line yields: one per matching pattern.
    fn line(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        text: &str,
        now: Timestamp,
    ) -> Vec<MappedObservation> {
        let Adapter::Logs(logs) = &self.compiled.adapter else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (regex, event_type, severity) in &logs.patterns {
            let Some(caps) = regex.captures(text) else {
                continue;
            };
            let mut details = serde_json::Map::new();
            let mut key = format!("{namespace}/{pod}/{container}/{event_type}");
            for name in regex.capture_names().flatten() {
                if let Some(m) = caps.name(name) {
                    details.insert(name.to_string(), m.as_str().into());
                    key.push('/');
                    key.push_str(m.as_str());
                }
            }
            details.insert("line".into(), super::status::prefix(text, 1024).into());
            details.insert("container".into(), container.into());
            out.push(MappedObservation {
                spec: vigil_model::ObservationSpec {
                    source: self.compiled.source().to_string(),
                    category: logs.category,
                    severity: *severity,
                    event_type: event_type.clone(),
                    resource: Some(vigil_model::ResourceRef {
                        api_version: Some("v1".into()),
                        kind: Some("Pod".into()),
                        name: Some(pod.into()),
                        namespace: Some(namespace.into()),
                    }),
                    details: Some(serde_json::Value::Object(details)),
                    detected_at: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)),
                    ttl_seconds_after_creation: None,
                },
                key,
                record: 0,
                element: None,
            });
        }
        out
    }
}

/// Findings the mapping's filters dropped, in the agent's per-source
/// accounting: each is a record received and filtered, by the filter
/// (`match`, `severity`, `namespace`, `kind`, `event_type`, `before`).
pub fn count_mapping_drops(
    metrics: &crate::metrics::Metrics,
    source: &str,
    dropped: &vigil_mapping::Dropped,
) {
    use crate::metrics::Metrics;
    let total = dropped.total();
    if total == 0 {
        return;
    }
    metrics
        .events_received
        .get_or_create(&Metrics::source(source))
        .inc_by(total);
    for (reason, n) in [
        ("match", dropped.r#match),
        ("severity", dropped.severity),
        ("namespace", dropped.namespace),
        ("kind", dropped.kind),
        ("event_type", dropped.event_type),
        ("before", dropped.time),
    ] {
        if n > 0 {
            metrics
                .observations_filtered
                .get_or_create(&Metrics::reason(source, reason))
                .inc_by(n);
        }
    }
}

/// A finding of a deleted object (`informer.onDelete`): its own key, so it
/// is not the finding's Observation again.
fn deleted(mut found: MappedObservation) -> MappedObservation {
    found.key.push_str("|deleted");
    if let Some(serde_json::Value::Object(d)) = found.spec.details.as_mut() {
        d.insert("change".into(), "deleted".into());
    } else {
        found.spec.details = Some(serde_json::json!({"change": "deleted"}));
    }
    found
}

/// Runs the source; when it fails or panics, restarts it with backoff.
async fn supervise(
    compiled: Arc<Compiled>,
    client: Client,
    changes: mpsc::Sender<Change>,
    running: Gauge,
) {
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        let (c, cl, tx) = (compiled.clone(), client.clone(), changes.clone());
        // Spawned to survive a panic; guarded so that aborting the
        // supervisor (the Ingester deleted or changed) aborts the source too.
        let mut source: AbortOnDrop<Result<(), String>> = AbortOnDrop(tokio::spawn({
            let running = Running::new(running.clone());
            async move {
                let _running = running;
                run_source(&c, cl, &tx).await
            }
        }));
        let result = (&mut source.0).await;
        let message = match result {
            Ok(Ok(())) => return, // the mapping loop is gone
            Ok(Err(err)) => err,
            Err(join) => format!("source panicked: {join}"),
        };
        tracing::warn!(source = compiled.source(), error = %message, "ingester source failed; restarting");
        if changes.send(Change::Failing(message)).await.is_err() {
            return;
        }
        if started.elapsed() > Duration::from_secs(60) {
            failures = 0;
        }
        let delay = Duration::from_millis(500)
            .saturating_mul(1 << failures.min(6))
            .min(Duration::from_secs(30));
        failures += 1;
        tokio::time::sleep(delay).await;
    }
}

async fn run_source(
    compiled: &Compiled,
    client: Client,
    changes: &mpsc::Sender<Change>,
) -> Result<(), String> {
    match &compiled.adapter {
        Adapter::Informer(a) => crate::sources::informer::run(client, a, changes).await,
        Adapter::ConfigMap(a) => crate::sources::configmap::run(client, a, changes).await,
        Adapter::Logs(l) => crate::sources::pod_logs::run(client, l, changes).await,
        Adapter::K8sEvents(_) => Ok(()), // run by `run_events`
        Adapter::Webhook(_) => Ok(()),   // served by every replica (`pushed`)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(spec: serde_json::Value) -> Mapping {
        let compiled = Arc::new(super::super::test_support::compiled(spec));
        Mapping::with(
            compiled,
            Arc::new(Counters::default()),
            EnrichConfig::default(),
            60,
        )
    }

    fn reports(on_delete: bool) -> Mapping {
        mapping(json!({"source": "tool", "ingester": "informer",
            "informer": {"gvr": {"group": "x.io", "version": "v1", "resource": "reports"}, "onDelete": on_delete},
            "filters": {"minSeverity": "medium"},
            "mapping": {"forEach": ".findings", "key": "{{ .metadata.name }}/{{ .item.id }}",
                "category": "security", "eventType": "finding",
                "severity": {"from": ".item.sev", "default": "low"},
                "resource": {"kind": "Deployment", "name": "{{ .metadata.name }}", "namespace": "{{ .metadata.namespace }}"}}}))
    }

    fn applied(ids: &[(&str, &str)]) -> Change {
        let findings: Vec<_> = ids
            .iter()
            .map(|(id, sev)| json!({"id": id, "sev": sev}))
            .collect();
        Change::Applied {
            stream: "*".into(),
            key: "shop/web".into(),
            object: json!({"metadata": {"name": "web", "namespace": "shop"}, "findings": findings}),
        }
    }

    fn names(outcomes: &[Outcome]) -> Vec<String> {
        outcomes
            .iter()
            .map(|o| match o {
                Outcome::Emit(c) => {
                    c.spec
                        .details
                        .clone()
                        .map_or(String::new(), |d| d.to_string())
                        + &c.name
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_700_000_000).unwrap()
    }

    #[test]
    fn a_relist_and_an_unchanged_update_emit_nothing_and_one_new_finding_emits_one() {
        let mut m = reports(false);
        assert!(m
            .change(Change::Listing { stream: "*".into() }, now())
            .is_empty());
        let first = m.change(applied(&[("a", "high"), ("b", "low")]), now());
        assert_eq!(
            first.len(),
            1,
            "the low finding is filtered: {:?}",
            names(&first)
        );
        assert_eq!(
            m.counters
                .filtered
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        m.change(Change::Synced { stream: "*".into() }, now());
        m.change(Change::Listing { stream: "*".into() }, now());
        assert!(m
            .change(applied(&[("a", "high"), ("b", "low")]), now())
            .is_empty());
        let more = m.change(
            applied(&[("a", "high"), ("b", "low"), ("c", "critical")]),
            now(),
        );
        assert_eq!(more.len(), 1);
        let Outcome::Emit(c) = &more[0] else { panic!() };
        assert_eq!(c.namespace, "shop");
        assert_eq!(c.spec.severity, vigil_model::Severity::Critical);
    }

    #[test]
    fn a_finding_that_changes_is_an_update_of_its_observation() {
        let mut m = reports(false);
        let first = m.change(applied(&[("a", "high")]), now());
        assert_eq!(first.len(), 1);
        assert!(m.take_updates().is_empty());
        // Re-rated critical: no new Observation, an update of the same one.
        assert!(m.change(applied(&[("a", "critical")]), now()).is_empty());
        let updates = m.take_updates();
        assert_eq!(updates.len(), 1);
        let Outcome::Emit(created) = &first[0] else {
            panic!()
        };
        assert_eq!(updates[0].name, created.name);
        assert_eq!(updates[0].spec.severity, vigil_model::Severity::Critical);
        assert!(m.take_updates().is_empty(), "taken once");
    }

    #[test]
    fn deletes_forget_and_emit_only_when_asked() {
        let mut quiet = reports(false);
        quiet.change(applied(&[("a", "high")]), now());
        let gone = Change::Deleted {
            key: "shop/web".into(),
            object: json!({"metadata": {"name": "web", "namespace": "shop"}, "findings": [{"id": "a", "sev": "high"}]}),
        };
        assert!(quiet.change(gone, now()).is_empty());
        // Forgotten: the same object coming back is new again.
        assert_eq!(quiet.change(applied(&[("a", "high")]), now()).len(), 1);
        let mut loud = reports(true);
        let first = loud.change(applied(&[("a", "high")]), now());
        let gone = Change::Deleted {
            key: "shop/web".into(),
            object: json!({"metadata": {"name": "web", "namespace": "shop"}, "findings": [{"id": "a", "sev": "high"}]}),
        };
        let deleted = loud.change(gone, now());
        let (Outcome::Emit(a), Outcome::Emit(b)) = (&first[0], &deleted[0]) else {
            panic!()
        };
        assert_ne!(a.name, b.name);
        assert_eq!(b.spec.details.as_ref().unwrap()["change"], "deleted");
    }

    #[test]
    fn a_mapping_error_is_counted_named_and_the_source_goes_on() {
        let mut m = mapping(json!({"source": "tool", "ingester": "informer",
            "informer": {"gvr": {"group": "x.io", "version": "v1", "resource": "reports"}},
            "mapping": {"category": "security", "eventType": "{{ .kind }}", "severity": {"default": "low"}}}));
        let bad = Change::Applied {
            stream: "*".into(),
            key: "ns/r".into(),
            object: json!({"kind": "Not Valid"}),
        };
        assert!(m.change(bad, now()).is_empty());
        let s = super::super::status::build(
            None,
            &super::super::status::Readiness::Running,
            None,
            &m.counters,
            now(),
        );
        assert_eq!(s.errors, Some(1));
        assert!(s
            .last_error
            .unwrap()
            .starts_with("ns/r: spec.mapping.eventType"));
        let good = Change::Applied {
            stream: "*".into(),
            key: "ns/r".into(),
            object: json!({"kind": "fine"}),
        };
        assert_eq!(m.change(good, now()).len(), 1);
    }

    #[test]
    fn log_lines_match_patterns_with_named_groups_as_details() {
        let mut m = mapping(json!({"source": "app", "ingester": "logs",
            "logs": {"podSelector": "app=x", "patterns": [
                {"regex": "ERROR code=(?P<code>\\d+)", "eventType": "app_error", "severity": "high"},
                {"regex": "panic", "eventType": "app_panic"}]}}));
        let line = |text: &str| Change::Line {
            namespace: "shop".into(),
            pod: "web-1".into(),
            container: "app".into(),
            text: text.into(),
        };
        assert!(m.change(line("all good"), now()).is_empty());
        let out = m.change(line("ERROR code=42 then panic"), now());
        assert_eq!(out.len(), 2);
        let Outcome::Emit(c) = &out[0] else { panic!() };
        assert_eq!(c.spec.event_type, "app_error");
        assert_eq!(c.spec.details.as_ref().unwrap()["code"], "42");
        assert_eq!(
            c.spec.resource.as_ref().unwrap().name.as_deref(),
            Some("web-1")
        );
        // The same line again within the dedup window is a repeat.
        let again = m.change(line("ERROR code=42"), now());
        assert!(matches!(again[0], Outcome::Repeat(_)), "{again:?}");
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_time_horizon_emits_when_the_time_comes_not_only_when_the_object_changes() {
        let compiled = Arc::new(super::super::test_support::compiled(json!({
            "source": "cert-manager", "ingester": "informer",
            "informer": {"gvr": {"group": "cert-manager.io", "version": "v1", "resource": "certificates"}},
            "filters": {"before": {"path": ".status.notAfter", "within": "30d"}},
            "mapping": {"key": "{{ .metadata.name }}/{{ .status.notAfter }}", "category": "operations",
                "eventType": "certificate_expiring", "severity": {"default": "medium"}}})));
        let mut m = Mapping::with(
            compiled,
            Arc::new(Counters::default()),
            EnrichConfig::default(),
            60,
        );
        assert!(m.reads_clock());
        let day = |d: i64| Timestamp::from_second(1_800_000_000 + d * 86_400).unwrap();
        let cert = |name: &str, expires: i64| Change::Applied {
            stream: "*".into(),
            key: format!("ns/{name}"),
            object: json!({"metadata": {"name": name}, "status": {"notAfter": day(expires).to_string()}}),
        };
        assert_eq!(m.change(cert("soon", 10), day(0)).len(), 1);
        assert!(m.change(cert("later", 40), day(0)).is_empty());
        assert!(
            m.resync(day(5)).is_empty(),
            "40 days out is not within 30 yet"
        );
        let due = m.resync(day(11));
        assert_eq!(due.len(), 1);
        let Outcome::Emit(c) = &due[0] else { panic!() };
        assert!(c.spec.event_type == "certificate_expiring");
        assert!(m.resync(day(12)).is_empty(), "emitted once");
        // Renewed: a new notAfter far away: nothing; deleted: forgotten.
        assert!(m.change(cert("soon", 100), day(12)).is_empty());
        m.change(
            Change::Deleted {
                key: "ns/later".into(),
                object: json!({}),
            },
            day(12),
        );
        assert!(
            m.resync(day(95)).len() == 1,
            "only the renewed one, now due"
        );
    }
}
