//! The Helm chart under deploy/helm/vigil: it lints clean, the plain
//! manifests under deploy/manifests/ are exactly what it renders, they apply
//! to a real API server, and its admission policy lets only the agent's
//! service account change status, whatever RBAC grants others.

use kube::api::{Api, Patch, PatchParams, PostParams};
use std::process::Command;
use vigil_model::Observation;
use vigil_test_support::{apply_yaml, repo_root, DedicatedPlane, TestUser};

/// The first lines of deploy/manifests/vigil.yaml; the rest is `helm template`'s output.
const HEADER: &str = "# Rendered from deploy/helm/vigil with default values; do not edit.\n\
# Regenerate: scripts/helm template vigil deploy/helm/vigil --namespace vigil-system --kube-version 1.37.0 --include-crds\n\
# (a test fails when this file and the chart differ).\n";

fn helm(args: &[&str]) -> String {
    let out = Command::new(repo_root().join("scripts/helm"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("run scripts/helm");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn rendered() -> String {
    helm(&[
        "template",
        "vigil",
        "deploy/helm/vigil",
        "--namespace",
        "vigil-system",
        "--kube-version",
        "1.37.0",
        "--include-crds",
    ])
}

#[test]
fn the_chart_lints_clean() {
    let out = helm(&["lint", "--strict", "deploy/helm/vigil"]);
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[test]
fn the_committed_manifests_are_the_rendered_chart() {
    let path = repo_root().join("deploy/manifests/vigil.yaml");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let expected = format!("{HEADER}{}", rendered());
    if std::env::var_os("VIGIL_UPDATE_MANIFESTS").is_some() {
        std::fs::write(&path, &expected).expect("write the manifests");
        return;
    }
    assert!(
        committed == expected,
        "deploy/manifests/vigil.yaml differs from the chart; regenerate with \
         VIGIL_UPDATE_MANIFESTS=1 cargo test -p vigil --test packaging"
    );
}

#[test]
fn the_chart_carries_the_crds_the_code_generates() {
    for crd in vigil_model::crd::all() {
        let file = vigil_model::crd::file_name(&crd);
        let generated = vigil_model::crd::to_yaml(&crd).expect("CRD YAML");
        let in_chart =
            std::fs::read_to_string(repo_root().join("deploy/helm/vigil/crds").join(&file))
                .unwrap_or_else(|e| panic!("deploy/helm/vigil/crds/{file}: {e}"));
        assert_eq!(in_chart, generated, "deploy/helm/vigil/crds/{file} is stale: cargo run -p vigil -- crds --write deploy/helm/vigil/crds");
    }
}

#[test]
fn the_workload_is_hardened_as_the_guide_asks() {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&rendered()).expect("YAML");
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready");
    assert!(pod["affinity"]["podAntiAffinity"].is_object());
    let pdb = docs
        .iter()
        .find(|d| d["kind"] == "PodDisruptionBudget")
        .expect("a PDB");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    // No wildcard anywhere in RBAC.
    for role in docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
    {
        for rule in role["rules"].as_array().expect("rules") {
            for key in ["apiGroups", "resources", "verbs"] {
                let values = rule[key].as_array().expect("list");
                assert!(
                    !values.iter().any(|v| v == "*"),
                    "wildcard in {}: {rule}",
                    role["metadata"]["name"]
                );
            }
        }
    }
}

#[tokio::test]
async fn rendered_manifests_apply_and_only_the_agent_may_change_status() {
    let plane = DedicatedPlane::start("packaging").await;
    let admin = plane.client(TestUser::Admin).await;
    apply_yaml(
        &admin,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: vigil-system}\n",
        "default",
    )
    .await
    .expect("namespace");
    let applied = apply_yaml(&admin, &rendered(), "vigil-system")
        .await
        .expect("the rendered chart applies");
    let kinds: Vec<String> = applied
        .iter()
        .filter_map(|o| o.types.as_ref().map(|t| t.kind.clone()))
        .collect();
    for kind in [
        "Deployment",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "NetworkPolicy",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} not applied: {kinds:?}"
        );
    }

    // An Observation, and a user whom RBAC allows to write its status.
    let ns = plane.namespace("status").await;
    let observations: Api<Observation> = Api::namespaced(admin.clone(), &ns);
    let obs: Observation = serde_json::from_value(serde_json::json!({
        "apiVersion": "zen.kube-zen.io/v1", "kind": "Observation", "metadata": {"name": "o1"},
        "spec": {"source": "test", "category": "security", "severity": "high", "eventType": "t"}
    }))
    .expect("observation");
    observations
        .create(&PostParams::default(), &obs)
        .await
        .expect("create");
    apply_yaml(
        &admin,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: status-writer}\n\
         rules: [{apiGroups: [zen.kube-zen.io], resources: [observations, observations/status], verbs: [get, update, patch]}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: mallory-status-writer}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: status-writer}\n\
         subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: mallory}]\n",
        "default",
    )
    .await
    .expect("RBAC for mallory");
    let status = Patch::Merge(serde_json::json!({"status": {"processed": true}}));
    let params = PatchParams::default();

    let mallory: Api<Observation> = Api::namespaced(plane.client(TestUser::Mallory).await, &ns);
    // RBAC alone would allow it (the policy's binding may take a moment to
    // take effect, so poll until the denial, with a deadline).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let denial = loop {
        match mallory.patch_status("o1", &params, &status).await {
            Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("may not") => break s,
            other => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the policy never denied mallory: {other:?}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };
    assert!(
        denial
            .message
            .contains("system:serviceaccount:vigil-system:vigil"),
        "{}",
        denial.message
    );
    assert!(denial.message.contains("mallory"), "{}", denial.message);

    let agent: Api<Observation> = Api::namespaced(
        plane.service_account_client("vigil-system", "vigil").await,
        &ns,
    );
    let written = agent
        .patch_status("o1", &params, &status)
        .await
        .expect("the agent may write status");
    assert_eq!(written.status.and_then(|s| s.processed), Some(true));
}

#[test]
fn the_chart_config_is_a_valid_agent_config() {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&rendered()).expect("YAML");
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("the agent's ConfigMap");
    let text = cm["data"]["config.yaml"].as_str().expect("config.yaml");
    let config =
        vigil_agent::AgentConfig::from_yaml(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let settings = config.validate().unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(settings.config.namespace, "vigil-system");
    assert!(settings.detect.is_some());
}

#[test]
fn with_compliance_on_the_chart_grants_what_the_checks_read_and_the_report() {
    let off = rendered();
    assert!(
        !off.contains("vigil-agent-compliance"),
        "the compliance role is rendered only when compliance is on"
    );
    let text = helm(&[
        "template",
        "vigil",
        "deploy/helm/vigil",
        "--namespace",
        "vigil-system",
        "--kube-version",
        "1.37.0",
        "--set",
        "config.compliance.enabled=true",
    ]);
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("YAML");
    let role = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "vigil-agent-compliance")
        .expect("the compliance ClusterRole");
    let grants = |group: &str, resource: &str, verb: &str| {
        role["rules"].as_array().expect("rules").iter().any(|r| {
            let has =
                |key: &str, v: &str| r[key].as_array().is_some_and(|a| a.iter().any(|x| x == v));
            has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
        })
    };
    for (group, resource) in vigil_check::live::LIVE_KINDS
        .iter()
        .map(|&(g, _, _, plural, _)| (g, plural))
        .chain([("", "nodes")])
    {
        assert!(grants(group, resource, "list"), "list {group}/{resource}");
    }
    assert!(grants("zen.kube-zen.io", "clusterreports", "patch"));
    assert!(grants("zen.kube-zen.io", "clusterreports", "create"));
    assert!(!grants("", "secrets", "list"), "never Secrets");
    assert!(docs
        .iter()
        .any(|d| d["kind"] == "ClusterRoleBinding"
            && d["roleRef"]["name"] == "vigil-agent-compliance"));
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("the agent's ConfigMap");
    let config = cm["data"]["config.yaml"].as_str().expect("config.yaml");
    let settings = vigil_agent::AgentConfig::from_yaml(config)
        .and_then(|c| c.validate().map_err(|e| e.to_string()))
        .unwrap_or_else(|e| panic!("{e}\n{config}"));
    let compliance = settings.compliance.expect("compliance on");
    assert_eq!(compliance.report_name, "cluster");
    assert_eq!(compliance.interval, std::time::Duration::from_secs(3600));
}

/// deploy/rbac/agent.yaml's compliance role grants the same as the chart's.
#[test]
fn the_plain_rbac_compliance_role_matches_the_chart() {
    let plain = std::fs::read_to_string(repo_root().join("deploy/rbac/agent.yaml")).expect("rbac");
    let plain: Vec<serde_json::Value> = serde_saphyr::from_multiple(&plain).expect("YAML");
    let text = helm(&[
        "template",
        "vigil",
        "deploy/helm/vigil",
        "--namespace",
        "vigil-system",
        "--kube-version",
        "1.37.0",
        "--set",
        "config.compliance.enabled=true",
    ]);
    let chart: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("YAML");
    let rules = |docs: &[serde_json::Value]| {
        docs.iter()
            .find(|d| {
                d["kind"] == "ClusterRole" && d["metadata"]["name"] == "vigil-agent-compliance"
            })
            .map(|d| d["rules"].clone())
            .expect("the compliance ClusterRole")
    };
    assert_eq!(rules(&plain), rules(&chart));
}

#[test]
fn the_charts_presets_are_the_shipped_ones_and_install_in_the_release_namespace() {
    let shipped = repo_root().join("deploy/ingesters");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&shipped).expect("deploy/ingesters") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let in_chart =
            std::fs::read_to_string(repo_root().join("deploy/helm/vigil/presets").join(&name))
                .unwrap_or_else(|e| {
                    panic!("deploy/helm/vigil/presets/{name}: {e}; copy deploy/ingesters/ there")
                });
        assert_eq!(
            in_chart,
            std::fs::read_to_string(&path).unwrap(),
            "deploy/helm/vigil/presets/{name} is stale"
        );
        names.push(name.trim_end_matches(".yaml").to_string());
    }
    let chart_files = std::fs::read_dir(repo_root().join("deploy/helm/vigil/presets"))
        .unwrap()
        .count();
    assert_eq!(
        chart_files,
        names.len(),
        "the chart has presets deploy/ingesters/ does not"
    );
    names.sort();
    let list = format!("presets={{{}}}", names.join(","));
    let text = helm(&[
        "template",
        "vigil",
        "deploy/helm/vigil",
        "--namespace",
        "security",
        "--kube-version",
        "1.37.0",
        "--set",
        &list,
    ]);
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("YAML");
    let ingesters: Vec<&serde_json::Value> =
        docs.iter().filter(|d| d["kind"] == "Ingester").collect();
    assert_eq!(ingesters.len(), names.len());
    for ing in ingesters {
        assert_eq!(ing["metadata"]["namespace"], "security");
        let text = serde_json::to_string(ing).unwrap();
        vigil_model::load::ingesters_from_yaml(&text).unwrap_or_else(|e| panic!("{e}"));
    }
    // None by default; an unknown name is an error naming it.
    let default: Vec<serde_json::Value> = serde_saphyr::from_multiple(&rendered()).expect("YAML");
    assert!(!default.iter().any(|d| d["kind"] == "Ingester"));
    let out = Command::new(repo_root().join("scripts/helm"))
        .args([
            "template",
            "vigil",
            "deploy/helm/vigil",
            "--kube-version",
            "1.37.0",
            "--set",
            "presets={nope}",
        ])
        .current_dir(repo_root())
        .output()
        .expect("helm");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"nope\" is not a shipped preset"));
}
