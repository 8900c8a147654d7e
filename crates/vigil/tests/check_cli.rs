//! `vigil check` as a user runs it: the binary, files, directories and
//! standard input, a live cluster (the real control plane), output formats,
//! and exit codes (0 clean, 1 a failing check at or above --fail-on, 2
//! unreadable input, a list the user may not make, or a bad config).

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use vigil_test_support::{apply_yaml, Plane, TestUser};

fn vigil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .output()
        .expect("run vigil")
}

fn vigil_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vigil");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn fixture(path: &str) -> String {
    format!(
        "{}/../vigil-check/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn temp_file(name: &str, content: &str) -> String {
    let path = std::env::temp_dir().join(format!("vigil-check-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, content).expect("write temp file");
    path.display().to_string()
}

#[test]
fn compliant_manifests_exit_zero() {
    let out = vigil(&["check", "-f", &fixture("security.privileged/pass.yaml")]);
    assert_eq!(code(&out), 0, "{}{}", text(&out.stdout), text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("No failing checks."), "{stdout}");
    assert!(stdout.contains("SCORES  overall 100"), "{stdout}");
}

#[test]
fn a_critical_failure_exits_one_by_default() {
    let out = vigil(&["check", "-f", &fixture("security.privileged/fail.yaml")]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("shop/Deployment/web"), "{stdout}");
    assert!(
        stdout.contains("critical  security.privileged")
            && stdout.contains("securityContext.privileged is true"),
        "{stdout}"
    );
    let out = vigil(&[
        "check",
        "-f",
        &fixture("security.privileged/fail.yaml"),
        "--fail-on",
        "none",
    ]);
    assert_eq!(code(&out), 0);
}

#[test]
fn the_threshold_decides_for_lower_severities() {
    let low_only = fixture("reliability.priority-class/fail.yaml");
    assert_eq!(
        code(&vigil(&["check", "-f", &low_only])),
        0,
        "only a low failure"
    );
    assert_eq!(
        code(&vigil(&["check", "-f", &low_only, "--fail-on", "medium"])),
        0
    );
    assert_eq!(
        code(&vigil(&["check", "-f", &low_only, "--fail-on", "low"])),
        1
    );
    assert_eq!(
        code(&vigil(&["check", "-f", &low_only, "--fail-on", "info"])),
        1
    );
}

#[test]
fn a_config_override_moves_a_failure_over_the_threshold() {
    let config = temp_file(
        "override.yaml",
        "checks:\n  reliability.priority-class: critical\n",
    );
    let low_only = fixture("reliability.priority-class/fail.yaml");
    let out = vigil(&["check", "-f", &low_only, "--config", &config]);
    assert_eq!(code(&out), 1, "{}", text(&out.stdout));
    let config = temp_file("off.yaml", "checks:\n  security.privileged: off\n");
    let out = vigil(&[
        "check",
        "-f",
        &fixture("security.privileged/fail.yaml"),
        "--config",
        &config,
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out.stdout));
}

#[test]
fn an_invalid_config_exits_two_and_names_the_field() {
    let config = temp_file(
        "bad.yaml",
        "checks:\n  security.privilegd: off\nexemptions:\n  - checks: [security.privileged]\n    namespace: kube-system\n",
    );
    let out = vigil(&[
        "check",
        "-f",
        &fixture("security.privileged/pass.yaml"),
        "--config",
        &config,
    ]);
    assert_eq!(code(&out), 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("exemptions[0].namespace: unknown field `namespace`"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing is checked with a bad config"
    );
    let config = temp_file("bad2.yaml", "checks:\n  security.privilegd: off\n");
    let out = vigil(&[
        "check",
        "-f",
        &fixture("security.privileged/pass.yaml"),
        "--config",
        &config,
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("checks.security.privilegd: no check matches"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_malformed_document_exits_two_and_the_rest_is_still_checked() {
    let input = format!(
        "{}---\nkind: [unclosed\n",
        std::fs::read_to_string(fixture("security.privileged/fail.yaml")).expect("fixture")
    );
    let path = temp_file("malformed.yaml", &input);
    let out = vigil(&["check", "-f", &path, "-o", "json", "--fail-on", "none"]);
    assert_eq!(code(&out), 2);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["objects"].as_array().map(Vec::len), Some(4));
    assert_eq!(report["errors"][0]["document"], 5);
    assert!(report["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("not valid YAML")));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("malformed.yaml: document 5 (line "),
        "{stderr}"
    );
}

#[test]
fn without_files_and_without_a_cluster_the_error_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("check")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("run vigil");
    assert_eq!(code(&out), 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: no Kubernetes configuration (KUBECONFIG or in-cluster)"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

fn vigil_on(kubeconfig: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("run vigil")
}

/// (Kind/name, check) of every failing check on objects of namespace `ns`
/// (the Namespace object included) in a JSON report.
fn failing_in(out: &Output, ns: &str) -> BTreeSet<(String, String)> {
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON report ({e}): {}", text(&out.stderr)));
    let mut set = BTreeSet::new();
    for o in report["objects"].as_array().expect("objects") {
        let ours = o["namespace"] == ns || (o["kind"] == "Namespace" && o["name"] == ns);
        if !ours {
            continue;
        }
        for r in o["results"].as_array().expect("results") {
            if r["status"] == "fail" {
                let object = format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap_or(""),
                    o["name"].as_str().unwrap_or("")
                );
                set.insert((object, r["check"].as_str().unwrap_or("").to_string()));
            }
        }
    }
    set
}

fn pairs(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(o, c)| (o.to_string(), c.to_string()))
        .collect()
}

#[tokio::test]
async fn a_live_cluster_is_graded_and_regraded_after_a_fix() {
    let plane = Plane::get().await;
    let ns = plane.namespace("vigil-check").await;
    let admin = plane.client(TestUser::Admin).await;
    let app = std::fs::read_to_string(fixture("security.privileged/fail.yaml"))
        .expect("fixture")
        .replace("namespace: shop", &format!("namespace: {ns}"));
    apply_yaml(&admin, &app, &ns)
        .await
        .expect("create the application");
    let kubeconfig = plane.kubeconfig(TestUser::Admin);
    let args = [
        "check",
        "-n",
        ns.as_str(),
        "-o",
        "json",
        "--fail-on",
        "none",
    ];

    let out = vigil_on(&kubeconfig, &args);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let namespace = format!("Namespace/{ns}");
    assert_eq!(
        failing_in(&out, &ns),
        pairs(&[
            ("Deployment/web", "security.privileged"),
            ("Deployment/web", "security.privilege-escalation"),
            (&namespace, "cost.resource-quota"),
            (&namespace, "performance.limit-range"),
        ]),
        "the server defaulted spec.replicas, yet the HPA-managed Deployment is not blamed for it"
    );

    let fix = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "securityContext": {"privileged": false, "allowPrivilegeEscalation": false}}
    ]}}}});
    Api::<Deployment>::namespaced(admin.clone(), &ns)
        .patch("web", &PatchParams::default(), &Patch::Strategic(&fix))
        .await
        .expect("patch the Deployment");
    let guard_rails = format!(
        "apiVersion: v1\nkind: ResourceQuota\nmetadata: {{name: quota, namespace: {ns}}}\nspec: {{hard: {{pods: \"20\"}}}}\n---\n\
         apiVersion: v1\nkind: LimitRange\nmetadata: {{name: limits, namespace: {ns}}}\n\
         spec: {{limits: [{{type: Container, default: {{memory: 256Mi}}}}]}}\n"
    );
    apply_yaml(&admin, &guard_rails, &ns)
        .await
        .expect("add quota and limit range");

    let out = vigil_on(&kubeconfig, &args);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(failing_in(&out, &ns), BTreeSet::new());
}

#[tokio::test]
async fn a_user_who_may_not_list_gets_exit_two_and_the_reason() {
    let plane = Plane::get().await;
    let forbidden =
        "cluster: listing deployments: deployments.apps is forbidden: User \"mallory\" cannot list";
    // The table lists unreadable input in its summary...
    let out = vigil_on(&plane.kubeconfig(TestUser::Mallory), &["check"]);
    assert_eq!(code(&out), 2);
    let stdout = text(&out.stdout);
    assert!(stdout.contains(forbidden), "{stdout}");
    // ...machine-readable output keeps it in `errors` and says it on standard error.
    let out = vigil_on(
        &plane.kubeconfig(TestUser::Mallory),
        &["check", "-o", "json"],
    );
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains(forbidden),
        "{}",
        text(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        report["errors"].as_array().is_some_and(|e| e.len() >= 20),
        "{}",
        report["errors"]
    );
}

#[test]
fn helm_output_on_standard_input_as_json() {
    let fixture_text =
        std::fs::read_to_string(fixture("security.image-tag/fail-untagged.yaml")).expect("fixture");
    // Drop the fixture's header comments and first marker: Helm puts `# Source:` right above the object.
    let (_, objects) = fixture_text.split_once("---\n").expect("a document marker");
    let rendered = format!(
        "---\n# Source: web/templates/empty.yaml\n---\n# Source: web/templates/all.yaml\n{objects}"
    );
    let out = vigil_stdin(&["check", "-f", "-", "-o", "json"], &rendered);
    assert_eq!(
        code(&out),
        0,
        "untagged image is high, the default gate is critical: {}",
        text(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["schemaVersion"], "vigil.kube-zen.io/check-report/v1");
    let first = &report["objects"][0];
    assert_eq!(first["origin"]["file"], "-");
    assert_eq!(first["origin"]["helmSource"], "web/templates/all.yaml");
    let failing: Vec<&str> = report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .flat_map(|o| o["results"].as_array().expect("results"))
        .filter(|r| r["status"] == "fail")
        .filter_map(|r| r["check"].as_str())
        .collect();
    assert_eq!(failing, ["security.image-tag"]);
}

#[test]
fn a_directory_as_sarif() {
    let out = vigil(&[
        "check",
        "-f",
        &fixture("security.host-network"),
        "-o",
        "sarif",
    ]);
    assert_eq!(code(&out), 0, "host-network is high: {}", text(&out.stderr));
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).expect("SARIF");
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "only fail.yaml fails: {results:?}");
    assert_eq!(results[0]["ruleId"], "security.host-network");
    let uri = results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .expect("uri");
    assert!(uri.ends_with("security.host-network/fail.yaml"), "{uri}");
    let out = vigil(&[
        "check",
        "-f",
        &fixture("security.host-network"),
        "--fail-on",
        "high",
    ]);
    assert_eq!(code(&out), 1);
}

#[test]
fn the_catalogue_flag_prints_docs_checks_md() {
    let out = vigil(&["check", "--catalogue", "markdown"]);
    assert_eq!(code(&out), 0);
    let docs = std::fs::read_to_string(format!(
        "{}/../../docs/CHECKS.md",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("docs");
    assert!(
        text(&out.stdout) == docs,
        "docs/CHECKS.md differs from `vigil check --catalogue markdown`"
    );
    let out = vigil(&["check", "--catalogue", "json"]);
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let ids: Vec<&str> = checks
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(ids.contains(&"security.rbac-secret-read-broad"), "{ids:?}");
    assert!(checks[0]["polaris"].is_array() && checks[0]["kubeScore"].is_array());
}
