//! An endpoint's secret kept current without a restart.
//!
//! - A file (a mounted Secret) is re-read every [`FILE_POLL_INTERVAL`]; when
//!   its contents changed and are usable, the new secret replaces the old.
//! - A Kubernetes Secret (`bearerTokenSecretRef` / `hmacSecretRef`, in the
//!   agent's namespace) is read when the endpoint starts (failing the start
//!   if it cannot be) and then watched (kube-runtime's watcher, on that one
//!   name); an update replaces the secret as soon as the watch delivers it.
//!
//! **No grace period**: the moment a new secret is loaded, the old one is
//! refused. A rotation is usually a revocation, and a grace period would
//! keep a leaked secret valid; senders are switched over by updating them
//! together with the Secret (the API server's audit backend retries a
//! refused batch, so a short window of 401s loses nothing there).
//!
//! A secret that disappears or becomes unusable (the file deleted or empty,
//! the Secret deleted or its key removed) keeps the last good one in force
//! and is logged at `warn` once per change; the contents never reach a log.

use super::auth::{trim_secret, Auth};
use super::config::{Credentials, SecretRef, SecretSource};
use crate::config::{invalid, ConfigError};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use sha2::{Digest, Sha256};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often a secret file is re-read.
pub const FILE_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// What an endpoint needs to read Secrets: a client and the agent's namespace.
#[derive(Clone)]
pub struct KubeAccess {
    pub client: kube::Client,
    pub namespace: String,
}

/// The credentials in force, swapped on rotation.
pub type LiveAuth = Arc<RwLock<Arc<Auth>>>;

/// An endpoint's reload task ends with it.
pub use crate::task::AbortOnDrop;

/// The credentials of an endpoint, loaded, and the task keeping them
/// current (none for `none: true`, or outside a Tokio runtime).
pub async fn start(
    endpoint: &str,
    initial: &Auth,
    credentials: Option<&Credentials>,
    kube: Option<&KubeAccess>,
) -> Result<(LiveAuth, Option<AbortOnDrop>), ConfigError> {
    let Some(c) = credentials else {
        return Ok((Arc::new(RwLock::new(Arc::new(initial.clone()))), None));
    };
    match &c.source {
        SecretSource::File(path) => {
            let live: LiveAuth = Arc::new(RwLock::new(Arc::new(initial.clone())));
            let task = tokio::runtime::Handle::try_current().ok().map(|_| {
                AbortOnDrop(tokio::spawn(poll_file(
                    endpoint.to_string(),
                    path.clone(),
                    c.clone(),
                    initial.fingerprint(),
                    live.clone(),
                )))
            });
            Ok((live, task))
        }
        SecretSource::Kubernetes(r) => {
            let Some(kube) = kube else {
                return Err(invalid(
                    &c.key,
                    "a Secret needs the agent's Kubernetes client (not available here)",
                ));
            };
            let namespace = r.namespace.as_deref().unwrap_or(&kube.namespace);
            let api: Api<Secret> = Api::namespaced(kube.client.clone(), namespace);
            let secret = api.get(&r.name).await.map_err(|e| {
                invalid(
                    &c.key,
                    format!("reading Secret {namespace}/{}: {e}", r.name),
                )
            })?;
            let bytes = secret_key(&secret, r)
                .map_err(|m| invalid(&c.key, format!("Secret {namespace}/{}: {m}", r.name)))?;
            let auth = c
                .scheme
                .auth(&bytes)
                .map_err(|m| invalid(&c.key, format!("Secret {namespace}/{}: {m}", r.name)))?;
            let live: LiveAuth = Arc::new(RwLock::new(Arc::new(auth)));
            let task = AbortOnDrop(tokio::spawn(watch_secret(
                endpoint.to_string(),
                api,
                c.clone(),
                r.clone(),
                digest(&bytes),
                live.clone(),
            )));
            Ok((live, Some(task)))
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The value of `r.key` in `secret`, one trailing newline removed.
fn secret_key(secret: &Secret, r: &SecretRef) -> Result<Vec<u8>, String> {
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .map(|b| b.0.clone())
        .ok_or_else(|| format!("no key {:?}", r.key))?;
    Ok(trim_secret(bytes))
}

/// Swaps in the credentials of `bytes` unless they are those in force.
/// `Ok(true)`: swapped.
fn apply(
    c: &Credentials,
    bytes: &[u8],
    last: &mut [u8; 32],
    live: &LiveAuth,
) -> Result<bool, String> {
    let d = digest(bytes);
    if d == *last {
        return Ok(false);
    }
    let auth = c.scheme.auth(bytes).map_err(str::to_string)?;
    *live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(auth);
    *last = d;
    Ok(true)
}

/// `last`: the fingerprint of the secret in force.
async fn poll_file(
    endpoint: String,
    path: String,
    c: Credentials,
    mut last: [u8; 32],
    live: LiveAuth,
) {
    let mut problem = String::new();
    loop {
        tokio::time::sleep(FILE_POLL_INTERVAL).await;
        // A small file: read in place.
        let result = std::fs::read(&path)
            .map_err(|e| format!("reading {path}: {e}"))
            .and_then(|b| apply(&c, &trim_secret(b), &mut last, &live));
        report(&endpoint, &c.key, result, &mut problem);
    }
}

async fn watch_secret(
    endpoint: String,
    api: Api<Secret>,
    c: Credentials,
    r: SecretRef,
    mut last: [u8; 32],
    live: LiveAuth,
) {
    let config = watcher::Config::default().fields(&format!("metadata.name={}", r.name));
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut problem = String::new();
    while let Some(event) = events.next().await {
        let result = match event {
            Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                secret_key(&s, &r).and_then(|b| apply(&c, &b, &mut last, &live))
            }
            Ok(watcher::Event::Delete(_)) => Err(format!(
                "Secret {} deleted; the last secret read stays in force",
                r.name
            )),
            Ok(watcher::Event::Init | watcher::Event::InitDone) => continue,
            Err(e) => Err(format!("watching Secret {}: {e}", r.name)),
        };
        report(&endpoint, &c.key, result, &mut problem);
    }
}

/// Logs a swap, and a problem once until it changes.
fn report(endpoint: &str, key: &str, result: Result<bool, String>, problem: &mut String) {
    match result {
        Ok(swapped) => {
            if swapped {
                tracing::info!(
                    endpoint,
                    source = key,
                    "webhook secret rotated; the previous one is no longer accepted"
                );
            }
            problem.clear();
        }
        Err(message) => {
            if *problem != message {
                tracing::warn!(endpoint, source = key, error = %message, "webhook secret not reloaded; the last one read stays in force");
                *problem = message;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::webhook::auth::{Denied, Scheme};
    use axum::http::{HeaderMap, HeaderValue};

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("value"),
        );
        h
    }

    #[tokio::test(start_paused = true)]
    async fn a_rewritten_secret_file_replaces_the_old_secret_at_the_next_poll() {
        let dir = std::env::temp_dir().join(format!("vigil-secret-poll-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("token");
        std::fs::write(&path, "old-token\n").expect("write");
        let c = Credentials {
            source: SecretSource::File(path.display().to_string()),
            scheme: Scheme::Bearer,
            key: "webhooks.endpoints[0].auth.bearerTokenFile".into(),
        };
        let initial = Auth::bearer(b"old-token").expect("token");
        let (live, task) = start("e", &initial, Some(&c), None).await.expect("start");
        assert!(task.is_some());
        let check = |t: &str| live.read().expect("lock").check_headers(&bearer(t));
        assert_eq!(check("old-token"), Ok(()));
        std::fs::write(&path, "new-token\n").expect("rotate");
        // Paused time: the poll runs as soon as the clock is advanced.
        tokio::time::sleep(FILE_POLL_INTERVAL * 2).await;
        assert_eq!(check("new-token"), Ok(()));
        assert_eq!(check("old-token"), Err(Denied::Wrong));
        // Unusable (empty, then missing): the last good secret stays.
        std::fs::write(&path, "\n").expect("empty");
        tokio::time::sleep(FILE_POLL_INTERVAL * 2).await;
        std::fs::remove_file(&path).expect("remove");
        tokio::time::sleep(FILE_POLL_INTERVAL * 2).await;
        assert_eq!(check("new-token"), Ok(()));
        drop(task);
    }
}
