//! In-agent compliance: on the leader, every `compliance.interval`, grade the
//! live cluster with vigil-check (the same read-only lists as `vigil check`),
//! write each failing result as an Observation (`category: compliance`,
//! `source: vigil-check`), delete the Observations of findings that no longer
//! fail, and server-side-apply the `ClusterReport` summary.
//!
//! Idempotent by construction: a finding's Observation name is derived from
//! the report name, check, kind, namespace and name, so a re-run, a restart
//! or a new leader updates the same object instead of adding one. Only
//! Observations carrying this report's label are ever deleted, and none when
//! the cluster could not be read completely (a refused list must not look
//! like every finding of that kind was fixed). Bounded: at most
//! `maxObservations` findings are written per run, the most severe first;
//! the rest are counted (`vigil_compliance_findings_capped_total`).
//!
//! [`plan`] and [`cluster_provider`] decide (pure); [`run_once`] does the I/O.

use crate::config::{invalid, ConfigError};
use crate::metrics::Metrics;
use crate::sinks::rate_limiter::RateLimiter;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, Preconditions};
use kube::Client;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use vigil_check::report::Report;
use vigil_check::{Parsed, Pillar};
use vigil_model::cluster_report::{
    ClusterInfo, FindingCounts, Inventory, PillarResult, Pillars, ReportTotals, SeverityCounts,
};
use vigil_model::{
    Category, ClusterReport, ClusterReportSpec, Observation, ObservationSpec, ResourceRef, Severity,
};
use vigil_pipeline::enrich::{EnrichConfig, Enricher, AUDIENCE_LABEL, SOURCE_LABEL};

/// The `source` of compliance Observations.
pub const SOURCE: &str = "vigil-check";
/// Set on every compliance Observation: the report it belongs to. Stale
/// findings are found (and only ever deleted) by this label.
pub const REPORT_LABEL: &str = "vigil.kube-zen.io/compliance-report";
/// The failing check's id.
pub const CHECK_LABEL: &str = "vigil.kube-zen.io/check";
/// Server-side-apply field manager of everything this module writes.
pub const FIELD_MANAGER: &str = "vigil-compliance";
/// Shortest interval accepted: each run lists every checked kind.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
/// Read errors kept on the report.
const MAX_REPORT_ERRORS: usize = 20;
/// Observations per list page, nodes per list page.
const PAGE: u32 = 500;
/// Writes and deletes in flight at once (behind the writer's rate limiter).
const CONCURRENCY: usize = 8;

/// The `compliance:` section of the agent config.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ComplianceSection {
    /// Off by default: it lists every workload, RBAC object and ConfigMap in
    /// scope once per interval, and needs the `vigil-agent-compliance` role.
    pub enabled: bool,
    /// Time between runs (the first runs when leadership is gained); at least 10s.
    pub interval: String,
    /// The ClusterReport's name; also the label value on its Observations.
    pub report_name: String,
    /// Failing results written as Observations per run at most, the most
    /// severe first; 0 = none (report only).
    pub max_observations: usize,
    /// The check config `vigil check --config` takes (checks, exemptions,
    /// annotationExemptions), inline.
    pub config: Option<serde_json::Value>,
    /// The same, from a file (YAML or JSON); not together with `config`.
    pub config_file: Option<String>,
}

impl Default for ComplianceSection {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: "1h".into(),
            report_name: "cluster".into(),
            max_observations: 1000,
            config: None,
            config_file: None,
        }
    }
}

/// How the compliance task runs (validated).
#[derive(Debug, Clone)]
pub struct ComplianceSettings {
    pub interval: Duration,
    pub report_name: String,
    pub max_observations: usize,
    pub checks: vigil_check::Config,
    /// The agent's `namespaces`: grade only these (empty = all); cluster-scoped
    /// objects are always graded.
    pub namespaces: Vec<String>,
    /// Where findings about cluster-scoped objects go.
    pub agent_namespace: String,
    /// `ttlSecondsAfterCreation` of the Observations (the agent's `ttl`).
    pub ttl_seconds: i64,
    /// Platform namespace globs, for the audience label.
    pub enrich: EnrichConfig,
}

impl ComplianceSection {
    /// Validates the section; `None` when compliance is off.
    pub fn validate(
        &self,
        namespaces: &[String],
        agent_namespace: &str,
        ttl_seconds: i64,
        enrich: &EnrichConfig,
    ) -> Result<Option<ComplianceSettings>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        let interval = vigil_model::duration::parse(&self.interval)
            .map_err(|e| invalid("compliance.interval", format!("{:?}: {e}", self.interval)))?;
        if interval < MIN_INTERVAL {
            return Err(invalid("compliance.interval", "must be at least 10s"));
        }
        if !is_dns_subdomain(&self.report_name) || self.report_name.len() > 63 {
            return Err(invalid(
                "compliance.reportName",
                format!(
                    "{:?} is not a valid name (a DNS label of at most 63 characters, also used as a label value)",
                    self.report_name
                ),
            ));
        }
        let text = match (&self.config, &self.config_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "compliance.configFile",
                    "set either compliance.config or compliance.configFile, not both",
                ))
            }
            (Some(value), None) => Some((
                "compliance.config",
                serde_json::to_string(value).unwrap_or_default(),
            )),
            (None, Some(path)) => Some((
                "compliance.configFile",
                std::fs::read_to_string(path).map_err(|e| {
                    invalid("compliance.configFile", format!("reading {path}: {e}"))
                })?,
            )),
            (None, None) => None,
        };
        let checks = match text {
            None => vigil_check::Config::default(),
            Some((key, text)) => vigil_check::Config::from_yaml(&text).map_err(|e| {
                let detail: Vec<String> = e
                    .field_errors()
                    .iter()
                    .map(|f| {
                        if f.path.is_empty() {
                            f.message.clone()
                        } else {
                            format!("{}: {}", f.path, f.message)
                        }
                    })
                    .collect();
                invalid(key, detail.join("; "))
            })?,
        };
        Ok(Some(ComplianceSettings {
            interval,
            report_name: self.report_name.clone(),
            max_observations: self.max_observations,
            checks,
            namespaces: namespaces.to_vec(),
            agent_namespace: agent_namespace.to_string(),
            ttl_seconds,
            enrich: enrich.clone(),
        }))
    }
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(crate::config::is_dns_label)
}

/// One failing result, as the Observation it becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub namespace: String,
    pub name: String,
    pub severity: Severity,
    pub check: String,
    pub spec: ObservationSpec,
    pub labels: BTreeMap<String, String>,
}

/// What a run does with the findings.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Every failing result, the most severe first (then by namespace, name, check).
    pub findings: Vec<Finding>,
    /// How many of them (from the front) are written.
    pub write: usize,
}

impl Plan {
    /// The (namespace, name) of every current finding, written or not: an
    /// existing Observation of one of them is kept.
    pub fn keys(&self) -> BTreeSet<(String, String)> {
        self.findings
            .iter()
            .map(|f| (f.namespace.clone(), f.name.clone()))
            .collect()
    }

    pub fn capped(&self) -> usize {
        self.findings.len() - self.write
    }
}

/// The deterministic name of a finding's Observation:
/// `check-<check id, dots as dashes>-<16 hex>`, at most 63 characters.
pub fn observation_name(
    report: &str,
    check: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [report, check, kind, namespace, name] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let slug: String = check
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63 - "check-".len() - 17)
        .collect();
    format!("check-{}-{hex}", slug.trim_end_matches('-'))
}

/// The Observation `eventType` of a check (`security.privileged` → `security_privileged`).
pub fn event_type(check: &str) -> String {
    check
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(63)
        .collect()
}

/// Turns a report's failures into Observations and decides which are written.
pub fn plan(report: &Report, settings: &ComplianceSettings) -> Plan {
    let enricher = Enricher::new(settings.enrich.clone());
    let remediation: BTreeMap<&str, &str> = vigil_check::catalogue::checks()
        .map(|c| (c.id, c.remediation))
        .collect();
    let mut findings: Vec<Finding> = report
        .failures()
        .map(|(object, result)| {
            let object_ns = object.namespace.clone().unwrap_or_default();
            let namespace = if !object_ns.is_empty() {
                object_ns.clone()
            } else if object.kind == "Namespace" {
                object.name.clone()
            } else {
                settings.agent_namespace.clone()
            };
            let name = observation_name(
                &settings.report_name,
                &result.check,
                &object.kind,
                &object_ns,
                &object.name,
            );
            let details = serde_json::json!({
                "check": result.check,
                "pillar": result.pillar.as_str(),
                "message": result.messages.join("; "),
                "messages": result.messages,
                "remediation": remediation.get(result.check.as_str()).copied().unwrap_or_default(),
                "report": settings.report_name,
            });
            let spec = ObservationSpec {
                source: SOURCE.into(),
                category: Category::Compliance,
                severity: result.severity,
                event_type: event_type(&result.check),
                resource: Some(ResourceRef {
                    api_version: Some(object.api_version.clone()),
                    kind: Some(object.kind.clone()),
                    name: Some(object.name.clone()),
                    namespace: object.namespace.clone().filter(|n| !n.is_empty()),
                }),
                details: Some(details),
                detected_at: None,
                ttl_seconds_after_creation: Some(settings.ttl_seconds),
            };
            let audience = enricher.audience_of(&object.kind, &object_ns, &object.name);
            let labels = BTreeMap::from([
                (REPORT_LABEL.to_string(), settings.report_name.clone()),
                (CHECK_LABEL.to_string(), result.check.clone()),
                (SOURCE_LABEL.to_string(), SOURCE.to_string()),
                (AUDIENCE_LABEL.to_string(), audience.as_str().to_string()),
            ]);
            Finding {
                namespace,
                name,
                severity: result.severity,
                check: result.check.clone(),
                spec,
                labels,
            }
        })
        .collect();
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)))
    });
    findings.dedup_by(|a, b| a.namespace == b.namespace && a.name == b.name);
    let write = findings.len().min(settings.max_observations);
    Plan { findings, write }
}

/// The provider a node's `spec.providerID` and labels point to.
pub fn node_provider(provider_id: &str, labels: &BTreeMap<String, String>) -> &'static str {
    let scheme = provider_id.split("://").next().unwrap_or_default();
    let by_scheme = match scheme {
        "aws" => Some("aws"),
        "gce" => Some("gce"),
        "azure" => Some("azure"),
        "kind" => Some("kind"),
        "k3s" => Some("k3s"),
        "digitalocean" => Some("digitalocean"),
        "openstack" => Some("openstack"),
        "vsphere" => Some("vsphere"),
        "ibm" => Some("ibm"),
        "alicloud" => Some("alicloud"),
        "hcloud" => Some("hetzner"),
        "linode" => Some("linode"),
        "oci" => Some("oci"),
        "equinixmetal" | "packet" => Some("equinixmetal"),
        _ => None,
    };
    if let Some(p) = by_scheme.filter(|_| !provider_id.is_empty()) {
        return p;
    }
    let has = |prefix: &str| labels.keys().any(|k| k.starts_with(prefix));
    if has("eks.amazonaws.com/") || has("alpha.eksctl.io/") {
        "aws"
    } else if has("cloud.google.com/gke-") {
        "gce"
    } else if has("kubernetes.azure.com/") {
        "azure"
    } else if labels
        .get("node.kubernetes.io/instance-type")
        .map(String::as_str)
        == Some("k3s")
    {
        "k3s"
    } else if labels
        .get("kubernetes.io/hostname")
        .is_some_and(|h| h.starts_with("kind-"))
    {
        "kind"
    } else {
        "unknown"
    }
}

/// The cluster's provider: the one most nodes point to; `unknown` without nodes.
pub fn cluster_provider<'a>(nodes: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in nodes {
        *counts.entry(p).or_default() += 1;
    }
    counts.remove("unknown");
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(p, _)| p.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Object counts of what was read.
pub fn inventory(parsed: &Parsed) -> Inventory {
    const WORKLOADS: &[&str] = &[
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "CronJob",
        "Pod",
        "ReplicationController",
    ];
    let mut inv = Inventory::default();
    for m in &parsed.manifests {
        match m.kind.as_str() {
            "Namespace" => inv.namespaces += 1,
            "Service" => inv.services += 1,
            kind if WORKLOADS.contains(&kind) => {
                *inv.workloads.entry(kind.to_string()).or_default() += 1
            }
            _ => {}
        }
    }
    inv
}

fn pillar_result(report: &Report, pillar: Pillar) -> PillarResult {
    report
        .summary
        .pillars
        .iter()
        .find(|p| p.pillar == pillar)
        .map(|p| PillarResult {
            score: p.score,
            passed: p.passed as u64,
            failed: p.failed as u64,
            exempt: p.exempt as u64,
        })
        .unwrap_or_default()
}

/// The report object's spec (without timing and cluster metadata).
pub fn report_spec(
    report: &Report,
    parsed: &Parsed,
    settings: &ComplianceSettings,
) -> ClusterReportSpec {
    let t = &report.summary.totals;
    let f = &t.failed_by_severity;
    ClusterReportSpec {
        namespaces: settings.namespaces.clone(),
        score: report.summary.score,
        pillars: Pillars {
            security: pillar_result(report, Pillar::Security),
            reliability: pillar_result(report, Pillar::Reliability),
            performance_efficiency: pillar_result(report, Pillar::PerformanceEfficiency),
            cost_optimization: pillar_result(report, Pillar::CostOptimization),
            operational_excellence: pillar_result(report, Pillar::OperationalExcellence),
            sustainability: pillar_result(report, Pillar::Sustainability),
        },
        totals: ReportTotals {
            objects: t.objects as u64,
            checks: t.results as u64,
            passed: t.passed as u64,
            failed: t.failed as u64,
            exempt: t.exempt as u64,
            failed_by_severity: SeverityCounts {
                critical: f.critical as u64,
                high: f.high as u64,
                medium: f.medium as u64,
                low: f.low as u64,
                info: f.info as u64,
            },
        },
        inventory: inventory(parsed),
        errors: report
            .errors
            .iter()
            .take(MAX_REPORT_ERRORS)
            .map(|e| e.message.clone())
            .collect(),
        ..Default::default()
    }
}

/// An existing compliance Observation.
struct Existing {
    uid: String,
    spec: ObservationSpec,
    labels: BTreeMap<String, String>,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub findings: usize,
    pub applied: usize,
    pub unchanged: usize,
    pub resolved: usize,
    pub capped: usize,
    pub errors: usize,
}

/// One run: read, grade, write findings, delete resolved ones, apply the report.
pub async fn run_once(
    client: &Client,
    settings: &ComplianceSettings,
    limiter: &RateLimiter,
    metrics: &Metrics,
) -> RunSummary {
    let started = Instant::now();
    let parsed = vigil_check::live::read_cluster(client, &settings.namespaces).await;
    let report = vigil_check::run(&parsed, &settings.checks);
    let plan = plan(&report, settings);
    let mut summary = RunSummary {
        findings: plan.findings.len(),
        capped: plan.capped(),
        ..Default::default()
    };
    metrics.compliance_findings.set(plan.findings.len() as i64);
    if summary.capped > 0 {
        metrics
            .compliance_findings_capped
            .inc_by(summary.capped as u64);
        tracing::warn!(
            findings = plan.findings.len(),
            written = plan.write,
            "compliance: more findings than compliance.maxObservations; the least severe are not written"
        );
    }
    let error = |what: &str| {
        metrics
            .compliance_errors
            .get_or_create(&Metrics::result(what))
            .inc();
    };

    let existing = match list_existing(client, settings).await {
        Ok(existing) => Some(existing),
        Err(err) => {
            tracing::warn!(error = %err, "compliance: listing its Observations failed; findings are applied, nothing is deleted");
            error("list");
            summary.errors += 1;
            None
        }
    };

    // Write what is new or changed.
    let now = Time(Timestamp::now());
    let key = |f: &Finding| (f.namespace.clone(), f.name.clone());
    let old_of = |f: &Finding| existing.as_ref().and_then(|e| e.get(&key(f)));
    // Owned, so the spawned task's future is `Send` for every lifetime.
    let writes: Vec<(Finding, Time)> = plan.findings[..plan.write]
        .iter()
        .filter(|f| {
            !old_of(f).is_some_and(|old| {
                old.labels == f.labels
                    && ObservationSpec {
                        detected_at: None,
                        ..old.spec.clone()
                    } == f.spec
            })
        })
        .map(|f| {
            let detected = old_of(f)
                .and_then(|old| old.spec.detected_at.clone())
                .unwrap_or_else(|| now.clone());
            (f.clone(), detected)
        })
        .collect();
    summary.unchanged = plan.write - writes.len();
    let applied = futures::stream::iter(writes)
        .map(|(f, detected)| async move {
            limiter.acquire().await;
            let api: Api<Observation> = Api::namespaced(client.clone(), &f.namespace);
            let mut obs = Observation::new(
                &f.name,
                ObservationSpec {
                    detected_at: Some(detected),
                    ..f.spec.clone()
                },
            );
            obs.metadata.labels = Some(f.labels.clone());
            let params = PatchParams::apply(FIELD_MANAGER).force();
            match api.patch(&f.name, &params, &Patch::Apply(&obs)).await {
                Ok(_) => true,
                Err(err) => {
                    tracing::warn!(name = %f.name, namespace = %f.namespace, error = %err, "compliance: writing a finding failed; the next run retries");
                    false
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<bool>>()
        .await;
    for ok in applied {
        if ok {
            summary.applied += 1;
        } else {
            summary.errors += 1;
            error("apply");
        }
    }
    metrics
        .compliance_observations
        .get_or_create(&Metrics::result("applied"))
        .inc_by(summary.applied as u64);
    metrics
        .compliance_observations
        .get_or_create(&Metrics::result("unchanged"))
        .inc_by(summary.unchanged as u64);

    // Delete what no longer fails, only when the whole cluster was read.
    if let Some(existing) = &existing {
        if parsed.errors.is_empty() {
            let keep = plan.keys();
            let doomed: Vec<(String, String, String)> = existing
                .iter()
                .filter(|(k, _)| !keep.contains(*k))
                .map(|((ns, name), old)| (ns.clone(), name.clone(), old.uid.clone()))
                .collect();
            let results = futures::stream::iter(doomed)
                .map(|(ns, name, uid)| async move {
                    limiter.acquire().await;
                    let api: Api<Observation> = Api::namespaced(client.clone(), &ns);
                    let params = DeleteParams {
                        preconditions: Some(Preconditions {
                            uid: Some(uid),
                            resource_version: None,
                        }),
                        ..Default::default()
                    };
                    match api.delete(&name, &params).await {
                        Ok(_) => Some(true),
                        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Some(false),
                        Err(err) => {
                            tracing::warn!(name = %name, namespace = %ns, error = %err, "compliance: deleting a resolved finding failed");
                            None
                        }
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect::<Vec<Option<bool>>>()
                .await;
            for r in results {
                match r {
                    Some(true) => summary.resolved += 1,
                    Some(false) => {}
                    None => {
                        summary.errors += 1;
                        error("delete");
                    }
                }
            }
            metrics
                .compliance_observations
                .get_or_create(&Metrics::result("resolved"))
                .inc_by(summary.resolved as u64);
        } else {
            tracing::warn!(
                errors = parsed.errors.len(),
                "compliance: the cluster was not read completely; no finding is taken as resolved"
            );
        }
    }

    // The report.
    let mut spec = report_spec(&report, &parsed, settings);
    spec.cluster = cluster_info(client, &mut spec.errors).await;
    // Findings with an Observation after this run: those written now or
    // unchanged, and capped ones written by an earlier run.
    let capped_existing = existing.as_ref().map_or(0, |e| {
        plan.findings[plan.write..]
            .iter()
            .filter(|f| e.contains_key(&(f.namespace.clone(), f.name.clone())))
            .count()
    });
    spec.findings = FindingCounts {
        observed: (summary.applied + summary.unchanged + capped_existing) as u64,
        capped: summary.capped as u64,
        resolved: summary.resolved as u64,
    };
    spec.generated_at = Some(Time(Timestamp::now()));
    spec.duration_seconds = Some((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
    let object = ClusterReport {
        metadata: ObjectMeta {
            name: Some(settings.report_name.clone()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "vigil".to_string(),
            )])),
            ..Default::default()
        },
        spec,
    };
    limiter.acquire().await;
    let reports: Api<ClusterReport> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    if let Err(err) = reports
        .patch(&settings.report_name, &params, &Patch::Apply(&object))
        .await
    {
        tracing::warn!(error = %err, "compliance: applying the ClusterReport failed");
        summary.errors += 1;
        error("report");
    }
    let result = if summary.errors == 0 && parsed.errors.is_empty() {
        "ok"
    } else {
        "error"
    };
    metrics
        .compliance_runs
        .get_or_create(&Metrics::result(result))
        .inc();
    metrics
        .compliance_duration
        .observe(started.elapsed().as_secs_f64());
    summary
}

/// Every Observation of this report in scope, by (namespace, name).
async fn list_existing(
    client: &Client,
    settings: &ComplianceSettings,
) -> Result<BTreeMap<(String, String), Existing>, kube::Error> {
    let apis: Vec<Api<Observation>> = if settings.namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        let mut scope: BTreeSet<&str> = settings.namespaces.iter().map(String::as_str).collect();
        scope.insert(&settings.agent_namespace);
        scope
            .into_iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    };
    let selector = format!("{REPORT_LABEL}={}", settings.report_name);
    let mut out = BTreeMap::new();
    for api in apis {
        let mut params = ListParams::default().labels(&selector).limit(PAGE);
        loop {
            let page = api.list(&params).await?;
            for o in page.items {
                let (Some(ns), Some(name)) =
                    (o.metadata.namespace.clone(), o.metadata.name.clone())
                else {
                    continue;
                };
                out.insert(
                    (ns, name),
                    Existing {
                        uid: o.metadata.uid.clone().unwrap_or_default(),
                        labels: o.metadata.labels.clone().unwrap_or_default(),
                        spec: o.spec,
                    },
                );
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
    }
    Ok(out)
}

/// The cluster-metadata collector: `/version` and the nodes.
async fn cluster_info(client: &Client, errors: &mut Vec<String>) -> ClusterInfo {
    let mut info = ClusterInfo {
        provider: "unknown".into(),
        ..Default::default()
    };
    match client.apiserver_version().await {
        Ok(v) => info.kubernetes_version = Some(v.git_version),
        Err(err) => errors.push(format!("reading /version: {err}")),
    }
    let nodes: Api<Node> = Api::all(client.clone());
    let mut params = ListParams::default().limit(PAGE);
    let mut providers: Vec<&'static str> = Vec::new();
    loop {
        match nodes.list(&params).await {
            Ok(page) => {
                for n in &page.items {
                    let id = n
                        .spec
                        .as_ref()
                        .and_then(|s| s.provider_id.as_deref())
                        .unwrap_or_default();
                    let labels = n.metadata.labels.clone().unwrap_or_default();
                    providers.push(node_provider(id, &labels));
                }
                match page.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(token) => params = params.continue_token(&token),
                    None => {
                        info.node_count = Some(providers.len() as u64);
                        break;
                    }
                }
            }
            Err(err) => {
                if errors.len() < MAX_REPORT_ERRORS {
                    errors.push(format!("listing nodes: {}", api_message(&err)));
                }
                break;
            }
        }
    }
    info.provider = cluster_provider(providers.into_iter());
    info
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

/// Runs every `interval` (the first at once) until the task is dropped.
pub async fn run(
    client: Client,
    settings: ComplianceSettings,
    limiter: RateLimiter,
    metrics: Metrics,
) {
    let mut tick = tokio::time::interval(settings.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = run_once(&client, &settings, &limiter, &metrics).await;
        tracing::info!(
            report = %settings.report_name,
            findings = s.findings,
            applied = s.applied,
            unchanged = s.unchanged,
            resolved = s.resolved,
            capped = s.capped,
            errors = s.errors,
            "compliance: run finished"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max: usize) -> ComplianceSettings {
        ComplianceSection {
            enabled: true,
            max_observations: max,
            ..Default::default()
        }
        .validate(&[], "vigil-system", 3600, &EnrichConfig::default())
        .expect("valid")
        .expect("enabled")
    }

    const APP: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n\
        spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    \
        spec: {containers: [{name: app, image: nginx, securityContext: {privileged: true}}]}\n---\n\
        apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: everyone-admin}\n\
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n\
        subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: devs}]\n";

    #[test]
    fn findings_are_named_deterministically_and_the_most_severe_come_first() {
        let parsed = vigil_check::parse_manifests("app.yaml", APP);
        let report = vigil_check::run(&parsed, &vigil_check::Config::default());
        let s = settings(1000);
        let p = plan(&report, &s);
        assert_eq!(p.findings.len(), report.summary.totals.failed);
        assert_eq!(p.write, p.findings.len());
        assert_eq!(p.findings[0].severity, Severity::Critical);
        assert!(p
            .findings
            .windows(2)
            .all(|w| w[0].severity >= w[1].severity));
        let privileged = p
            .findings
            .iter()
            .find(|f| f.check == "security.privileged")
            .expect("privileged fails");
        assert_eq!(privileged.namespace, "shop");
        assert_eq!(privileged.spec.event_type, "security_privileged");
        assert_eq!(privileged.spec.category, Category::Compliance);
        assert_eq!(privileged.spec.source, "vigil-check");
        assert_eq!(privileged.labels[REPORT_LABEL], "cluster");
        assert_eq!(privileged.labels[AUDIENCE_LABEL], "customer");
        let details = privileged.spec.details.as_ref().expect("details");
        assert_eq!(details["pillar"], "security");
        assert!(!details["remediation"].as_str().unwrap_or("").is_empty());
        assert!(privileged.name.starts_with("check-security-privileged-"));
        assert!(privileged.name.len() <= 63);
        // Cluster-scoped objects' findings go to the agent's namespace.
        let binding = p
            .findings
            .iter()
            .find(|f| f.check == "security.rbac-cluster-admin-binding")
            .expect("binding fails");
        assert_eq!(binding.namespace, "vigil-system");
        assert_eq!(binding.labels[AUDIENCE_LABEL], "platform");
        // The same input gives the same names.
        assert_eq!(plan(&report, &s), p);
        // Another report name, other names.
        let mut other = s.clone();
        other.report_name = "other".into();
        assert_ne!(plan(&report, &other).findings[0].name, p.findings[0].name);
    }

    #[test]
    fn the_cap_keeps_the_most_severe_and_every_key() {
        let parsed = vigil_check::parse_manifests("app.yaml", APP);
        let report = vigil_check::run(&parsed, &vigil_check::Config::default());
        let p = plan(&report, &settings(2));
        assert_eq!(p.write, 2);
        assert_eq!(p.capped(), p.findings.len() - 2);
        assert_eq!(p.keys().len(), p.findings.len());
        assert!(p.findings[..2]
            .iter()
            .all(|f| f.severity == Severity::Critical));
    }

    #[test]
    fn names_and_event_types_fit_the_observation_schema() {
        for c in vigil_check::catalogue::checks() {
            let name = observation_name("cluster", c.id, "Deployment", "ns", "x");
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name}"
            );
            let t = event_type(c.id);
            assert!(
                t.len() <= 63
                    && t.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{t}"
            );
        }
    }

    #[test]
    fn providers_from_provider_ids_and_labels() {
        let none = BTreeMap::new();
        assert_eq!(node_provider("aws:///eu-west-1a/i-0abc", &none), "aws");
        assert_eq!(node_provider("gce://proj/zone/node", &none), "gce");
        assert_eq!(node_provider("azure:///subscriptions/x", &none), "azure");
        assert_eq!(
            node_provider("kind://docker/kind/kind-control-plane", &none),
            "kind"
        );
        assert_eq!(node_provider("", &none), "unknown");
        let gke = BTreeMap::from([("cloud.google.com/gke-nodepool".to_string(), "p".to_string())]);
        assert_eq!(node_provider("", &gke), "gce");
        assert_eq!(
            cluster_provider(["aws", "aws", "unknown"].into_iter()),
            "aws"
        );
        assert_eq!(cluster_provider(["unknown"].into_iter()), "unknown");
        assert_eq!(cluster_provider([].into_iter()), "unknown");
    }

    #[test]
    fn report_spec_carries_scores_totals_and_inventory() {
        let parsed = vigil_check::parse_manifests("app.yaml", APP);
        let report = vigil_check::run(&parsed, &vigil_check::Config::default());
        let spec = report_spec(&report, &parsed, &settings(10));
        assert_eq!(spec.totals.failed, report.summary.totals.failed as u64);
        assert!(spec.totals.failed_by_severity.critical >= 2);
        assert_eq!(spec.score, report.summary.score);
        assert!(spec.pillars.security.failed > 0);
        assert!(spec.pillars.security.score.is_some_and(|s| s < 100));
        assert_eq!(spec.inventory.workloads.get("Deployment"), Some(&1));
        assert_eq!(spec.inventory.services, 0);
    }

    #[test]
    fn the_section_is_validated() {
        let key = |yaml: &str| -> String {
            let section: ComplianceSection = serde_saphyr::from_str(yaml).expect("yaml");
            match section.validate(&[], "vigil-system", 60, &EnrichConfig::default()) {
                Err(ConfigError::Invalid { key, .. }) => key,
                other => panic!("expected an error, got {other:?}"),
            }
        };
        assert_eq!(key("enabled: true\ninterval: 5s\n"), "compliance.interval");
        assert_eq!(
            key("enabled: true\nreportName: Bad_Name\n"),
            "compliance.reportName"
        );
        assert_eq!(
            key("enabled: true\nconfig: {checks: {nope.nothing: high}}\n"),
            "compliance.config"
        );
        assert_eq!(
            key("enabled: true\nconfig: {}\nconfigFile: /x\n"),
            "compliance.configFile"
        );
        let off: ComplianceSection = serde_saphyr::from_str("interval: 1s\n").expect("yaml");
        assert!(off
            .validate(&[], "vigil-system", 60, &EnrichConfig::default())
            .expect("off is not validated")
            .is_none());
        let on: ComplianceSection = serde_saphyr::from_str(
            "enabled: true\ninterval: 30s\nconfig:\n  checks: {\"reliability.*\": off}\n  exemptions: [{kinds: [ClusterRole]}]\n",
        )
        .expect("yaml");
        let s = on
            .validate(&[], "vigil-system", 60, &EnrichConfig::default())
            .expect("valid")
            .expect("on");
        assert_eq!(s.interval, Duration::from_secs(30));
        assert!(!s.checks.enabled("reliability.liveness-probe"));
    }
}
