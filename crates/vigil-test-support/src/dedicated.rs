//! A control plane of a test's own, for tests that disturb it (stop and
//! restart kube-apiserver) while other tests keep using the shared [`Plane`].
//!
//! [`Plane`]: crate::Plane

use crate::plane::{Cluster, Script};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A control plane (etcd + kube-apiserver) owned by one test: its own state
/// directory `$VIGIL_CACHE/planes/<name>-<pid>` (default cache
/// `~/.cache/vigil`), its own ports, certificates and lock, vigil's CRDs
/// installed. Dereferences to [`Cluster`] for clients, kubeconfigs and
/// namespaces, like [`crate::Plane`]. Dropping it runs `down` and removes the
/// directory. Every failure panics with the script's output.
#[derive(Debug)]
pub struct DedicatedPlane {
    cluster: Cluster,
}

/// Plane directories of this process that are in use, so two tests that pick
/// the same name fail loudly instead of sharing (and tearing down) one plane.
static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

impl DedicatedPlane {
    /// Starts a fresh plane named `name` (unique among this process's
    /// dedicated planes; the test's name is a good choice), installs vigil's
    /// CRDs and waits until they are Established. Takes a few seconds:
    /// certificates, etcd and kube-apiserver are all new.
    ///
    /// Also reaps the planes of test processes that died without dropping theirs.
    pub async fn start(name: &str) -> DedicatedPlane {
        Self::start_with(name, Script::new("up")).await
    }

    /// Like [`DedicatedPlane::start`], with kube-apiserver sending its audit
    /// log to a webhook: `webhook_kubeconfig` is the file for
    /// `--audit-webhook-config-file` (its `server` is the webhook's URL), in
    /// batch mode with a 200 ms maximum wait; `policy` the audit policy file
    /// (`None`: Metadata level for everything). The webhook need not be
    /// listening yet: the API server retries, then drops, what it cannot send.
    pub async fn start_with_audit_webhook(
        name: &str,
        webhook_kubeconfig: &Path,
        policy: Option<&Path>,
    ) -> DedicatedPlane {
        let mut up = Script::new("up").env("VIGIL_AUDIT_WEBHOOK", webhook_kubeconfig);
        if let Some(policy) = policy {
            up = up.env("VIGIL_AUDIT_POLICY", policy);
        }
        Self::start_with(name, up).await
    }

    async fn start_with(name: &str, up: Script) -> DedicatedPlane {
        assert!(
            !name.is_empty() && !name.contains(['/', '\\']) && !name.starts_with('.'),
            "dedicated plane name {name:?}: want a plain, non-empty file name"
        );
        let planes = planes_dir();
        reap_stale(&planes);
        let dir = planes.join(format!("{name}-{}", std::process::id()));
        assert!(
            LIVE.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(dir.clone()),
            "a dedicated plane named {name:?} is already running in this process ({}): \
             give each test its own name",
            dir.display()
        );
        // From here on a panic (even of `up` itself) drops the plane: `down`
        // and the directory removed.
        let plane = DedicatedPlane {
            cluster: Cluster::new(dir),
        };
        up.plane_dir(plane.dir()).run_async().await;
        plane.install_crds().await;
        plane
    }

    /// Stops kube-apiserver only (`control-plane stop-apiserver`); returns once
    /// the process is gone, so requests fail with connection refused. etcd and
    /// its data stay. Does not block the runtime: other tasks keep running.
    pub async fn stop_apiserver(&self) {
        Script::new("stop-apiserver")
            .plane_dir(self.dir())
            .run_async()
            .await;
    }

    /// Starts kube-apiserver again (`control-plane start-apiserver`) on the
    /// same port, certificates and flags, against the same etcd; returns once
    /// `/readyz` answers. Existing clients and kubeconfigs keep working.
    pub async fn start_apiserver(&self) {
        Script::new("start-apiserver")
            .plane_dir(self.dir())
            .run_async()
            .await;
    }
}

impl std::ops::Deref for DedicatedPlane {
    type Target = Cluster;

    fn deref(&self) -> &Cluster {
        &self.cluster
    }
}

impl Drop for DedicatedPlane {
    fn drop(&mut self) {
        let dir = self.dir().to_path_buf();
        let result = tear_down(&dir);
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).remove(&dir);
        if let Err(message) = result {
            // A second panic while unwinding would abort the test binary and
            // hide the first failure: report instead.
            if std::thread::panicking() {
                eprintln!("dropping the dedicated plane {}: {message}", dir.display());
            } else {
                panic!("dropping the dedicated plane {}: {message}", dir.display());
            }
        }
    }
}

/// `down`, then the directory and its lock file beside it.
fn tear_down(dir: &Path) -> Result<(), String> {
    Script::new("down").plane_dir(dir).try_run()?;
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("removing {}: {e}", dir.display())),
    }
    let _ = std::fs::remove_file(lock_file(dir));
    Ok(())
}

/// The script's lock for a plane: `"$VIGIL_PLANE_DIR.lock"`.
fn lock_file(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// `$VIGIL_CACHE/planes`, the cache defaulting to `~/.cache/vigil` as in the script.
fn planes_dir() -> PathBuf {
    let cache = match std::env::var_os("VIGIL_CACHE").filter(|v| !v.is_empty()) {
        Some(cache) => PathBuf::from(cache),
        None => {
            let home = std::env::var_os("HOME").expect("HOME is set (or VIGIL_CACHE)");
            Path::new(&home).join(".cache/vigil")
        }
    };
    cache.join("planes")
}

/// Tears down the planes `<name>-<pid>` whose process no longer exists (a test
/// binary killed by a timeout never drops its planes). Linux only: elsewhere
/// liveness cannot be read from /proc, and nothing is reaped.
fn reap_stale(planes: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(planes) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let Some(pid) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit_once('-'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !dir.is_dir()
            || pid == std::process::id()
            || Path::new("/proc").join(pid.to_string()).exists()
        {
            continue;
        }
        // Another process may be reaping the same plane: `down` is locked
        // and idempotent, and a vanished directory is no error.
        if let Err(message) = tear_down(&dir) {
            eprintln!(
                "reaping the stale dedicated plane {}: {message}",
                dir.display()
            );
        }
    }
}
