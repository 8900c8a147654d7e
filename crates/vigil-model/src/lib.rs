//! vigil's data model: the `Observation` every source is normalized into, the
//! `Ingester` that declares a source, their CRDs and the one validator shared by
//! the in-cluster controller and the offline YAML path.
//!
//! This crate is pure: no I/O, no clock. Kubernetes access lives elsewhere.

pub mod cluster_report;
pub mod crd;
pub mod duration;
pub mod ingester;
pub mod json;
pub mod load;
pub mod observation;
pub mod template;
pub mod validate;

pub use cluster_report::{ClusterReport, ClusterReportSpec};
pub use ingester::{Ingester, IngesterSpec, IngesterStatus};
pub use observation::{
    Category, Observation, ObservationSpec, ObservationStatus, ResourceRef, Severity,
};
pub use validate::{FieldError, ValidationErrors};

/// The API group both kinds live in (schema-compatible with zen-watcher's).
pub const GROUP: &str = "zen.kube-zen.io";
