//! The running control plane as a test sees it: started once per process,
//! CRDs installed once, then clients and namespaces on request. Also runs
//! `scripts/control-plane` for [`crate::DedicatedPlane`].

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Identities the plane's client CA issues certificates for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestUser {
    /// `system:masters`: everything.
    Admin,
    /// User `vigil`: whatever RBAC grants it.
    Vigil,
    /// User `viewer`: whatever RBAC grants it (tests bind it read-only).
    Viewer,
    /// User `mallory`: no bindings unless a test adds one.
    Mallory,
}

impl TestUser {
    fn file(self) -> &'static str {
        match self {
            TestUser::Admin => "kubeconfig-admin",
            TestUser::Vigil => "kubeconfig-vigil",
            TestUser::Viewer => "kubeconfig-viewer",
            TestUser::Mallory => "kubeconfig-mallory",
        }
    }
}

/// Clients, kubeconfigs and namespaces of one running control plane: what
/// [`Plane`] and [`crate::DedicatedPlane`] both hand out (they dereference to it).
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
}

/// The shared control plane: one per test process, reused across processes.
#[derive(Debug)]
pub struct Plane {
    cluster: Cluster,
}

static PLANE: OnceLock<Plane> = OnceLock::new();
static CRDS: OnceCell<()> = OnceCell::const_new();
static NAMESPACE_SEQ: AtomicU32 = AtomicU32::new(0);

/// How long CRDs may take to become Established.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

impl Plane {
    /// The plane, started if absent, with vigil's CRDs installed and Established.
    /// Panics with the script's output when it cannot be started: tests that
    /// need a cluster never skip silently.
    pub async fn get() -> &'static Plane {
        let plane = PLANE.get_or_init(start);
        CRDS.get_or_init(|| plane.install_crds()).await;
        plane
    }
}

impl std::ops::Deref for Plane {
    type Target = Cluster;

    fn deref(&self) -> &Cluster {
        &self.cluster
    }
}

impl Cluster {
    pub(crate) fn new(dir: PathBuf) -> Cluster {
        Cluster { dir }
    }

    /// The plane's state directory (`VIGIL_PLANE_DIR`): certificates, logs in `logs/`, pids.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the kubeconfig for a test user (for child processes such as the agent).
    pub fn kubeconfig(&self, user: TestUser) -> PathBuf {
        self.dir.join(user.file())
    }

    /// A client authenticated as `user`. Clients are per test: a kube client
    /// belongs to the runtime that built it.
    pub async fn client(&self, user: TestUser) -> Client {
        client_from_kubeconfig(&self.kubeconfig(user)).await
    }

    /// A client authenticated as a ServiceAccount, through a token the API
    /// server issues (TokenRequest), exactly as a pod's projected token would be.
    pub async fn service_account_client(&self, namespace: &str, name: &str) -> Client {
        let admin = self.client(TestUser::Admin).await;
        let sas: Api<ServiceAccount> = Api::namespaced(admin, namespace);
        let request: TokenRequest = serde_json::from_value(serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600}
        }))
        .expect("static TokenRequest");
        let issued = sas
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .unwrap_or_else(|e| panic!("TokenRequest for {namespace}/{name}: {e}"));
        let token = issued
            .status
            .and_then(|s| s.token)
            .expect("TokenRequest issued a token");
        let mut config = self.config(TestUser::Admin).await;
        config.auth_info = kube::config::AuthInfo {
            token: Some(token.into()),
            ..Default::default()
        };
        Client::try_from(config).expect("client from token")
    }

    /// The client configuration for a user, to adjust before building a client.
    pub async fn config(&self, user: TestUser) -> Config {
        config_from_kubeconfig(&self.kubeconfig(user)).await
    }

    /// A fresh namespace named `<prefix>-<pid>-<n>`, created as admin.
    pub async fn namespace(&self, prefix: &str) -> String {
        let n = NAMESPACE_SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
            .expect("static namespace");
        Api::<Namespace>::all(self.client(TestUser::Admin).await)
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        name
    }

    /// Applies vigil's CRDs as admin and waits until each is Established.
    pub(crate) async fn install_crds(&self) {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client(TestUser::Admin).await);
        let params = PatchParams::apply("vigil-test-support").force();
        for crd in vigil_model::crd::all() {
            let name = crd.metadata.name.clone().expect("CRD name");
            crds.patch(&name, &params, &Patch::Apply(&crd))
                .await
                .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
            tokio::time::timeout(
                ESTABLISH_TIMEOUT,
                await_condition(crds.clone(), &name, conditions::is_crd_established()),
            )
            .await
            .unwrap_or_else(|_| panic!("CRD {name} not Established within {ESTABLISH_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("watching CRD {name}: {e}"));
        }
    }
}

fn start() -> Plane {
    let stdout = Script::new("up").run();
    let kubeconfig = stdout
        .lines()
        .find_map(|l| l.strip_prefix("export KUBECONFIG="))
        .unwrap_or_else(|| panic!("`control-plane up` printed no KUBECONFIG:\n{stdout}"));
    let dir = Path::new(kubeconfig.trim())
        .parent()
        .expect("kubeconfig has a directory")
        .to_path_buf();
    Plane {
        cluster: Cluster::new(dir),
    }
}

/// One `scripts/control-plane <command>` run, on the plane of the
/// environment (the shared one) or on a given `VIGIL_PLANE_DIR`.
pub(crate) struct Script {
    command: &'static str,
    plane_dir: Option<PathBuf>,
    /// Extra environment of the script (`VIGIL_AUDIT_WEBHOOK`, ...).
    envs: Vec<(String, std::ffi::OsString)>,
}

impl Script {
    pub(crate) fn new(command: &'static str) -> Script {
        Script {
            command,
            plane_dir: None,
            envs: Vec::new(),
        }
    }

    pub(crate) fn env(mut self, key: &str, value: impl Into<std::ffi::OsString>) -> Script {
        self.envs.push((key.to_string(), value.into()));
        self
    }

    pub(crate) fn plane_dir(mut self, dir: &Path) -> Script {
        self.plane_dir = Some(dir.to_path_buf());
        self
    }

    fn command(&self) -> Command {
        let mut command = Command::new(crate::repo_root().join("scripts/control-plane"));
        command.arg(self.command);
        if let Some(dir) = &self.plane_dir {
            command.env("VIGIL_PLANE_DIR", dir);
        }
        for (key, value) in &self.envs {
            command.env(key, value);
        }
        command
    }

    /// Runs it, blocking the thread; its stdout, or a panic with all its output.
    pub(crate) fn run(self) -> String {
        let out = self.command().output();
        self.check(out)
    }

    /// Runs it without blocking the runtime (tasks under test keep running);
    /// its stdout, or a panic with all its output.
    pub(crate) async fn run_async(self) -> String {
        let out = tokio::process::Command::from(self.command()).output().await;
        self.check(out)
    }

    /// Like [`Script::run`], but a failure is returned as the message a panic would carry.
    pub(crate) fn try_run(self) -> Result<String, String> {
        let out = self.command().output();
        self.checked(out)
    }

    fn check(&self, out: std::io::Result<Output>) -> String {
        self.checked(out)
            .unwrap_or_else(|message| panic!("{message}"))
    }

    fn checked(&self, out: std::io::Result<Output>) -> Result<String, String> {
        let script = crate::repo_root().join("scripts/control-plane");
        let plane = match &self.plane_dir {
            Some(dir) => format!(" (VIGIL_PLANE_DIR={})", dir.display()),
            None => String::new(),
        };
        let out =
            out.map_err(|e| format!("running {} {}{plane}: {e}", script.display(), self.command))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(stdout);
        }
        Err(format!(
            "`control-plane {}`{plane} failed ({}):\n{}\n{}",
            self.command,
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

async fn config_from_kubeconfig(path: &Path) -> Config {
    let kubeconfig =
        Kubeconfig::read_from(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", path.display()))
}

async fn client_from_kubeconfig(path: &Path) -> Client {
    Client::try_from(config_from_kubeconfig(path).await).expect("client from kubeconfig")
}
