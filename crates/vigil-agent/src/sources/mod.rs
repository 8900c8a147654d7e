//! Sources read and hand over; they never filter, normalize or write.
//! Each sends [`SourceItem`]s into the bounded intake queue, waiting when it
//! is full (back-pressure, never a drop).

pub mod configmap;
pub mod dynamic;
pub mod informer;
pub mod k8s_events;
pub mod namespaces;
pub mod pod_logs;
pub mod webhook;

use vigil_pipeline::KubeEvent;

/// The stream key of a cluster-wide watch (otherwise the namespace's name).
pub const ALL_NAMESPACES: &str = "*";

/// What a source hands to the pipeline.
#[derive(Debug, Clone)]
pub enum SourceItem {
    /// A (re)list of `stream` begins.
    Listing {
        stream: String,
    },
    /// An added or updated event.
    Event {
        stream: String,
        event: Box<KubeEvent>,
    },
    /// The (re)list of `stream` is complete.
    Synced {
        stream: String,
    },
    /// A namespace's labels (for platform/customer enrichment).
    NamespaceLabels {
        name: String,
        labels: std::collections::BTreeMap<String, String>,
    },
    NamespaceGone {
        name: String,
    },
    /// What an Ingester's own stages decided for one new finding; written
    /// (and counted on the Ingester) like any other outcome.
    Ingested {
        source: std::sync::Arc<str>,
        outcome: Box<vigil_pipeline::Outcome>,
        counters: std::sync::Arc<crate::ingesters::status::Counters>,
    },
    /// A known finding of an Ingester that now says something else: its
    /// Observation's spec is replaced.
    IngestedUpdate {
        source: std::sync::Arc<str>,
        candidate: Box<vigil_pipeline::Candidate>,
        counters: std::sync::Arc<crate::ingesters::status::Counters>,
    },
}
