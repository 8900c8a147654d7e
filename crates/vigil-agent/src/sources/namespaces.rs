//! Namespace labels for platform/customer enrichment: one watch on
//! Namespaces (metadata only), so the pipeline never looks one up per event.
//! Runs only when the configuration selects platform namespaces by label.

use super::SourceItem;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use tokio::sync::mpsc;

/// Watches namespaces until the queue closes.
pub async fn run(client: Client, tx: &mpsc::Sender<SourceItem>) {
    let api: Api<PartialObjectMeta<Namespace>> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(item) = stream.next().await {
        let out = match item {
            Ok(watcher::Event::Apply(ns) | watcher::Event::InitApply(ns)) => labels_of(ns),
            Ok(watcher::Event::Delete(ns)) => match ns.metadata.name {
                Some(name) => SourceItem::NamespaceGone { name },
                None => continue,
            },
            Ok(_) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "namespace watch failed; the watcher resumes with backoff");
                continue;
            }
        };
        if tx.send(out).await.is_err() {
            return;
        }
    }
}

fn labels_of(ns: PartialObjectMeta<Namespace>) -> SourceItem {
    SourceItem::NamespaceLabels {
        name: ns.metadata.name.unwrap_or_default(),
        labels: ns.metadata.labels.unwrap_or_default(),
    }
}
