//! `vigil demo` and `vigil replay` as a user runs them: the binary, files on
//! disk, exit codes and output.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn vigil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .output()
        .expect("run vigil")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn demo_shows_the_incident_and_its_anomalies() {
    let out = vigil(&["demo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("ANOMALIES (2)"), "{stdout}");
    for expected in [
        "pod-crashloop",
        "volume-mount-failures",
        "checkout-6d8f7b9c5d-x7k2p",
        "prometheus-k8s-0",
        "SUMMARY",
        "by category: security 8",
        "trivy",
    ] {
        assert!(
            stdout.contains(expected),
            "demo output lacks {expected}:\n{stdout}"
        );
    }
}

#[test]
fn demo_as_json_lines_is_observations_then_a_summary() {
    let out = vigil(&["demo", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let (summary, objects) = lines.split_last().expect("output");
    assert_eq!(summary["summary"]["anomalies"], 2);
    assert!(objects.iter().all(|o| o["kind"] == "Observation"));
    assert_eq!(
        objects
            .iter()
            .filter(|o| o["spec"]["eventType"] == "anomaly")
            .count(),
        2
    );
}

#[test]
fn replay_reads_a_file_and_standard_input() {
    let file = repo("examples/incident/events.json");
    let out = vigil(&["replay", &file, "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let from_file = text(&out.stdout);

    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["replay", "-", "-o", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run vigil");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&std::fs::read(&file).expect("read"))
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        from_file,
        "the same records, the same result"
    );
    let summary: serde_json::Value =
        serde_json::from_str(from_file.lines().last().expect("summary")).expect("JSON");
    assert_eq!(summary["summary"]["byKind"]["kubernetes-event"], 26);
}

#[test]
fn replay_errors_name_the_file_or_the_rule_field() {
    let out = vigil(&["replay", "/nonexistent/events.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("reading /nonexistent/events.json"),
        "{}",
        text(&out.stderr)
    );

    let dir = std::env::temp_dir().join(format!("vigil-replay-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "rules:\n  - name: x\n    match: {reason: [BackOff]}\n    groupBy: [namespace]\n    window: {kind: tumbling, size: 0s}\n    \
         threshold: {count: 2}\n    severity: high\n    category: operations\n    description: d\n",
    )
    .expect("write rules");
    let out = vigil(&[
        "replay",
        &repo("examples/incident/events.json"),
        "--rules",
        rules.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("rules[0].window.size"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn custom_rules_change_what_is_found() {
    let dir = std::env::temp_dir().join(format!("vigil-replay-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let rules = dir.join("rules.yaml");
    // Any two Warning Observations in a namespace within an hour.
    std::fs::write(
        &rules,
        "rules:\n  - name: busy-namespace\n    match: {reason: [BackOff, Unhealthy]}\n    groupBy: [namespace]\n    \
         window: {kind: tumbling, size: 1h}\n    threshold: {count: 2}\n    severity: medium\n    category: operations\n    \
         description: \"{count} problems in {namespace}\"\n",
    )
    .expect("write rules");
    let out = vigil(&[
        "demo",
        "--rules",
        rules.to_str().expect("utf-8"),
        "--no-default-rules",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut fired: Vec<String> = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|o| o["spec"]["eventType"] == "anomaly")
        .map(|o| {
            o["spec"]["details"]["key"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    fired.sort();
    // shop: three BackOff and three Unhealthy Events; kube-system: one
    // BackOff Event counting 5; my-app: one BackOff counting 1 (below 2);
    // no default rule fires (FailedMount is not matched).
    assert_eq!(fired, ["kube-system", "shop"]);
}
