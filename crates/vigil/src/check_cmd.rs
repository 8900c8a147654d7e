//! `vigil check`: read manifests (`-f PATH…`) or a live cluster's objects
//! (read-only lists), run the well-architected checks, print a table, JSON or
//! SARIF, and exit by severity threshold. The work is vigil-check's; this is
//! the plumbing (arguments, files, API reads, exit codes).

use anyhow::{Context, Result};
use clap::{ArgAction, Args, ValueEnum};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use vigil_check::{render, Config, InputError, Origin, Parsed};
use vigil_model::Severity;

/// Exit status when a document, file or the config could not be read, or the
/// requested mode does not exist (distinct from 1, "checks failed").
const EXIT_INPUT: u8 = 2;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    /// Objects with failing or exempted checks, then scores and totals.
    Table,
    /// The full report (schema vigil.kube-zen.io/check-report/v1, see docs/CHECKS.md).
    Json,
    /// SARIF 2.1.0, for code-scanning UIs.
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    /// Never exit 1 because of failing checks.
    None,
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl FailOn {
    fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::None => None,
            FailOn::Info => Some(Severity::Info),
            FailOn::Low => Some(Severity::Low),
            FailOn::Medium => Some(Severity::Medium),
            FailOn::High => Some(Severity::High),
            FailOn::Critical => Some(Severity::Critical),
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CatalogueFormat {
    /// docs/CHECKS.md.
    Markdown,
    /// Every check's descriptor as a JSON array.
    Json,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Manifest files or directories (recursive: .yaml, .yml, .json); `-` reads standard
    /// input. Repeatable. Without -f the cluster of the current kubeconfig context (or
    /// in-cluster config) is read, list-only.
    #[arg(short = 'f', long = "filename", value_name = "PATH", num_args = 1.., action = ArgAction::Append)]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Config file: disabled checks, severity overrides, exemptions (docs/CHECKS.md).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Exit 1 when a failing check has at least this (effective) severity.
    #[arg(long, value_enum, value_name = "SEVERITY", default_value_t = FailOn::Critical)]
    fail_on: FailOn,
    /// With a live cluster: read namespaced objects from this namespace only (cluster-scoped
    /// RBAC and the Namespace itself are still read).
    #[arg(short = 'n', long, value_name = "NAMESPACE", conflicts_with = "files")]
    namespace: Option<String>,
    /// Print the check catalogue instead of checking anything.
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with_all = ["files", "config"])]
    catalogue: Option<CatalogueFormat>,
}

pub fn run(args: CheckArgs) -> Result<ExitCode> {
    if let Some(format) = args.catalogue {
        print!("{}", catalogue(format));
        return Ok(ExitCode::SUCCESS);
    }
    let config = match &args.config {
        None => Config::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()));
            match text.map(|t| Config::from_yaml(&t).map_err(|e| (path, e))) {
                Ok(Ok(config)) => config,
                Ok(Err((path, e))) => {
                    for fe in e.field_errors() {
                        eprintln!("error: {}: {fe}", path.display());
                    }
                    return Ok(ExitCode::from(EXIT_INPUT));
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return Ok(ExitCode::from(EXIT_INPUT));
                }
            }
        }
    };
    let parsed = if args.files.is_empty() {
        match read_cluster(args.namespace.as_deref()) {
            Ok(parsed) => parsed,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(EXIT_INPUT));
            }
        }
    } else {
        vigil_check::files::load(&args.files)
    };
    let report = vigil_check::run(&parsed, &config);
    match args.output {
        Output::Table => print!("{}", render::table::render(&report)),
        Output::Json => println!("{}", render::json(&report)),
        Output::Sarif => println!("{}", render::sarif::to_string(&report)),
    }
    if !matches!(args.output, Output::Table) {
        for e in &report.errors {
            eprintln!("error: {e}");
        }
    }
    if !report.errors.is_empty() {
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    let failed = args.fail_on.threshold().is_some_and(|t| report.fails_at(t));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn catalogue(format: CatalogueFormat) -> String {
    match format {
        CatalogueFormat::Markdown => render::markdown::catalogue(),
        CatalogueFormat::Json => render::catalogue_json(),
    }
}

/// What a live check lists: (group, version, kind, plural, namespaced).
/// ConfigMaps are read for `security.secret-in-configmap`; Secrets never are.
const LIVE_KINDS: &[(&str, &str, &str, &str, bool)] = &[
    ("", "v1", "Namespace", "namespaces", false),
    ("", "v1", "Pod", "pods", true),
    (
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        true,
    ),
    ("", "v1", "Service", "services", true),
    ("", "v1", "ServiceAccount", "serviceaccounts", true),
    ("", "v1", "ConfigMap", "configmaps", true),
    ("", "v1", "ResourceQuota", "resourcequotas", true),
    ("", "v1", "LimitRange", "limitranges", true),
    ("apps", "v1", "Deployment", "deployments", true),
    ("apps", "v1", "StatefulSet", "statefulsets", true),
    ("apps", "v1", "DaemonSet", "daemonsets", true),
    ("apps", "v1", "ReplicaSet", "replicasets", true),
    ("batch", "v1", "Job", "jobs", true),
    ("batch", "v1", "CronJob", "cronjobs", true),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
    ),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
    ),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", true),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    ),
    (
        "monitoring.coreos.com",
        "v1",
        "ServiceMonitor",
        "servicemonitors",
        true,
    ),
    (
        "monitoring.coreos.com",
        "v1",
        "PodMonitor",
        "podmonitors",
        true,
    ),
];

/// Kinds whose API may be absent (a CRD not installed): a 404 is not an error.
const OPTIONAL_GROUPS: &[&str] = &["monitoring.coreos.com"];

/// Objects per list request.
const PAGE: u32 = 500;

/// Lists the cluster's objects (read-only) into the same form files take.
/// A list that fails (forbidden, ...) is an input error; the rest is read.
fn read_cluster(namespace: Option<&str>) -> Result<Parsed> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let mut kube = kube::Config::infer()
            .await
            .context("no Kubernetes configuration (KUBECONFIG or in-cluster)")?;
        kube.connect_timeout = Some(Duration::from_secs(10));
        kube.read_timeout = Some(Duration::from_secs(60));
        let client = kube::Client::try_from(kube).context("building the Kubernetes client")?;
        let mut parsed = Parsed::default();
        for &(group, version, kind, plural, namespaced) in LIVE_KINDS {
            let resource = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(group, version, kind),
                plural,
            );
            let api: Api<DynamicObject> = match (namespaced, namespace) {
                (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
                _ => Api::all_with(client.clone(), &resource),
            };
            if let Err(e) = list_into(&api, &resource, namespace, &mut parsed).await {
                let absent = matches!(&e, kube::Error::Api(s) if s.code == 404);
                if !(absent && OPTIONAL_GROUPS.contains(&group)) {
                    parsed.errors.push(InputError {
                        file: "cluster".into(),
                        document: 0,
                        item: None,
                        line: None,
                        message: format!("listing {plural}: {}", api_message(&e)),
                    });
                }
            }
        }
        Ok(parsed)
    })
}

async fn list_into(
    api: &Api<DynamicObject>,
    resource: &ApiResource,
    namespace: Option<&str>,
    parsed: &mut Parsed,
) -> kube::Result<()> {
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = api.list(&params).await?;
        for item in &page.items {
            if resource.kind == "Namespace"
                && namespace.is_some_and(|ns| item.metadata.name.as_deref() != Some(ns))
            {
                continue;
            }
            let origin = Origin {
                file: "cluster".into(),
                document: 0,
                item: None,
                line: None,
                helm_source: None,
            };
            match vigil_check::input::from_serializable(
                item,
                &resource.api_version,
                &resource.kind,
                origin,
            ) {
                Ok(m) => parsed.manifests.push(m),
                Err(message) => parsed.errors.push(InputError {
                    file: "cluster".into(),
                    document: 0,
                    item: None,
                    line: None,
                    message,
                }),
            }
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params.continue_token = Some(token),
            None => return Ok(()),
        }
    }
}

/// The API server's own words for an API error (kube's Display adds the whole Status).
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}
