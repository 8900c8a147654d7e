//! Shared by the agent's end-to-end tests: the agent as a child process (the
//! real binary), its admin endpoints, RBAC for it, and Event builders.
#![allow(dead_code)]

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, PostParams};
use kube::Client;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil_test_support::{apply_yaml, repo_root};

/// How long an end-to-end wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// `vigil run` as a child process.
pub struct Agent {
    child: Child,
    pub address: String,
    /// The webhook listener's address, when started with [`Agent::start_with`]
    /// and webhook endpoints.
    pub webhook_address: Option<String>,
    log: std::path::PathBuf,
}

impl Agent {
    /// Starts the agent as user `vigil` watching `namespace`, its state in the
    /// same namespace, and waits for its admin server address.
    pub fn start(kubeconfig: &Path, namespace: &str, extra_config: &str) -> Agent {
        Self::start_with(kubeconfig, namespace, extra_config, &[], false)
    }

    /// [`Agent::start`] with more command-line arguments; with `webhooks`,
    /// also waits for the webhook listener's address.
    pub fn start_with(
        kubeconfig: &Path,
        namespace: &str,
        extra_config: &str,
        extra_args: &[&str],
        webhooks: bool,
    ) -> Agent {
        let dir = std::env::temp_dir().join(format!("vigil-agent-{namespace}"));
        std::fs::create_dir_all(&dir).expect("agent dir");
        let config = dir.join("config.yaml");
        std::fs::write(&config, extra_config).expect("agent config");
        static STARTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = dir.join(format!("agent-{}-{n}.log", std::process::id()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args([
                "run",
                "--listen",
                "127.0.0.1:0",
                "--namespace",
                namespace,
                "--watch-namespaces",
                namespace,
            ])
            .args(extra_args)
            .arg("--config")
            .arg(&config)
            .env("KUBECONFIG", kubeconfig)
            .env("VIGIL_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vigil run");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        let log_path = log.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(&log_path).expect("agent log");
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                use std::io::Write;
                let _ = writeln!(file, "{line}");
                for key in ["address", "webhook_address"] {
                    if let Some(addr) = field_in(&line, key) {
                        let _ = tx.send((key, addr));
                    }
                }
            }
        });
        let deadline = Instant::now() + DEADLINE;
        let (mut address, mut webhook_address) = (None, None);
        while address.is_none() || (webhooks && webhook_address.is_none()) {
            let wait = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(("address", a)) => address = address.or(Some(a)),
                Ok((_, a)) => webhook_address = webhook_address.or(Some(a)),
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "the agent printed no listening address; log: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    )
                }
            }
        }
        Agent {
            child,
            address: address.expect("waited for"),
            webhook_address,
            log,
        }
    }

    /// SIGTERM, then waits (up to [`DEADLINE`]) for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the agent") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the agent did not exit after SIGTERM\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to flush or checkpoint.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.address, path).await
    }

    /// Current value of a metric line (exact label set), 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.get("/metrics").await;
        metric_value(&body, series)
    }

    /// Sum over every series of a metric family.
    pub async fn metric_sum(&self, family: &str) -> f64 {
        let (_, body) = self.get("/metrics").await;
        body.lines()
            .filter(|l| l.starts_with(family) && l[family.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Polls `/ready` until it answers as wanted.
    pub async fn wait_ready(&self, want: bool) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let (code, body) = self.get("/ready").await;
            if (code == 200) == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "/ready never became {want}: {code} {body}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls until the accounting settles at `received` events.
    pub async fn wait_settled(&self, received: f64) -> Accounting {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let a = self.accounting().await;
            if a.received >= received && a.settled() {
                return a;
            }
            assert!(
                Instant::now() < deadline,
                "never settled at {received}: {a:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn accounting(&self) -> Accounting {
        Accounting {
            received: self.metric_sum("vigil_events_received_total").await,
            created: self.metric_sum("vigil_observations_created_total").await,
            filtered: self.metric_sum("vigil_observations_filtered_total").await,
            deduped: self.metric_sum("vigil_observations_deduped_total").await,
            errors: self
                .metric_sum("vigil_observations_create_errors_total")
                .await,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accounting {
    pub received: f64,
    pub created: f64,
    pub filtered: f64,
    pub deduped: f64,
    pub errors: f64,
}

impl Accounting {
    /// Every received event has exactly one outcome.
    pub fn settled(&self) -> bool {
        self.received == self.created + self.filtered + self.deduped + self.errors
    }
}

fn field_in(line: &str, key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v["fields"][key].as_str().map(str::to_string)
}

pub fn metric_value(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A bare HTTP/1.1 GET (the admin server is plain HTTP on loopback).
pub async fn http_get(address: &str, path: &str) -> (u16, String) {
    let mut stream = match tokio::net::TcpStream::connect(address).await {
        Ok(s) => s,
        Err(e) => panic!("connecting to the agent at {address}: {e}"),
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("read response");
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// deploy/rbac/, plus user `vigil` bound to the agent's roles (cluster-wide,
/// and for its state in `namespace`), as the agent's identity in tests.
pub async fn grant_agent(admin: &Client, namespace: &str) {
    for file in ["deploy/rbac/agent.yaml", "deploy/rbac/viewer.yaml"] {
        let text = std::fs::read_to_string(repo_root().join(file)).expect("rbac file");
        apply_yaml(admin, &text, "default")
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let bindings = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: test-user-vigil-agent}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: vigil-agent}}\n\
         subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: vigil}}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: test-user-vigil-agent-sources}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: vigil-agent-sources}}\n\
         subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: vigil}}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: vigil-agent-state, namespace: {namespace}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: vigil-agent-state}}\n\
         subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: vigil}}]\n"
    );
    apply_yaml(admin, &bindings, namespace)
        .await
        .expect("bind user vigil");
}

/// A core/v1 Event about a Pod-like object in `namespace`.
#[derive(Debug, Clone)]
pub struct EventSpec {
    pub name: String,
    pub type_: &'static str,
    pub reason: String,
    pub message: String,
    pub kind: &'static str,
    pub object: String,
    pub time: k8s_openapi::jiff::Timestamp,
}

impl EventSpec {
    pub fn to_event(&self, namespace: &str) -> Event {
        let t = self.time.to_string();
        serde_json::from_value(json!({
            "metadata": {"name": self.name, "namespace": namespace},
            "involvedObject": {"apiVersion": "v1", "kind": self.kind, "name": self.object, "namespace": namespace,
                               "uid": format!("uid-{}", self.object)},
            "type": self.type_, "reason": self.reason, "message": self.message,
            "firstTimestamp": t, "lastTimestamp": t, "count": 1,
            "source": {"component": "kubelet", "host": "node-a"},
            "reportingComponent": "kubelet", "reportingInstance": "node-a",
        }))
        .expect("event json")
    }
}

/// Creates events, 16 at a time.
pub async fn create_events(client: &Client, namespace: &str, events: &[EventSpec]) {
    use futures::StreamExt;
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    futures::stream::iter(events)
        .map(|e| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &e.to_event(namespace))
                    .await
                    .unwrap_or_else(|err| panic!("creating event {}: {err}", e.name))
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

/// Letters-only names (`baa`, `bab`, …): nothing for volatile-part folding to fold.
pub fn word(i: usize) -> String {
    let mut n = i;
    let mut s = String::new();
    for _ in 0..4 {
        s.insert(0, (b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    format!("x{s}")
}

/// The start of the hour the test process started in, plus a second: with a
/// 1h dedup window every event of a test falls into one window, even when the
/// test runs across the hour (the value is taken once per process).
pub fn window_time() -> k8s_openapi::jiff::Timestamp {
    static AT: std::sync::OnceLock<k8s_openapi::jiff::Timestamp> = std::sync::OnceLock::new();
    *AT.get_or_init(|| {
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        k8s_openapi::jiff::Timestamp::from_second(now - now % 3600 + 1).expect("valid time")
    })
}

pub fn labels_of(obs: &vigil_model::Observation) -> BTreeMap<String, String> {
    obs.metadata.labels.clone().unwrap_or_default()
}
