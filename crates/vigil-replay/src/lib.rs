//! `vigil replay` and `vigil demo`: exported data (event dumps, audit logs,
//! Falco JSON lines) through the same pipeline and anomaly detector the agent
//! runs, with no cluster. Pure over text: the binary reads the files and
//! prints; everything here is deterministic and unit-testable.
//!
//! ```
//! use vigil_replay::{input, replay, ReplayOptions};
//!
//! let dump = r#"{"kind":"List","items":[{"metadata":{"name":"a","uid":"u1"},
//!   "involvedObject":{"kind":"Pod","namespace":"shop","name":"web-1"},"type":"Warning",
//!   "reason":"FailedMount","message":"MountVolume.SetUp failed","lastTimestamp":"2026-01-01T00:00:00Z"}]}"#;
//! let report = replay(vec![input::parse("events.json", dump, input::Format::Auto)], &ReplayOptions::default());
//! assert_eq!(report.summary.observations, 1);
//! assert!(report.summary.balanced());
//! ```

pub mod convert;
pub mod demo;
pub mod input;
pub mod presets;
pub mod report;
pub mod run;

pub use report::{ReplayedObservation, Report, Summary};
pub use run::{replay, ReplayOptions};
