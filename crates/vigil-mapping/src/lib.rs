//! An Ingester's `spec.mapping` (and the record-level parts of its
//! `spec.filters`) applied to a source object: zero or more Observation specs,
//! each with a stable per-finding key. Pure: no I/O (the time is an input to
//! `apply_at`; `apply` reads the clock only for `filters.before`); adapters hand
//! it `serde_json::Value`s, the pipeline takes what it returns.
//!
//! ```
//! let preset = vigil_mapping::Preset::load(r#"
//! apiVersion: zen.kube-zen.io/v1alpha1
//! kind: Ingester
//! metadata: {name: demo, namespace: vigil-system}
//! spec:
//!   source: demo
//!   ingester: informer
//!   informer: {gvr: {group: example.io, version: v1, resource: reports}}
//!   mapping:
//!     forEach: .findings
//!     key: '{{ .metadata.name }}/{{ .item.id }}'
//!     category: security
//!     eventType: finding
//!     severity: {from: .item.level, map: {SEV1: critical}, default: low}
//!     details: {id: '{{ .item.id }}', fix: '{{ .item.fix // "none" }}'}
//! "#).unwrap();
//! let report = serde_json::json!({"metadata": {"name": "r1"},
//!     "findings": [{"id": "a", "level": "SEV1"}, {"id": "b", "fix": null}]});
//! let found = preset.apply(&report).unwrap();
//! assert_eq!(found.len(), 2);
//! assert_eq!(found[0].spec.severity, vigil_model::Severity::Critical);
//! assert_eq!(found[1].key, "r1/b");
//! assert_eq!(found[1].spec.details.as_ref().unwrap()["fix"], "none");
//! assert!(found[0].name().starts_with("demo-finding-"));
//! ```

mod mapper;
pub mod time;

pub use mapper::{Dropped, Mapped, MappedObservation, Mapper};

use vigil_model::ingester::Ingester;
use vigil_model::load::LoadError;

/// A problem met while applying a mapping to one record, at an Ingester
/// field (`spec.mapping.severity`); the message names the source field too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct MappingError {
    /// Field of the Ingester, e.g. `spec.mapping.eventType`.
    pub path: String,
    pub message: String,
}

impl MappingError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Why a preset could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not YAML, not an Ingester, or refused by the shared validator.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A preset is exactly one Ingester.
    #[error("a preset holds exactly one Ingester, found {0}")]
    Count(usize),
    /// Valid as an Ingester, but lacking what a mapping needs to build an Observation.
    #[error(transparent)]
    Mapping(#[from] MappingError),
}

/// The findings of `after` (a re-scan) that `before` did not have, by
/// fingerprint (source, eventType, key), in `after`'s order: an updated
/// report with one new finding yields exactly that one, and a finding that
/// merely moved within the report, or changed only its details, yields none.
pub fn new_findings<'a>(
    before: &[MappedObservation],
    after: &'a [MappedObservation],
) -> Vec<&'a MappedObservation> {
    let seen: std::collections::HashSet<vigil_pipeline::Fingerprint> =
        before.iter().map(MappedObservation::fingerprint).collect();
    after
        .iter()
        .filter(|o| !seen.contains(&o.fingerprint()))
        .collect()
}

/// One Ingester whose mapping is ready to apply.
#[derive(Debug, Clone)]
pub struct Preset {
    ingester: Ingester,
    mapper: Mapper,
}

impl Preset {
    /// Parses one Ingester from YAML or JSON, checks it with the validator
    /// `vigil validate` uses, and compiles its mapping.
    pub fn load(text: &str) -> Result<Preset, Error> {
        let mut ingesters = vigil_model::load::ingesters_from_yaml(text)?;
        if ingesters.len() != 1 {
            return Err(Error::Count(ingesters.len()));
        }
        let ingester = ingesters.remove(0);
        Ok(Preset::from_ingester(ingester)?)
    }

    /// Compiles an already validated Ingester (e.g. one the controller watched).
    pub fn from_ingester(ingester: Ingester) -> Result<Preset, MappingError> {
        let mapper = Mapper::new(&ingester.spec)?;
        Ok(Preset { ingester, mapper })
    }

    pub fn ingester(&self) -> &Ingester {
        &self.ingester
    }

    pub fn mapper(&self) -> &Mapper {
        &self.mapper
    }

    /// The Observations one source object (or a JSON array / `kind: List` of
    /// them) yields, in order. Filtered findings are left out.
    pub fn apply(
        &self,
        source: &serde_json::Value,
    ) -> Result<Vec<MappedObservation>, MappingError> {
        self.mapper.apply(source).map(|m| m.observations)
    }

    /// [`Preset::apply`], with how many findings the filters dropped and why.
    pub fn apply_counted(&self, source: &serde_json::Value) -> Result<Mapped, MappingError> {
        self.mapper.apply(source)
    }

    /// [`Preset::apply_counted`] as of `now` (only `spec.filters.before`
    /// reads the time; [`Preset::apply`] uses the clock).
    pub fn apply_at(
        &self,
        source: &serde_json::Value,
        now: k8s_openapi::jiff::Timestamp,
    ) -> Result<Mapped, MappingError> {
        self.mapper.apply_at(source, now)
    }

    /// Whether findings depend on the time, not only on the object.
    pub fn reads_clock(&self) -> bool {
        self.mapper.reads_clock()
    }
}
