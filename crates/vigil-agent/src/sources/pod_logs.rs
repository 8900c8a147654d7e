//! The logs adapter: container logs of the pods a label selector picks,
//! followed through the API (`follow=true`, one long request per running
//! container, not polling). A container that restarts is followed again
//! from the start of its new instance; a pod that goes away stops its
//! followers. Lines are handed over whole (cut at [`MAX_LINE`]); matching
//! them against the patterns is the runtime's job.

use crate::ingesters::compile::LogsSource;
use crate::ingesters::runtime::Change;
use futures::io::AsyncBufReadExt;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use std::collections::HashMap;
use tokio::sync::mpsc;

/// Longest line handed over; the rest of a longer line is skipped.
pub const MAX_LINE: usize = 16 * 1024;
/// Containers followed at once per Ingester; more are skipped and reported.
pub const MAX_FOLLOWED: usize = 200;

/// A container's log follower: aborted when its entry is dropped.
type Follower = crate::task::AbortOnDrop;

pub async fn run(
    client: Client,
    logs: &LogsSource,
    changes: &mpsc::Sender<Change>,
) -> Result<(), String> {
    let api: Api<Pod> = Api::namespaced(client, &logs.namespace);
    let config = watcher::Config::default().labels(&logs.adapter.pod_selector);
    let stream = logs.namespace.clone();
    // (pod uid, container) → (restart count followed, its task)
    let mut followed: HashMap<(String, String), (i32, Follower)> = HashMap::new();
    let mut first_sight = true;
    let mut watch = watcher(api.clone(), config).default_backoff().boxed();
    while let Some(item) = watch.next().await {
        let pod = match item {
            Err(err) => {
                let message = format!(
                    "watching pods {:?} in {}: {}",
                    logs.adapter.pod_selector,
                    logs.namespace,
                    super::informer::explain(&err)
                );
                if changes.send(Change::Failing(message)).await.is_err() {
                    return Ok(());
                }
                continue;
            }
            Ok(watcher::Event::Init) => continue,
            Ok(watcher::Event::InitDone) => {
                first_sight = false;
                if changes
                    .send(Change::Synced {
                        stream: stream.clone(),
                    })
                    .await
                    .is_err()
                {
                    return Ok(());
                }
                continue;
            }
            Ok(watcher::Event::Delete(pod)) => {
                let uid = pod.metadata.uid.unwrap_or_default();
                followed.retain(|(u, _), _| *u != uid);
                continue;
            }
            Ok(watcher::Event::InitApply(pod) | watcher::Event::Apply(pod)) => pod,
        };
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let statuses = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.clone())
            .unwrap_or_default();
        for cs in statuses {
            if logs
                .adapter
                .container
                .as_ref()
                .is_some_and(|c| *c != cs.name)
            {
                continue;
            }
            let running = cs.state.as_ref().is_some_and(|s| s.running.is_some());
            let key = (uid.clone(), cs.name.clone());
            let current = followed
                .get(&key)
                .map(|(restarts, f)| (*restarts, f.0.is_finished()));
            let start = match current {
                // Already following this instance (or it ended: wait for the next one).
                Some((restarts, _)) if restarts == cs.restart_count => false,
                _ => running,
            };
            if !start {
                continue;
            }
            if followed.len() >= MAX_FOLLOWED && !followed.contains_key(&key) {
                let message = format!(
                    "more than {MAX_FOLLOWED} containers match {:?}: {name}/{} is not followed",
                    logs.adapter.pod_selector, cs.name
                );
                if changes.send(Change::Unreadable(message)).await.is_err() {
                    return Ok(());
                }
                continue;
            }
            // A container seen at startup: from now (or `sinceSeconds` back).
            // A new instance after a restart, or a new pod: from its start.
            let params = if first_sight && current.is_none() {
                LogParams {
                    container: Some(cs.name.clone()),
                    follow: true,
                    since_seconds: logs.adapter.since_seconds.filter(|s| *s > 0),
                    tail_lines: logs
                        .adapter
                        .since_seconds
                        .filter(|s| *s > 0)
                        .map_or(Some(0), |_| None),
                    ..Default::default()
                }
            } else {
                LogParams {
                    container: Some(cs.name.clone()),
                    follow: true,
                    ..Default::default()
                }
            };
            let task = tokio::spawn(follow(
                api.clone(),
                logs.namespace.clone(),
                name.clone(),
                cs.name.clone(),
                params,
                changes.clone(),
            ));
            followed.insert(key, (cs.restart_count, crate::task::AbortOnDrop(task)));
        }
    }
    Ok(())
}

/// Reads one container's log until it ends (the container stopped) or the
/// receiver is gone.
async fn follow(
    api: Api<Pod>,
    namespace: String,
    pod: String,
    container: String,
    params: LogParams,
    changes: mpsc::Sender<Change>,
) {
    let target = format!("{namespace}/{pod}/{container}");
    tracing::info!(container = %target, "following container logs");
    let mut reader = match api.log_stream(&pod, &params).await {
        Ok(r) => Box::pin(r),
        Err(err) => return unreadable(&changes, &target, err).await,
    };
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        match read_line(&mut reader, &mut line).await {
            Ok(0) => {
                // The container stopped (or, without a node, there is no log).
                tracing::info!(container = %target, "container log ended");
                return;
            }
            Ok(_) => {}
            Err(err) => return unreadable(&changes, &target, err).await,
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            continue;
        }
        let change = Change::Line {
            namespace: namespace.clone(),
            pod: pod.clone(),
            container: container.clone(),
            text: text.to_string(),
        };
        if changes.send(change).await.is_err() {
            return;
        }
    }
}

/// Reports a container's log as unreadable (the follower ends).
async fn unreadable(changes: &mpsc::Sender<Change>, target: &str, err: impl std::fmt::Display) {
    let _ = changes
        .send(Change::Unreadable(format!("logs of {target}: {err}")))
        .await;
}

/// Reads one line into `out`, keeping at most [`MAX_LINE`] bytes of it;
/// returns the bytes consumed (0 at the end of the stream).
pub async fn read_line<R: futures::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    out: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(consumed);
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let room = MAX_LINE.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let n = chunk.len();
        reader.consume_unpin(n);
        consumed += n;
        if done {
            return Ok(consumed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_split_and_cut_at_the_bound() {
        let long = "x".repeat(MAX_LINE + 100);
        let text = format!("one\n{long}\nthree");
        let mut reader = futures::io::Cursor::new(text.into_bytes());
        let mut line = Vec::new();
        let mut lines = Vec::new();
        loop {
            line.clear();
            if read_line(&mut reader, &mut line).await.unwrap() == 0 {
                break;
            }
            lines.push(line.len());
        }
        assert_eq!(lines, [4, MAX_LINE, 5]);
    }
}
