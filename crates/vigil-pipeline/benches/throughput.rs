//! Events per second through JSON parse (into the k8s-openapi Event of either
//! API) + `KubeEvent` conversion + `Pipeline::process`, on ~10k events
//! generated from the recorded fixtures: many namespaces, workloads and
//! pods, Normal noise, repeats across pods, relisted re-deliveries.
//!
//! The `falco` and `audit` groups do the same for Falco alerts (JSON lines,
//! as Falco's HTTP output POSTs them) and Kubernetes audit events (the log
//! backend's lines), generated from the recorded fixtures.
//!
//! Run: `cargo bench -p vigil-pipeline --bench throughput` (add `-- falco`
//! or `-- audit` for one group).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use k8s_openapi::api::{core::v1 as core, events::v1 as events};
use serde_json::{json, Value};
use std::hint::black_box;
use std::sync::Arc;
use vigil_pipeline::{
    AuditEvent, FalcoAlert, KubeEvent, ManualClock, Outcome, Pipeline, PipelineConfig,
};

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

/// Outcome counts, to print what a benchmark measures.
fn mix<'a>(
    outcomes: impl Iterator<Item = Outcome> + 'a,
) -> std::collections::BTreeMap<String, usize> {
    let mut mix = std::collections::BTreeMap::new();
    for o in outcomes {
        let kind = match o {
            Outcome::Emit(_) => "emit".to_string(),
            Outcome::Repeat(_) => "repeat".to_string(),
            Outcome::Dropped(r) => format!("dropped_{}", r.as_str()),
        };
        *mix.entry(kind).or_default() += 1;
    }
    mix
}

fn json_lines(path: &str) -> Vec<Value> {
    fixture(path)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}

fn at_millis(i: usize, step: u64) -> k8s_openapi::jiff::Timestamp {
    let start: k8s_openapi::jiff::Timestamp = START.parse().expect("valid time");
    start
        .checked_add(std::time::Duration::from_millis(step * i as u64))
        .expect("in range")
}

const FALCO_FILES: &[&str] = &[
    "falco/falco-website_channels_terminal-shell.jsonl",
    "falco/falco-website_blog_terminal-shell-k8s.jsonl",
    "falco/falco-website_blog_k8saudit-eks-alerts.jsonl",
    "falco/falco-website_blog_k8saudit-ovh-alerts.jsonl",
    "falco/falco_test_output_single_rule_with_cat_write.jsonl",
];

/// Variations on the 17 recorded alerts: many namespaces, pods and
/// containers, one alert every 3 ms (a busy node pool), every 5th a
/// re-send of an earlier one (a sidekick retry).
fn generate_falco() -> Vec<Vec<u8>> {
    let templates: Vec<Value> = FALCO_FILES.iter().flat_map(|f| json_lines(f)).collect();
    let mut rng = Rng(0xfa1c_0123_4567_89ab);
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS {
        if i % 5 == 4 {
            let again = out[rng.below(out.len())].clone();
            out.push(again);
            continue;
        }
        let mut doc = templates[rng.below(templates.len())].clone();
        let at = at_millis(i, 3)
            .checked_add(std::time::Duration::from_nanos(rng.below(1_000_000) as u64))
            .expect("in range");
        let ns = format!("team-{}", rng.below(40));
        let pod = format!(
            "{}-{}-{}",
            ["web", "api", "worker", "cart"][rng.below(4)],
            rng.safe(9),
            rng.safe(5)
        );
        let output = doc["output"].as_str().unwrap_or_default().to_string();
        let rest = output.split_once(": ").map_or(output.as_str(), |(_, r)| r);
        let nanos = at.as_nanosecond() as u64;
        if let Some(f) = doc["output_fields"].as_object_mut() {
            let mut rest = rest.to_string();
            for (key, value) in [
                ("k8s.ns.name", &ns),
                ("ka.target.namespace", &ns),
                ("k8s.pod.name", &pod),
            ] {
                if let Some(Value::String(old)) = f.get(key) {
                    rest = rest.replace(old.as_str(), value);
                    f.insert(key.to_string(), value.clone().into());
                }
            }
            if f.contains_key("container.id") {
                f.insert("container.id".into(), rng.hex(12).into());
            }
            for key in ["evt.time", "evt.time.iso8601"] {
                if f.contains_key(key) {
                    f.insert(key.into(), nanos.into());
                }
            }
            doc["output"] = format!("{}: {rest}", at.strftime("%H:%M:%S.%f")).into();
        }
        doc["time"] = at.to_string().into();
        out.push(serde_json::to_vec(&doc).expect("serializes"));
    }
    out
}

/// Every recorded audit event but the malformed one.
fn audit_templates() -> Vec<Value> {
    let dir = format!("{}/tests/fixtures/k8s-audit", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the audit fixtures")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n != "fal_01_003.json")
        .collect();
    names.sort();
    names
        .iter()
        .flat_map(|n| json_lines(&format!("k8s-audit/{n}")))
        .collect()
}

/// Variations on the 51 recorded audit events: new auditIDs, namespaces,
/// object names and users, one event every 1 ms, every 5th a re-delivery
/// (a webhook retry). About two thirds match no rule, as in the recordings.
fn generate_audit() -> Vec<Vec<u8>> {
    let templates = audit_templates();
    let mut rng = Rng(0xa0d1_7e5e_1234_5678);
    let users = [
        "minikube-user",
        "alice",
        "bob",
        "system:serviceaccount:team-3:ci",
        "system:anonymous",
    ];
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS {
        if i % 5 == 4 {
            let again = out[rng.below(out.len())].clone();
            out.push(again);
            continue;
        }
        let mut doc = templates[rng.below(templates.len())].clone();
        let at = at_millis(i, 1);
        doc["auditID"] = format!(
            "{}-{}-{}-{}-{}",
            rng.hex(8),
            rng.hex(4),
            rng.hex(4),
            rng.hex(4),
            rng.hex(12)
        )
        .into();
        doc["requestReceivedTimestamp"] = at.to_string().into();
        doc["stageTimestamp"] = (at + std::time::Duration::from_micros(800))
            .to_string()
            .into();
        if rng.below(4) == 0 {
            doc["user"]["username"] = users[rng.below(users.len())].into();
        }
        let object_ref = &mut doc["objectRef"];
        if object_ref["namespace"].is_string() && object_ref["namespace"] != "kube-system" {
            object_ref["namespace"] = format!("team-{}", rng.below(40)).into();
        }
        if object_ref["name"].is_string() && object_ref["resource"] != "namespaces" {
            let name = format!(
                "{}-{}",
                object_ref["name"].as_str().unwrap_or("x"),
                rng.below(50)
            );
            object_ref["name"] = name.into();
        }
        out.push(serde_json::to_vec(&doc).expect("serializes"));
    }
    out
}

fn falco_alert(bytes: &[u8]) -> Option<FalcoAlert> {
    FalcoAlert::from_slice(bytes).ok()
}

fn audit_event(bytes: &[u8]) -> Option<AuditEvent> {
    AuditEvent::from_slice(bytes).ok()
}

fn falco(c: &mut Criterion) {
    let docs = generate_falco();
    let parsed: Vec<FalcoAlert> = docs.iter().filter_map(|b| falco_alert(b)).collect();
    assert_eq!(parsed.len(), EVENTS, "every generated alert parses");
    let mut p = new_pipeline();
    let outcomes = mix(parsed.iter().map(|a| p.process_falco(a)));
    eprintln!(
        "{EVENTS} Falco alerts, {} bytes of JSON: {outcomes:?}",
        docs.iter().map(Vec::len).sum::<usize>()
    );
    let mut group = c.benchmark_group("falco");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("parse+process", |b| {
        b.iter_batched_ref(
            new_pipeline,
            |p| {
                for bytes in &docs {
                    if let Some(a) = falco_alert(bytes) {
                        black_box(p.process_falco(&a));
                    }
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("parse", |b| {
        b.iter(|| {
            for bytes in &docs {
                black_box(falco_alert(bytes));
            }
        })
    });
    group.bench_function("process", |b| {
        b.iter_batched_ref(
            new_pipeline,
            |p| {
                for a in &parsed {
                    black_box(p.process_falco(a));
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn audit(c: &mut Criterion) {
    let docs = generate_audit();
    let parsed: Vec<AuditEvent> = docs.iter().filter_map(|b| audit_event(b)).collect();
    assert_eq!(parsed.len(), EVENTS, "every generated audit event parses");
    let mut p = new_pipeline();
    let outcomes = mix(parsed.iter().map(|e| p.process_audit(e)));
    eprintln!(
        "{EVENTS} audit events, {} bytes of JSON: {outcomes:?}",
        docs.iter().map(Vec::len).sum::<usize>()
    );
    let mut group = c.benchmark_group("audit");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("parse+process", |b| {
        b.iter_batched_ref(
            new_pipeline,
            |p| {
                for bytes in &docs {
                    if let Some(e) = audit_event(bytes) {
                        black_box(p.process_audit(&e));
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
                    black_box(p.process_audit(e));
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, throughput, falco, audit);
criterion_main!(benches);
