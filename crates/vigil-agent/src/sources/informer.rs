//! The informer adapter: any group/version/resource watched as
//! `DynamicObject`s (one watch per listed namespace, else one cluster-wide),
//! with label and field selectors. Lists, adds, updates and deletes are
//! handed over as they are; deciding what is new is the runtime's job.

use crate::ingesters::runtime::Change;
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use tokio::sync::mpsc;
use vigil_model::ingester::InformerAdapter;

/// The stream key of a cluster-wide watch.
const ALL: &str = "*";

/// Watches until the receiver is gone (`Ok`). Watch errors are retried by
/// the watcher with backoff and reported as [`Change::Failing`].
pub async fn run(
    client: Client,
    adapter: &InformerAdapter,
    changes: &mpsc::Sender<Change>,
) -> Result<(), String> {
    let gvr = &adapter.gvr;
    let gvk = GroupVersionKind::gvk(&gvr.group, &gvr.version, "");
    let resource = ApiResource::from_gvk_with_plural(&gvk, &gvr.resource);
    let mut config = watcher::Config::default().page_size(500);
    if let Some(labels) = &adapter.label_selector {
        config = config.labels(labels);
    }
    if let Some(fields) = &adapter.field_selector {
        config = config.fields(fields);
    }
    let streams: Vec<(String, Api<DynamicObject>)> = if adapter.namespaces.is_empty() {
        vec![(ALL.into(), Api::all_with(client, &resource))]
    } else {
        adapter
            .namespaces
            .iter()
            .map(|ns| {
                (
                    ns.clone(),
                    Api::namespaced_with(client.clone(), ns, &resource),
                )
            })
            .collect()
    };
    let what = format!(
        "{}/{} {}",
        if gvr.group.is_empty() {
            "core"
        } else {
            &gvr.group
        },
        gvr.version,
        gvr.resource
    );
    let watches = streams.into_iter().map(|(stream, api)| {
        watcher(api, config.clone())
            .default_backoff()
            .map(move |item| (stream.clone(), item))
            .boxed()
    });
    let mut all = futures::stream::select_all(watches);
    while let Some((stream, item)) = all.next().await {
        let change = match item {
            Err(err) => Change::Failing(format!("watching {what} ({stream}): {}", explain(&err))),
            Ok(watcher::Event::Init) => Change::Listing { stream },
            Ok(watcher::Event::InitDone) => Change::Synced { stream },
            Ok(watcher::Event::InitApply(o) | watcher::Event::Apply(o)) => Change::Applied {
                key: key_of(&o),
                object: to_value(o),
                stream,
            },
            Ok(watcher::Event::Delete(o)) => Change::Deleted {
                key: key_of(&o),
                object: to_value(o),
            },
        };
        if changes.send(change).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// `namespace/name` (or `name` for a cluster-scoped object).
fn key_of(o: &DynamicObject) -> String {
    let name = o.metadata.name.as_deref().unwrap_or_default();
    match o.metadata.namespace.as_deref() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

fn to_value(o: DynamicObject) -> serde_json::Value {
    serde_json::to_value(o).unwrap_or_default()
}

/// A watch error in words an operator can act on.
pub fn explain(err: &watcher::Error) -> String {
    let text = err.to_string();
    if text.contains("404") || text.contains("NotFound") {
        format!(
            "{text}: the API server does not serve this resource (is the tool's CRD installed?)"
        )
    } else if text.contains("403") || text.contains("Forbidden") || text.contains("forbidden") {
        format!("{text}: grant the agent's ServiceAccount list and watch on it")
    } else {
        text
    }
}
