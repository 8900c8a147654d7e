//! Telling new events from seen ones across relists and restarts, by
//! resourceVersion rather than by age.
//!
//! [`Progress`] (pure) keeps, per watch stream, the events in flight and a
//! *watermark*: every event of that stream with a resourceVersion at or below
//! it has been fully processed (written, dropped or folded). An event at or
//! below the watermark is skipped; the watermark is saved in a ConfigMap by
//! [`CheckpointStore`] so a restarted agent resumes where it left off.
//!
//! resourceVersions are compared as integers (etcd revisions, which is what
//! kube-apiserver serves). A non-numeric one is never skipped and never
//! advances the watermark: it is processed, and a duplicate is caught by the
//! Observation's deterministic name.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::Client;
use std::collections::{BTreeMap, HashMap};

/// Per-stream progress of the pipeline.
#[derive(Debug, Default)]
pub struct Progress {
    streams: HashMap<String, StreamProgress>,
}

#[derive(Debug, Default)]
struct StreamProgress {
    /// Everything at or below is done (from the checkpoint, then advanced).
    watermark: Option<u64>,
    /// Highest resourceVersion received since the stream last synced.
    max_seen: Option<u64>,
    /// resourceVersion → events with it still in flight.
    in_flight: BTreeMap<u64, u32>,
    /// Between a (re)list's start and its end the watermark cannot advance:
    /// list items arrive in no particular order.
    synced: bool,
}

impl Progress {
    /// Starts from saved watermarks (stream → resourceVersion).
    pub fn from_checkpoint(saved: &BTreeMap<String, String>) -> Self {
        let streams = saved
            .iter()
            .filter_map(|(k, v)| v.parse::<u64>().ok().map(|rv| (k.clone(), rv)))
            .map(|(k, rv)| {
                (
                    k,
                    StreamProgress {
                        watermark: Some(rv),
                        ..Default::default()
                    },
                )
            })
            .collect();
        Self { streams }
    }

    /// A (re)list of `stream` begins.
    pub fn listing(&mut self, stream: &str) {
        self.streams.entry(stream.to_string()).or_default().synced = false;
    }

    /// The (re)list of `stream` has delivered every item.
    pub fn synced(&mut self, stream: &str) {
        self.streams.entry(stream.to_string()).or_default().synced = true;
    }

    /// Whether an event must be processed; if so it is now in flight and
    /// [`Progress::finish`] must follow.
    pub fn begin(&mut self, stream: &str, resource_version: &str) -> bool {
        let Ok(rv) = resource_version.parse::<u64>() else {
            return true;
        };
        let s = self.streams.entry(stream.to_string()).or_default();
        if s.watermark.is_some_and(|w| rv <= w) {
            return false;
        }
        *s.in_flight.entry(rv).or_insert(0) += 1;
        s.max_seen = s.max_seen.max(Some(rv));
        true
    }

    /// The event begun with this resourceVersion is settled.
    pub fn finish(&mut self, stream: &str, resource_version: &str) {
        let Ok(rv) = resource_version.parse::<u64>() else {
            return;
        };
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        if let Some(n) = s.in_flight.get_mut(&rv) {
            *n -= 1;
            if *n == 0 {
                s.in_flight.remove(&rv);
            }
        }
        s.advance();
    }

    /// The current watermarks, for saving.
    pub fn watermarks(&mut self) -> BTreeMap<String, String> {
        self.streams
            .iter_mut()
            .filter_map(|(k, s)| {
                s.advance();
                s.watermark.map(|w| (k.clone(), w.to_string()))
            })
            .collect()
    }

    /// Events in flight across streams.
    pub fn in_flight(&self) -> usize {
        self.streams
            .values()
            .map(|s| s.in_flight.values().map(|n| *n as usize).sum::<usize>())
            .sum()
    }
}

impl StreamProgress {
    fn advance(&mut self) {
        if !self.synced {
            return;
        }
        let candidate = match self.in_flight.keys().next() {
            Some(lowest) => lowest.checked_sub(1),
            None => self.max_seen,
        };
        if candidate > self.watermark {
            self.watermark = candidate;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("reading checkpoint ConfigMap {namespace}/{name}: {source}")]
    Read {
        namespace: String,
        name: String,
        source: kube::Error,
    },
    #[error("writing checkpoint ConfigMap {namespace}/{name}: {source}")]
    Write {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

/// The watermarks saved in a ConfigMap, one key per stream.
pub struct CheckpointStore {
    api: Api<ConfigMap>,
    namespace: String,
    name: String,
}

impl CheckpointStore {
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The saved watermarks; none when the ConfigMap does not exist yet.
    pub async fn load(&self) -> Result<BTreeMap<String, String>, CheckpointError> {
        match self.api.get_opt(&self.name).await {
            Ok(cm) => Ok(cm
                .and_then(|c| c.data)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (decode_key(&k), v))
                .collect()),
            Err(source) => Err(CheckpointError::Read {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                source,
            }),
        }
    }

    pub async fn save(&self, watermarks: &BTreeMap<String, String>) -> Result<(), CheckpointError> {
        let data: BTreeMap<String, String> = watermarks
            .iter()
            .map(|(k, v)| (encode_key(k), v.clone()))
            .collect();
        let cm = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": self.name, "labels": {"app.kubernetes.io/name": "vigil"}},
            "data": data,
        });
        self.api
            .patch(
                &self.name,
                &PatchParams::apply("vigil-checkpoint").force(),
                &Patch::Apply(&cm),
            )
            .await
            .map(|_| ())
            .map_err(|source| CheckpointError::Write {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                source,
            })
    }
}

/// ConfigMap keys allow `[-._a-zA-Z0-9]`; the cluster-wide stream is `*`.
fn encode_key(stream: &str) -> String {
    if stream == crate::sources::ALL_NAMESPACES {
        "all-namespaces".into()
    } else {
        format!("ns.{stream}")
    }
}

fn decode_key(key: &str) -> String {
    match key.strip_prefix("ns.") {
        Some(ns) => ns.to_string(),
        None if key == "all-namespaces" => crate::sources::ALL_NAMESPACES.to_string(),
        None => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_waits_for_the_list_and_for_the_lowest_in_flight() {
        let mut p = Progress::default();
        p.listing("*");
        assert!(p.begin("*", "30"));
        assert!(p.begin("*", "10"));
        assert!(p.begin("*", "20"));
        p.finish("*", "30");
        assert_eq!(
            p.watermarks(),
            BTreeMap::new(),
            "no watermark before the list is complete"
        );
        p.synced("*");
        assert_eq!(p.watermarks(), BTreeMap::from([("*".into(), "9".into())]));
        p.finish("*", "10");
        assert_eq!(p.watermarks()["*"], "19");
        p.finish("*", "20");
        assert_eq!(p.watermarks()["*"], "30");
        assert_eq!(p.in_flight(), 0);
    }

    #[test]
    fn seen_events_are_skipped_after_a_restart_and_on_a_relist() {
        let saved = BTreeMap::from([("*".to_string(), "100".to_string())]);
        let mut p = Progress::from_checkpoint(&saved);
        p.listing("*");
        assert!(!p.begin("*", "99"), "processed before the restart");
        assert!(!p.begin("*", "100"));
        assert!(p.begin("*", "101"), "new since the checkpoint");
        p.synced("*");
        p.finish("*", "101");
        // A relist after 410 Gone re-delivers 101 unchanged: skipped.
        p.listing("*");
        assert!(!p.begin("*", "101"));
        assert!(p.begin("*", "102"));
    }

    #[test]
    fn streams_are_independent_and_non_numeric_versions_always_pass() {
        let mut p = Progress::default();
        p.synced("a");
        p.synced("b");
        assert!(p.begin("a", "50"));
        p.finish("a", "50");
        assert!(p.begin("b", "40"), "b has its own watermark");
        assert!(p.begin("a", "opaque"));
        assert!(p.begin("a", "opaque"));
        p.finish("a", "opaque");
        assert_eq!(p.watermarks()["a"], "50");
    }

    #[test]
    fn keys_round_trip() {
        for stream in ["*", "shop", "kube-system"] {
            assert_eq!(decode_key(&encode_key(stream)), stream);
        }
    }
}
