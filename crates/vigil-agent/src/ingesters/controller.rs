//! The Ingester controller: watches Ingester objects and keeps one runtime
//! per valid Ingester running. A new generation is validated with the shared
//! validator; a valid one replaces the running source (within a second of
//! the watch seeing it), an invalid one sets `Ready=False` naming the field
//! and leaves the last valid generation running. Deleting an Ingester aborts
//! its runtime and nothing else; a re-created one (new uid) starts afresh.
//! Status is written through the status subresource: at once when readiness
//! or generation change, else when counters moved, at most every
//! `counters_every`.

use super::compile::{compile, Compiled};
use super::runtime::{self, Context};
use super::status::{self, Counters, Readiness};
use crate::metrics::{Metrics, StateLabels};
use crate::sources::dynamic::{self, key_of};
use crate::task::AbortOnDrop;
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::watcher;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_model::{Ingester, IngesterStatus};

/// How often counter-only status changes are written at most.
pub const COUNTERS_EVERY: Duration = Duration::from_secs(10);

pub struct Controller {
    pub cx: Context,
    /// Namespaces whose Ingesters are run; empty means every namespace.
    pub namespaces: Vec<String>,
    pub metrics: Metrics,
    pub counters_every: Duration,
    /// Counters shared with this replica's webhook endpoints.
    pub book: super::status::CountersBook,
    /// Whether the replicas serve webhook Ingesters (`ingesters.serveWebhooks`).
    pub serves_webhooks: bool,
}

struct Running {
    compiled: Arc<Compiled>,
    generation: Option<i64>,
    _task: AbortOnDrop,
}

struct Entry {
    namespace: String,
    name: String,
    uid: String,
    generation: Option<i64>,
    readiness: Readiness,
    running: Option<Running>,
    counters: Arc<Counters>,
    /// The status as last written (or as read from the object at first sight).
    written: Option<IngesterStatus>,
    written_at: Option<Instant>,
}

impl Controller {
    /// Runs until aborted.
    pub async fn run(self) {
        let resource = ApiResource::erase::<Ingester>(&());
        let mut events = dynamic::watch(
            &self.cx.client,
            &resource,
            &self.namespaces,
            &watcher::Config::default(),
        );
        let mut entries: HashMap<String, Entry> = HashMap::new();
        let mut relists = dynamic::Relists::default();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = events.next() => {
                    let Some((stream, event)) = event else { return };
                    match event {
                        Err(err) => tracing::warn!(error = %err, "ingester watch failed; the watcher resumes with backoff"),
                        Ok(watcher::Event::Init) => relists.begin(&stream),
                        Ok(watcher::Event::InitApply(o)) => {
                            relists.saw(&stream, key_of(&o));
                            self.apply(&mut entries, o);
                        }
                        Ok(watcher::Event::Apply(o)) => self.apply(&mut entries, o),
                        Ok(watcher::Event::Delete(o)) => {
                            if let Some(gone) = entries.remove(&key_of(&o)) {
                                self.book.forget(&gone.uid);
                                tracing::info!(ingester = %key_of(&o), uid = %gone.uid, "ingester deleted; its source stopped");
                            }
                        }
                        Ok(watcher::Event::InitDone) => {
                            // Deleted while the watch was down.
                            for key in relists.gone(&stream, entries.keys()) {
                                if let Some(gone) = entries.remove(&key) {
                                    self.book.forget(&gone.uid);
                                }
                            }
                        }
                    }
                    self.write_statuses(&mut entries, false).await;
                }
                _ = tick.tick() => self.write_statuses(&mut entries, true).await,
            }
        }
    }

    fn apply(&self, entries: &mut HashMap<String, Entry>, object: DynamicObject) {
        let key = key_of(&object);
        let uid = object.metadata.uid.clone().unwrap_or_default();
        let generation = object.metadata.generation;
        if let Some(old) = entries.get(&key).filter(|e| e.uid != uid) {
            // Deleted and re-created under the same name: start afresh.
            self.book.forget(&old.uid);
            entries.remove(&key);
        }
        let entry = entries.entry(key.clone()).or_insert_with(|| Entry {
            namespace: object.metadata.namespace.clone().unwrap_or_default(),
            name: object.metadata.name.clone().unwrap_or_default(),
            uid: uid.clone(),
            generation: None,
            readiness: Readiness::Running,
            running: None,
            counters: self.book.of(&uid),
            written: object
                .data
                .get("status")
                .and_then(|s| serde_json::from_value(s.clone()).ok()),
            written_at: None,
        });
        if entry.generation.is_some() && entry.generation == generation {
            return; // a status update or a resync: nothing to do
        }
        entry.generation = generation;
        let value = match serde_json::to_value(&object) {
            Ok(v) => v,
            Err(err) => {
                entry.readiness = Readiness::Invalid {
                    message: format!("metadata: not readable: {err}"),
                    kept: entry.running.as_ref().and_then(|r| r.generation),
                };
                return;
            }
        };
        match compile(value) {
            Ok(compiled) => {
                if matches!(compiled.adapter, super::compile::Adapter::Webhook(_))
                    && !self.serves_webhooks
                {
                    entry.counters.source_failing(Some(
                        "spec.ingester: webhook Ingesters are not served: the agent runs with ingesters.serveWebhooks: false".into(),
                    ));
                }
                let same = entry
                    .running
                    .as_ref()
                    .is_some_and(|r| r.compiled.ingester.spec == compiled.ingester.spec);
                if same {
                    if let Some(r) = entry.running.as_mut() {
                        r.generation = generation;
                    }
                } else {
                    let compiled = Arc::new(compiled);
                    let task = tokio::spawn(runtime::run(
                        compiled.clone(),
                        entry.counters.clone(),
                        self.cx.clone(),
                    ));
                    // Replacing drops (aborts) the previous generation's runtime.
                    entry.running = Some(Running {
                        compiled,
                        generation,
                        _task: AbortOnDrop(task),
                    });
                    tracing::info!(ingester = %key, ?generation, "ingester source (re)started");
                }
                entry.readiness = Readiness::Running;
            }
            Err(errors) => {
                let kept = entry.running.as_ref().and_then(|r| r.generation);
                tracing::warn!(ingester = %key, ?generation, error = %errors, ?kept, "ingester refused");
                // Every field is listed; the first ones are kept.
                let message = errors.to_string();
                let message =
                    super::status::prefix(&message, super::status::MAX_MESSAGE).to_string();
                entry.readiness = Readiness::Invalid { message, kept };
            }
        }
    }

    /// Writes the statuses that changed; `tick`: also counter-only changes
    /// older than `counters_every`.
    async fn write_statuses(&self, entries: &mut HashMap<String, Entry>, tick: bool) {
        let now = Timestamp::now();
        let mut states: HashMap<&'static str, i64> =
            HashMap::from([("ready", 0), ("invalid", 0), ("failing", 0)]);
        for entry in entries.values_mut() {
            let readiness = match (&entry.readiness, entry.counters.source_problem()) {
                (Readiness::Running, Some(message)) => Readiness::SourceFailing { message },
                (r, _) => r.clone(),
            };
            *states
                .get_mut(match readiness {
                    Readiness::Running => "ready",
                    Readiness::Invalid { .. } => "invalid",
                    Readiness::SourceFailing { .. } => "failing",
                })
                .expect("known") += 1;
            let status = status::build(
                entry.written.as_ref(),
                &readiness,
                entry.generation,
                &entry.counters,
                now,
            );
            let written = entry.written.as_ref();
            let condition_changed = written.is_none_or(|w| {
                w.observed_generation != status.observed_generation
                    || strip_time(&w.conditions) != strip_time(&status.conditions)
            });
            let counters_changed = written != Some(&status)
                && entry
                    .written_at
                    .is_none_or(|at| at.elapsed() >= self.counters_every);
            if !(condition_changed || tick && counters_changed) {
                continue;
            }
            let api: Api<DynamicObject> = Api::namespaced_with(
                self.cx.client.clone(),
                &entry.namespace,
                &ApiResource::erase::<Ingester>(&()),
            );
            let patch = serde_json::json!({"status": status});
            let result = api
                .patch_status(&entry.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await;
            let label = match result {
                Ok(_) => {
                    entry.written = Some(status);
                    entry.written_at = Some(Instant::now());
                    "ok"
                }
                Err(err) => {
                    tracing::warn!(ingester = %format!("{}/{}", entry.namespace, entry.name), error = %err, "ingester status not written; retrying");
                    entry.written_at = Some(Instant::now());
                    "error"
                }
            };
            self.metrics
                .ingester_status_writes
                .get_or_create(&crate::metrics::Metrics::result(label))
                .inc();
        }
        for (state, n) in states {
            self.metrics
                .ingesters
                .get_or_create(&StateLabels {
                    state: state.into(),
                })
                .set(n);
        }
    }
}

fn strip_time(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> Vec<(String, String, String, String)> {
    conditions
        .iter()
        .map(|c| {
            (
                c.type_.clone(),
                c.status.clone(),
                c.reason.clone(),
                c.message.clone(),
            )
        })
        .collect()
}
