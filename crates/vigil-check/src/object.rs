//! The objects checks look at: each parsed manifest as a typed Kubernetes
//! object with where it came from, and the workload view that finds the pod
//! template inside any workload kind. Parsing text into these lives in
//! `input`; judging them lives in `checks`.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Namespace, Pod, PodSpec, ReplicationController, ResourceQuota, Service,
    ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// Where a manifest came from, precise enough to point an editor at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Origin {
    /// The file as given on the command line (or `-` for standard input,
    /// `cluster` for objects read from a live cluster).
    pub file: String,
    /// 1-based index of the YAML document within the file; 0 for objects
    /// read from a cluster.
    pub document: usize,
    /// 1-based index within a `kind: List` document's `items`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// 1-based line where the document's content starts, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The chart template a Helm-rendered document came from (`# Source:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helm_source: Option<String>,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.document) {
            (Some(line), _) => write!(f, "{}:{line}", self.file)?,
            (None, 0) => write!(f, "{}", self.file)?,
            (None, doc) => write!(f, "{} document {doc}", self.file)?,
        }
        if let Some(item) = self.item {
            write!(f, " item {item}")?;
        }
        Ok(())
    }
}

/// A typed object; kinds no check reads beyond metadata stay as JSON.
#[derive(Debug, Clone)]
pub enum Object {
    Pod(Box<Pod>),
    Deployment(Box<Deployment>),
    StatefulSet(Box<StatefulSet>),
    DaemonSet(Box<DaemonSet>),
    ReplicaSet(Box<ReplicaSet>),
    ReplicationController(Box<ReplicationController>),
    Job(Box<Job>),
    CronJob(Box<CronJob>),
    Role(Role),
    ClusterRole(ClusterRole),
    RoleBinding(RoleBinding),
    ClusterRoleBinding(ClusterRoleBinding),
    PodDisruptionBudget(PodDisruptionBudget),
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    ResourceQuota(ResourceQuota),
    LimitRange(LimitRange),
    Namespace(Namespace),
    Service(Service),
    ServiceAccount(ServiceAccount),
    NetworkPolicy(NetworkPolicy),
    Ingress(Ingress),
    ConfigMap(ConfigMap),
    /// Any other kind (ServiceMonitor, PodMonitor, CRDs, ...).
    Other {
        metadata: ObjectMeta,
        value: serde_json::Value,
    },
}

/// One object from the input with its identity and origin.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `apiVersion` as written (before any upgrade to the current version).
    pub api_version: String,
    pub kind: String,
    pub object: Object,
    pub origin: Origin,
}

/// Kinds that live outside namespaces (the common ones; others without
/// `metadata.namespace` count as namespaced).
const CLUSTER_SCOPED: &[&str] = &[
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "Node",
    "IngressClass",
    "RuntimeClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "APIService",
    "CSIDriver",
];

/// The namespace an object without `metadata.namespace` lands in when applied
/// without `-n`; cross-object checks compare namespaces through this.
pub const DEFAULT_NAMESPACE: &str = "default";

impl Manifest {
    pub fn meta(&self) -> &ObjectMeta {
        match &self.object {
            Object::Pod(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::StatefulSet(o) => &o.metadata,
            Object::DaemonSet(o) => &o.metadata,
            Object::ReplicaSet(o) => &o.metadata,
            Object::ReplicationController(o) => &o.metadata,
            Object::Job(o) => &o.metadata,
            Object::CronJob(o) => &o.metadata,
            Object::Role(o) => &o.metadata,
            Object::ClusterRole(o) => &o.metadata,
            Object::RoleBinding(o) => &o.metadata,
            Object::ClusterRoleBinding(o) => &o.metadata,
            Object::PodDisruptionBudget(o) => &o.metadata,
            Object::HorizontalPodAutoscaler(o) => &o.metadata,
            Object::ResourceQuota(o) => &o.metadata,
            Object::LimitRange(o) => &o.metadata,
            Object::Namespace(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::ServiceAccount(o) => &o.metadata,
            Object::NetworkPolicy(o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::Other { metadata, .. } => metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or("")
    }

    /// `metadata.namespace` as written (None for cluster-scoped objects and
    /// for namespaced objects that leave it to `kubectl -n`).
    pub fn namespace(&self) -> Option<&str> {
        self.meta().namespace.as_deref()
    }

    /// The namespace for cross-object matching ([`DEFAULT_NAMESPACE`] when unset).
    pub fn effective_namespace(&self) -> &str {
        self.namespace().unwrap_or(DEFAULT_NAMESPACE)
    }

    /// `metadata.annotations`, empty when unset.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.meta().annotations.as_ref().unwrap_or(&EMPTY)
    }

    /// The namespace exemptions match against: the object's (default when
    /// unset), a Namespace's own name, None for cluster-scoped kinds.
    pub fn scope_namespace(&self) -> Option<&str> {
        match self.kind.as_str() {
            "Namespace" => Some(self.name()),
            k if CLUSTER_SCOPED.contains(&k) => None,
            _ => Some(self.effective_namespace()),
        }
    }

    /// The pod template inside this object, when it is a workload.
    pub fn workload(&self) -> Option<Workload<'_>> {
        Workload::of(self)
    }

    /// `namespace/Kind/name` (or `Kind/name` when cluster-scoped), as shown in reports.
    pub fn display_name(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{ns}/{}/{}", self.kind, self.name()),
            None => format!("{}/{}", self.kind, self.name()),
        }
    }
}

/// The workload kinds whose pod template checks read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Pod,
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    ReplicationController,
    Job,
    CronJob,
}

impl WorkloadKind {
    /// Runs to completion rather than serving (probes and HA do not apply).
    pub fn is_batch(self) -> bool {
        matches!(self, WorkloadKind::Job | WorkloadKind::CronJob)
    }

    /// Keeps a set number of replicas (PDB, anti-affinity and HPA apply).
    pub fn is_replicated(self) -> bool {
        matches!(
            self,
            WorkloadKind::Deployment
                | WorkloadKind::StatefulSet
                | WorkloadKind::ReplicaSet
                | WorkloadKind::ReplicationController
        )
    }
}

/// Any workload seen through its pod template.
#[derive(Debug, Clone, Copy)]
pub struct Workload<'a> {
    pub kind: WorkloadKind,
    /// The workload's own metadata.
    pub meta: &'a ObjectMeta,
    /// The pod template's metadata (the pod's own for a bare Pod).
    pub template_meta: Option<&'a ObjectMeta>,
    pub spec: &'a PodSpec,
    /// `spec.replicas` as written (None when unset or not applicable).
    pub replicas: Option<i32>,
}

impl<'a> Workload<'a> {
    fn of(m: &'a Manifest) -> Option<Workload<'a>> {
        use WorkloadKind as K;
        let (kind, template, replicas) = match &m.object {
            Object::Pod(p) => {
                return Some(Workload {
                    kind: K::Pod,
                    meta: &p.metadata,
                    template_meta: Some(&p.metadata),
                    spec: p.spec.as_ref()?,
                    replicas: None,
                })
            }
            Object::Deployment(d) => (K::Deployment, &d.spec.template, d.spec.replicas),
            Object::StatefulSet(d) => (K::StatefulSet, &d.spec.template, d.spec.replicas),
            Object::DaemonSet(d) => (K::DaemonSet, &d.spec.template, None),
            Object::ReplicaSet(d) => (K::ReplicaSet, d.spec.template.as_ref()?, d.spec.replicas),
            Object::ReplicationController(d) => {
                let s = d.spec.as_ref()?;
                (K::ReplicationController, s.template.as_ref()?, s.replicas)
            }
            Object::Job(j) => (K::Job, &j.spec.as_ref()?.template, None),
            Object::CronJob(c) => {
                let job = c.spec.job_template.spec.as_ref()?;
                (K::CronJob, &job.template, None)
            }
            _ => return None,
        };
        Some(Workload {
            kind,
            meta: m.meta(),
            template_meta: template.metadata.as_ref(),
            spec: template.spec.as_ref()?,
            replicas,
        })
    }

    /// The labels pods of this workload carry.
    pub fn pod_labels(&self) -> &'a BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.template_meta
            .and_then(|m| m.labels.as_ref())
            .unwrap_or(&EMPTY)
    }

    /// The pod template's annotations.
    pub fn pod_annotations(&self) -> &'a BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.template_meta
            .and_then(|m| m.annotations.as_ref())
            .unwrap_or(&EMPTY)
    }

    /// Containers and init containers with how to name them in a message.
    pub fn containers(
        &self,
    ) -> impl Iterator<Item = (&'static str, &'a k8s_openapi::api::core::v1::Container)> {
        let init = self.spec.init_containers.iter().flatten();
        init.map(|c| ("init container", c))
            .chain(self.spec.containers.iter().map(|c| ("container", c)))
    }

    /// Only the main containers (probes do not apply to init containers).
    pub fn main_containers(
        &self,
    ) -> impl Iterator<Item = &'a k8s_openapi::api::core::v1::Container> {
        self.spec.containers.iter()
    }
}
