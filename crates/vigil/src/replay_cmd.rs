//! `vigil replay FILE…` and `vigil demo`: read files (or the embedded
//! incident), replay them through the pipeline and the detector, print a
//! table or JSON lines. The work is vigil-replay's; this is the plumbing.

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use vigil_detect::RuleSet;
use vigil_replay::input::{self, Format, RecordKind};
use vigil_replay::{demo, replay, ReplayOptions, Report};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    /// Readable tables: Observations, anomalies, the accounting.
    Table,
    /// One Observation object per line (anomalies included), then a summary line.
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum InputFormat {
    /// Tell each record's kind from its fields (files may mix kinds).
    Auto,
    /// Kubernetes Events (core v1 or events.k8s.io/v1; lists, JSON lines, YAML).
    Events,
    /// Kubernetes audit Events (JSON lines or EventList).
    Audit,
    /// Falco JSON output, one alert per line.
    Falco,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Files to replay: `kubectl get events -A -o json|yaml` output, JSON lines of Events,
    /// audit logs, Falco JSON lines. `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
    /// The files' record kind, when detection is not wanted.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    format: InputFormat,
    /// Cluster name for anomaly keys.
    #[arg(long, default_value = "replay")]
    cluster: String,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct CommonArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Detection rules (YAML) added to the defaults; a rule with a default's name replaces it.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Use only the rules from --rules, not the defaults.
    #[arg(long, requires = "rules")]
    no_default_rules: bool,
}

impl CommonArgs {
    fn options(&self, cluster: &str) -> Result<ReplayOptions> {
        let mut options = ReplayOptions {
            cluster: cluster.to_string(),
            ..Default::default()
        };
        if let Some(path) = &self.rules {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let rules = RuleSet::from_yaml(&text).with_context(|| format!("{}", path.display()))?;
            options.rules = if self.no_default_rules {
                rules
            } else {
                options.rules.with_overrides(rules)
            };
        }
        Ok(options)
    }
}

pub fn replay_files(args: ReplayArgs) -> Result<ExitCode> {
    let format = match args.format {
        InputFormat::Auto => Format::Auto,
        InputFormat::Events => Format::Only(RecordKind::KubeEvent),
        InputFormat::Audit => Format::Only(RecordKind::Audit),
        InputFormat::Falco => Format::Only(RecordKind::Falco),
    };
    let options = args.common.options(&args.cluster)?;
    let mut inputs = Vec::new();
    for file in &args.files {
        let (name, text) = if file.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading standard input")?;
            ("<stdin>".to_string(), text)
        } else {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            (file.display().to_string(), text)
        };
        inputs.push(input::parse(&name, &text, format));
    }
    let report = replay(inputs, &options);
    if report.summary.read == 0 {
        bail!("no records in {} file(s)", args.files.len());
    }
    print(&report, args.common.output, None)?;
    Ok(ExitCode::SUCCESS)
}

pub fn demo(args: DemoArgs) -> Result<ExitCode> {
    let options = args.common.options(demo::CLUSTER)?;
    let report = replay(demo::inputs(), &options);
    let intro = "vigil demo: a bad afternoon in one cluster (examples/incident/), replayed through the \
                 pipeline and the anomaly detector.\nA crash-looping checkout rollout in a customer namespace, \
                 a CSI mount failure in a platform namespace, a shell in a container (Falco), RBAC changes \
                 and an anonymous request (audit log), critical CVEs (Trivy Operator).\n";
    print(&report, args.common.output, Some(intro))?;
    Ok(ExitCode::SUCCESS)
}

fn print(report: &Report, output: Output, intro: Option<&str>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let result = match output {
        Output::Table => {
            if let Some(intro) = intro {
                let _ = writeln!(out, "{intro}");
            }
            out.write_all(report.to_table().as_bytes())
        }
        Output::Json => out.write_all(report.to_json_lines().as_bytes()),
    };
    match result {
        // `vigil demo | head` is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the report"),
    }
}
