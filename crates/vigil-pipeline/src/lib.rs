//! vigil's pipeline: plain Rust over owned values, no network and no clock
//! reads except through [`Clock`]. A Kubernetes Event goes in as a
//! [`KubeEvent`]; an [`Outcome`] comes out: dropped (with a reason), a repeat
//! of an Observation already emitted, or a new Observation to write.
//!
//! Stages, in order: filter → normalize → enrich → dedup → throttle.
//!
//! Falco alerts ([`FalcoAlert`]) and Kubernetes audit events
//! ([`AuditEvent`]) take the same stages ([`Pipeline::process_record`]) and
//! come out as the same [`Candidate`]s; see [`sources`].
//!
//! ```
//! use std::sync::Arc;
//! use vigil_pipeline::event::ObjectRef;
//! use vigil_pipeline::{KubeEvent, ManualClock, Outcome, Pipeline, PipelineConfig};
//!
//! let now = "2026-01-01T00:00:00Z".parse().unwrap();
//! let mut pipeline = Pipeline::new(PipelineConfig::for_kubernetes_events(), Arc::new(ManualClock::new(now)));
//! let event = KubeEvent {
//!     uid: "e-1".into(),
//!     resource_version: "1".into(),
//!     type_: "Warning".into(),
//!     reason: "BackOff".into(),
//!     message: "Back-off restarting failed container".into(),
//!     regarding: ObjectRef { kind: "Pod".into(), namespace: "shop".into(), name: "web-7c9d8f6b5-x2x7q".into(), ..Default::default() },
//!     count: 1,
//!     last_time: Some(now),
//!     ..Default::default()
//! };
//! let Outcome::Emit(candidate) = pipeline.process(&event) else { panic!("a new problem emits") };
//! assert_eq!(candidate.spec.event_type, "pod_backoff");
//! assert!(candidate.name.starts_with("kubernetes-events-pod-backoff-"));
//! ```

pub mod clock;
pub mod dedup;
pub mod enrich;
pub mod event;
pub mod filter;
pub mod fingerprint;
pub mod glob;
pub mod normalize;
pub mod pipeline;
pub mod sources;
pub mod throttle;
pub mod versions;

pub use clock::{Clock, ManualClock, SystemClock};
pub use dedup::DedupWindow;
pub use enrich::Audience;
pub use event::KubeEvent;
pub use fingerprint::Fingerprint;
pub use pipeline::{Candidate, DropReason, Outcome, Pipeline, PipelineConfig, Record, Repeat};
pub use sources::{AuditEvent, FalcoAlert, SourcesConfig};
