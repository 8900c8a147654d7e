//! The agent's runtime: wires sources → bounded queue → pipeline → writer,
//! supervises the sources, serves health and metrics, saves the checkpoint,
//! and on shutdown settles what is in flight. Process plumbing only; the
//! decisions are the pipeline's.

use crate::checkpoint::{CheckpointStore, Progress};
use crate::config::Settings;
use crate::health::Health;
use crate::metrics::{Metrics, Telemetry};
use crate::sinks::observation_writer::{ObservationWriter, PatchOutcome, WriteOutcome};
use crate::sinks::repeats::{Folded, RepeatFold};
use crate::sources::k8s_events::{self, EventSource};
use crate::sources::{namespaces, SourceItem};
use kube::Client;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use vigil_detect::{Anomaly, Detector, Feed};
use vigil_pipeline::{Candidate, Outcome, Pipeline, SystemClock};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    #[error(transparent)]
    Source(#[from] k8s_events::EventSourceError),
    #[error("admin server: {0}")]
    Server(std::io::Error),
}

/// Everything the running tasks share.
struct Shared {
    settings: Settings,
    health: Arc<Health>,
    telemetry: Arc<Telemetry>,
    progress: Mutex<Progress>,
    repeats: Mutex<RepeatFold>,
    writer: ObservationWriter,
}

impl Shared {
    fn metrics(&self) -> &Metrics {
        &self.telemetry.metrics
    }
    fn source(&self) -> &str {
        &self.settings.config.source
    }
    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn repeats(&self) -> std::sync::MutexGuard<'_, RepeatFold> {
        self.repeats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs the agent until `shutdown` completes, serving on `listener`.
pub async fn run(
    settings: Settings,
    client: Client,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AgentError> {
    let telemetry = Arc::new(Telemetry::new());
    let health = Arc::new(Health::new());
    let config = &settings.config;
    let checkpoint = config.checkpoint.enabled.then(|| {
        CheckpointStore::new(
            client.clone(),
            &config.namespace,
            &config.checkpoint.config_map,
        )
    });
    let saved = match &checkpoint {
        Some(store) => store.load().await?,
        None => Default::default(),
    };
    tracing::info!(checkpoint = ?saved, "starting");
    let api = k8s_events::resolve_api(&client, config.events_api).await?;
    let metrics = telemetry.metrics.clone();
    metrics.queue_capacity.set(config.queue_capacity as i64);
    let writer = ObservationWriter::new(
        client.clone(),
        config.writer.qps,
        config.writer.burst,
        health.clone(),
        metrics.clone(),
        &config.source,
    );
    let shared = Arc::new(Shared {
        repeats: Mutex::new(RepeatFold::new(config.writer.max_pending_repeats)),
        progress: Mutex::new(Progress::from_checkpoint(&saved)),
        settings: settings.clone(),
        health: health.clone(),
        telemetry: telemetry.clone(),
        writer,
    });

    let (tx, rx) = mpsc::channel(config.queue_capacity);
    let source = Arc::new(EventSource::new(
        client.clone(),
        api,
        config.namespaces.clone(),
        &config.source,
    ));
    let mut background = tokio::task::JoinSet::new();
    background.spawn(supervise_events(source, tx.clone(), shared.clone()));
    if !config.platform.namespace_labels.is_empty() {
        let (client, tx) = (client.clone(), tx.clone());
        background.spawn(async move { namespaces::run(client, &tx).await });
    }
    drop(tx);
    background.spawn(flush_repeats_forever(shared.clone()));
    let checkpoint = checkpoint.map(Arc::new);
    if let Some(store) = &checkpoint {
        background.spawn(save_checkpoint_forever(store.clone(), shared.clone()));
    }

    let server = crate::server::router(health, telemetry);
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let serve = tokio::spawn(async move {
        axum::serve(listener, server)
            .with_graceful_shutdown(async {
                let _ = server_stopped.await;
            })
            .await
    });

    let pipeline = Pipeline::new(settings.pipeline.clone(), Arc::new(SystemClock));
    let detection = settings.detect.clone().map(|(rules, config)| Detection {
        feed: Feed::new(
            &settings.config.detect.cluster,
            settings.config.dedup.max_entries,
        ),
        detector: Detector::new(rules, config),
        raised: Vec::new(),
    });
    let settled = process(pipeline, detection, rx, shared.clone(), shutdown).await;
    tracing::info!(in_flight_settled = settled, "shutting down");
    background.abort_all();
    flush_repeats(&shared).await;
    if let Some(store) = &checkpoint {
        // What settled since the last tick, so a restart skips it.
        let marks = shared.progress().watermarks();
        let result = if marks.is_empty() {
            Ok(())
        } else {
            store.save(&marks).await
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "final checkpoint not saved; a restart re-checks from the previous one");
        }
    }
    let _ = stop_server.send(());
    match serve.await {
        Ok(result) => result.map_err(AgentError::Server),
        Err(join) => Err(AgentError::Server(std::io::Error::other(join))),
    }
}

/// The pipeline loop: one event at a time through the pure stages; creates
/// run concurrently, bounded by the writer's concurrency (when every slot is
/// taken the loop waits, and so, through the queue, does the watch).
/// Returns once shut down and every write in flight has settled.
async fn process(
    mut pipeline: Pipeline,
    mut detection: Option<Detection>,
    mut rx: mpsc::Receiver<SourceItem>,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) -> bool {
    let concurrency = shared.settings.config.writer.concurrency;
    let slots = Arc::new(Semaphore::new(concurrency));
    let source = shared.source().to_string();
    let m = shared.metrics().clone();
    tokio::pin!(shutdown);
    loop {
        let item = tokio::select! {
            item = rx.recv() => match item { Some(item) => item, None => break },
            _ = &mut shutdown => break,
        };
        m.queue_depth.set(rx.len() as i64);
        let (stream, event) = match item {
            SourceItem::Listing { stream } => {
                shared.progress().listing(&stream);
                continue;
            }
            SourceItem::Synced { stream } => {
                shared.progress().synced(&stream);
                continue;
            }
            SourceItem::NamespaceLabels { name, labels } => {
                pipeline.set_namespace_labels(&name, labels);
                continue;
            }
            SourceItem::NamespaceGone { name } => {
                pipeline.remove_namespace(&name);
                continue;
            }
            SourceItem::Event { stream, event } => (stream, event),
        };
        if !shared.progress().begin(&stream, &event.resource_version) {
            m.events_skipped
                .get_or_create(&Metrics::reason(&source, "already_processed"))
                .inc();
            continue;
        }
        let started = Instant::now();
        m.events_received
            .get_or_create(&Metrics::source(&source))
            .inc();
        let outcome = pipeline.process(&event);
        if let Some(d) = detection.as_mut() {
            for anomaly in d.observe(&event, &outcome, &shared) {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    write_anomaly(&shared, anomaly).await;
                    drop(slot);
                });
            }
        }
        m.dedup_cache_size.set(pipeline.dedup_entries() as i64);
        catch_up(&m.dedup_evictions, pipeline.dedup_evictions());
        let candidate = match outcome {
            Outcome::Emit(candidate) => candidate,
            Outcome::Dropped(reason) => {
                m.observations_filtered
                    .get_or_create(&Metrics::reason(&source, reason.as_str()))
                    .inc();
                settle(&shared, &stream, &event.resource_version, started);
                continue;
            }
            Outcome::Repeat(repeat) => {
                m.observations_deduped
                    .get_or_create(&Metrics::stage(&source, "window"))
                    .inc();
                fold_repeat(&shared, repeat);
                settle(&shared, &stream, &event.resource_version, started);
                continue;
            }
        };
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        m.writes_in_flight.inc();
        let shared = shared.clone();
        let rv = event.resource_version.clone();
        tokio::spawn(async move {
            let outcome = shared.writer.create(&candidate).await;
            let m = shared.metrics();
            let source = shared.source();
            match outcome {
                WriteOutcome::Created => m
                    .observations_created
                    .get_or_create(&Metrics::source(source))
                    .inc(),
                WriteOutcome::AlreadyExists => m
                    .observations_deduped
                    .get_or_create(&Metrics::stage(source, "conflict"))
                    .inc(),
                WriteOutcome::Failed(reason) => m
                    .observations_create_errors
                    .get_or_create(&Metrics::reason(source, reason))
                    .inc(),
            };
            m.writes_in_flight.dec();
            settle(&shared, &stream, &rv, started);
            drop(slot);
        });
    }
    // Wait for every write in flight to settle.
    let settled = slots.acquire_many(concurrency as u32).await.is_ok();
    settled
}

/// The detector and what feeds it, owned by the pipeline loop.
struct Detection {
    feed: Feed,
    detector: Detector,
    raised: Vec<Anomaly>,
}

impl Detection {
    /// Feeds one outcome; returns the anomalies it raised.
    fn observe(
        &mut self,
        event: &vigil_pipeline::KubeEvent,
        outcome: &Outcome,
        shared: &Shared,
    ) -> Vec<Anomaly> {
        if matches!(outcome, Outcome::Dropped(_)) {
            return Vec::new();
        }
        let weight = self.feed.weight(event);
        // Clamp to now: one event stamped in the future must not push the
        // watermark past everything that follows.
        let now = k8s_openapi::jiff::Timestamp::now();
        let at = event.last_time.map_or(now, |t| t.min(now));
        let id = format!("{}@{}", event.uid, event.resource_version);
        self.feed.observe(
            outcome,
            at,
            &id,
            weight,
            &mut self.detector,
            &mut self.raised,
        );
        let m = shared.metrics();
        let stats = self.detector.stats();
        let feed = self.feed.stats();
        catch_up(&m.detector_late, stats.late);
        catch_up(
            &m.detector_evictions,
            stats.evicted + stats.untracked + feed.evicted,
        );
        catch_up(&m.detector_unknown_repeats, feed.unknown_repeats);
        m.detector_entries.set(self.detector.live_entries() as i64);
        for a in &self.raised {
            m.anomalies.get_or_create(&Metrics::rule(&a.rule)).inc();
            tracing::info!(rule = %a.rule, name = %a.name(), count = a.count, description = %a.description, "anomaly");
        }
        std::mem::take(&mut self.raised)
    }
}

/// Brings a counter up to a running total kept elsewhere.
fn catch_up(counter: &prometheus_client::metrics::counter::Counter, total: u64) {
    let current = counter.get();
    if total > current {
        counter.inc_by(total - current);
    }
}

/// Writes an anomaly as an Observation, in the namespace it is about (else
/// the agent's); its deterministic name makes a second raise (a restart, a
/// replica) a 409, counted as `exists`.
async fn write_anomaly(shared: &Shared, anomaly: Anomaly) {
    let mut spec = anomaly.to_observation_spec();
    spec.ttl_seconds_after_creation
        .get_or_insert(shared.settings.pipeline.ttl_seconds);
    let candidate = Candidate {
        name: anomaly.name(),
        namespace: anomaly
            .namespace()
            .unwrap_or(&shared.settings.config.namespace)
            .to_string(),
        labels: anomaly.labels(),
        spec,
        fingerprint: anomaly.id(),
    };
    let result = match shared.writer.create(&candidate).await {
        WriteOutcome::Created => "created",
        WriteOutcome::AlreadyExists => "exists",
        WriteOutcome::Failed(reason) => reason,
    };
    shared
        .metrics()
        .anomaly_writes
        .get_or_create(&Metrics::result(result))
        .inc();
}

fn settle(shared: &Shared, stream: &str, resource_version: &str, started: Instant) {
    shared.progress().finish(stream, resource_version);
    shared
        .metrics()
        .processing_duration
        .observe(started.elapsed().as_secs_f64());
}

fn fold_repeat(shared: &Shared, repeat: vigil_pipeline::Repeat) {
    let mut fold = shared.repeats();
    if fold.add(repeat) == Folded::Full {
        shared
            .metrics()
            .repeat_patches
            .get_or_create(&Metrics::reason(shared.source(), "dropped_full"))
            .inc();
    }
    shared.metrics().pending_repeats.set(fold.len() as i64);
}

/// Runs the Events source; when it fails or panics, restarts it with backoff.
/// Nothing else stops; `/ready` is false while it is down.
async fn supervise_events(
    source: Arc<EventSource>,
    tx: mpsc::Sender<SourceItem>,
    shared: Arc<Shared>,
) {
    let mut failures = 0u32;
    loop {
        shared.health.set_source_running(true);
        let started = Instant::now();
        let (source2, tx2, shared2) = (source.clone(), tx.clone(), shared.clone());
        let result =
            tokio::spawn(
                async move { source2.run(&tx2, &shared2.health, shared2.metrics()).await },
            )
            .await;
        shared.health.set_source_running(false);
        match result {
            Ok(Ok(())) => return, // the queue closed: shutting down
            Ok(Err(err)) => tracing::error!(error = %err, "events source failed; restarting"),
            Err(join) => tracing::error!(error = %join, "events source panicked; restarting"),
        }
        shared
            .metrics()
            .source_restarts
            .get_or_create(&Metrics::source(shared.source()))
            .inc();
        if started.elapsed() > Duration::from_secs(60) {
            failures = 0;
        }
        let delay = Duration::from_millis(200)
            .saturating_mul(1 << failures.min(8))
            .min(Duration::from_secs(30));
        failures += 1;
        tokio::time::sleep(delay).await;
    }
}

async fn flush_repeats_forever(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.settings.repeat_flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        flush_repeats(&shared).await;
    }
}

/// Patches every folded repeat; one whose Observation is not there yet is
/// tried again at the next flush (a few times).
async fn flush_repeats(shared: &Shared) {
    let pending = shared.repeats().take();
    let m = shared.metrics();
    for p in pending {
        let result = match shared.writer.patch_repeat(&p.repeat).await {
            PatchOutcome::Patched => "patched",
            PatchOutcome::NotFound if p.misses < 3 => {
                if shared.repeats().retry(p) == Folded::Full {
                    "dropped_full"
                } else {
                    "retried"
                }
            }
            PatchOutcome::NotFound => "not_found",
            PatchOutcome::Failed(reason) => reason,
        };
        m.repeat_patches
            .get_or_create(&Metrics::reason(shared.source(), result))
            .inc();
    }
    m.pending_repeats.set(shared.repeats().len() as i64);
}

async fn save_checkpoint_forever(store: Arc<CheckpointStore>, shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.settings.checkpoint_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = None;
    loop {
        tick.tick().await;
        let marks = shared.progress().watermarks();
        if marks.is_empty() || last.as_ref() == Some(&marks) {
            continue;
        }
        let result = match store.save(&marks).await {
            Ok(()) => {
                last = Some(marks);
                "ok"
            }
            Err(err) => {
                tracing::warn!(error = %err, "checkpoint not saved; retrying at the next interval");
                "error"
            }
        };
        shared
            .metrics()
            .checkpoint_writes
            .get_or_create(&Metrics::reason(shared.source(), result))
            .inc();
    }
}
