//! The whole input seen at once, for checks that look across objects: which
//! PodDisruptionBudgets, HPAs, NetworkPolicies, Services and monitors exist
//! per namespace, which roles a binding names, which workload an HPA
//! targets. Built once per run; read-only afterwards.

use crate::object::{Manifest, Object, Workload};
use crate::util::selector;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
use std::collections::{BTreeMap, HashMap};

/// Cross-object look-ups over one input.
#[derive(Default)]
pub struct Index<'a> {
    pdbs: HashMap<&'a str, Vec<&'a PodDisruptionBudget>>,
    hpas: HashMap<&'a str, Vec<&'a HorizontalPodAutoscaler>>,
    network_policies: HashMap<&'a str, Vec<&'a NetworkPolicy>>,
    services: HashMap<&'a str, Vec<&'a Service>>,
    limit_ranges: HashMap<&'a str, Vec<&'a LimitRange>>,
    quotas: HashMap<&'a str, Vec<&'a ResourceQuota>>,
    monitors: Vec<&'a Manifest>,
    workloads: BTreeMap<(&'a str, &'a str, &'a str), &'a Manifest>,
    roles: HashMap<(&'a str, &'a str), &'a Role>,
    cluster_roles: HashMap<&'a str, &'a ClusterRole>,
    service_accounts: HashMap<(&'a str, &'a str), &'a ServiceAccount>,
}

impl<'a> Index<'a> {
    pub fn new(manifests: &'a [Manifest]) -> Index<'a> {
        let mut ix = Index::default();
        for m in manifests {
            let ns = m.effective_namespace();
            let name = m.name();
            match &m.object {
                Object::PodDisruptionBudget(o) => ix.pdbs.entry(ns).or_default().push(o),
                Object::HorizontalPodAutoscaler(o) => ix.hpas.entry(ns).or_default().push(o),
                Object::NetworkPolicy(o) => ix.network_policies.entry(ns).or_default().push(o),
                Object::Service(o) => ix.services.entry(ns).or_default().push(o),
                Object::LimitRange(o) => ix.limit_ranges.entry(ns).or_default().push(o),
                Object::ResourceQuota(o) => ix.quotas.entry(ns).or_default().push(o),
                Object::Role(o) => {
                    ix.roles.insert((ns, name), o);
                }
                Object::ClusterRole(o) => {
                    ix.cluster_roles.insert(name, o);
                }
                Object::ServiceAccount(o) => {
                    ix.service_accounts.insert((ns, name), o);
                }
                Object::Other { .. } if is_monitor(m) => ix.monitors.push(m),
                _ => {}
            }
            if m.workload().is_some() {
                ix.workloads.insert((ns, m.kind.as_str(), name), m);
            }
        }
        ix
    }

    /// PodDisruptionBudgets in `ns` that select pods labelled `labels`.
    pub fn pdbs_for<'s>(
        &'s self,
        ns: &str,
        labels: &'s BTreeMap<String, String>,
    ) -> impl Iterator<Item = &'a PodDisruptionBudget> + 's {
        self.pdbs
            .get(ns)
            .into_iter()
            .flatten()
            .copied()
            .filter(move |p| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .is_some_and(|sel| !selector::is_empty(sel) && selector::matches(sel, labels))
            })
    }

    /// The HPA in `ns` scaling `kind/name`.
    pub fn hpa_for(&self, ns: &str, kind: &str, name: &str) -> Option<&'a HorizontalPodAutoscaler> {
        self.hpas
            .get(ns)
            .into_iter()
            .flatten()
            .copied()
            .find(|h| h.spec.scale_target_ref.kind == kind && h.spec.scale_target_ref.name == name)
    }

    /// The workload `kind/name` in `ns`, when it is part of the input.
    pub fn workload(&self, ns: &str, kind: &str, name: &str) -> Option<&'a Manifest> {
        self.workloads.get(&(ns, kind, name)).copied()
    }

    /// Workloads in `ns` whose pods carry labels `selector` selects.
    pub fn workloads_selected_by<'s>(
        &'s self,
        ns: &'s str,
        sel: &'s k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    ) -> impl Iterator<Item = (&'a Manifest, Workload<'a>)> + 's {
        self.workloads
            .range((ns, "", "")..)
            .take_while(move |((wns, _, _), _)| *wns == ns)
            .filter_map(|(_, m)| Some((*m, m.workload()?)))
            .filter(move |(_, w)| selector::matches(sel, w.pod_labels()))
    }

    /// NetworkPolicies in `ns` whose pod selector selects `labels`.
    pub fn network_policies_for<'s>(
        &'s self,
        ns: &str,
        labels: &'s BTreeMap<String, String>,
    ) -> impl Iterator<Item = &'a NetworkPolicy> + 's {
        self.network_policies
            .get(ns)
            .into_iter()
            .flatten()
            .copied()
            .filter(move |p| {
                p.spec.as_ref().is_some_and(|s| {
                    s.pod_selector
                        .as_ref()
                        .is_none_or(|sel| selector::matches(sel, labels))
                })
            })
    }

    /// Services in `ns` that send traffic to pods labelled `labels`.
    pub fn services_for<'s>(
        &'s self,
        ns: &str,
        labels: &'s BTreeMap<String, String>,
    ) -> impl Iterator<Item = &'a Service> + 's {
        self.services
            .get(ns)
            .into_iter()
            .flatten()
            .copied()
            .filter(move |s| {
                s.spec
                    .as_ref()
                    .and_then(|spec| spec.selector.as_ref())
                    .is_some_and(|sel| selector::map_matches(sel, labels))
            })
    }

    pub fn has_limit_range(&self, ns: &str) -> bool {
        self.limit_ranges.get(ns).is_some_and(|v| !v.is_empty())
    }

    pub fn has_quota(&self, ns: &str) -> bool {
        self.quotas.get(ns).is_some_and(|v| !v.is_empty())
    }

    /// ServiceMonitors and PodMonitors (prometheus-operator) in the input.
    pub fn monitors(&self) -> &[&'a Manifest] {
        &self.monitors
    }

    pub fn service_account(&self, ns: &str, name: &str) -> Option<&'a ServiceAccount> {
        self.service_accounts.get(&(ns, name)).copied()
    }

    /// The rules of the role a binding refers to, when that role is in the
    /// input (`Role` is looked up in the binding's namespace).
    pub fn role_rules(&self, ns: &str, kind: &str, name: &str) -> Option<&'a [PolicyRule]> {
        let rules = match kind {
            "ClusterRole" => self.cluster_roles.get(name)?.rules.as_ref(),
            "Role" => self.roles.get(&(ns, name))?.rules.as_ref(),
            _ => None,
        };
        Some(rules.map_or(&[][..], Vec::as_slice))
    }
}

fn is_monitor(m: &Manifest) -> bool {
    (m.kind == "ServiceMonitor" || m.kind == "PodMonitor")
        && m.api_version.starts_with("monitoring.coreos.com/")
}
