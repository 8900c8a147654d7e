//! The enrich stage: who an Observation is for — the platform team or the
//! customer owning the namespace — and the labels routing and lookups use.
//! Owns the platform-namespace rules and what it remembers of namespace
//! labels; it does not change the Observation's content.
//!
//! Platform: an event about a cluster-scoped object (a Node, a
//! PersistentVolume, ...) or with no namespace at all; or whose namespace
//! (the regarding object's, else the Event's) matches a
//! `platform_namespaces` glob; or whose namespace carries every one of
//! `platform_namespace_labels` (an empty map is no label rule, not "all
//! namespaces"). Everything else is customer.
//!
//! Namespace labels come from the caller (one call per namespace change).
//! Only the names of namespaces whose labels make them platform are kept, so
//! memory is bounded by the cluster's namespaces that match, and
//! [`Enricher::remove_namespace`] forgets a deleted one.

use crate::event::KubeEvent;
use crate::fingerprint::Fingerprint;
use crate::glob;
use std::collections::{BTreeMap, HashSet};

/// `platform` or `customer`.
pub const AUDIENCE_LABEL: &str = "vigil.kube-zen.io/audience";
/// The Observation's source, for label selectors.
pub const SOURCE_LABEL: &str = "zen.kube-zen.io/source";
/// The content fingerprint (16 hex), to find every window of one problem.
pub const FINGERPRINT_LABEL: &str = "vigil.kube-zen.io/fingerprint";

/// Namespaces of Kubernetes itself, of OpenShift, and the `*-system`
/// convention of add-ons (cert-manager, istio, gatekeeper, vigil, ...).
/// `default` is not among them: small clusters run customer workloads there.
pub const DEFAULT_PLATFORM_NAMESPACES: &[&str] =
    &["kube-*", "*-system", "openshift", "openshift-*"];

/// What makes a namespace a platform namespace.
#[derive(Debug, Clone)]
pub struct EnrichConfig {
    pub platform_namespaces: Vec<String>,
    pub platform_namespace_labels: std::collections::BTreeMap<String, String>,
}

impl Default for EnrichConfig {
    /// [`DEFAULT_PLATFORM_NAMESPACES`], no label rule.
    fn default() -> Self {
        Self {
            platform_namespaces: DEFAULT_PLATFORM_NAMESPACES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            platform_namespace_labels: BTreeMap::new(),
        }
    }
}

/// Who an Observation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    Platform,
    Customer,
}

impl Audience {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Platform => "platform",
            Audience::Customer => "customer",
        }
    }
}

/// The enrich stage with what it knows of namespaces.
#[derive(Debug, Clone)]
pub struct Enricher {
    config: EnrichConfig,
    /// Namespaces whose labels match `platform_namespace_labels`.
    labelled_platform: HashSet<String>,
}

impl Enricher {
    pub fn new(config: EnrichConfig) -> Self {
        Self {
            config,
            labelled_platform: HashSet::new(),
        }
    }

    /// Records a namespace's current labels (replacing what was known).
    pub fn set_namespace_labels(&mut self, namespace: &str, labels: &BTreeMap<String, String>) {
        let rule = &self.config.platform_namespace_labels;
        let matches = !rule.is_empty() && rule.iter().all(|(k, v)| labels.get(k) == Some(v));
        if matches {
            self.labelled_platform.insert(namespace.to_string());
        } else {
            self.labelled_platform.remove(namespace);
        }
    }

    /// Forgets a deleted namespace.
    pub fn remove_namespace(&mut self, namespace: &str) {
        self.labelled_platform.remove(namespace);
    }

    /// Namespaces remembered as platform by their labels (a gauge).
    pub fn labelled_platform_namespaces(&self) -> usize {
        self.labelled_platform.len()
    }

    pub fn audience(&self, event: &KubeEvent) -> Audience {
        let r = &event.regarding;
        let namespace = if r.kind == "Namespace" && r.namespace.is_empty() {
            r.name.as_str() // an event about a namespace is about that namespace
        } else if r.namespace.is_empty() && !r.kind.is_empty() {
            return Audience::Platform; // cluster-scoped object
        } else {
            event.effective_namespace()
        };
        self.audience_of_namespace(namespace)
    }

    /// The audience of a record about an object of `kind` named `name` in
    /// `namespace` (any may be empty): the same rules as for an event, with
    /// no Event namespace to fall back on.
    pub fn audience_of(&self, kind: &str, namespace: &str, name: &str) -> Audience {
        if kind == "Namespace" && namespace.is_empty() {
            self.audience_of_namespace(name)
        } else if namespace.is_empty() && !kind.is_empty() {
            Audience::Platform // cluster-scoped object
        } else {
            self.audience_of_namespace(namespace)
        }
    }

    fn audience_of_namespace(&self, namespace: &str) -> Audience {
        if namespace.is_empty()
            || glob::any_match(&self.config.platform_namespaces, namespace)
            || self.labelled_platform.contains(namespace)
        {
            Audience::Platform
        } else {
            Audience::Customer
        }
    }

    /// The labels of a new Observation: audience, source and fingerprint.
    pub fn labels(
        &self,
        event: &KubeEvent,
        source: &str,
        fingerprint: Fingerprint,
    ) -> BTreeMap<String, String> {
        labels_for(self.audience(event), source, fingerprint)
    }
}

/// The labels of a new Observation for `audience`.
pub fn labels_for(
    audience: Audience,
    source: &str,
    fingerprint: Fingerprint,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (AUDIENCE_LABEL.to_string(), audience.as_str().to_string()),
        (SOURCE_LABEL.to_string(), source.to_string()),
        (FINGERPRINT_LABEL.to_string(), fingerprint.to_hex()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ObjectRef;

    fn about(kind: &str, namespace: &str, name: &str) -> KubeEvent {
        KubeEvent {
            namespace: if namespace.is_empty() {
                "default".into()
            } else {
                namespace.into()
            },
            regarding: ObjectRef {
                kind: kind.into(),
                namespace: namespace.into(),
                name: name.into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn default_globs_make_system_namespaces_platform() {
        let e = Enricher::new(EnrichConfig::default());
        for ns in [
            "kube-system",
            "kube-public",
            "cert-manager-system",
            "vigil-system",
            "openshift",
            "openshift-dns",
        ] {
            assert_eq!(
                e.audience(&about("Pod", ns, "x")),
                Audience::Platform,
                "{ns}"
            );
        }
        for ns in ["default", "shop", "system", "openshiftish"] {
            assert_eq!(
                e.audience(&about("Pod", ns, "x")),
                Audience::Customer,
                "{ns}"
            );
        }
    }

    #[test]
    fn cluster_scoped_objects_are_platform_and_namespace_events_use_their_name() {
        let e = Enricher::new(EnrichConfig::default());
        assert_eq!(e.audience(&about("Node", "", "node-a")), Audience::Platform);
        assert_eq!(
            e.audience(&about("Namespace", "", "shop")),
            Audience::Customer
        );
        assert_eq!(
            e.audience(&about("Namespace", "", "kube-system")),
            Audience::Platform
        );
        assert_eq!(
            e.audience(&KubeEvent::default()),
            Audience::Platform,
            "no namespace at all"
        );
    }

    #[test]
    fn namespace_labels_mark_platform_only_when_all_match() {
        let config = EnrichConfig {
            platform_namespaces: vec![],
            platform_namespace_labels: labels(&[("team", "platform"), ("tier", "infra")]),
        };
        let mut e = Enricher::new(config);
        e.set_namespace_labels(
            "ingress",
            &labels(&[("team", "platform"), ("tier", "infra"), ("x", "y")]),
        );
        e.set_namespace_labels("shop", &labels(&[("team", "platform")]));
        assert_eq!(
            e.audience(&about("Pod", "ingress", "x")),
            Audience::Platform
        );
        assert_eq!(e.audience(&about("Pod", "shop", "x")), Audience::Customer);
        assert_eq!(e.labelled_platform_namespaces(), 1);
        e.set_namespace_labels("ingress", &labels(&[("team", "shop")]));
        assert_eq!(
            e.audience(&about("Pod", "ingress", "x")),
            Audience::Customer,
            "relabelled"
        );
        e.set_namespace_labels(
            "ingress",
            &labels(&[("team", "platform"), ("tier", "infra")]),
        );
        e.remove_namespace("ingress");
        assert_eq!(
            e.audience(&about("Pod", "ingress", "x")),
            Audience::Customer,
            "forgotten"
        );
        assert_eq!(e.labelled_platform_namespaces(), 0);
    }

    #[test]
    fn an_empty_label_rule_matches_no_namespace() {
        let mut e = Enricher::new(EnrichConfig {
            platform_namespaces: vec![],
            ..EnrichConfig::default()
        });
        e.set_namespace_labels("shop", &labels(&[("a", "b")]));
        assert_eq!(e.audience(&about("Pod", "shop", "x")), Audience::Customer);
        assert_eq!(e.labelled_platform_namespaces(), 0);
    }

    #[test]
    fn records_get_the_same_audience_rules_without_an_event_namespace() {
        let e = Enricher::new(EnrichConfig::default());
        assert_eq!(e.audience_of("Pod", "shop", "web-1"), Audience::Customer);
        assert_eq!(e.audience_of("Pod", "kube-system", "x"), Audience::Platform);
        assert_eq!(
            e.audience_of("", "shop", ""),
            Audience::Customer,
            "namespace only"
        );
        assert_eq!(
            e.audience_of("ClusterRole", "", "admin"),
            Audience::Platform
        );
        assert_eq!(e.audience_of("Namespace", "", "foo"), Audience::Customer);
        assert_eq!(
            e.audience_of("Namespace", "", "kube-public"),
            Audience::Platform
        );
        assert_eq!(
            e.audience_of("", "", ""),
            Audience::Platform,
            "a host alert"
        );
        for (kind, ns, name) in [
            ("Pod", "shop", "x"),
            ("Node", "", "n"),
            ("Namespace", "", "foo"),
        ] {
            assert_eq!(
                e.audience_of(kind, ns, name),
                e.audience(&about(kind, ns, name)),
                "{kind} {ns} {name}"
            );
        }
    }

    #[test]
    fn labels_carry_audience_source_and_fingerprint() {
        let e = Enricher::new(EnrichConfig::default());
        let got = e.labels(
            &about("Pod", "shop", "x"),
            "kubernetes-events",
            Fingerprint(0xabc),
        );
        assert_eq!(
            got,
            labels(&[
                (AUDIENCE_LABEL, "customer"),
                (SOURCE_LABEL, "kubernetes-events"),
                (FINGERPRINT_LABEL, "0000000000000abc"),
            ])
        );
    }
}
