//! Events per second through JSON parse (into the k8s-openapi Event of either
//! API) + `KubeEvent` conversion + `Pipeline::process`, on ~10k events
//! generated from the recorded fixtures: many namespaces, workloads and
//! pods, Normal noise, repeats across pods, relisted re-deliveries.
//!
//! Run: `cargo bench -p vigil-pipeline --bench throughput`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use k8s_openapi::api::{core::v1 as core, events::v1 as events};
use serde_json::{json, Value};
use std::hint::black_box;
use std::sync::Arc;
use vigil_pipeline::{KubeEvent, ManualClock, Outcome, Pipeline, PipelineConfig};

const EVENTS: usize = 10_000;
const START: &str = "2026-03-01T10:00:00Z";

fn fixture(path: &str) -> String {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {full}: {e}"))
}

/// xorshift64*: deterministic, so every run measures the same events.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn safe(&mut self, len: usize) -> String {
        const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| SAFE[self.below(SAFE.len())] as char)
            .collect()
    }
    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0'))
            .collect()
    }
}

/// The recorded core/v1 Events the generated ones are variations of.
fn templates() -> Vec<Value> {
    let mut t: Vec<Value> = vec![serde_json::from_str(&fixture(
        "k8s-events/issue_opsgenie-kubernetes-event-exporter-115_backoff_enhanced-event.json",
    ))
    .expect("valid JSON")];
    let line = fixture("eventrouter/openshift-origin-aggregated-logging_kube_events_design_doc_original_raw_message.jsonl");
    let mut wrapped: Value = serde_json::from_str(line.trim()).expect("valid JSON line");
    t.push(wrapped["event"].take());
    let docs: Vec<Value> = serde_saphyr::from_multiple(&fixture(
        "k8s-events/kspan_testdata_deployment-2-pods_event-stream.yaml",
    ))
    .expect("valid YAML");
    t.extend(docs.into_iter().filter(|d| d["kind"] == "Event"));
    t
}

/// Warning variations on the BackOff sample, with real-world messages.
const WARNINGS: &[(&str, &str)] = &[
    ("BackOff", "Back-off restarting failed container {c} in pod {pod}_{ns}({uid})"),
    ("FailedMount", "MountVolume.SetUp failed for volume \"{c}-config\" : configmap \"{c}-config\" not found"),
    ("FailedScheduling", "0/{n} nodes are available: {n} Insufficient cpu. preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod."),
    ("Unhealthy", "Readiness probe failed: Get \"http://10.244.{n}.{n}:8080/healthz\": dial tcp 10.244.{n}.{n}:8080: connect: connection refused"),
    ("Failed", "Failed to pull image \"registry.example.com/{c}:1.{n}\": rpc error: code = NotFound desc = failed to resolve reference"),
    ("OOMKilling", "Memory cgroup out of memory: Killed process {n} ({c}) total-vm:{n}kB, anon-rss:{n}kB"),
];

fn generate() -> Vec<(bool, Vec<u8>)> {
    let (warning, normal): (Vec<Value>, Vec<Value>) = templates()
        .into_iter()
        .partition(|t| t["type"] == "Warning");
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let start: k8s_openapi::jiff::Timestamp = START.parse().expect("valid time");
    let namespaces: Vec<String> = (0..40)
        .map(|i| {
            if i % 8 == 0 {
                format!("kube-system-{i}")
            } else {
                format!("team-{i}")
            }
        })
        .collect();
    let workloads = [
        "web",
        "api",
        "worker",
        "cart",
        "search",
        "auth",
        "billing",
        "cron-sync",
    ];
    let hashes: Vec<String> = (0..namespaces.len() * workloads.len())
        .map(|_| rng.safe(9))
        .collect();
    let mut out: Vec<(bool, Vec<u8>)> = Vec::with_capacity(EVENTS);
    let mut sent: Vec<(bool, Vec<u8>)> = Vec::new();
    for i in 0..EVENTS {
        if i % 5 == 4 && !sent.is_empty() {
            let again = sent[rng.below(sent.len())].clone(); // a relist re-delivery
            out.push(again);
            continue;
        }
        let (ns_i, w_i) = (rng.below(namespaces.len()), rng.below(workloads.len()));
        let (ns, w) = (&namespaces[ns_i], workloads[w_i]);
        let pod = format!(
            "{w}-{}-{}",
            hashes[ns_i * workloads.len() + w_i],
            rng.safe(5)
        );
        let uid = format!(
            "{}-{}-{}-{}-{}",
            rng.hex(8),
            rng.hex(4),
            rng.hex(4),
            rng.hex(4),
            rng.hex(12)
        );
        let at = start
            .checked_add(std::time::Duration::from_millis(30 * i as u64))
            .expect("in range");
        // Half Normal noise (most of it dropped), half Warnings.
        let pool = if rng.below(2) == 0 { &normal } else { &warning };
        let mut doc = pool[rng.below(pool.len())].clone();
        if doc["type"] == "Warning" && rng.below(3) > 0 {
            let (reason, message) = WARNINGS[rng.below(WARNINGS.len())];
            let n = (1 + rng.below(40)).to_string();
            doc["reason"] = reason.into();
            doc["message"] = message
                .replace("{c}", w)
                .replace("{pod}", &pod)
                .replace("{ns}", ns)
                .replace("{uid}", &uid)
                .replace("{n}", &n)
                .into();
            if reason == "OOMKilling" {
                doc["involvedObject"] =
                    json!({"kind": "Node", "name": format!("node-{}", rng.below(12))});
            }
        }
        if doc["involvedObject"]["kind"] == "Pod" {
            doc["involvedObject"]["name"] = pod.clone().into();
            doc["involvedObject"]["namespace"] = ns.clone().into();
        }
        doc["metadata"] = json!({
            "name": format!("{pod}.{}", rng.hex(16)), "namespace": ns, "uid": uid,
            "resourceVersion": (1_000_000 + i).to_string(), "creationTimestamp": at.to_string(),
        });
        doc["count"] = (1 + rng.below(20)).into();
        doc["firstTimestamp"] = at.to_string().into();
        doc["lastTimestamp"] = at.to_string().into();
        let events_api = i % 2 == 0;
        let doc = if events_api { to_events_v1(&doc) } else { doc };
        let entry = (events_api, serde_json::to_vec(&doc).expect("serializes"));
        sent.push(entry.clone());
        out.push(entry);
    }
    out
}

/// The same Event as `events.k8s.io/v1` would serve it.
fn to_events_v1(c: &Value) -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": c["metadata"],
        "eventTime": null, "type": c["type"], "reason": c["reason"], "note": c["message"],
        "regarding": c["involvedObject"], "deprecatedSource": c["source"],
        "deprecatedFirstTimestamp": c["firstTimestamp"], "deprecatedLastTimestamp": c["lastTimestamp"],
        "deprecatedCount": c["count"], "reportingController": c["source"]["component"],
    })
}

/// Bytes as a watch delivers them. UTF-8 is checked once up front: serde_json
/// then skips re-validating every string it reads (from_slice would not).
fn parse(events_api: bool, bytes: &[u8]) -> Option<KubeEvent> {
    let text = std::str::from_utf8(bytes).ok()?;
    if events_api {
        serde_json::from_str::<events::Event>(text)
            .ok()
            .map(KubeEvent::from)
    } else {
        serde_json::from_str::<core::Event>(text)
            .ok()
            .map(KubeEvent::from)
    }
}

fn new_pipeline() -> Pipeline {
    // Unthrottled, so every new problem goes the whole way to a Candidate.
    let mut config = PipelineConfig::for_kubernetes_events();
    config.throttle.events_per_second = 1e9;
    config.throttle.burst = u32::MAX;
    Pipeline::new(
        config,
        Arc::new(ManualClock::new(START.parse().expect("valid time"))),
    )
}

fn throughput(c: &mut Criterion) {
    let docs = generate();
    let parsed: Vec<KubeEvent> = docs.iter().filter_map(|(api, b)| parse(*api, b)).collect();
    assert_eq!(parsed.len(), EVENTS, "every generated event parses");
    let mut mix = std::collections::BTreeMap::<String, usize>::new();
    let mut p = new_pipeline();
    for e in &parsed {
        let kind = match p.process(e) {
            Outcome::Emit(_) => "emit".to_string(),
            Outcome::Repeat(_) => "repeat".to_string(),
            Outcome::Dropped(r) => format!("dropped_{}", r.as_str()),
        };
        *mix.entry(kind).or_default() += 1;
    }
    eprintln!(
        "{EVENTS} events, {} bytes of JSON: {mix:?}",
        docs.iter().map(|(_, b)| b.len()).sum::<usize>()
    );
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("parse+convert+process", |b| {
        b.iter_batched_ref(
            new_pipeline,
            |p| {
                for (api, bytes) in &docs {
                    if let Some(e) = parse(*api, bytes) {
                        black_box(p.process(&e));
                    }
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("process", |b| {
        b.iter_batched_ref(
            new_pipeline,
            |p| {
                for e in &parsed {
                    black_box(p.process(e));
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
