//! Watches of unstructured objects (`DynamicObject`) in a list of
//! namespaces — one watch each, or one cluster-wide watch (stream `*`) when
//! the list is empty — merged into one stream whose items say which watch
//! they came from. The informer adapter and the Ingester watches use it.

use futures::stream::{BoxStream, SelectAll};
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use std::collections::{HashMap, HashSet};

/// The stream key of a cluster-wide watch.
pub const ALL: &str = "*";

/// One item of a merged watch: the watch's stream key and its event.
pub type Item = (
    String,
    Result<watcher::Event<DynamicObject>, watcher::Error>,
);

/// One watch per namespace of `namespaces` (all of them when empty), each
/// retried by the watcher with backoff.
pub fn watch(
    client: &Client,
    resource: &ApiResource,
    namespaces: &[String],
    config: &watcher::Config,
) -> SelectAll<BoxStream<'static, Item>> {
    let apis: Vec<(String, Api<DynamicObject>)> = if namespaces.is_empty() {
        vec![(ALL.into(), Api::all_with(client.clone(), resource))]
    } else {
        namespaces
            .iter()
            .map(|ns| {
                (
                    ns.clone(),
                    Api::namespaced_with(client.clone(), ns, resource),
                )
            })
            .collect()
    };
    futures::stream::select_all(apis.into_iter().map(|(stream, api)| {
        watcher(api, config.clone())
            .default_backoff()
            .map(move |item| (stream.clone(), item))
            .boxed()
    }))
}

/// `namespace/name`, or `name` for a cluster-scoped object.
pub fn key_of(o: &DynamicObject) -> String {
    let name = o.metadata.name.as_deref().unwrap_or_default();
    match o.metadata.namespace.as_deref() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

/// What each watch's (re)list has shown so far, to tell which known objects
/// were deleted while the watch was down.
#[derive(Debug, Default)]
pub struct Relists {
    listing: HashMap<String, HashSet<String>>,
}

impl Relists {
    /// A (re)list of `stream` begins.
    pub fn begin(&mut self, stream: &str) {
        self.listing.insert(stream.to_string(), HashSet::new());
    }

    /// `key` was listed by `stream`.
    pub fn saw(&mut self, stream: &str, key: String) {
        if let Some(seen) = self.listing.get_mut(stream) {
            seen.insert(key);
        }
    }

    /// The (re)list of `stream` is complete: of the `known` keys, those of
    /// that stream it did not list (none when no relist was under way).
    pub fn gone<'a>(
        &mut self,
        stream: &str,
        known: impl Iterator<Item = &'a String>,
    ) -> Vec<String> {
        let Some(seen) = self.listing.remove(stream) else {
            return Vec::new();
        };
        let prefix = format!("{stream}/");
        known
            .filter(|k| (stream == ALL || k.starts_with(&prefix)) && !seen.contains(*k))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relist_names_what_it_no_longer_lists_in_its_own_stream_only() {
        let mut r = Relists::default();
        let known: Vec<String> = ["a/kept", "a/gone", "b/other"].map(String::from).to_vec();
        assert!(r.gone("a", known.iter()).is_empty(), "no relist under way");
        r.begin("a");
        r.saw("a", "a/kept".into());
        assert_eq!(r.gone("a", known.iter()), ["a/gone"]);
        r.begin(ALL);
        r.saw(ALL, "a/kept".into());
        assert_eq!(r.gone(ALL, known.iter()), ["a/gone", "b/other"]);
    }
}
