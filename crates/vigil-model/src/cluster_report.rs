//! The `ClusterReport` kind (`zen.kube-zen.io/v1alpha1`, cluster-scoped): the
//! result of the agent's periodic compliance run (docs/AGENT.md, "Compliance"),
//! one object per report name (default `cluster`): per-pillar scores, totals,
//! and what the collectors found about the cluster (version, nodes,
//! provider, inventory). The failing checks themselves are Observations
//! (`category: compliance`); this object is the summary.
//!
//! **Plain `spec`, no status subresource.** The report is a record written
//! whole, by one writer (the agent's leader, server-side apply), at the end
//! of each run, exactly like an Observation's spec is the finding: there is
//! no desired state for anyone to declare and no controller reconciling it.
//! A status subresource would leave `spec` empty and cost a second request per
//! run, with nothing gained: who may write it is decided by RBAC on
//! `clusterreports` (only the agent has `patch`; the viewer role reads).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The agent's last compliance run over the cluster.
// kube's `printcolumn(...)` repeats `type_ = "string"`, which clippy reads as
// duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "zen.kube-zen.io",
    version = "v1alpha1",
    kind = "ClusterReport",
    shortname = "creport",
    category = "vigil",
    doc = "The cluster's well-architected report: per-pillar scores, totals, cluster metadata and inventory, from the vigil agent's last compliance run.",
    printcolumn(name = "Score", type_ = "integer", json_path = ".spec.score"),
    printcolumn(
        name = "Security",
        type_ = "integer",
        json_path = ".spec.pillars.security.score"
    ),
    printcolumn(
        name = "Reliability",
        type_ = "integer",
        json_path = ".spec.pillars.reliability.score"
    ),
    printcolumn(name = "Failed", type_ = "integer", json_path = ".spec.totals.failed"),
    printcolumn(name = "Generated", type_ = "date", json_path = ".spec.generatedAt")
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReportSpec {
    /// When the run that produced this report finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<Time>,
    /// How long the run took (reading the cluster, checking, writing), in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// The namespaces graded; empty: every namespace (cluster-scoped objects are always graded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// 0-100 over every pillar (severity-weighted share of passing results, as `vigil check`); absent when no check applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub score: Option<u8>,
    /// One score per pillar of the well-architected framework.
    #[serde(default)]
    pub pillars: Pillars,
    #[serde(default)]
    pub totals: ReportTotals,
    /// The failing results written as Observations, and those left out by the per-run cap.
    #[serde(default)]
    pub findings: FindingCounts,
    /// What the cluster-metadata collector found.
    #[serde(default)]
    pub cluster: ClusterInfo,
    /// Object counts in the graded scope.
    #[serde(default)]
    pub inventory: Inventory,
    /// Lists that failed (forbidden, ...), at most 20; what could be read was still graded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// The six pillars, by name, so each score has a stable JSON path
/// (`.spec.pillars.security.score`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pillars {
    pub security: PillarResult,
    pub reliability: PillarResult,
    pub performance_efficiency: PillarResult,
    pub cost_optimization: PillarResult,
    pub operational_excellence: PillarResult,
    pub sustainability: PillarResult,
}

/// One pillar's score and result counts.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PillarResult {
    /// 0-100; absent when no check of the pillar applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub score: Option<u8>,
    pub passed: u64,
    pub failed: u64,
    pub exempt: u64,
}

/// Totals of the run.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportTotals {
    /// Objects graded.
    pub objects: u64,
    /// Check results (object × applicable, enabled check).
    pub checks: u64,
    pub passed: u64,
    pub failed: u64,
    pub exempt: u64,
    /// Failed results by effective severity.
    pub failed_by_severity: SeverityCounts,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SeverityCounts {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub info: u64,
}

/// What became of the failing results.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingCounts {
    /// Failing results that have an Observation after this run.
    pub observed: u64,
    /// Failing results not written by this run because of the per-run cap (the most severe are written first).
    pub capped: u64,
    /// Observations of findings that no longer fail, deleted by this run.
    pub resolved: u64,
}

/// The cluster, as the metadata collector sees it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    /// `gitVersion` from the API server's `/version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// Nodes (absent when they could not be listed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_count: Option<u64>,
    /// Guessed from the nodes' `spec.providerID` prefix and well-known labels:
    /// aws, gce, azure, kind, k3s, digitalocean, openstack, vsphere, ..., else unknown.
    pub provider: String,
}

/// Object counts in the graded scope.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    pub namespaces: u64,
    /// Workloads by kind (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod, ReplicationController).
    #[serde(default)]
    pub workloads: BTreeMap<String, u64>,
    pub services: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn cluster_scoped_v1alpha1_in_the_vigil_group() {
        let crd = ClusterReport::crd();
        assert_eq!(crd.spec.scope, "Cluster");
        assert_eq!(crd.spec.group, crate::GROUP);
        assert_eq!(crd.spec.names.plural, "clusterreports");
        assert_eq!(crd.spec.versions.len(), 1);
        assert_eq!(crd.spec.versions[0].name, "v1alpha1");
        assert!(crd.spec.versions[0].subresources.is_none());
    }

    #[test]
    fn round_trips_through_json() {
        let mut spec = ClusterReportSpec {
            score: Some(71),
            ..Default::default()
        };
        spec.pillars.security.score = Some(40);
        spec.inventory.workloads.insert("Deployment".into(), 3);
        let report = ClusterReport::new("cluster", spec);
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["spec"]["pillars"]["security"]["score"], 40);
        assert_eq!(json["spec"]["inventory"]["workloads"]["Deployment"], 3);
        assert_eq!(
            json["spec"]["pillars"]["performanceEfficiency"]["failed"],
            0
        );
        let back: ClusterReport = serde_json::from_value(json).expect("back");
        assert_eq!(back.spec, report.spec);
    }
}
