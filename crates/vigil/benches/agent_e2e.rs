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

/// (b) bare client: N Observation creates, 64 in flight, as fast as the plane takes them.
async fn bare_create_rate(client: &kube::Client, ns: &str, n: usize) -> f64 {
    let api: Api<Observation> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                let obs: Observation = serde_json::from_value(serde_json::json!({
                    "apiVersion": "zen.kube-zen.io/v1", "kind": "Observation",
                    "metadata": {"name": format!("bare-{i}")},
                    "spec": {"source": "bench", "category": "operations", "severity": "high", "eventType": "bench",
                             "details": {"message": "bare client create"}},
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

    let ns = plane.namespace("bench-agent").await;
    grant_agent(&admin, &ns).await;
    let agent = Agent::start(&plane.kubeconfig(TestUser::Vigil), &ns, CONFIG);
    agent.wait_ready(true).await;
    let pid = agent.pid();
    let idle_rss = rss_kib(pid, "VmRSS:");

    // (b) the events are created as fast as the plane takes them; the agent
    // keeps up while they arrive and catches up after.
    let events = distinct_events("s", n);
    let start = Instant::now();
    create_events(&admin, &ns, &events).await;
    let created_in = start.elapsed();
    agent.wait_settled(n as f64).await;
    let through_agent = n as f64 / start.elapsed().as_secs_f64();
    let accounting = agent.accounting().await;
    assert_eq!(accounting.created, n as f64, "{accounting:?}");
    let peak_rss = rss_kib(pid, "VmHWM:");

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
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];

    println!("\nvigil agent end to end ({n} events, local control plane)");
    println!("| figure | value |\n|---|---|");
    println!("| (b) bare client Observation creates/s (64 in flight) | {bare:.0} |");
    println!(
        "| (b) events created by the load generator in | {:.2} s |",
        created_in.as_secs_f64()
    );
    println!("| (b) Observations/s through the agent, end to end | {through_agent:.0} ({:.0} % of bare) |", 100.0 * through_agent / bare);
    println!(
        "| (c) latency at {rate} events/s, p50 | {:.1} ms |",
        pct(0.50).as_secs_f64() * 1e3
    );
    println!(
        "| (c) latency at {rate} events/s, p99 | {:.1} ms |",
        pct(0.99).as_secs_f64() * 1e3
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
