//! The agent's runtime: wires sources → bounded queue → pipeline → writer,
//! supervises the sources, serves health and metrics, saves the checkpoint,
//! and on shutdown settles what is in flight. Process plumbing only; the
//! decisions are the pipeline's.
//!
//! With leader election, the leader-only work (the Events source, the
//! checkpoint saver, GC) runs for one leadership term at a time: it starts
//! when the Lease is won, after reloading the checkpoint the previous leader
//! kept saving, and is aborted as soon as the Lease is lost. Every replica
//! serves webhooks and the admin server and runs the pipeline.

use crate::checkpoint::{CheckpointStore, Progress};
use crate::config::Settings;
use crate::health::Health;
use crate::leader::Elector;
use crate::metrics::{Metrics, Telemetry};
use crate::sinks::observation_writer::{ObservationWriter, PatchOutcome, WriteOutcome};
use crate::sinks::rate_limiter::RateLimiter;
use crate::sinks::repeats::{Folded, RepeatFold};
use crate::sources::k8s_events::{self, EventSource};
use crate::sources::webhook::{self, Batch, WebhookRecord};
use crate::sources::{namespaces, SourceItem};
use crate::task::AbortOnDrop;
use kube::Client;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
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
    #[error("webhook server on {address}: {source}")]
    Webhook {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Everything the running tasks share.
struct Shared {
    settings: Settings,
    health: Arc<Health>,
    telemetry: Arc<Telemetry>,
    progress: Mutex<Progress>,
    repeats: Mutex<RepeatFold>,
    writer: ObservationWriter,
    /// A leadership term is running: Events from the watch are processed
    /// (queued ones of a term that ended are dropped).
    leading: AtomicBool,
    /// Every Ingester's counters (the leader writes them into its status).
    book: crate::ingesters::status::CountersBook,
    /// Webhook endpoints declared by Ingesters, with their processing.
    pushed: crate::ingesters::webhooks::PushedTable,
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
    tracing::info!(
        leader_election = settings.election.is_some(),
        gc = settings.gc.is_some(),
        "starting"
    );
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
        progress: Mutex::new(Progress::default()),
        leading: AtomicBool::new(false),
        settings: settings.clone(),
        health: health.clone(),
        telemetry: telemetry.clone(),
        writer,
        book: crate::ingesters::status::CountersBook::new(metrics.ingester_errors.clone()),
        pushed: Default::default(),
    });

    // The webhook intake: a listener of its own, only with endpoints (of
    // the config file, or of webhook Ingesters when this replica serves them).
    let serve_ingesters = config.ingesters.enabled && config.ingesters.serve_webhooks;
    let mut background = tokio::task::JoinSet::new();
    let (mut records, mut webhook_server) = match settings.webhooks.endpoints.is_empty()
        && !serve_ingesters
    {
        true => (mpsc::channel(1).1, None),
        false => {
            let (records, server, handle) = start_webhooks(&settings, &metrics, &client).await?;
            if serve_ingesters {
                background.spawn(
                    crate::ingesters::webhooks::WebhookIngesters {
                        client: client.clone(),
                        namespaces: ingester_namespaces(config),
                        handle,
                        table: shared.pushed.clone(),
                        book: shared.book.clone(),
                        enrich: settings.pipeline.enrich.clone(),
                        default_ttl: settings.pipeline.ttl_seconds,
                        sources: settings.sources.clone(),
                        agent_namespace: config.namespace.clone(),
                        metrics: metrics.clone(),
                    }
                    .run(),
                );
            }
            (records, Some(server))
        }
    };

    let (tx, mut rx) = mpsc::channel(config.queue_capacity);
    let source = Arc::new(EventSource::new(
        client.clone(),
        api,
        config.namespaces.clone(),
        &config.source,
    ));
    if !config.platform.namespace_labels.is_empty() {
        let (client, tx) = (client.clone(), tx.clone());
        background.spawn(async move { namespaces::run(client, &tx).await });
    }
    background.spawn(flush_repeats_forever(shared.clone()));
    let checkpoint = checkpoint.map(Arc::new);

    // Leadership: elected through the Lease, or from the start without
    // election (the sender is kept so the channel stays open).
    let (leading, elector, _always_leading) = match &settings.election {
        Some(election) => {
            health.set_events_required(false);
            let (elector, leading) = Elector::new(client.clone(), election.clone());
            (leading, Some(elector), None)
        }
        None => {
            let (always, leading) = watch::channel(true);
            (leading, None, Some(always))
        }
    };
    let elector = elector.map(|elector| {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(elector.run(async {
            let _ = stopped.await;
        }));
        (stop, task)
    });
    let term = Arc::new(Term {
        source,
        tx,
        checkpoint: checkpoint.clone(),
        client: client.clone(),
    });
    let (stop_leadership, leadership_stopped) = oneshot::channel::<()>();
    let leadership = tokio::spawn(follow_leadership(
        leading.clone(),
        term,
        shared.clone(),
        leadership_stopped,
    ));

    let server = crate::server::router(health, telemetry);
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let serve = tokio::spawn(async move {
        axum::serve(listener, server)
            .with_graceful_shutdown(async {
                let _ = server_stopped.await;
            })
            .await
    });

    let pipeline = Pipeline::with_sources(
        settings.pipeline.clone(),
        settings.sources.clone(),
        Arc::new(SystemClock),
    );
    let detection = settings.detect.clone().map(|(rules, config)| Detection {
        feed: Feed::new(
            &settings.config.detect.cluster,
            settings.config.dedup.max_entries,
        ),
        detector: Detector::new(rules, config),
        raised: Vec::new(),
    });
    let mut processor = Processor::new(pipeline, detection, shared.clone());
    processor.run(&mut rx, &mut records, shutdown).await;
    // Stop intake: the Events source, the checkpoint saver and GC end here.
    let _ = stop_leadership.send(());
    let _ = leadership.await;
    background.abort_all();
    if let Some((stop, mut task)) = webhook_server.take() {
        // Stop accepting, let the requests in flight finish, and take every
        // record accepted through the pipeline.
        let _ = stop.send(());
        let deadline = tokio::time::Instant::now() + settings.webhooks.shutdown_timeout;
        let drained = processor.drain(&mut records, &mut task, deadline).await;
        tracing::info!(
            records = drained,
            "webhook server stopped; accepted records drained"
        );
    }
    let settled = processor.settle_writes().await;
    tracing::info!(in_flight_settled = settled, "shutting down");
    flush_repeats(&shared).await;
    let still_leading = *leading.borrow();
    if let Some(store) = checkpoint.as_ref().filter(|_| still_leading) {
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
    if let Some((stop, task)) = elector {
        // Releases the Lease (when held) so a successor takes over at once.
        let _ = stop.send(());
        let _ = task.await;
        tracing::info!("leader election stopped; lease released if held");
    }
    let _ = stop_server.send(());
    match serve.await {
        Ok(result) => result.map_err(AgentError::Server),
        Err(join) => Err(AgentError::Server(std::io::Error::other(join))),
    }
}

type WebhookServer = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
);

/// Binds the webhook listener and serves the endpoints until told to stop
/// (then lets the requests in flight finish).
async fn start_webhooks(
    settings: &Settings,
    metrics: &Metrics,
    client: &Client,
) -> Result<(mpsc::Receiver<Batch>, WebhookServer, webhook::IntakeHandle), AgentError> {
    let address = settings.webhooks.listen;
    let bound = |source| AgentError::Webhook { address, source };
    let listener = TcpListener::bind(address).await.map_err(bound)?;
    let local = listener.local_addr().map_err(bound)?;
    // Secrets named by `secretRef`s are read (and watched) in the agent's namespace.
    let kube = webhook::KubeAccess {
        client: client.clone(),
        namespace: settings.config.namespace.clone(),
    };
    let intake = webhook::intake(&settings.webhooks, metrics, Some(kube))
        .await
        .map_err(|e| bound(std::io::Error::other(e)))?;
    // Adds and removes the endpoints of webhook Ingesters at run time.
    let handle = intake.handle();
    let names: Vec<&str> = intake.endpoints.iter().map(|e| e.name()).collect();
    let tls = &settings.webhooks.tls;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mtls = tls.as_ref().is_some_and(|t| t.client_ca_file.is_some());
    tracing::info!(webhook_address = %local, scheme, client_certificates = mtls, endpoints = ?names, "webhook server listening");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = stopped.await;
    };
    // `axum::serve` runs the connections: on shutdown it stops accepting
    // (for TLS, handshakes not yet complete are dropped) and lets the
    // requests in flight finish.
    let task = webhook::serve(listener, tls.as_ref(), intake.router, stopped);
    Ok((intake.records, (stop, task), handle))
}

/// The namespaces whose Ingesters run: `ingesters.namespaces`, else those
/// the Events are watched in (an agent confined to some namespaces by
/// namespace-scoped RBAC), else every namespace.
fn ingester_namespaces(config: &crate::config::AgentConfig) -> Vec<String> {
    match config.ingesters.namespaces.is_empty() {
        true => config.namespaces.clone(),
        false => config.ingesters.namespaces.clone(),
    }
}

/// What a leadership term needs to run the leader-only work.
struct Term {
    source: Arc<EventSource>,
    tx: mpsc::Sender<SourceItem>,
    checkpoint: Option<Arc<CheckpointStore>>,
    client: Client,
}

/// Starts a term whenever leadership is gained and aborts it as soon as it
/// is lost, until `stop` (then aborts the running term and waits for it).
async fn follow_leadership(
    mut leading: watch::Receiver<bool>,
    term: Arc<Term>,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let health = &shared.health;
    let mut running: Option<AbortOnDrop> = None;
    let mut open = true;
    loop {
        let now = *leading.borrow_and_update();
        let m = shared.metrics();
        match (now, running.is_some()) {
            (true, false) => {
                tracing::info!("leading: starting the Events source, checkpoint and GC");
                m.leader.set(1);
                m.leader_transitions.inc();
                health.set_events_required(true);
                shared.leading.store(true, Ordering::SeqCst);
                running = Some(AbortOnDrop(tokio::spawn(lead(
                    term.clone(),
                    shared.clone(),
                ))));
            }
            (false, true) => {
                end_term(&shared, running.take()).await;
                m.leader_transitions.inc();
                tracing::info!("leadership lost: leader-only work stopped");
            }
            _ => {}
        }
        tokio::select! {
            _ = &mut stop => break,
            changed = leading.changed(), if open => {
                if changed.is_err() {
                    open = false;
                }
            }
        }
    }
    end_term(&shared, running.take()).await;
}

/// Aborts a term and waits until it is gone; this replica no longer acts.
async fn end_term(shared: &Shared, running: Option<AbortOnDrop>) {
    shared.leading.store(false, Ordering::SeqCst);
    let Some(mut running) = running else {
        return;
    };
    running.0.abort();
    let _ = (&mut running.0).await;
    let health = &shared.health;
    health.set_events_required(false);
    health.set_source_running(false);
    health.set_watch_synced(false);
    shared.metrics().leader.set(0);
}

/// One leadership term: reload the checkpoint (the previous leader kept
/// saving it), resume the Events progress from it, then run the Events
/// source, the checkpoint saver and GC until aborted.
async fn lead(term: Arc<Term>, shared: Arc<Shared>) {
    let saved = match &term.checkpoint {
        Some(store) => load_checkpoint(store).await,
        None => Default::default(),
    };
    tracing::info!(checkpoint = ?saved, "leading: resuming from the checkpoint");
    *shared.progress() = Progress::from_checkpoint(&saved);
    // Dropping the set (when this task is aborted) aborts every task in it.
    let mut work = tokio::task::JoinSet::new();
    work.spawn(supervise_events(
        term.source.clone(),
        term.tx.clone(),
        shared.clone(),
    ));
    if let Some(store) = &term.checkpoint {
        work.spawn(save_checkpoint_forever(store.clone(), shared.clone()));
    }
    if let Some(gc) = shared.settings.gc.clone() {
        let writer = &shared.settings.config.writer;
        let limiter = RateLimiter::new(writer.qps, writer.burst);
        work.spawn(crate::gc::run(
            term.client.clone(),
            gc,
            limiter,
            shared.metrics().clone(),
        ));
    }
    if shared.settings.config.ingesters.enabled {
        let config = &shared.settings.config;
        let controller = crate::ingesters::Controller {
            cx: crate::ingesters::runtime::Context {
                client: term.client.clone(),
                metrics: shared.metrics().clone(),
                resync_every: shared.settings.ingesters_resync,
                queue: term.tx.clone(),
                enrich: shared.settings.pipeline.enrich.clone(),
                default_ttl: shared.settings.pipeline.ttl_seconds,
            },
            namespaces: ingester_namespaces(config),
            metrics: shared.metrics().clone(),
            counters_every: crate::ingesters::controller::COUNTERS_EVERY,
            book: shared.book.clone(),
            serves_webhooks: config.ingesters.serve_webhooks,
        };
        work.spawn(controller.run());
    }
    if let Some(compliance) = shared.settings.compliance.clone() {
        let writer = &shared.settings.config.writer;
        let limiter = RateLimiter::new(writer.qps, writer.burst);
        let (client, metrics) = (term.client.clone(), shared.metrics().clone());
        work.spawn(crate::compliance::run(client, compliance, limiter, metrics));
    }
    while work.join_next().await.is_some() {}
}

/// Reads the checkpoint, retrying with backoff until it is read.
async fn load_checkpoint(store: &CheckpointStore) -> std::collections::BTreeMap<String, String> {
    let mut delay = Duration::from_millis(200);
    loop {
        match store.load().await {
            Ok(saved) => return saved,
            Err(err) => {
                tracing::warn!(error = %err, "checkpoint not read; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Where an item came from, for what settling it takes.
#[derive(Clone)]
enum Origin {
    /// An Event of a watch stream: its resourceVersion is marked processed.
    Event {
        stream: String,
        resource_version: String,
    },
    /// A webhook record: nothing to mark (its queue slot is freed by the loop).
    Record,
    /// A finding of an Ingester: the write's result is counted on it.
    Ingested(Arc<crate::ingesters::status::Counters>),
}

/// The pipeline loop: one item at a time through the pure stages, Events
/// from the watch and records from the webhook endpoints alike; creates run
/// concurrently, bounded by the writer's concurrency (when every slot is
/// taken the loop waits, and so, through the queues, does the watch; the
/// webhooks answer 503 once their queues are full).
struct Processor {
    pipeline: Pipeline,
    detection: Option<Detection>,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    concurrency: usize,
    events_source: Arc<str>,
    falco_source: Arc<str>,
    audit_source: Arc<str>,
    /// Numbers webhook records for the detector's occurrence ids.
    records_seen: u64,
}

impl Processor {
    fn new(pipeline: Pipeline, detection: Option<Detection>, shared: Arc<Shared>) -> Self {
        let concurrency = shared.settings.config.writer.concurrency;
        let sources = &shared.settings.sources;
        Self {
            pipeline,
            detection,
            slots: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            events_source: shared.source().into(),
            falco_source: sources.falco.source.as_str().into(),
            audit_source: sources.audit.source.as_str().into(),
            records_seen: 0,
            shared,
        }
    }

    /// Until `shutdown` completes (or every queue has closed).
    async fn run(
        &mut self,
        rx: &mut mpsc::Receiver<SourceItem>,
        records: &mut mpsc::Receiver<Batch>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let (mut events_open, mut records_open) = (true, true);
        while events_open || records_open {
            tokio::select! {
                item = rx.recv(), if events_open => match item {
                    Some(item) => self.event(item, rx.len()).await,
                    None => events_open = false,
                },
                batch = records.recv(), if records_open => match batch {
                    Some(batch) => self.batch(batch).await,
                    None => records_open = false,
                },
                _ = &mut shutdown => break,
            }
        }
    }

    /// After shutdown: takes the webhook records still coming while the
    /// webhook server finishes its requests (until `deadline`), then every
    /// record already queued.
    async fn drain(
        &mut self,
        records: &mut mpsc::Receiver<Batch>,
        server: &mut tokio::task::JoinHandle<std::io::Result<()>>,
        deadline: tokio::time::Instant,
    ) -> u64 {
        let before = self.records_seen;
        let mut server_done = false;
        loop {
            tokio::select! {
                batch = records.recv() => match batch {
                    Some(batch) => self.batch(batch).await,
                    // The router and every connection are gone.
                    None => break,
                },
                result = &mut *server, if !server_done => {
                    server_done = true;
                    if let Ok(Err(err)) = result {
                        tracing::warn!(error = %err, "webhook server");
                    }
                }
                _ = tokio::time::sleep_until(deadline), if !server_done => {
                    tracing::warn!("webhook requests still in flight at the shutdown timeout; closing them");
                    server.abort();
                    while let Ok(batch) = records.try_recv() {
                        self.batch(batch).await;
                    }
                    break;
                }
            }
        }
        self.records_seen - before
    }

    /// Waits for every write in flight to settle.
    async fn settle_writes(&self) -> bool {
        self.slots
            .acquire_many(self.concurrency as u32)
            .await
            .is_ok()
    }

    async fn event(&mut self, item: SourceItem, depth: usize) {
        let shared = self.shared.clone();
        let m = shared.metrics();
        m.queue_depth.set(depth as i64);
        let of_watch = matches!(
            item,
            SourceItem::Listing { .. } | SourceItem::Synced { .. } | SourceItem::Event { .. }
        );
        if of_watch && !shared.leading.load(Ordering::SeqCst) {
            // Queued by a term that has ended: the next leader sees it.
            return;
        }
        let (stream, event) = match item {
            SourceItem::Listing { stream } => {
                shared.progress().listing(&stream);
                return;
            }
            SourceItem::Synced { stream } => {
                shared.progress().synced(&stream);
                return;
            }
            SourceItem::NamespaceLabels { name, labels } => {
                self.pipeline.set_namespace_labels(&name, labels);
                return;
            }
            SourceItem::NamespaceGone { name } => {
                self.pipeline.remove_namespace(&name);
                return;
            }
            SourceItem::Event { stream, event } => (stream, event),
            SourceItem::Ingested {
                source,
                outcome,
                counters,
            } => {
                if !shared.leading.load(Ordering::SeqCst) {
                    return; // queued by a term that has ended
                }
                self.ingested(source, *outcome, counters).await;
                return;
            }
            SourceItem::IngestedUpdate {
                source,
                candidate,
                counters,
            } => {
                if !shared.leading.load(Ordering::SeqCst) {
                    return;
                }
                self.update(source, *candidate, counters).await;
                return;
            }
        };
        if !shared.progress().begin(&stream, &event.resource_version) {
            m.events_skipped
                .get_or_create(&Metrics::reason(&self.events_source, "already_processed"))
                .inc();
            return;
        }
        let started = Instant::now();
        m.events_received
            .get_or_create(&Metrics::source(&self.events_source))
            .inc();
        let outcome = self.pipeline.process(&event);
        if let Some(d) = self.detection.as_mut() {
            let anomalies = d.observe_event(&event, &outcome, &shared);
            self.write_anomalies(anomalies).await;
        }
        let origin = Origin::Event {
            stream,
            resource_version: event.resource_version.clone(),
        };
        let source = self.events_source.clone();
        self.settle_outcome(outcome, source, origin, started).await;
    }

    /// A finding an Ingester's stages already decided on: counted, fed to
    /// the detector and written like any other outcome.
    async fn ingested(
        &mut self,
        source: Arc<str>,
        outcome: Outcome,
        counters: Arc<crate::ingesters::status::Counters>,
    ) {
        let started = Instant::now();
        let shared = self.shared.clone();
        shared
            .metrics()
            .events_received
            .get_or_create(&Metrics::source(&source))
            .inc();
        if let Some(d) = self.detection.as_mut() {
            self.records_seen += 1;
            let id = format!("{source}#{}", self.records_seen);
            let anomalies = d.observe(
                &outcome,
                k8s_openapi::jiff::Timestamp::now(),
                &id,
                1,
                &shared,
            );
            self.write_anomalies(anomalies).await;
        }
        self.settle_outcome(outcome, source, Origin::Ingested(counters), started)
            .await;
    }

    /// A changed finding: its Observation's spec is replaced by a task of
    /// its own once a write slot is free.
    async fn update(
        &mut self,
        source: Arc<str>,
        candidate: Candidate,
        counters: Arc<crate::ingesters::status::Counters>,
    ) {
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        let shared = self.shared.clone();
        tokio::spawn(async move {
            use crate::sinks::observation_writer::UpdateOutcome;
            let result = match shared.writer.update_spec(&candidate).await {
                UpdateOutcome::Updated => "updated",
                UpdateOutcome::Created => "created",
                UpdateOutcome::Failed(reason) => {
                    counters.error(format!(
                        "Observation {}/{} not updated: {reason}",
                        candidate.namespace, candidate.name
                    ));
                    reason
                }
            };
            if result == "updated" || result == "created" {
                crate::ingesters::status::Counters::add(&counters.updated, 1);
            }
            shared
                .metrics()
                .observations_updated
                .get_or_create(&Metrics::reason(&source, result))
                .inc();
            drop(slot);
        });
    }

    /// The records of one webhook request, in order; each frees its queue
    /// slot once its outcome is decided.
    async fn batch(&mut self, mut batch: Batch) {
        let endpoint = batch.endpoint.clone();
        let shared = self.shared.clone();
        // An Ingester's endpoint: its own processing (looked up once per batch).
        let ingester = shared
            .pushed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(endpoint.name())
            .cloned();
        for record in std::mem::take(&mut batch.records) {
            let started = Instant::now();
            self.records_seen += 1;
            let id = match &record {
                WebhookRecord::Audit(event) => format!("{}@{}", event.audit_id, event.stage),
                _ => format!("{}#{}", endpoint.name(), self.records_seen),
            };
            let mut outcomes = Vec::with_capacity(1);
            let (source, at, origin) = match (&ingester, &record) {
                (None, WebhookRecord::Falco(alert)) => {
                    outcomes.push(self.pipeline.process_falco(alert));
                    (self.falco_source.clone(), alert.time, Origin::Record)
                }
                (None, WebhookRecord::Audit(event)) => {
                    outcomes.push(match endpoint.audit_filter(event) {
                        Some(reason) => Outcome::Dropped(reason),
                        None => self.pipeline.process_audit(event),
                    });
                    (self.audit_source.clone(), event.time(), Origin::Record)
                }
                (None, WebhookRecord::Generic(_)) => {
                    // Accepted just before its Ingester was deleted: nothing
                    // maps it any more. Counted, never silent.
                    shared.metrics().ingester_errors.inc();
                    tracing::warn!(endpoint = %endpoint.name(), "record of a deleted webhook ingester dropped");
                    batch.release_one();
                    continue;
                }
                (Some(ingester), record) => {
                    let mut p = ingester.lock().unwrap_or_else(|e| e.into_inner());
                    let at = match record {
                        WebhookRecord::Falco(alert) => {
                            outcomes.push(p.falco(alert));
                            alert.time
                        }
                        WebhookRecord::Generic(value) => {
                            let now = k8s_openapi::jiff::Timestamp::now();
                            outcomes.extend(p.generic(value, now));
                            now
                        }
                        WebhookRecord::Audit(event) => {
                            outcomes.push(p.audit(event, endpoint.audit_filter(event)));
                            event.time()
                        }
                    };
                    (p.source.clone(), at, Origin::Ingested(p.counters.clone()))
                }
            };
            shared
                .metrics()
                .events_received
                .get_or_create(&Metrics::source(&source))
                .inc();
            for outcome in outcomes {
                if let Some(d) = self.detection.as_mut() {
                    let anomalies = d.observe(&outcome, at, &id, 1, &shared);
                    self.write_anomalies(anomalies).await;
                }
                self.settle_outcome(outcome, source.clone(), origin.clone(), started)
                    .await;
            }
            batch.release_one();
        }
    }

    async fn write_anomalies(&self, anomalies: Vec<Anomaly>) {
        for anomaly in anomalies {
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                return;
            };
            let shared = self.shared.clone();
            tokio::spawn(async move {
                write_anomaly(&shared, anomaly).await;
                drop(slot);
            });
        }
    }

    /// Counts the outcome for `source`; a new Observation is written by a
    /// task of its own once a write slot is free.
    async fn settle_outcome(
        &mut self,
        outcome: Outcome,
        source: Arc<str>,
        origin: Origin,
        started: Instant,
    ) {
        let shared = &self.shared;
        let m = shared.metrics();
        m.dedup_cache_size.set(self.pipeline.dedup_entries() as i64);
        catch_up(&m.dedup_evictions, self.pipeline.dedup_evictions());
        let candidate = match outcome {
            Outcome::Emit(candidate) => candidate,
            Outcome::Dropped(reason) => {
                m.observations_filtered
                    .get_or_create(&Metrics::reason(&source, reason.as_str()))
                    .inc();
                settle(shared, &origin, started);
                return;
            }
            Outcome::Repeat(repeat) => {
                m.observations_deduped
                    .get_or_create(&Metrics::stage(&source, "window"))
                    .inc();
                fold_repeat(shared, repeat, &source);
                settle(shared, &origin, started);
                return;
            }
        };
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        m.writes_in_flight.inc();
        let shared = shared.clone();
        tokio::spawn(async move {
            let outcome = shared.writer.create(&candidate).await;
            if let Origin::Ingested(counters) = &origin {
                use crate::ingesters::status::Counters;
                match outcome {
                    WriteOutcome::Created => Counters::add(&counters.created, 1),
                    WriteOutcome::AlreadyExists => Counters::add(&counters.deduped, 1),
                    WriteOutcome::Failed(reason) => counters.error(format!(
                        "Observation {}/{} not written: {reason}",
                        candidate.namespace, candidate.name
                    )),
                }
            }
            let m = shared.metrics();
            match outcome {
                WriteOutcome::Created => m
                    .observations_created
                    .get_or_create(&Metrics::source(&source))
                    .inc(),
                WriteOutcome::AlreadyExists => m
                    .observations_deduped
                    .get_or_create(&Metrics::stage(&source, "conflict"))
                    .inc(),
                WriteOutcome::Failed(reason) => m
                    .observations_create_errors
                    .get_or_create(&Metrics::reason(&source, reason))
                    .inc(),
            };
            m.writes_in_flight.dec();
            settle(&shared, &origin, started);
            drop(slot);
        });
    }
}

/// The detector and what feeds it, owned by the pipeline loop.
struct Detection {
    feed: Feed,
    detector: Detector,
    raised: Vec<Anomaly>,
}

impl Detection {
    /// Feeds an Event's outcome, weighed by how much its count grew.
    fn observe_event(
        &mut self,
        event: &vigil_pipeline::KubeEvent,
        outcome: &Outcome,
        shared: &Shared,
    ) -> Vec<Anomaly> {
        if matches!(outcome, Outcome::Dropped(_)) {
            return Vec::new();
        }
        let weight = self.feed.weight(event);
        let now = k8s_openapi::jiff::Timestamp::now();
        let at = event.last_time.unwrap_or(now);
        let id = format!("{}@{}", event.uid, event.resource_version);
        self.observe(outcome, at, &id, weight, shared)
    }

    /// Feeds one outcome that happened at `at`; returns the anomalies it raised.
    fn observe(
        &mut self,
        outcome: &Outcome,
        at: k8s_openapi::jiff::Timestamp,
        id: &str,
        weight: u64,
        shared: &Shared,
    ) -> Vec<Anomaly> {
        if matches!(outcome, Outcome::Dropped(_)) {
            return Vec::new();
        }
        // Clamp to now: one record stamped in the future must not push the
        // watermark past everything that follows.
        let at = at.min(k8s_openapi::jiff::Timestamp::now());
        self.feed.observe(
            outcome,
            at,
            id,
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

fn settle(shared: &Shared, origin: &Origin, started: Instant) {
    if let Origin::Event {
        stream,
        resource_version,
    } = origin
    {
        shared.progress().finish(stream, resource_version);
    }
    shared
        .metrics()
        .processing_duration
        .observe(started.elapsed().as_secs_f64());
}

fn fold_repeat(shared: &Shared, repeat: vigil_pipeline::Repeat, source: &str) {
    let mut fold = shared.repeats();
    if fold.add(repeat) == Folded::Full {
        shared
            .metrics()
            .repeat_patches
            .get_or_create(&Metrics::reason(source, "dropped_full"))
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
