//! Signals per second through `Detector::process` with the default rules, on
//! 100k pre-built signals spanning two hours of event time: storms and
//! background noise of every default rule's reasons over 40 namespaces,
//! 2 000 pods and 50 nodes, plus events no rule matches, arriving slightly
//! out of order (within the lateness). Windows open, fire, close and are
//! forgotten throughout, so the figure includes expiry and entry reuse.
//!
//! Run: `taskset -c 0 cargo bench -p vigil-detect --bench detect`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;
use std::hint::black_box;
use std::time::Duration;
use vigil_detect::{Detector, Signal};
use vigil_model::{Category, ObservationSpec, ResourceRef, Severity};
use vigil_pipeline::Audience;

const SIGNALS: usize = 100_000;
const SPAN_MS: u64 = 2 * 3600 * 1000;

/// xorshift64*: deterministic, so every run measures the same signals.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// (reason, eventType, kind, share in percent)
const MIX: &[(&str, &str, &str, u64)] = &[
    ("BackOff", "pod_backoff", "Pod", 22),
    ("FailedMount", "volume_mount_failed", "Pod", 10),
    ("FailedScheduling", "scheduling_failed", "Pod", 8),
    ("OOMKilled", "oom_killed", "Pod", 5),
    ("NodeNotReady", "node_not_ready", "Node", 3),
    ("ErrImagePull", "image_pull_failed", "Pod", 6),
    ("Failed", "image_pull_failed", "Pod", 4),
    ("Unhealthy", "probe_failed", "Pod", 14),
    ("Evicted", "pod_evicted", "Pod", 5),
    // Matched by no default rule.
    ("Killing", "container_killed", "Pod", 8),
    ("FailedCreate", "create_failed", "ReplicaSet", 8),
    ("SandboxChanged", "pod_sandbox_changed", "Pod", 7),
];

struct Built {
    specs: Vec<ObservationSpec>,
    ids: Vec<String>,
    at: Vec<Timestamp>,
    audience: Vec<Audience>,
}

fn build() -> Built {
    let t0: Timestamp = "2026-03-01T10:00:00Z".parse().expect("valid time");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let total: u64 = MIX.iter().map(|m| m.3).sum();
    let mut b = Built {
        specs: Vec::with_capacity(SIGNALS),
        ids: Vec::with_capacity(SIGNALS),
        at: Vec::with_capacity(SIGNALS),
        audience: Vec::with_capacity(SIGNALS),
    };
    for i in 0..SIGNALS {
        let mut pick = rng.below(total);
        let &(reason, event_type, kind, _) = MIX
            .iter()
            .find(|m| {
                let hit = pick < m.3;
                pick = pick.saturating_sub(m.3);
                hit
            })
            .unwrap_or(&MIX[0]);
        // Storms: a quarter of the signals hit one of 20 hot pods.
        let hot = rng.below(4) == 0;
        let ns = if hot { rng.below(4) } else { rng.below(40) };
        let pod = if hot { rng.below(20) } else { rng.below(2000) };
        let node = kind == "Node";
        let namespace = if ns < 4 {
            format!("kube-{ns}")
        } else {
            format!("team-{ns}")
        };
        b.audience.push(if node || ns < 4 {
            Audience::Platform
        } else {
            Audience::Customer
        });
        b.specs.push(ObservationSpec {
            source: "kubernetes-events".into(),
            category: Category::Operations,
            severity: Severity::High,
            event_type: event_type.into(),
            resource: Some(ResourceRef {
                api_version: Some("v1".into()),
                kind: Some(kind.into()),
                name: Some(if node {
                    format!("node-{}", pod % 50)
                } else {
                    format!("app-{}-7c9d8f6b5-{pod:05}", pod % 97)
                }),
                namespace: (!node).then_some(namespace),
            }),
            details: Some(json!({
                "reason": reason,
                "message": "Back-off restarting failed container",
                "count": 1,
                "type": "Warning",
                "eventName": format!("e{i}"),
            })),
            detected_at: None,
            ttl_seconds_after_creation: None,
        });
        b.ids
            .push(format!("kubernetes-events-{event_type}-{i:016x}"));
        // In order overall, up to 5 s out of order (lateness is 30 s).
        let base = i as u64 * SPAN_MS / SIGNALS as u64;
        let at = base.saturating_sub(rng.below(5_000));
        b.at.push(t0 + Duration::from_millis(at));
    }
    b
}

fn signals(b: &Built) -> Vec<Signal<'_>> {
    (0..SIGNALS)
        .map(|i| Signal::new("c1", b.audience[i], &b.specs[i], b.at[i], &b.ids[i]))
        .collect()
}

fn bench(c: &mut Criterion) {
    let built = build();
    let signals = signals(&built);
    {
        let mut d = Detector::with_default_rules();
        let mut out = Vec::new();
        for s in &signals {
            d.process(s, &mut out);
        }
        let s = d.stats();
        eprintln!(
            "one pass: {} anomalies, {} matched, {} late, {} expired, {} live entries",
            out.len(),
            s.matched,
            s.late,
            s.expired,
            d.live_entries()
        );
    }
    let mut group = c.benchmark_group("detect");
    group.throughput(Throughput::Elements(SIGNALS as u64));
    group.sample_size(20);
    group.bench_function("default_rules_100k_signals", |b| {
        b.iter_batched(
            || (Detector::with_default_rules(), Vec::with_capacity(1024)),
            |(mut d, mut out)| {
                for s in &signals {
                    d.process(black_box(s), &mut out);
                }
                black_box(out.len())
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
