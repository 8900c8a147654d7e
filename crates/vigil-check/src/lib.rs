//! vigil's well-architected checks: a catalogue of best-practice checks
//! over Kubernetes objects, across the six pillars (security, reliability,
//! performance efficiency, cost optimization, operational excellence,
//! sustainability), with Polaris- and kube-score-compatible exemptions,
//! per-pillar scores and table / JSON / SARIF reports.
//!
//! Pure: no network, no clock. [`files`] is the only module that touches the
//! filesystem (to expand directories); everything else takes text or typed
//! objects. The one exception is behind the `live` feature: `live` lists a
//! cluster's objects (read-only) for `vigil check` and the agent.
//!
//! ```
//! let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: debug}\n\
//!             spec: {containers: [{name: sh, image: busybox, securityContext: {privileged: true}}]}\n";
//! let parsed = vigil_check::parse_manifests("debug.yaml", yaml);
//! let report = vigil_check::run(&parsed, &vigil_check::Config::default());
//! assert!(report.failures().any(|(_, r)| r.check == "security.privileged"));
//! assert!(report.fails_at(vigil_model::Severity::Critical));
//! ```

pub mod catalogue;
mod checks;
pub mod config;
pub mod engine;
mod exempt;
pub mod files;
mod index;
pub mod input;
#[cfg(feature = "live")]
pub mod live;
pub mod object;
pub mod render;
pub mod report;
mod util;

pub use catalogue::{Check, Pillar};
pub use config::{Config, ConfigError};
pub use engine::{check, run};
pub use input::{parse_manifests, InputError, Parsed};
pub use object::{Manifest, Object, Origin};
pub use report::{CheckResult, Report, Status};

/// Annotation keys that exempt objects (see docs/CHECKS.md).
pub mod annotations {
    pub use crate::exempt::{EXEMPT, EXEMPT_REASON};
}
