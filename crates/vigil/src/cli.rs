//! Command-line surface: parses arguments and dispatches to each mode.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use vigil_model::{crd, load};

/// vigil turns the incompatible findings of security, compliance and
/// infrastructure tools into one normalized, deduplicated Kubernetes object,
/// the Observation (zen.kube-zen.io/v1).
#[derive(Parser, Debug)]
#[command(name = "vigil", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print version and build information.
    Version,
    /// Print the CustomResourceDefinitions vigil owns (Observation, Ingester) as YAML.
    Crds {
        /// Write one file per CRD into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
    /// Validate Ingester YAML files offline with the validator the agent uses.
    Validate {
        /// Ingester files (YAML or JSON, multi-document).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Run the in-cluster agent: Kubernetes Events → Observations.
    Run(crate::agent_cmd::RunArgs),
    /// Replay exported events, audit logs or Falco alerts through the pipeline and the
    /// anomaly detector, offline.
    Replay(crate::replay_cmd::ReplayArgs),
    /// Replay the bundled incident (real samples plus generated storms) and show what vigil finds.
    Demo(crate::replay_cmd::DemoArgs),
    /// Grade manifests against the well-architected checks (security, reliability, cost, ...).
    Check(crate::check_cmd::CheckArgs),
}

pub fn run() -> Result<ExitCode> {
    match Cli::parse().command {
        Command::Version => {
            println!("vigil {}", env!("CARGO_PKG_VERSION"));
            println!("api: zen.kube-zen.io/v1 Observation (also served as v1alpha1), zen.kube-zen.io/v1alpha1 Ingester");
            println!("kubernetes api: 1.37 (k8s-openapi 0.29, kube 5)");
            Ok(ExitCode::SUCCESS)
        }
        Command::Crds { write } => crds(write),
        Command::Validate { files } => validate(&files),
        Command::Run(args) => crate::agent_cmd::run(args),
        Command::Replay(args) => crate::replay_cmd::replay_files(args),
        Command::Demo(args) => crate::replay_cmd::demo(args),
        Command::Check(args) => crate::check_cmd::run(args),
    }
}

fn crds(write: Option<PathBuf>) -> Result<ExitCode> {
    let all = crd::all();
    match write {
        None => {
            for (i, c) in all.iter().enumerate() {
                if i > 0 {
                    println!("---");
                }
                print!("{}", crd::to_yaml(c).context("serializing CRD")?);
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for c in &all {
                let path = dir.join(crd::file_name(c));
                std::fs::write(&path, crd::to_yaml(c).context("serializing CRD")?)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn validate(files: &[PathBuf]) -> Result<ExitCode> {
    let mut failed = 0;
    for file in files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        match load::ingesters_from_yaml(&text) {
            Ok(list) => {
                for i in list {
                    println!(
                        "{}: Ingester {} is valid",
                        file.display(),
                        i.metadata.name.unwrap_or_default()
                    );
                }
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} files invalid", files.len());
    }
    Ok(ExitCode::SUCCESS)
}
