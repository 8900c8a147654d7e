//! The webhook intake of `vigil run` (release build) at saturation, on
//! loopback, printed as a table (run through `bench/run webhook`; see
//! docs/PERFORMANCE.md): many concurrent kept-alive connections POST Falco
//! alerts as fast as they are answered, for a fixed time per phase:
//!
//! - single-alert requests (what Falco's `http_output` sends);
//! - JSON-lines batches of 100 alerts.
//!
//! Reported: requests/s and alerts/s accepted (answered 202), p50/p99
//! latency of accepted requests, refusals (503 queue full), and the agent's
//! peak RSS. The alert is the same one over and over (a current timestamp),
//! so after the first it is a repeat folded into one Observation: this
//! measures the intake and the pipeline, not the API server's write rate.
//! The load generator shares the machine's cores with the agent.
//!
//! `VIGIL_BENCH_TLS=1` (`bench/run webhook-tls`): the same over https (the
//! listener with `webhooks.tls`, a P-256 server certificate; the clients'
//! handshakes happen once per kept-alive connection).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/webhook_client.rs"]
mod webhook_client;

use common::{grant_agent, Agent};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_test_support::{Plane, TestUser};
use webhook_client::{Certs, Conn};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn alert(namespace: &str) -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    serde_json::json!({
        "hostname": "node-1", "priority": "Critical", "rule": "Terminal shell in container",
        "source": "syscall", "tags": ["container", "mitre_execution", "shell"], "time": now.to_string(),
        "output": format!("{now}: Critical A shell was spawned in a container with an attached terminal (user=root k8s.ns={namespace} k8s.pod=web-7c9d8f6b5-x2x7q container=ee97d9c4186f shell=sh parent=runc cmdline=sh terminal=34816)"),
        "output_fields": {"container.id": "ee97d9c4186f", "container.image.repository": "docker.io/library/alpine",
            "evt.time": now.as_nanosecond() as i64, "k8s.ns.name": namespace, "k8s.pod.name": "web-7c9d8f6b5-x2x7q",
            "proc.cmdline": "sh", "proc.name": "sh", "proc.pname": "runc", "proc.tty": 34816, "user.loginuid": -1, "user.name": "root"},
    })
    .to_string()
}

struct Phase {
    name: String,
    alerts_per_request: usize,
    seconds: f64,
    accepted_requests: u64,
    refused: u64,
    latencies: Vec<Duration>,
}

impl Phase {
    fn pct(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[i]
    }
}

async fn phase(
    namespace: &str,
    name: &str,
    address: &str,
    connections: usize,
    alerts_per_request: usize,
    duration: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Phase {
    let line = alert(namespace);
    let body = bytes::Bytes::from(
        std::iter::repeat_n(line.as_str(), alerts_per_request)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let start = Instant::now();
    let stop = start + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (address, body, tls) = (address.to_string(), body.clone(), tls.clone());
            tokio::spawn(async move {
                let mut conn = Conn::open_with(&address, tls).await.expect("connect");
                let headers = [
                    ("content-type", "application/x-ndjson"),
                    ("authorization", "Bearer bench-token"),
                ];
                let (mut latencies, mut refused) = (Vec::new(), 0u64);
                while Instant::now() < stop {
                    let sent = Instant::now();
                    let r = conn
                        .post("/webhooks/falco", &headers, body.clone())
                        .await
                        .expect("an answer");
                    match r.status {
                        202 => latencies.push(sent.elapsed()),
                        429 | 503 => {
                            refused += 1;
                            // A sender honouring Retry-After would wait; a
                            // saturation run only backs off a little.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        other => panic!("unexpected {other}: {}", r.body),
                    }
                }
                (latencies, refused)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (l, r) = t.await.expect("sender");
        all.extend(l);
        refused += r;
    }
    let seconds = start.elapsed().as_secs_f64();
    all.sort();
    Phase {
        name: name.to_string(),
        alerts_per_request,
        seconds,
        accepted_requests: all.len() as u64,
        refused,
        latencies: all,
    }
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("webhook: benchmark");
        return;
    }
    let seconds = env_or("VIGIL_BENCH_SECONDS", 10);
    let connections = env_or("VIGIL_BENCH_CONNECTIONS", 64) as usize;
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("bench-webhook").await;
    grant_agent(&admin, &ns).await;
    let dir = std::env::temp_dir().join(format!("vigil-bench-webhook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let token = dir.join("token");
    std::fs::write(&token, "bench-token\n").expect("token");
    let tls = env_or("VIGIL_BENCH_TLS", 0) == 1;
    let (tls_section, client) = if tls {
        let certs = Certs::make(&dir.join("certs"));
        let p = |f: &str| certs.path(f).display().to_string();
        (
            format!(
                "  tls: {{certFile: {}, keyFile: {}}}\n",
                p("server.crt"),
                p("server.key")
            ),
            Some(certs.client(None)),
        )
    } else {
        (String::new(), None)
    };
    let config = format!(
        "dedup:\n  window: 1h\nwebhooks:\n{tls_section}  endpoints:\n  - name: falco\n    kind: falco\n    auth: {{bearerTokenFile: {}}}\n    \
         rateLimit: {{requestsPerSecond: 1000000, burst: 1000000}}\n",
        token.display()
    );
    let agent = Agent::start_with(
        &plane.kubeconfig(TestUser::Vigil),
        &ns,
        &config,
        &["--webhook-listen", "127.0.0.1:0"],
        true,
    );
    agent.wait_ready(true).await;
    let address = agent.webhook_address.clone().expect("webhook listener");
    let idle_rss = rss_kib(agent.pid(), "VmRSS:");

    let duration = Duration::from_secs(seconds);
    // Warm-up: connections, the first Observation, the allocator.
    phase(
        &ns,
        "warm-up",
        &address,
        connections,
        1,
        Duration::from_secs(1),
        client.clone(),
    )
    .await;
    let phases = [
        phase(
            &ns,
            "single-alert requests",
            &address,
            connections,
            1,
            duration,
            client.clone(),
        )
        .await,
        phase(
            &ns,
            "JSON-lines batches of 100",
            &address,
            connections / 4,
            100,
            duration,
            client.clone(),
        )
        .await,
    ];
    let accepted = agent
        .metric("vigil_webhook_records_accepted_total{endpoint=\"falco\"}")
        .await;
    let a = agent.wait_settled(accepted).await;
    let peak_rss = rss_kib(agent.pid(), "VmHWM:");

    println!();
    println!(
        "| webhook intake, Falco alerts, loopback {}, {connections} connections (batches: {}) | |",
        if tls { "https" } else { "http" },
        connections / 4
    );
    println!("|---|---|");
    for p in &phases {
        let requests = p.accepted_requests as f64 / p.seconds;
        println!("| {}: accepted requests/s | {requests:.0} |", p.name);
        println!(
            "| {}: accepted alerts/s | {:.0} |",
            p.name,
            requests * p.alerts_per_request as f64
        );
        println!(
            "| {}: latency of an accepted request, p50 / p99 | {:.2} ms / {:.2} ms |",
            p.name,
            p.pct(0.50).as_secs_f64() * 1e3,
            p.pct(0.99).as_secs_f64() * 1e3
        );
        println!("| {}: refused (503 queue full) | {} |", p.name, p.refused);
    }
    println!(
        "| alerts accepted in all / through the pipeline (received) | {accepted:.0} / {:.0} |",
        a.received
    );
    println!(
        "| Observations written / repeats folded / filtered | {} / {} / {} |",
        a.created.abs(),
        a.deduped.abs(),
        a.filtered.abs()
    );
    println!(
        "| agent RSS idle / peak | {} MiB / {} MiB |",
        idle_rss / 1024,
        peak_rss / 1024
    );
    assert!(a.settled() && a.received == accepted, "{a:?}");
    assert_eq!(a.created, 1.0, "one Observation, the rest repeats: {a:?}");
}
