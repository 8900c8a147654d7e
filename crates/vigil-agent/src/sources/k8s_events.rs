//! The Kubernetes Events source: one watch on `events.k8s.io/v1` (or core
//! `v1`) Events — cluster-wide, or one per listed namespace for
//! namespace-scoped RBAC — through kube-runtime's watcher: list, then watch
//! from the list's resourceVersion with bookmarks, resume after a broken
//! connection, relist on 410 Gone. Adds and updates are handed over alike
//! (an update is a new occurrence); deletions are not.

use super::{SourceItem, ALL_NAMESPACES};
use crate::config::EventsApi;
use crate::health::Health;
use crate::metrics::Metrics;
use futures::stream::{self, BoxStream};
use futures::StreamExt;
use k8s_openapi::api::{core::v1 as core, events::v1 as events};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::fmt::Debug;
use tokio::sync::mpsc;
use vigil_pipeline::KubeEvent;

#[derive(Debug, thiserror::Error)]
pub enum EventSourceError {
    #[error("discovering the Events API: {0}")]
    Discovery(kube::Error),
    #[error("the watch stream ended")]
    StreamEnded,
}

/// The API actually watched, after `auto` is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedApi {
    EventsV1,
    CoreV1,
}

/// Resolves `auto` with one discovery call at start (never per event).
pub async fn resolve_api(
    client: &Client,
    wanted: EventsApi,
) -> Result<ResolvedApi, EventSourceError> {
    match wanted {
        EventsApi::EventsV1 => Ok(ResolvedApi::EventsV1),
        EventsApi::CoreV1 => Ok(ResolvedApi::CoreV1),
        EventsApi::Auto => {
            let groups = client
                .list_api_groups()
                .await
                .map_err(EventSourceError::Discovery)?;
            let served = groups
                .groups
                .iter()
                .any(|g| g.name == "events.k8s.io" && g.versions.iter().any(|v| v.version == "v1"));
            Ok(if served {
                ResolvedApi::EventsV1
            } else {
                ResolvedApi::CoreV1
            })
        }
    }
}

/// The Events watch, ready to run (and to be run again by the supervisor).
pub struct EventSource {
    client: Client,
    api: ResolvedApi,
    namespaces: Vec<String>,
    source: String,
}

type Item = (String, Result<watcher::Event<KubeEvent>, watcher::Error>);

impl EventSource {
    pub fn new(client: Client, api: ResolvedApi, namespaces: Vec<String>, source: &str) -> Self {
        Self {
            client,
            api,
            namespaces,
            source: source.to_string(),
        }
    }

    /// Watches until the intake queue closes (shutdown). Watch errors are
    /// retried by the watcher with backoff; they mark the watch disconnected.
    pub async fn run(
        &self,
        tx: &mpsc::Sender<SourceItem>,
        health: &Health,
        metrics: &Metrics,
    ) -> Result<(), EventSourceError> {
        let keys: Vec<String> = if self.namespaces.is_empty() {
            vec![ALL_NAMESPACES.to_string()]
        } else {
            self.namespaces.clone()
        };
        let streams: Vec<BoxStream<'static, Item>> = keys
            .iter()
            .map(|key| match self.api {
                ResolvedApi::EventsV1 => watch::<events::Event>(self.api_for(key), key.clone()),
                ResolvedApi::CoreV1 => watch::<core::Event>(self.api_for(key), key.clone()),
            })
            .collect();
        let mut merged = stream::select_all(streams);
        let mut synced: HashSet<String> = HashSet::new();
        health.set_watch_synced(false);
        let labels = Metrics::source(&self.source);
        while let Some((stream, item)) = merged.next().await {
            let event = match item {
                Ok(e) => {
                    health.set_watch_connected(true);
                    e
                }
                Err(err) => {
                    tracing::warn!(stream, error = %err, "events watch failed; the watcher resumes with backoff");
                    metrics.watch_restarts.get_or_create(&labels).inc();
                    health.set_watch_connected(false);
                    continue;
                }
            };
            let out = match event {
                watcher::Event::Init => {
                    synced.remove(&stream);
                    health.set_watch_synced(false);
                    SourceItem::Listing { stream }
                }
                watcher::Event::InitApply(ev) | watcher::Event::Apply(ev) => SourceItem::Event {
                    stream,
                    event: Box::new(ev),
                },
                watcher::Event::InitDone => {
                    synced.insert(stream.clone());
                    health.set_watch_synced(synced.len() == keys.len());
                    SourceItem::Synced { stream }
                }
                watcher::Event::Delete(_) => continue,
            };
            if tx.send(out).await.is_err() {
                return Ok(());
            }
        }
        Err(EventSourceError::StreamEnded)
    }

    fn api_for<K>(&self, key: &str) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        if key == ALL_NAMESPACES {
            Api::all(self.client.clone())
        } else {
            Api::namespaced(self.client.clone(), key)
        }
    }
}

fn watch<K>(api: Api<K>, key: String) -> BoxStream<'static, Item>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    for<'a> KubeEvent: From<&'a K>,
{
    let config = watcher::Config::default().page_size(500);
    watcher(api, config)
        .default_backoff()
        .map(move |item| {
            let mapped = item.map(|event| match event {
                watcher::Event::Apply(k) => watcher::Event::Apply(KubeEvent::from(&k)),
                watcher::Event::InitApply(k) => watcher::Event::InitApply(KubeEvent::from(&k)),
                watcher::Event::Delete(k) => watcher::Event::Delete(KubeEvent::from(&k)),
                watcher::Event::Init => watcher::Event::Init,
                watcher::Event::InitDone => watcher::Event::InitDone,
            });
            (key.clone(), mapped)
        })
        .boxed()
}
