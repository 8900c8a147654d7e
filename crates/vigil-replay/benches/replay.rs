//! `vigil replay` end to end from JSON text: parse a `kubectl get events -A
//! -o json` dump, classify, convert, sort by event time, run the pipeline
//! and the detector, build the report. Events per second, one thread.
//!
//! Run: `cargo bench -p vigil-replay --bench replay` (or `bench/run replay`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use std::hint::black_box;
use vigil_replay::{input, replay, ReplayOptions};

const EVENTS: usize = 20_000;

/// A dump shaped like a busy cluster's: 60 namespaces, 3,000 pods, Normal
/// chatter, BackOff / FailedMount / Unhealthy storms, over two hours.
fn dump() -> String {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    };
    let reasons = [
        ("Normal", "Pulled", "Container image \"registry.example.com/app:1.4.2\" already present on machine"),
        ("Normal", "Started", "Started container app"),
        ("Normal", "Created", "Created container: app"),
        ("Warning", "BackOff", "Back-off restarting failed container app in pod {pod}_{ns}(4f1c2d3e-0000-4000-8000-000000000000)"),
        ("Warning", "FailedMount", "MountVolume.SetUp failed for volume \"data\" : secret \"{pod}-tls\" not found"),
        ("Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"),
    ];
    let items: Vec<serde_json::Value> = (0..EVENTS)
        .map(|i| {
            let ns = format!("team-{}", next(60));
            let pod = format!("svc{}-7c9d8f6b5-{:05}", next(50), next(3000));
            let (type_, reason, message) = reasons[next(reasons.len() as u64) as usize];
            let t = 1_795_183_200 + next(7200) as i64;
            let time = k8s_openapi::jiff::Timestamp::from_second(t).expect("time").to_string();
            json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": format!("{pod}.{i:x}"), "namespace": ns, "uid": format!("uid-{i}"), "resourceVersion": i.to_string()},
                "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod, "namespace": ns},
                "type": type_, "reason": reason, "message": message.replace("{pod}", &pod).replace("{ns}", &ns),
                "firstTimestamp": time, "lastTimestamp": time, "count": 1 + next(20),
                "source": {"component": "kubelet", "host": "node-1"}
            })
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

fn bench(c: &mut Criterion) {
    let text = dump();
    let report = replay(
        vec![input::parse("dump.json", &text, input::Format::Auto)],
        &ReplayOptions::default(),
    );
    eprintln!(
        "{EVENTS} events, {} bytes: {} observations, {} deduped, {} filtered, {} anomalies",
        text.len(),
        report.summary.observations,
        report.summary.deduped,
        report.summary.filtered_total(),
        report.summary.anomalies
    );
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(20);
    group.bench_function("json-dump-end-to-end", |b| {
        b.iter(|| {
            let parsed = input::parse("dump.json", black_box(&text), input::Format::Auto);
            black_box(replay(vec![parsed], &ReplayOptions::default()))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
