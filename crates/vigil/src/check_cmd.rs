//! `vigil check`: read manifests (`-f PATH…`) or a live cluster's objects
//! (read-only lists), run the well-architected checks, print a table, JSON or
//! SARIF, and exit by severity threshold. The work is vigil-check's; this is
//! the plumbing (arguments, files, API reads, exit codes).

use anyhow::{Context, Result};
use clap::{ArgAction, Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use vigil_check::{render, Config, Parsed};
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

/// Lists the cluster's objects (read-only) into the same form files take,
/// through `vigil_check::live` (shared with the agent's compliance run).
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
        let namespaces: Vec<String> = namespace.into_iter().map(str::to_string).collect();
        Ok(vigil_check::live::read_cluster(&client, &namespaces).await)
    })
}
