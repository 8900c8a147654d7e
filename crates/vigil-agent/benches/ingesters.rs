//! An Ingester's hot path, one core: the real Trivy VulnerabilityReport
//! (41 vulnerabilities, 5 of them kept by the preset's minSeverity) mapped,
//! diffed against what the object had and passed through the Ingester's
//! dedup and rate limit — for a first scan (every finding new) and for a
//! re-scan of unchanged reports (the common case: nothing emitted).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use std::hint::black_box;
use std::sync::Arc;
use vigil_agent::ingesters::runtime::{Change, Mapping};
use vigil_agent::ingesters::status::Counters;

const PRESET: &str = include_str!("../../../deploy/ingesters/trivy-vulnerabilityreport.yaml");
const DUMP: &str = include_str!(
    "../../vigil-mapping/tests/fixtures/trivy-operator/defectdojo_all_reports_in_dict.json"
);

/// `n` copies of the real report, each about another workload.
fn reports(n: usize) -> Vec<(String, Value)> {
    let dump: Value = serde_json::from_str(DUMP).expect("dump");
    let report = dump["vulnerabilityreports.aquasecurity.github.io"][0].clone();
    assert_eq!(
        report["report"]["vulnerabilities"].as_array().map(Vec::len),
        Some(41)
    );
    (0..n)
        .map(|i| {
            let mut r = report.clone();
            r["metadata"]["name"] = Value::from(format!("replicaset-web-{i}"));
            r["metadata"]["labels"]["trivy-operator.resource.name"] =
                Value::from(format!("web-{i}"));
            (format!("shop/replicaset-web-{i}"), r)
        })
        .collect()
}

fn mapping() -> Mapping {
    let ingester: Value = serde_saphyr::from_str(PRESET).expect("preset");
    let mut ingester = ingester;
    // Unlimited rate: the bench measures the stage, not the bucket's refusals.
    ingester["spec"]["rateLimit"] =
        serde_json::json!({"eventsPerSecond": 1e9, "burst": 1_000_000_000u32});
    let compiled = vigil_agent::ingesters::compile(ingester).expect("valid preset");
    Mapping::with(
        Arc::new(compiled),
        Arc::new(Counters::default()),
        Default::default(),
        604_800,
    )
}

fn apply(m: &mut Mapping, objects: &[(String, Value)], now: Timestamp) -> usize {
    let mut emitted = 0;
    for (key, object) in objects {
        let change = Change::Applied {
            stream: "*".into(),
            key: key.clone(),
            object: object.clone(),
        };
        emitted += m.change(change, now).len();
    }
    emitted
}

fn bench(c: &mut Criterion) {
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let objects = reports(200);
    let findings = objects.len() as u64 * 41;
    let mut group = c.benchmark_group("ingester_trivy");
    group.throughput(Throughput::Elements(findings));
    group.bench_with_input(
        BenchmarkId::new("first_scan", findings),
        &objects,
        |b, objects| {
            b.iter_batched(
                mapping,
                |mut m| {
                    let emitted = apply(&mut m, black_box(objects), now);
                    assert_eq!(emitted, objects.len() * 5);
                    m
                },
                criterion::BatchSize::LargeInput,
            )
        },
    );
    let mut warm = mapping();
    apply(&mut warm, &objects, now);
    group.bench_with_input(
        BenchmarkId::new("unchanged_rescan", findings),
        &objects,
        |b, objects| {
            b.iter(|| {
                let emitted = apply(&mut warm, black_box(objects), now);
                assert_eq!(emitted, 0);
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
