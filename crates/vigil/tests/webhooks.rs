//! The webhook intake of `vigil run` end to end, the real binary against a
//! real control plane: Falco and audit fixtures POSTed over HTTP become
//! exactly the Observations the pipeline makes of them (or the expected
//! 400); authentication, size and content-type refusals; a flood far above
//! the queue is refused with `Retry-After` and nothing goes unaccounted; a
//! SIGTERM drains what was accepted; the listener over TLS and mTLS; and
//! kube-apiserver's own audit webhook backend (a sender no one here wrote)
//! reaches the agent over https with its bearer token. Also: gzip bodies
//! (the shared Falco fixtures, as `compress_uploads` sends them), secrets
//! rotated in a Kubernetes Secret and in a file without a restart,
//! per-endpoint client certificates and a certificate reloaded from its
//! files.

mod common;
#[path = "common/webhook_client.rs"]
mod webhook_client;

use common::{grant_agent, Agent, DEADLINE};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_model::{Category, Observation, Severity};
use vigil_pipeline::sources::{audit, FalcoAlert};
use vigil_pipeline::{Candidate, Outcome, Pipeline, SystemClock};
use vigil_test_support::{repo_root, DedicatedPlane, Plane, TestUser};
use webhook_client::{post_once, try_post_once, Certs, Conn, Reply};

const TOKEN: &str = "wh-test-token-3f9c2a";

/// A directory of this test's own for secrets and configuration files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-webhooks-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn token_file(name: &str) -> PathBuf {
    let path = scratch(name).join("token");
    std::fs::write(&path, format!("{TOKEN}\n")).expect("token file");
    path
}

/// The agent's configuration: both endpoints behind the bearer token.
fn config(token: &Path, extra: &str) -> String {
    config_with_audit_auth(
        token,
        extra,
        &format!("{{bearerTokenFile: {}}}", token.display()),
    )
}

fn config_with_audit_auth(token: &Path, extra: &str, audit_auth: &str) -> String {
    format!(
        "dedup:\n  window: 1h\nwriter:\n  repeatFlushInterval: 200ms\ncheckpoint:\n  interval: 200ms\n\
         webhooks:\n  endpoints:\n  - name: falco\n    kind: falco\n    auth: {{bearerTokenFile: {t}}}\n{extra}  \
         - name: audit\n    kind: audit\n    auth: {audit_auth}\n",
        t = token.display()
    )
}

/// `config` with `webhooks.tls` set to `tls` (a flow mapping).
fn with_tls(config: &str, tls: &str) -> String {
    config.replacen("webhooks:\n", &format!("webhooks:\n  tls: {tls}\n"), 1)
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn fixture_dir(kind: &str) -> PathBuf {
    repo_root()
        .join("crates/vigil-pipeline/tests/fixtures")
        .join(kind)
}

fn fixture_files(kind: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir(kind))
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("json" | "jsonl")
            )
        })
        .collect();
    files.sort();
    files
}

/// The JSON documents of a fixture file (one document, or JSON lines).
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("fixture");
    serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .map(|v| v.unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

/// Fixture namespaces mapped into namespaces of this test, so that runs
/// against a reused plane never meet each other's Observations.
struct Namespaces {
    prefix: String,
    seen: BTreeSet<String>,
}

impl Namespaces {
    fn map(&mut self, value: &mut Value) {
        if let Some(ns) = value.as_str().filter(|s| !s.is_empty() && *s != "<NA>") {
            let mapped = format!("{}-{ns}", self.prefix);
            assert!(mapped.len() <= 63, "{mapped}");
            self.seen.insert(mapped.clone());
            *value = Value::String(mapped);
        }
    }

    fn falco(&mut self, mut alert: Value) -> Value {
        for key in ["k8s.ns.name", "ka.target.namespace"] {
            if let Some(v) = alert["output_fields"].get_mut(key) {
                self.map(v);
            }
        }
        alert
    }

    fn audit(&mut self, mut doc: Value) -> Value {
        let events: Vec<&mut Value> = match doc["kind"].as_str() {
            Some("EventList") => doc["items"]
                .as_array_mut()
                .map(|a| a.iter_mut().collect())
                .unwrap_or_default(),
            _ => vec![&mut doc],
        };
        for e in events {
            if let Some(v) = e.get_mut("objectRef").and_then(|o| o.get_mut("namespace")) {
                self.map(v);
            }
        }
        doc
    }
}

fn ndjson(docs: &[Value]) -> String {
    docs.iter().map(|d| format!("{d}\n")).collect()
}

async fn post(
    agent: &Agent,
    path: &str,
    content_type: &str,
    auth: Option<&str>,
    body: impl Into<bytes::Bytes>,
) -> Reply {
    let address = agent.webhook_address.as_deref().expect("webhook listener");
    let mut headers = vec![("content-type", content_type)];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    post_once(address, path, &headers, body).await
}

/// `detectedAt` as the API serves it back (metav1.Time: whole seconds).
fn to_seconds(spec: &vigil_model::ObservationSpec) -> vigil_model::ObservationSpec {
    let mut spec = spec.clone();
    if let Some(t) = spec.detected_at.as_mut() {
        t.0 = k8s_openapi::jiff::Timestamp::from_second(t.0.as_second()).expect("in range");
    }
    spec
}

async fn observation(api: &Api<Observation>, name: &str) -> Observation {
    api.get(name)
        .await
        .unwrap_or_else(|e| panic!("Observation {name}: {e}"))
}

#[tokio::test]
async fn falco_and_audit_fixtures_become_exactly_the_expected_observations() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("webhooks").await;
    grant_agent(&admin, &ns).await;
    let token = token_file("fixtures");
    let config = config(&token, "");
    let agent = Agent::start_with(
        &plane.kubeconfig(TestUser::Vigil),
        &ns,
        &config,
        &["--webhook-listen", "127.0.0.1:0"],
        true,
    );
    agent.wait_ready(true).await;

    // The fixtures, their namespaces mapped into this test's.
    let mut spaces = Namespaces {
        prefix: ns.clone(),
        seen: BTreeSet::new(),
    };
    let falco: Vec<(PathBuf, Vec<Value>)> = fixture_files("falco")
        .into_iter()
        .map(|p| {
            let docs = documents(&p).into_iter().map(|d| spaces.falco(d)).collect();
            (p, docs)
        })
        .collect();
    let malformed = fixture_dir("k8s-audit").join("fal_01_003.json");
    let audit: Vec<(PathBuf, Vec<Value>)> = fixture_files("k8s-audit")
        .into_iter()
        .filter(|p| *p != malformed)
        .map(|p| {
            let docs = documents(&p).into_iter().map(|d| spaces.audit(d)).collect();
            (p, docs)
        })
        .collect();
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    for name in &spaces.seen {
        let object: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("namespace {name}: {e}"));
    }

    // The refusals first: none of them may count as received.
    let (status, body) = {
        let r = post(
            &agent,
            "/webhooks/audit",
            "application/json",
            Some(&bearer()),
            std::fs::read(&malformed).expect("malformed fixture"),
        )
        .await;
        (r.status, r.body)
    };
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        r#"{"error":"line 1: kind: expected a string, got 0"}"#
    );
    let one_alert = ndjson(&falco[0].1[..1]);
    let r = post(
        &agent,
        "/webhooks/falco",
        "application/json",
        None,
        one_alert.clone(),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"vigil\""));
    let r = post(
        &agent,
        "/webhooks/falco",
        "application/json",
        Some("Bearer not-the-token"),
        one_alert.clone(),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(!r.body.contains(TOKEN));
    let r = post(
        &agent,
        "/webhooks/falco",
        "application/xml",
        Some(&bearer()),
        one_alert.clone(),
    )
    .await;
    assert_eq!(r.status, 415, "{}", r.body);
    let r = post(
        &agent,
        "/webhooks/falco",
        "application/json",
        Some(&bearer()),
        vec![b' '; 1024 * 1024 + 1],
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    let r = post(
        &agent,
        "/webhooks/nothing",
        "application/json",
        Some(&bearer()),
        one_alert,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);

    // Every fixture, one request per file.
    let mut falco_records = 0;
    for (path, docs) in &falco {
        let r = post(
            &agent,
            "/webhooks/falco",
            "application/x-ndjson",
            Some(&bearer()),
            ndjson(docs),
        )
        .await;
        assert_eq!(
            (r.status, r.accepted()),
            (202, docs.len() as u64),
            "{}: {}",
            path.display(),
            r.body
        );
        falco_records += docs.len();
    }
    let mut audit_records = 0;
    for (path, docs) in &audit {
        let r = post(
            &agent,
            "/webhooks/audit",
            "application/json",
            Some(&bearer()),
            ndjson(docs),
        )
        .await;
        let events = docs
            .iter()
            .map(|d| d["items"].as_array().map_or(1, Vec::len))
            .sum::<usize>();
        assert_eq!(
            (r.status, r.accepted()),
            (202, events as u64),
            "{}: {}",
            path.display(),
            r.body
        );
        audit_records += events;
    }

    // What the pipeline makes of the same records, in the same order, with
    // the agent's own configuration: the Observations to expect.
    let settings = vigil_agent::AgentConfig::from_yaml(&config)
        .expect("config")
        .apply(vigil_agent::Overrides {
            namespace: Some(ns.clone()),
            ..Default::default()
        })
        .validate()
        .expect("valid");
    let mut oracle =
        Pipeline::with_sources(settings.pipeline, settings.sources, Arc::new(SystemClock));
    let (mut expected, mut drops, mut repeats) = (Vec::<Candidate>::new(), 0, 0);
    let mut tally = |o: Outcome| match o {
        Outcome::Emit(c) => expected.push(*c),
        Outcome::Dropped(_) => drops += 1,
        Outcome::Repeat(_) => repeats += 1,
    };
    for doc in falco.iter().flat_map(|(_, d)| d) {
        tally(oracle.process_falco(&FalcoAlert::from_value(doc.clone()).expect("alert")));
    }
    for doc in audit.iter().flat_map(|(_, d)| d) {
        for e in audit::parse_value(doc.clone()).expect("audit document") {
            tally(oracle.process_audit(&e.expect("audit event")));
        }
    }
    assert!(
        expected.len() >= 20,
        "the fixtures make Observations: {}",
        expected.len()
    );
    // Records older than the dedup window's reach (these fixtures are years
    // old) are not remembered in memory: their repeats are emitted again and
    // answered 409 by the API server (deduped, stage "conflict").
    let mut by_name: BTreeMap<(String, String), Vec<&Candidate>> = BTreeMap::new();
    for c in &expected {
        by_name
            .entry((c.namespace.clone(), c.name.clone()))
            .or_default()
            .push(c);
    }
    let conflicts = expected.len() - by_name.len();

    let total = (falco_records + audit_records) as f64;
    let a = agent.wait_settled(total).await;
    assert_eq!(
        (a.received, a.created, a.filtered, a.deduped, a.errors),
        (
            total,
            by_name.len() as f64,
            drops as f64,
            (repeats + conflicts) as f64,
            0.0
        ),
        "{a:?}\n{}",
        agent.get("/metrics").await.1
    );
    assert_eq!(
        agent
            .metric("vigil_events_received_total{source=\"falco\"}")
            .await,
        falco_records as f64
    );
    assert_eq!(
        agent
            .metric("vigil_events_received_total{source=\"k8s-audit\"}")
            .await,
        audit_records as f64
    );
    assert_eq!(
        agent
            .metric("vigil_webhook_records_accepted_total{endpoint=\"falco\"}")
            .await,
        falco_records as f64
    );
    assert_eq!(
        agent
            .metric("vigil_webhook_records_accepted_total{endpoint=\"audit\"}")
            .await,
        audit_records as f64
    );
    assert_eq!(
        agent
            .metric("vigil_webhook_requests_total{endpoint=\"falco\",code=\"401\"}")
            .await,
        2.0
    );
    assert_eq!(
        agent
            .metric("vigil_webhook_records_rejected_total{endpoint=\"audit\",reason=\"malformed\"}")
            .await,
        1.0
    );

    // Every expected Observation is there, exactly (of a name emitted more
    // than once, whichever create reached the API server first).
    for ((namespace, name), candidates) in &by_name {
        let api: Api<Observation> = Api::namespaced(admin.clone(), namespace);
        let o = observation(&api, name).await;
        assert!(
            candidates
                .iter()
                .any(|c| to_seconds(&c.spec) == to_seconds(&o.spec)),
            "{namespace}/{name}: {:#?}\nexpected one of {:#?}",
            o.spec,
            candidates.iter().map(|c| &c.spec).collect::<Vec<_>>()
        );
        let labels = common::labels_of(&o);
        for (k, v) in &candidates[0].labels {
            assert_eq!(labels.get(k), Some(v), "{name}: label {k}");
        }
    }
    assert_eq!(
        agent
            .metric("vigil_observations_deduped_total{source=\"falco\",stage=\"conflict\"}")
            .await
            + agent
                .metric("vigil_observations_deduped_total{source=\"k8s-audit\",stage=\"conflict\"}")
                .await,
        conflicts as f64
    );

    // A few, field by field, independently of the pipeline.
    let find = |event_type: &str, name: &str| {
        expected
            .iter()
            .find(|c| {
                c.spec.event_type == event_type
                    && c.spec.resource.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            })
            .unwrap_or_else(|| panic!("no {event_type} Observation for {name}"))
            .clone()
    };
    let default_ns = format!("{ns}-default");
    let shell = find("terminal_shell_in_container", "kubecon");
    let o = observation(&Api::namespaced(admin.clone(), &default_ns), &shell.name).await;
    assert_eq!(o.spec.source, "falco");
    assert_eq!(
        (o.spec.category, o.spec.severity),
        (Category::Security, Severity::Critical)
    );
    let r = o.spec.resource.as_ref().expect("resource");
    assert_eq!(
        (
            r.api_version.as_deref(),
            r.kind.as_deref(),
            r.namespace.as_deref(),
            r.name.as_deref()
        ),
        (
            Some("v1"),
            Some("Pod"),
            Some(default_ns.as_str()),
            Some("kubecon")
        )
    );
    let details = o.spec.details.as_ref().expect("details");
    assert_eq!(details["rule"], "Terminal shell in container");
    assert_eq!(details["priority"], "Critical");
    assert_eq!(
        details["output_fields"]["evt.time"],
        json!(1685022245478445995_i64)
    );
    assert_eq!(
        o.spec
            .detected_at
            .as_ref()
            .map(|t| t.0.to_string())
            .as_deref(),
        Some("2023-05-25T13:44:05Z"),
        "metav1.Time keeps whole seconds"
    );

    let binding = find("rbac_cluster_admin_binding", "some-reader-binding");
    let o = observation(&Api::namespaced(admin.clone(), &ns), &binding.name).await;
    assert_eq!(o.spec.source, "k8s-audit");
    assert_eq!(
        (o.spec.category, o.spec.severity),
        (Category::Security, Severity::Critical)
    );
    let r = o.spec.resource.as_ref().expect("resource");
    assert_eq!(
        (
            r.api_version.as_deref(),
            r.kind.as_deref(),
            r.namespace.as_deref()
        ),
        (
            Some("rbac.authorization.k8s.io/v1"),
            Some("ClusterRoleBinding"),
            None
        ),
        "cluster-scoped: in the agent's namespace"
    );
    assert_eq!(
        o.spec.details.as_ref().expect("details")["roleRef"]["name"],
        "cluster-admin"
    );

    let privileged = find(
        "privileged_pod_created",
        "nginx-deployment-5cdcc99dbf-rgw6z",
    );
    let o = observation(
        &Api::namespaced(admin.clone(), &default_ns),
        &privileged.name,
    )
    .await;
    assert_eq!(
        (o.spec.category, o.spec.severity),
        (Category::Security, Severity::High)
    );
    let details = o.spec.details.as_ref().expect("details");
    assert_eq!(details["privilegedContainers"], json!(["nginx"]));
    assert_eq!(details["verb"], "create");
    assert!(details["user"]["username"].is_string(), "{details}");
}

/// Many concurrent senders, far more records than the queue holds, the
/// writer slowed so the queue does fill.
#[tokio::test]
async fn a_flood_far_above_the_queue_is_refused_with_retry_after_and_fully_accounted() {
    const SENDERS: usize = 48;
    const REQUESTS: usize = 60;
    const PER_REQUEST: usize = 10;
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("webhook-flood").await;
    grant_agent(&admin, &ns).await;
    let token = token_file("flood");
    let extra =
        "    queueCapacity: 100\n    rateLimit: {requestsPerSecond: 100000, burst: 100000}\n";
    let config = format!(
        "{}writer:\n  concurrency: 2\n  qps: 40\n  burst: 1\n",
        config(&token, extra).replace("writer:\n  repeatFlushInterval: 200ms\n", "")
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

    // 60 distinct alerts (60 Observations, written slowly), everything else repeats.
    let alert = |i: usize| {
        json!({
            "rule": format!("Flood rule {}", i % 60),
            "priority": "Warning", "output": "flood", "time": "2024-03-01T10:00:00Z",
            "output_fields": {"k8s.ns.name": ns, "k8s.pod.name": "floodpod"},
        })
    };
    let statuses: Arc<std::sync::Mutex<BTreeMap<u16, u64>>> = Default::default();
    let accepted = Arc::new(AtomicU64::new(0));
    let auth = bearer();
    let started = Instant::now();
    let senders = (0..SENDERS).map(|s| {
        let (address, statuses, accepted, auth) = (
            address.clone(),
            statuses.clone(),
            accepted.clone(),
            auth.clone(),
        );
        let bodies: Vec<bytes::Bytes> = (0..REQUESTS)
            .map(|r| {
                ndjson(
                    &(0..PER_REQUEST)
                        .map(|k| alert(s * 7 + r * 3 + k))
                        .collect::<Vec<_>>(),
                )
                .into()
            })
            .collect();
        tokio::spawn(async move {
            let mut conn = Conn::open(&address).await.expect("connect");
            let headers = [
                ("content-type", "application/x-ndjson"),
                ("authorization", auth.as_str()),
            ];
            for body in bodies {
                let r = conn
                    .post("/webhooks/falco", &headers, body)
                    .await
                    .expect("an answer");
                match r.status {
                    202 => {
                        assert_eq!(r.accepted(), PER_REQUEST as u64);
                        accepted.fetch_add(PER_REQUEST as u64, Ordering::Relaxed);
                    }
                    429 | 503 => assert!(
                        r.header("retry-after")
                            .and_then(|v| v.parse::<u64>().ok())
                            .is_some_and(|s| s >= 1),
                        "{} without Retry-After: {r:?}",
                        r.status
                    ),
                    other => panic!("unexpected {other}: {}", r.body),
                }
                *statuses.lock().expect("lock").entry(r.status).or_default() += 1;
            }
        })
    });
    futures::stream::iter(senders)
        .buffer_unordered(SENDERS)
        .for_each(|r| async move { r.expect("sender panicked") })
        .await;
    let sent_in = started.elapsed();
    let statuses = statuses.lock().expect("lock").clone();
    let accepted = accepted.load(Ordering::Relaxed) as f64;
    assert_eq!(statuses.values().sum::<u64>(), (SENDERS * REQUESTS) as u64);
    assert!(
        statuses.get(&503).copied().unwrap_or(0) > 0,
        "the queue of 100 never filled: {statuses:?}"
    );
    assert!(accepted > 0.0, "{statuses:?}");
    assert!(sent_in < DEADLINE, "bounded in time: {sent_in:?}");

    let a = agent.wait_settled(accepted).await;
    assert_eq!(
        a.received, accepted,
        "accepted = received: {a:?} {statuses:?}"
    );
    assert_eq!(
        agent
            .metric("vigil_webhook_records_accepted_total{endpoint=\"falco\"}")
            .await,
        accepted
    );
    assert_eq!(a.errors, 0.0, "{a:?}");
    assert_eq!(
        agent
            .metric(
                "vigil_webhook_records_rejected_total{endpoint=\"falco\",reason=\"queue_full\"}"
            )
            .await,
        (statuses.get(&503).copied().unwrap_or(0) as usize * PER_REQUEST) as f64
    );
    let observations = Api::<Observation>::namespaced(admin.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .len() as f64;
    assert_eq!(observations, a.created, "{a:?}");
    assert!(observations <= 60.0, "{observations}");
    let peak_kib = rss_peak_kib(agent.pid());
    assert!(
        peak_kib > 0 && peak_kib < 256 * 1024,
        "the agent's peak RSS: {peak_kib} KiB"
    );
    eprintln!(
        "flood: {statuses:?}, accepted {accepted}, {a:?}, peak RSS {peak_kib} KiB, {sent_in:?}"
    );
}

fn rss_peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A SIGTERM with records still queued (the writer slowed down): the agent
/// stops accepting, writes every accepted record, then exits.
#[tokio::test]
async fn sigterm_drains_every_accepted_record_before_exiting() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("webhook-drain").await;
    grant_agent(&admin, &ns).await;
    let token = token_file("drain");
    let config = format!(
        "{}writer:\n  concurrency: 1\n  qps: 20\n  burst: 1\n",
        config(&token, "").replace("writer:\n  repeatFlushInterval: 200ms\n", "")
    );
    let mut agent = Agent::start_with(
        &plane.kubeconfig(TestUser::Vigil),
        &ns,
        &config,
        &["--webhook-listen", "127.0.0.1:0"],
        true,
    );
    agent.wait_ready(true).await;
    const N: usize = 40;
    let alerts: Vec<Value> = (0..N)
        .map(|i| json!({
            "rule": format!("Drain test {}", common::word(i)), "priority": "Error", "output": "drain",
            "time": "2024-03-01T10:00:00Z",
            "output_fields": {"k8s.ns.name": ns, "k8s.pod.name": "drainpod"},
        }))
        .collect();
    let r = post(
        &agent,
        "/webhooks/falco",
        "application/x-ndjson",
        Some(&bearer()),
        ndjson(&alerts),
    )
    .await;
    assert_eq!((r.status, r.accepted()), (202, N as u64), "{}", r.body);
    // At 20 writes/s, 40 Observations take about 2 s: most are still queued.
    let status = agent.terminate();
    assert!(status.success(), "exit: {status:?}\n{}", agent.log());
    let written = Api::<Observation>::namespaced(admin.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect("list")
        .items;
    assert_eq!(
        written.len(),
        N,
        "every accepted record written before exit\n{}",
        agent.log()
    );
    let log = agent.log();
    assert!(log.contains("accepted records drained"), "{log}");
}

/// The listener over TLS: a Falco alert POSTed over https with the bearer
/// token is accepted and written, a wrong token is still 401, plain http gets
/// no answer; with `clientCAFile` (mTLS), a client without a certificate or
/// with one from another CA is refused in the handshake, one signed by the
/// CA is accepted.
#[tokio::test]
async fn falco_over_https_with_a_token_and_over_mtls_with_a_client_certificate() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let certs = Certs::make(&scratch("tls-certs"));
    let p = |f: &str| certs.path(f).display().to_string();
    let token = token_file("tls");
    let alert = |ns: &str, rule: &str| {
        json!({
            "rule": rule, "priority": "Warning", "output": "tls test", "time": "2024-03-01T10:00:00Z",
            "output_fields": {"k8s.ns.name": ns, "k8s.pod.name": "tlspod"},
        })
        .to_string()
    };
    let falco = |agent: &Agent, tls, auth: &str, body: String| {
        let address = agent.webhook_address.clone().expect("webhook listener");
        let auth = auth.to_string();
        async move {
            try_post_once(
                &address,
                tls,
                "/webhooks/falco",
                &[
                    ("content-type", "application/json"),
                    ("authorization", &auth),
                ],
                body,
            )
            .await
        }
    };
    // The Observation of the alert of `rule`, whose event type is its snake case.
    let wait_for_rule = |ns: String, event_type: &'static str| {
        let admin = admin.clone();
        async move {
            let api: Api<Observation> = Api::namespaced(admin, &ns);
            let deadline = Instant::now() + DEADLINE;
            loop {
                let all = api.list(&ListParams::default()).await.expect("list").items;
                if all
                    .iter()
                    .any(|o| o.spec.source == "falco" && o.spec.event_type == event_type)
                {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "no {event_type} Observation in {ns}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    // TLS, server certificate only.
    let ns = plane.namespace("webhook-tls").await;
    grant_agent(&admin, &ns).await;
    let tls = format!(
        "{{certFile: {}, keyFile: {}}}",
        p("server.crt"),
        p("server.key")
    );
    let agent = Agent::start_with(
        &plane.kubeconfig(TestUser::Vigil),
        &ns,
        &with_tls(&config(&token, ""), &tls),
        &["--webhook-listen", "127.0.0.1:0"],
        true,
    );
    agent.wait_ready(true).await;
    assert!(
        agent.log().contains("\"scheme\":\"https\""),
        "{}",
        agent.log()
    );
    let r = falco(
        &agent,
        Some(certs.client(None)),
        &bearer(),
        alert(&ns, "TLS rule one"),
    )
    .await
    .expect("POST over https");
    assert_eq!((r.status, r.accepted()), (202, 1), "{}", r.body);
    let r = falco(
        &agent,
        Some(certs.client(None)),
        "Bearer wrong",
        alert(&ns, "TLS rule one"),
    )
    .await
    .expect("POST over https");
    assert_eq!(r.status, 401, "{}", r.body);
    let plain = falco(&agent, None, &bearer(), alert(&ns, "TLS rule one")).await;
    assert!(plain.is_err(), "plain http answered: {plain:?}");
    wait_for_rule(ns.clone(), "tls_rule_one").await;
    drop(agent);

    // mTLS: client certificates signed by ca.crt required.
    let ns = plane.namespace("webhook-mtls").await;
    grant_agent(&admin, &ns).await;
    let mtls = format!(
        "{{certFile: {}, keyFile: {}, clientCAFile: {}}}",
        p("server.crt"),
        p("server.key"),
        p("ca.crt")
    );
    let agent = Agent::start_with(
        &plane.kubeconfig(TestUser::Vigil),
        &ns,
        &with_tls(&config(&token, ""), &mtls),
        &["--webhook-listen", "127.0.0.1:0"],
        true,
    );
    agent.wait_ready(true).await;
    for who in [None, Some("stranger")] {
        let refused = falco(
            &agent,
            Some(certs.client(who)),
            &bearer(),
            alert(&ns, "Mutual TLS rule"),
        )
        .await;
        assert!(
            refused.is_err(),
            "client certificate {who:?} answered: {refused:?}"
        );
    }
    let r = falco(
        &agent,
        Some(certs.client(Some("client"))),
        &bearer(),
        alert(&ns, "Mutual TLS rule"),
    )
    .await
    .expect("POST over mTLS");
    assert_eq!((r.status, r.accepted()), (202, 1), "{}", r.body);
    wait_for_rule(ns.clone(), "mutual_tls_rule").await;
    assert_eq!(
        agent
            .metric("vigil_webhook_requests_total{endpoint=\"falco\",code=\"202\"}")
            .await,
        1.0,
        "only the request with a client certificate reached the endpoint"
    );
    // The TLS listener shuts down as the plain one does.
    let mut agent = agent;
    let status = agent.terminate();
    assert!(status.success(), "exit: {status:?}\n{}", agent.log());
    assert!(
        agent.log().contains("accepted records drained"),
        "{}",
        agent.log()
    );
}

/// kube-apiserver's audit webhook backend POSTs to the agent over https,
/// verifying the agent's certificate (`certificate-authority-data`),
/// presenting its client certificate (`client-certificate-data`, the
/// listener is mTLS) and sending its kubeconfig `token`, which the endpoint
/// requires: real API actions become the Observations of the audit rules.
#[tokio::test]
async fn the_api_servers_audit_webhook_reaches_the_agent() {
    // The API server needs the webhook's URL before it starts, the agent
    // needs the API server: the port is chosen first.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("address").port()
    };
    let dir = scratch("apiserver");
    let certs = Certs::make(&dir.join("certs"));
    let webhook = dir.join("audit-webhook.kubeconfig");
    std::fs::write(
        &webhook,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: vigil\n  cluster:\n    server: https://127.0.0.1:{port}/webhooks/audit\n    \
             certificate-authority-data: {ca}\n\
             users:\n- name: kube-apiserver\n  user:\n    token: {TOKEN}\n    \
             client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: vigil\n  context: {{cluster: vigil, user: kube-apiserver}}\n\
             current-context: vigil\n",
            ca = certs.base64("ca.crt"),
            cert = certs.base64("client.crt"),
            key = certs.base64("client.key"),
        ),
    )
    .expect("webhook kubeconfig");
    let policy = dir.join("audit-policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n\
         - level: None\n  users: [vigil]\n\
         - level: Metadata\n  resources: [{group: \"\", resources: [secrets, configmaps]}]\n\
         - level: RequestResponse\n  resources: [{group: rbac.authorization.k8s.io}, {group: \"\", resources: [pods, pods/exec]}]\n\
         - level: Metadata\n",
    )
    .expect("audit policy");
    let plane =
        DedicatedPlane::start_with_audit_webhook("webhook-audit", &webhook, Some(&policy)).await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("audit-webhook").await;
    grant_agent(&admin, &ns).await;
    let token = token_file("apiserver");
    let listen = format!("127.0.0.1:{port}");
    // kube-apiserver's webhook client sends the kubeconfig's token only over
    // https: the listener serves TLS and requires a client certificate
    // (mTLS), and the audit endpoint requires the token as well.
    let tls = format!(
        "{{certFile: {}, keyFile: {}, clientCAFile: {}}}",
        certs.path("server.crt").display(),
        certs.path("server.key").display(),
        certs.path("ca.crt").display()
    );
    let agent = Agent::start_with(
        &plane.kubeconfig(TestUser::Vigil),
        &ns,
        &with_tls(&config(&token, ""), &tls),
        &["--webhook-listen", &listen],
        true,
    );
    agent.wait_ready(true).await;

    // Real API actions, as the admin user (vigil-admin, group system:masters).
    let tag = std::process::id();
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "wh-secret"}, "stringData": {"password": "hunter2"}
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create secret");
    secrets.get("wh-secret").await.expect("get secret");
    let binding_name = format!("wh-{tag}-mallory-admin");
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": binding_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"}],
    }))
    .expect("binding");
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .expect("bind cluster-admin");
    let exec = http_request(
        "POST",
        &format!("/api/v1/namespaces/{ns}/pods/nothing-here/exec?command=sh&stdout=true"),
    );
    match admin.request_text(exec).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 404, "{s:?}"),
        other => panic!("exec into a pod that does not exist: {other:?}"),
    }
    let cm_name = format!("wh-{tag}-doomed");
    let system: Api<ConfigMap> = Api::namespaced(admin.clone(), "kube-system");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": cm_name}, "data": {"k": "v"}}))
            .expect("cm");
    system
        .create(&PostParams::default(), &cm)
        .await
        .expect("create in kube-system");
    system
        .delete(&cm_name, &DeleteParams::default())
        .await
        .expect("delete in kube-system");

    // The Observations the audit rules make of them.
    let expect = [
        (
            "secret_access",
            ns.as_str(),
            "wh-secret",
            "Secret",
            Severity::Medium,
            Category::Security,
            "get",
            "allowed",
        ),
        (
            "rbac_cluster_admin_binding",
            ns.as_str(),
            binding_name.as_str(),
            "ClusterRoleBinding",
            Severity::Critical,
            Category::Security,
            "create",
            "allowed",
        ),
        (
            "pod_exec",
            ns.as_str(),
            "nothing-here",
            "Pod",
            Severity::Low,
            Category::Security,
            "create",
            "failed",
        ),
        (
            "system_namespace_delete",
            "kube-system",
            cm_name.as_str(),
            "ConfigMap",
            Severity::Medium,
            Category::Compliance,
            "delete",
            "allowed",
        ),
    ];
    let deadline = Instant::now() + DEADLINE;
    for (event_type, in_ns, name, kind, severity, category, verb, outcome) in expect {
        let api: Api<Observation> = Api::namespaced(admin.clone(), in_ns);
        let found = loop {
            let all = api.list(&ListParams::default()).await.expect("list").items;
            if let Some(o) = all.into_iter().find(|o| {
                o.spec.source == "k8s-audit"
                    && o.spec.event_type == event_type
                    && o.spec.resource.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            }) {
                break o;
            }
            assert!(
                Instant::now() < deadline,
                "no {event_type} Observation for {name} in {in_ns}\n{}\n{}",
                agent.get("/metrics").await.1,
                agent.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let s = &found.spec;
        assert_eq!(
            (s.severity, s.category),
            (severity, category),
            "{event_type}"
        );
        assert_eq!(
            s.resource.as_ref().and_then(|r| r.kind.as_deref()),
            Some(kind),
            "{event_type}"
        );
        let d = s.details.as_ref().expect("details");
        assert_eq!(d["user"]["username"], "vigil-admin", "{event_type}: {d}");
        assert_eq!(d["verb"], verb, "{event_type}: {d}");
        assert_eq!(d["outcome"], outcome, "{event_type}: {d}");
        assert_eq!(d["stage"], "ResponseComplete", "{event_type}: {d}");
        if event_type == "pod_exec" {
            assert_eq!(d["responseStatus"]["code"], 404, "{d}");
        }
        if event_type == "rbac_cluster_admin_binding" {
            assert_eq!(d["roleRef"]["name"], "cluster-admin", "{d}");
        }
    }
    assert!(
        agent
            .metric("vigil_webhook_requests_total{endpoint=\"audit\",code=\"202\"}")
            .await
            >= 1.0
    );
    assert_eq!(
        agent
            .metric("vigil_webhook_requests_total{endpoint=\"audit\",code=\"400\"}")
            .await,
        0.0,
        "every body the API server sent parsed"
    );
    assert_eq!(
        agent
            .metric("vigil_webhook_requests_total{endpoint=\"audit\",code=\"401\"}")
            .await,
        0.0,
        "the API server sent its token with every batch"
    );
}

fn http_request(method: &str, uri: &str) -> hyper::Request<Vec<u8>> {
    hyper::Request::builder()
        .method(method)
        .uri(uri)
        .body(Vec::new())
        .expect("request")
}

/// `body` gzip-compressed, with the gzip CLI.
fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("gzip")
        .args(["-c", "-n"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run gzip");
    let mut stdin = child.stdin.take().expect("stdin");
    let body = body.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&body).expect("gzip stdin"));
    let out = child.wait_with_output().expect("gzip");
    writer.join().expect("writer");
    assert!(out.status.success(), "gzip failed");
    out.stdout
}

/// The Falco fixtures (`fixture_dir("falco")`: verbatim copies of the
/// shared `../shared/fixtures/falco/`, which a clean clone lacks), as Falco sends
/// them with `compress_uploads: true`: each file gzipped as one JSON-lines
/// body. Each is accepted whole and goes through the pipeline; a corrupt
/// gzip body is 400, one over `maxBodyBytes` once decompressed is 413, an
/// encoding other than gzip 415.
#[tokio::test]
async fn falco_bodies_sent_gzipped_are_decoded() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("webhook-gzip").await;
    grant_agent(&admin, &ns).await;
    let token = token_file("gzip");
    let agent = Agent::start_with(
        &plane.kubeconfig(TestUser::Vigil),
        &ns,
        &config(&token, "    maxBodyBytes: 65536\n"),
        &["--webhook-listen", "127.0.0.1:0"],
        true,
    );
    agent.wait_ready(true).await;
    let dir = fixture_dir("falco");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl" || e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    let mut spaces = Namespaces {
        prefix: ns.clone(),
        seen: BTreeSet::new(),
    };
    let headers = |auth: &str| {
        vec![
            ("content-type", "application/x-ndjson".to_string()),
            ("content-encoding", "gzip".to_string()),
            ("authorization", auth.to_string()),
        ]
    };
    let address = agent.webhook_address.clone().expect("webhook listener");
    let send = |body: Vec<u8>, encoding: &'static str| {
        let address = address.clone();
        async move {
            let mut h = headers(&bearer());
            h[1].1 = encoding.to_string();
            let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
            post_once(&address, "/webhooks/falco", &h, body).await
        }
    };
    let mut total = 0u64;
    for file in &files {
        let docs: Vec<Value> = documents(file)
            .into_iter()
            .map(|d| spaces.falco(d))
            .collect();
        for d in &docs {
            FalcoAlert::from_value(d.clone())
                .unwrap_or_else(|e| panic!("{}: not an alert: {e}", file.display()));
        }
        let plain = ndjson(&docs);
        let body = gzip(plain.as_bytes());
        let r = send(body, "gzip").await;
        assert_eq!(
            (r.status, r.accepted()),
            (202, docs.len() as u64),
            "{}: {}",
            file.display(),
            r.body
        );
        total += docs.len() as u64;
    }
    // Every accepted alert went through the pipeline, exactly once.
    let settled = agent.wait_settled(total as f64).await;
    assert_eq!(settled.received, total as f64, "{settled:?}");
    assert_eq!(
        agent
            .metric("vigil_webhook_records_accepted_total{endpoint=\"falco\"}")
            .await,
        total as f64
    );
    // Corrupt: the fixture's gzip body cut short.
    let plain = ndjson(&documents(&files[0]));
    let mut cut = gzip(plain.as_bytes());
    cut.truncate(cut.len() / 2);
    let r = send(cut, "gzip").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("corrupt gzip body"), "{}", r.body);
    // 1 MiB of blanks after an alert: ~1 KiB compressed, over 64 KiB decoded.
    let bomb = format!(
        "{}{}",
        plain.lines().next().expect("alert"),
        " ".repeat(1 << 20)
    );
    let r = send(gzip(bomb.as_bytes()), "gzip").await;
    assert_eq!(r.status, 413, "{}", r.body);
    let r = send(gzip(plain.as_bytes()), "br").await;
    assert_eq!(r.status, 415, "{}", r.body);
}

/// Posts one Falco alert to `path` with `token` until `want` is answered or
/// the deadline passes; the last status.
async fn poll_status(address: &str, path: &str, token: &str, want: u16) -> u16 {
    let alert = json!({
        "rule": "Rotation probe", "priority": "Notice", "output": "rotation", "time": "2024-03-01T10:00:00Z",
    })
    .to_string();
    let auth = format!("Bearer {token}");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let r = post_once(
            address,
            path,
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
            alert.clone(),
        )
        .await;
        if r.status == want || Instant::now() >= deadline {
            return r.status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Endpoint secrets rotate without a restart: a token in a Kubernetes
/// Secret (`bearerTokenSecretRef`, read and watched with RBAC for that one
/// Secret) and a token in a file (`bearerTokenFile`, re-read when it
/// changes). After each update the new token is accepted and the old one
/// refused (no grace period).
#[tokio::test]
async fn webhook_secrets_rotate_without_a_restart() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("webhook-rotate").await;
    grant_agent(&admin, &ns).await;
    // Least privilege: the agent may read and watch that one Secret only.
    let role = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: vigil-webhook-secrets, namespace: {ns}}}\n\
         rules: [{{apiGroups: [\"\"], resources: [secrets], resourceNames: [webhook-token], verbs: [get, list, watch]}}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: vigil-webhook-secrets, namespace: {ns}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: vigil-webhook-secrets}}\n\
         subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: vigil}}]\n"
    );
    vigil_test_support::apply_yaml(&admin, &role, &ns)
        .await
        .expect("role for the Secret");
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let secret = |token: &str| -> Secret {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "webhook-token"},
            "stringData": {"token": format!("{token}\n")},
        }))
        .expect("secret")
    };
    secrets
        .create(&PostParams::default(), &secret("old-secret-token"))
        .await
        .expect("create Secret");
    let file = scratch("rotate").join("token");
    std::fs::write(&file, "old-file-token\n").expect("token file");
    let yaml = format!(
        "webhooks:\n  endpoints:\n  \
         - {{name: from-secret, kind: falco, auth: {{bearerTokenSecretRef: {{name: webhook-token, key: token}}}}}}\n  \
         - {{name: from-file, kind: falco, auth: {{bearerTokenFile: {}}}}}\n",
        file.display()
    );
    let agent = Agent::start_with(
        &plane.kubeconfig(TestUser::Vigil),
        &ns,
        &yaml,
        &["--webhook-listen", "127.0.0.1:0"],
        true,
    );
    agent.wait_ready(true).await;
    let address = agent.webhook_address.clone().expect("webhook listener");
    let (s, f) = ("/webhooks/from-secret", "/webhooks/from-file");
    assert_eq!(poll_status(&address, s, "old-secret-token", 202).await, 202);
    assert_eq!(poll_status(&address, f, "old-file-token", 202).await, 202);
    assert_eq!(poll_status(&address, s, "new-secret-token", 401).await, 401);

    // The Secret updated: the watch delivers it.
    let mut current = secrets.get("webhook-token").await.expect("get");
    current.string_data = Some(BTreeMap::from([(
        "token".to_string(),
        "new-secret-token".to_string(),
    )]));
    current.data = None;
    secrets
        .replace("webhook-token", &PostParams::default(), &current)
        .await
        .expect("update Secret");
    assert_eq!(
        poll_status(&address, s, "new-secret-token", 202).await,
        202,
        "the new token was never accepted\n{}",
        agent.log()
    );
    assert_eq!(poll_status(&address, s, "old-secret-token", 401).await, 401);

    // The file rewritten: the next poll reads it.
    std::fs::write(&file, "new-file-token\n").expect("rotate file");
    assert_eq!(
        poll_status(&address, f, "new-file-token", 202).await,
        202,
        "the new file token was never accepted\n{}",
        agent.log()
    );
    assert_eq!(poll_status(&address, f, "old-file-token", 401).await, 401);

    // A Secret whose key disappears keeps the last token in force.
    let mut current = secrets.get("webhook-token").await.expect("get");
    current.data = Some(BTreeMap::from([(
        "other".to_string(),
        k8s_openapi::ByteString(b"x".to_vec()),
    )]));
    secrets
        .replace("webhook-token", &PostParams::default(), &current)
        .await
        .expect("update Secret");
    let deadline = Instant::now() + DEADLINE;
    while !agent.log().contains("webhook secret not reloaded") {
        assert!(Instant::now() < deadline, "no warning\n{}", agent.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(poll_status(&address, s, "new-secret-token", 202).await, 202);
    let log = agent.log();
    assert!(log.contains("webhook secret rotated"), "{log}");
    for t in [
        "old-secret-token",
        "new-secret-token",
        "old-file-token",
        "new-file-token",
    ] {
        assert!(!log.contains(t), "a token in the log: {t}");
    }
}

/// The end-entity certificate the listener at `address` presents.
async fn presented_certificate(address: &str, certs: &Certs) -> Vec<u8> {
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let tls = tokio_rustls::TlsConnector::from(certs.client(None))
        .connect(name, tcp)
        .await
        .expect("handshake");
    tls.get_ref()
        .1
        .peer_certificates()
        .expect("server certificate")[0]
        .to_vec()
}

fn certificate_der(path: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(path)
        .expect("certificate file")
        .next()
        .expect("a certificate")
        .expect("PEM")
        .to_vec()
}

/// One TLS listener, `clientAuth: optional`: the endpoint with `mtls: true`
/// answers 403 to a connection without a client certificate and takes one
/// with a certificate from the CA; the other endpoint takes connections
/// without one; a certificate from another CA still fails the handshake.
/// Then the certificate files are replaced (key first, so for a moment
/// they do not match) and new connections get the new certificate, with no
/// restart.
#[tokio::test]
async fn per_endpoint_client_certificates_and_certificate_reload() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("webhook-mtls-endpoint").await;
    grant_agent(&admin, &ns).await;
    let certs = Certs::make(&scratch("reload-certs"));
    let p = |f: &str| certs.path(f).display().to_string();
    std::fs::copy(p("server.crt"), p("serving.crt")).expect("copy");
    std::fs::copy(p("server.key"), p("serving.key")).expect("copy");
    let token = token_file("mtls-endpoint");
    let yaml = format!(
        "webhooks:\n  tls: {{certFile: {}, keyFile: {}, clientCAFile: {}, clientAuth: optional}}\n  endpoints:\n  \
         - {{name: strict, kind: falco, mtls: true, auth: {{none: true}}}}\n  \
         - {{name: open, kind: falco, auth: {{bearerTokenFile: {}}}}}\n",
        p("serving.crt"),
        p("serving.key"),
        p("ca.crt"),
        token.display()
    );
    let agent = Agent::start_with(
        &plane.kubeconfig(TestUser::Vigil),
        &ns,
        &yaml,
        &["--webhook-listen", "127.0.0.1:0"],
        true,
    );
    agent.wait_ready(true).await;
    let address = agent.webhook_address.clone().expect("webhook listener");
    let alert = json!({
        "rule": "Endpoint mTLS", "priority": "Notice", "output": "mtls", "time": "2024-03-01T10:00:00Z",
    })
    .to_string();
    let post = |path: &'static str, who: Option<&'static str>| {
        let (address, alert, tls) = (address.clone(), alert.clone(), certs.client(who));
        async move {
            try_post_once(
                &address,
                Some(tls),
                path,
                &[
                    ("content-type", "application/json"),
                    ("authorization", &bearer()),
                ],
                alert,
            )
            .await
        }
    };
    let r = post("/webhooks/strict", None)
        .await
        .expect("no certificate");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("client certificate"), "{}", r.body);
    let r = post("/webhooks/open", None).await.expect("no certificate");
    assert_eq!((r.status, r.accepted()), (202, 1), "{}", r.body);
    let r = post("/webhooks/strict", Some("client"))
        .await
        .expect("client");
    assert_eq!((r.status, r.accepted()), (202, 1), "{}", r.body);
    let r = post("/webhooks/open", Some("client"))
        .await
        .expect("client");
    assert_eq!(r.status, 202, "{}", r.body);
    let stranger = post("/webhooks/open", Some("stranger")).await;
    assert!(stranger.is_err(), "another CA's certificate: {stranger:?}");

    // Rotation: a new certificate (another subject and serial) and key.
    assert_eq!(
        presented_certificate(&address, &certs).await,
        certificate_der(&certs.path("server.crt"))
    );
    certs.issue("rotated", "ca", "serverAuth");
    std::fs::copy(p("rotated.key"), p("serving.key")).expect("new key");
    std::fs::copy(p("rotated.crt"), p("serving.crt")).expect("new certificate");
    let want = certificate_der(&certs.path("rotated.crt"));
    let deadline = Instant::now() + DEADLINE;
    while presented_certificate(&address, &certs).await != want {
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = post("/webhooks/strict", Some("client"))
        .await
        .expect("after rotation");
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(
        agent.log().contains("webhook TLS certificate reloaded"),
        "{}",
        agent.log()
    );
}
