//! Push-based tools whose records go through the same stages as Kubernetes
//! Events: [`falco`] alerts and Kubernetes [`audit`] events. Each module
//! parses its tool's JSON into a typed record (errors name the field) and
//! normalizes it (category, severity, `eventType`, resource, details);
//! [`audit_rules`] decides which audit events are worth an Observation.
//! The pipeline runs them with [`crate::Pipeline::process_record`].
//!
//! This module owns what the sources share: the object a record is about
//! ([`Target`]) and the per-source configuration ([`SourcesConfig`]).

pub mod audit;
pub mod audit_rules;
pub mod falco;
pub mod fields;
pub mod resources;

pub use audit::AuditEvent;
pub use audit_rules::AuditConfig;
pub use falco::{FalcoAlert, FalcoConfig};
pub use fields::{LineError, Problem, RecordError};

use std::borrow::Cow;
use vigil_model::ResourceRef;

/// Configuration of the push-based sources, next to the pipeline's own
/// [`crate::PipelineConfig`] (whose filter, enrich, dedup, TTL and fallback
/// namespace they share).
#[derive(Debug, Clone, Default)]
pub struct SourcesConfig {
    pub falco: FalcoConfig,
    pub audit: AuditConfig,
}

/// The Kubernetes object a record is about, borrowed from the record. Empty
/// strings are unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target<'a> {
    pub api_version: Cow<'a, str>,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl Target<'_> {
    /// The namespace namespace rules (filter, enrich) apply to: the object's,
    /// or a Namespace's own name.
    pub fn scope_namespace(&self) -> &str {
        if self.kind == "Namespace" && self.namespace.is_empty() {
            self.name
        } else {
            self.namespace
        }
    }

    /// The Observation's `resource`; `None` when nothing is known.
    pub fn resource_ref(&self) -> Option<ResourceRef> {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let r = ResourceRef {
            api_version: some(&self.api_version),
            kind: some(self.kind),
            name: some(self.name),
            namespace: some(self.namespace),
        };
        (r != ResourceRef::default()).then_some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_is_scoped_by_its_own_name() {
        let ns = Target {
            kind: "Namespace",
            name: "foo",
            ..Default::default()
        };
        assert_eq!(ns.scope_namespace(), "foo");
        let pod = Target {
            kind: "Pod",
            namespace: "shop",
            name: "web-1",
            ..Default::default()
        };
        assert_eq!(pod.scope_namespace(), "shop");
        assert_eq!(Target::default().scope_namespace(), "");
    }

    #[test]
    fn resource_refs_keep_only_what_is_known() {
        assert_eq!(Target::default().resource_ref(), None);
        let t = Target {
            api_version: "v1".into(),
            kind: "Pod",
            namespace: "shop",
            name: "",
        };
        assert_eq!(
            t.resource_ref(),
            Some(ResourceRef {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: None,
                namespace: Some("shop".into()),
            })
        );
    }
}
