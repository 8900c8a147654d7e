//! vigil's windowed anomaly detection: declarative rules count matching
//! Observations per group key in event-time windows and raise an
//! [`Anomaly`] when a threshold is reached. Pure: no I/O, no clock reads, no
//! threads, so the agent, the hub and `vigil replay` run the same code and
//! get the same anomalies.
//!
//! ```
//! use k8s_openapi::jiff::Timestamp;
//! use vigil_detect::{Detector, DetectorConfig, RuleSet, Signal};
//! use vigil_model::{Category, ObservationSpec, ResourceRef, Severity};
//! use vigil_pipeline::Audience;
//!
//! let rules = RuleSet::from_yaml(r#"
//! rules:
//!   - name: failed-mount-storm
//!     match: {reason: [FailedMount]}
//!     groupBy: [cluster, namespace, name]
//!     window: {kind: tumbling, size: 5m}
//!     threshold: {count: 3}
//!     severity: high
//!     category: operations
//!     description: "{count} FailedMount for {namespace}/{name} within {window}"
//! "#).unwrap();
//! let mut detector = Detector::new(rules, DetectorConfig::default());
//! let spec = ObservationSpec {
//!     source: "kubernetes-events".into(),
//!     category: Category::Operations,
//!     severity: Severity::High,
//!     event_type: "volume_mount_failed".into(),
//!     resource: Some(ResourceRef { kind: Some("Pod".into()), name: Some("db-0".into()), namespace: Some("shop".into()), ..Default::default() }),
//!     details: Some(serde_json::json!({"reason": "FailedMount"})),
//!     detected_at: None,
//!     ttl_seconds_after_creation: None,
//! };
//! let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
//! let ids = ["e-1", "e-2", "e-2", "e-3", "e-4"];
//! let mut anomalies = Vec::new();
//! for (i, id) in ids.iter().enumerate() {
//!     let at = t0 + std::time::Duration::from_secs(i as u64 * 10);
//!     let signal = Signal::new("c1", Audience::Customer, &spec, at, id);
//!     detector.process(&signal, &mut anomalies);
//! }
//! // e-2 is counted once; the threshold is reached by e-3, and e-4 adds nothing.
//! assert_eq!(anomalies.len(), 1);
//! assert_eq!(anomalies[0].samples, ["e-1", "e-2", "e-3"]);
//! assert_eq!(anomalies[0].description, "3 FailedMount for shop/db-0 within 5m");
//! assert!(anomalies[0].name().starts_with("anomaly-failed-mount-storm-"));
//! ```
//!
//! # Emission: as soon as the threshold is reached, once
//!
//! An anomaly is raised by the signal that makes its (rule, key, window)
//! reach the threshold, in the same [`Detector::process`] call: latency is
//! that of the signal itself, not of the window. The entry then counts
//! nothing more, so each rule raises at most one anomaly per key per window.
//! Its id ([`Anomaly::id`]) depends on rule, rule version, key and window
//! only, so every process, replay and replica raises the same id and a sink
//! writes it once.
//!
//! What is fixed by the input alone, whatever the batching, the arrival
//! order within the allowed lateness and the duplicates: *which* anomalies
//! are raised (ids, rule, key, window, severity, category). What reflects
//! the moment of firing: `count` (the threshold, or more when the last
//! signal weighed more than one), `samples` (the first ids counted),
//! `detected_at` (the event time of the signal that fired it), and a
//! mixed-audience group's `audience`. The alternative, raising when the
//! window closes, would fix those too but delay every anomaly by a window
//! plus the lateness.
//!
//! # Event time, watermark, lateness
//!
//! Windows are cut on the signal's own event time ([`Signal::at`]), aligned
//! to the Unix epoch, `[start, end)`. The watermark is the newest event time
//! seen minus [`DetectorConfig::allowed_lateness`] (30 s by default). A
//! signal older than the watermark is late: ignored and counted in
//! [`DetectorStats::late`]. Any other signal still finds all its windows
//! open, because a window is closed, and forgotten, only once its end is at
//! or before the watermark. One detector has one watermark: feed it one
//! clock domain (a cluster, or a partition of clusters with sane clocks),
//! and clamp event times from the future before they get here, since one
//! far-future time would make everything else late.
//!
//! # Duplicates
//!
//! Each entry remembers the ids it counted: a signal delivered twice (same
//! [`Signal::id`], hence the same content) counts once. Distinct rules
//! remember values instead, which makes a redelivery a no-op by itself.
//!
//! # Bounds
//!
//! Live entries are capped ([`DetectorConfig::max_entries`]): when full, the
//! entry whose window ends first is evicted ([`DetectorStats::evicted`]);
//! an evicted key may fire again in the same window with the same id, which
//! sinks absorb. Remembered ids and distinct values are capped across all
//! entries ([`DetectorConfig::max_tracked`], [`DetectorStats::untracked`]),
//! and freed as soon as an entry fires or closes; a distinct threshold is
//! at most [`rules::MAX_DISTINCT_THRESHOLD`].
//!
//! Modules: [`rules`] (format, validation, defaults), [`template`]
//! (descriptions), [`window`] (window arithmetic), [`signal`] (input),
//! [`key`] (group-by fields), [`engine`] (the detector), [`anomaly`]
//! (output); `index` and `state` are internal.

pub mod anomaly;
pub mod engine;
pub mod feed;
mod index;
pub mod key;
pub mod rules;
pub mod signal;
mod state;
pub mod template;
pub mod window;

pub use anomaly::Anomaly;
pub use engine::{Detector, DetectorConfig, DetectorStats};
pub use feed::{Feed, FeedStats};
pub use key::KeyField;
pub use rules::{Rule, RuleError, RuleSet, Threshold};
pub use signal::Signal;
pub use window::{WindowKind, WindowSpec};
