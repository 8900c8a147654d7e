//! End-to-end figures of `vigil run` against the local control plane, printed
//! as a table (run through `bench/run`; see docs/PERFORMANCE.md):
//!
//! (b) sustained Observations/s through the agent, next to the raw create rate
//!     a bare client reaches against the same plane in the same run;
//! (c) p50/p99 latency from an Event's creation to its Observation, at a
//!     moderate rate;
//! (d) the agent's resident memory idle, and its peak under load.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{create_events, grant_agent, window_time, word, Agent, EventSpec};
use futures::StreamExt;
use kube::api::{Api, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use vigil_model::Observation;
use vigil_test_support::{Plane, TestUser};

const CONFIG: &str = "dedup:\n  window: 1h\nrateLimit:\n  eventsPerSecond: 100000\n  burst: 100000\nwriter:\n  qps: 100000\n  burst: 100000\n  concurrency: 64\n";

fn n_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn distinct_events(prefix: &str, n: usize) -> Vec<EventSpec> {
    (0..n)
        .map(|i| EventSpec {
            name: format!("{prefix}-{i}"),
            type_: "Warning",
            reason: "FailedMount".into(),
            message: format!(
                "MountVolume.SetUp failed for volume \"{}-data\" : not found",
                word(i)
            ),
            kind: "Pod",
            object: format!("{prefix}{}-api", word(i)),
            time: window_time(),
        })
        .collect()
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// The agent's processing-duration histogram: (upper bound, cumulative count).
async fn histogram(agent: &Agent) -> Vec<(f64, f64)> {
    let (_, metrics) = agent.get("/metrics").await;
    metrics
        .lines()
        .filter(|l| l.starts_with("vigil_event_processing_duration_seconds_bucket"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

/// (c) baseline: a bare client creates `count` Observations at `rate`/s; how
/// long until a watch sees each (p50, p99): the plane's own share of the
/// second half of the agent's path.
async fn bare_observation_latency(
    client: &kube::Client,
    ns: &str,
    rate: usize,
    count: usize,
) -> (Duration, Duration) {
    let api: Api<Observation> = Api::namespaced(client.clone(), ns);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch_api = api.clone();
    let watch = tokio::spawn(async move {
        let mut stream = watcher(watch_api, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(Ok(o)) = stream.next().await {
            if let Some(name) = o.metadata.name {
                let _ = tx.send((name, Instant::now()));
            }
        }
    });
    let mut sent = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    for i in 0..count {
        tick.tick().await;
        let name = format!("bare-latency-{i}");
        let obs: Observation = serde_json::from_value(serde_json::json!({
            "apiVersion": "zen.kube-zen.io/v1", "kind": "Observation", "metadata": {"name": name},
            "spec": {"source": "kubernetes-events", "category": "operations", "severity": "high",
                     "eventType": "volume_mount_failed", "details": {"message": "bare latency"}}
        }))
        .expect("observation");
        let at = Instant::now();
        api.create(&PostParams::default(), &obs)
            .await
            .expect("bare create");
        sent.insert(name, at);
    }
    let mut seen = Vec::with_capacity(count);
    while let Ok(Some((name, at))) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        if let Some(t0) = sent.remove(&name) {
            seen.push(at.duration_since(t0));
        }
        if sent.is_empty() {
            break;
        }
    }
    watch.abort();
    seen.sort();
    let pct = |p: f64| {
        seen.get(((seen.len() as f64 * p) as usize).min(seen.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    (pct(0.5), pct(0.99))
}

/// (b) bare client: N Observation creates (the same objects the agent
/// writes), 64 in flight, as fast as the plane takes them.
async fn bare_create_rate(client: &kube::Client, ns: &str, n: usize) -> f64 {
    let api: Api<Observation> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                // The same shape and size as what the agent writes for a
                // FailedMount event, so the two rates compare like for like.
                let pod = format!("b{}-api", word(i));
                let obs: Observation = serde_json::from_value(serde_json::json!({
                    "apiVersion": "zen.kube-zen.io/v1", "kind": "Observation",
                    "metadata": {"name": format!("kubernetes-events-volume-mount-failed-{i:016x}"),
                                 "labels": {"vigil.kube-zen.io/audience": "customer",
                                            "vigil.kube-zen.io/fingerprint": format!("{i:016x}"),
                                            "zen.kube-zen.io/source": "kubernetes-events"}},
                    "spec": {"source": "kubernetes-events", "category": "operations", "severity": "high",
                             "eventType": "volume_mount_failed", "ttlSecondsAfterCreation": 604800,
                             "detectedAt": window_time().to_string(),
                             "resource": {"apiVersion": "v1", "kind": "Pod", "name": pod, "namespace": ns},
                             "details": {"reason": "FailedMount", "type": "Warning", "count": 1,
                                         "message": format!("MountVolume.SetUp failed for volume \"{}-data\" : not found", word(i)),
                                         "firstTime": window_time().to_string(), "lastTime": window_time().to_string(),
                                         "eventName": format!("{ns}/s-{i}"), "reportingController": "kubelet",
                                         "reportingInstance": "node-a"}},
                }))
                .expect("observation");
                api.create(&PostParams::default(), &obs).await.expect("bare create");
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    n as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("agent_e2e: benchmark");
        return;
    }
    let n = n_from_env("VIGIL_BENCH_EVENTS", 3000);
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;

    let bare_ns = plane.namespace("bench-bare").await;
    let bare = bare_create_rate(&admin, &bare_ns, n).await;

    // (b) backlog: the events are there before the agent starts, so the
    // agent's own write rate is measured, not the load generator's.
    let drain_ns = plane.namespace("bench-drain").await;
    grant_agent(&admin, &drain_ns).await;
    create_events(&admin, &drain_ns, &distinct_events("d", n)).await;
    let start = Instant::now();
    let drain_agent = Agent::start(&plane.kubeconfig(TestUser::Vigil), &drain_ns, CONFIG);
    let a = drain_agent.wait_settled(n as f64).await;
    let drained = n as f64 / start.elapsed().as_secs_f64();
    assert_eq!(a.created, n as f64, "{a:?}");
    drop(drain_agent);

    let ns = plane.namespace("bench-agent").await;
    grant_agent(&admin, &ns).await;
    let agent = Agent::start(&plane.kubeconfig(TestUser::Vigil), &ns, CONFIG);
    agent.wait_ready(true).await;
    let pid = agent.pid();
    let idle_rss = rss_kib(pid, "VmRSS:");

    // (b) live: the events are created as fast as the plane takes them while
    // the agent writes (both share the plane).
    let events = distinct_events("s", n);
    let start = Instant::now();
    create_events(&admin, &ns, &events).await;
    let created_in = start.elapsed();
    agent.wait_settled(n as f64).await;
    let through_agent = n as f64 / start.elapsed().as_secs_f64();
    let accounting = agent.accounting().await;
    assert_eq!(accounting.created, n as f64, "{accounting:?}");
    let peak_rss = rss_kib(pid, "VmHWM:");

    let before = histogram(&agent).await;
    // (c) latency at a moderate rate: event created → Observation seen by a watch.
    let rate = n_from_env("VIGIL_BENCH_LATENCY_RATE", 100);
    let count = n_from_env("VIGIL_BENCH_LATENCY_EVENTS", 1000);
    let lat_events = distinct_events("l", count);
    let obs_api: Api<Observation> = Api::namespaced(admin.clone(), &ns);
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = tokio::spawn(async move {
        let mut stream = watcher(obs_api, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(Ok(o)) = stream.next().await {
            if let Some(name) = o.spec.resource.and_then(|r| r.name) {
                let _ = seen_tx.send((name, Instant::now()));
            }
        }
    });
    // The plane's own share: the same Events seen by a bare watch (what the
    // agent's watch waits for before it can do anything).
    let events_api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(admin.clone(), &ns);
    let (event_tx, mut event_rx) = tokio::sync::mpsc::unbounded_channel();
    let event_watch = tokio::spawn(async move {
        let mut stream = watcher(events_api, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(Ok(e)) = stream.next().await {
            if let Some(name) = e.regarding.and_then(|r| r.name) {
                let _ = event_tx.send((name, Instant::now()));
            }
        }
    });
    let event_api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(admin.clone(), &ns);
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    for e in &lat_events {
        tick.tick().await;
        let at = Instant::now();
        event_api
            .create(&PostParams::default(), &e.to_event(&ns))
            .await
            .expect("event");
        sent.insert(e.object.clone(), at);
    }
    let sent_copy = sent.clone();
    let mut latencies = Vec::with_capacity(count);
    let deadline = Instant::now() + common::DEADLINE;
    while latencies.len() < count && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), seen_rx.recv()).await {
            Ok(Some((name, at))) => {
                if let Some(t0) = sent.remove(&name) {
                    latencies.push(at.duration_since(t0));
                }
            }
            _ => break,
        }
    }
    watch.abort();
    assert_eq!(latencies.len(), count, "not every latency event arrived");
    let mut delivered = Vec::with_capacity(count);
    while let Ok(Some((name, at))) =
        tokio::time::timeout(Duration::from_secs(2), event_rx.recv()).await
    {
        if let Some(t0) = sent_copy.get(&name) {
            delivered.push(at.duration_since(*t0));
        }
        if delivered.len() == count {
            break;
        }
    }
    event_watch.abort();
    delivered.sort();
    let observation_path = bare_observation_latency(&admin, &ns, rate, 300).await;
    let bare_pct = |p: f64| {
        delivered
            .get(((delivered.len() as f64 * p) as usize).min(delivered.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    // Inside the agent (dequeued → written) during this phase only: the
    // processing-duration histogram's p99 bucket, from the difference of its
    // counts before and after, to tell the agent's share from the plane's.
    let after = histogram(&agent).await;
    let phase: Vec<(f64, f64)> = after
        .iter()
        .zip(&before)
        .map(|(a, b)| (a.0, a.1 - b.1))
        .collect();
    let total = phase.last().map_or(0.0, |b| b.1);
    let in_agent_p99 = phase
        .iter()
        .find(|(_, n)| *n >= 0.99 * total)
        .map_or(f64::NAN, |b| b.0);

    println!("\nvigil agent end to end ({n} events, local control plane)");
    println!("| figure | value |\n|---|---|");
    println!("| (b) bare client Observation creates/s (64 in flight) | {bare:.0} |");
    println!(
        "| (b) events created by the load generator in | {:.2} s |",
        created_in.as_secs_f64()
    );
    println!(
        "| (b) Observations/s through the agent, backlog of {n} events (start to settled) | {drained:.0} ({:.0} % of bare) |",
        100.0 * drained / bare
    );
    println!(
        "| (b) Observations/s through the agent, live (events created meanwhile) | {through_agent:.0} ({:.0} % of bare) |",
        100.0 * through_agent / bare
    );
    println!(
        "| (c) latency at {rate} events/s, p50 | {:.1} ms |",
        pct(0.50).as_secs_f64() * 1e3
    );
    println!(
        "| (c) latency at {rate} events/s, p99 | {:.1} ms |",
        pct(0.99).as_secs_f64() * 1e3
    );
    println!(
        "| (c) baseline: the same Events seen by a bare watch (creation to delivery), p50 / p99 | {:.1} / {:.1} ms ({} seen) |",
        bare_pct(0.50).as_secs_f64() * 1e3,
        bare_pct(0.99).as_secs_f64() * 1e3,
        delivered.len()
    );
    println!(
        "| (c) baseline: Observations created by a bare client at the same rate, seen by a watch, p50 / p99 | {:.1} / {:.1} ms |",
        observation_path.0.as_secs_f64() * 1e3,
        observation_path.1.as_secs_f64() * 1e3
    );
    println!(
        "| (c) of which inside the agent (dequeued to written), p99 at most | {:.1} ms |",
        in_agent_p99 * 1e3
    );
    println!(
        "| (d) agent RSS idle | {:.1} MB |",
        idle_rss as f64 / 1024.0
    );
    println!(
        "| (d) agent RSS peak under load | {:.1} MB |",
        peak_rss.max(rss_kib(pid, "VmHWM:")) as f64 / 1024.0
    );
}
