//! The informer adapter: any group/version/resource watched as
//! `DynamicObject`s (one watch per listed namespace, else one cluster-wide),
//! with label and field selectors. Lists, adds, updates and deletes are
//! handed over as they are; deciding what is new is the runtime's job.

use super::dynamic::key_of;
use crate::ingesters::runtime::Change;
use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher;
use kube::Client;
use tokio::sync::mpsc;
use vigil_model::ingester::InformerAdapter;

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
    let mut all = super::dynamic::watch(&client, &resource, &adapter.namespaces, &config);
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
