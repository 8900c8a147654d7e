//! `vigil run`: flags and environment onto the agent's configuration, the
//! Kubernetes client, JSON logs, signals. The agent itself is vigil-agent.

use anyhow::{Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use vigil_agent::config::EventsApi;
use vigil_agent::{AgentConfig, Overrides};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Agent configuration file (YAML); flags and environment override it.
    #[arg(long, env = "VIGIL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address of /health, /ready and /metrics (port 0 picks a free one).
    #[arg(long, env = "VIGIL_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// The agent's own namespace (checkpoint, Observations of cluster-scoped events).
    #[arg(long, env = "VIGIL_NAMESPACE")]
    namespace: Option<String>,
    /// Watch only these namespaces (comma-separated), for namespace-scoped RBAC.
    #[arg(
        long = "watch-namespaces",
        env = "VIGIL_WATCH_NAMESPACES",
        value_delimiter = ',',
        value_name = "NS,..."
    )]
    watch_namespaces: Option<Vec<String>>,
    /// Events API: auto, events.k8s.io/v1 or v1.
    #[arg(long, env = "VIGIL_EVENTS_API")]
    events_api: Option<EventsApi>,
    /// Name of the checkpoint ConfigMap.
    #[arg(long, env = "VIGIL_CHECKPOINT_CONFIGMAP", value_name = "NAME")]
    checkpoint_configmap: Option<String>,
    /// Address of the webhook listener (only opened when `webhooks.endpoints`
    /// are configured; port 0 picks a free one).
    #[arg(long, env = "VIGIL_WEBHOOK_LISTEN", value_name = "ADDR")]
    webhook_listen: Option<SocketAddr>,
    /// Print the effective configuration and exit.
    #[arg(long)]
    print_config: bool,
}

pub fn run(args: RunArgs) -> Result<std::process::ExitCode> {
    let file = match &args.config {
        Some(path) => AgentConfig::from_file(path)?,
        None => AgentConfig::default(),
    };
    let config = file.apply(Overrides {
        listen: args.listen,
        namespace: args.namespace,
        namespaces: args.watch_namespaces,
        events_api: args.events_api,
        checkpoint_config_map: args.checkpoint_configmap,
        webhook_listen: args.webhook_listen,
    });
    let settings = config.validate()?;
    if args.print_config {
        println!("{:#?}", settings.config);
        return Ok(std::process::ExitCode::SUCCESS);
    }
    init_logs();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let mut kube = kube::Config::infer()
            .await
            .context("no Kubernetes configuration (KUBECONFIG or in-cluster)")?;
        kube.connect_timeout = Some(Duration::from_secs(10));
        kube.read_timeout = Some(Duration::from_secs(60));
        let client = kube::Client::try_from(kube).context("building the Kubernetes client")?;
        let listener = tokio::net::TcpListener::bind(settings.config.listen)
            .await
            .with_context(|| format!("listening on {}", settings.config.listen))?;
        let address = listener.local_addr().context("listener address")?;
        tracing::info!(%address, "admin server listening");
        vigil_agent::run(settings, client, listener, shutdown_signal()).await?;
        Ok(std::process::ExitCode::SUCCESS)
    })
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
