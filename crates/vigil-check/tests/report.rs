//! The report's JSON form (versioned schema, per-object results, pillar
//! scores, totals) and its SARIF 2.1.0 form, checked field by field on a
//! small input with known failures, an exemption and an unreadable document.

use serde_json::Value;
use vigil_check::{catalogue, parse_manifests, render, Config, Pillar};

const INPUT: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: debug
  namespace: shop
spec:
  containers: [{name: sh, image: busybox, securityContext: {privileged: true}}]
---
this: is: broken
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ops-admin
  annotations: {vigil.kube-zen.io/exempt: security.rbac-cluster-admin-binding}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: User, name: ops, apiGroup: rbac.authorization.k8s.io}]
";

fn report() -> vigil_check::Report {
    vigil_check::run(
        &parse_manifests("deploy/app.yaml", INPUT),
        &Config::default(),
    )
}

fn json() -> Value {
    serde_json::from_str(&render::json(&report())).expect("JSON")
}

#[test]
fn json_has_the_documented_top_level_fields() {
    let j = json();
    assert_eq!(j["schemaVersion"], "vigil.kube-zen.io/check-report/v1");
    assert_eq!(j["tool"]["name"], "vigil");
    for key in ["summary", "objects", "errors", "warnings"] {
        assert!(j.get(key).is_some(), "missing {key}");
    }
    let pillars: Vec<&str> = j["summary"]["pillars"]
        .as_array()
        .expect("pillars")
        .iter()
        .map(|p| p["pillar"].as_str().expect("name"))
        .collect();
    assert_eq!(pillars, Pillar::ALL.map(|p| p.as_str()));
}

#[test]
fn json_objects_carry_origin_and_results() {
    let j = json();
    let objects = j["objects"].as_array().expect("objects");
    assert_eq!(objects.len(), 2);
    let pod = &objects[0];
    assert_eq!(
        (
            pod["kind"].as_str(),
            pod["name"].as_str(),
            pod["namespace"].as_str()
        ),
        (Some("Pod"), Some("debug"), Some("shop"))
    );
    assert_eq!(pod["origin"]["file"], "deploy/app.yaml");
    assert_eq!(pod["origin"]["document"], 1);
    assert_eq!(pod["origin"]["line"], 1);
    let privileged = pod["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["check"] == "security.privileged")
        .expect("privileged result");
    assert_eq!(privileged["status"], "fail");
    assert_eq!(privileged["severity"], "critical");
    assert_eq!(privileged["pillar"], "security");
    assert_eq!(
        privileged["messages"][0],
        "container \"sh\": securityContext.privileged is true"
    );
    let binding = &objects[1];
    assert!(binding.get("namespace").is_none(), "cluster-scoped");
    assert_eq!(binding["origin"]["document"], 3);
    assert_eq!(binding["origin"]["line"], 11);
    let exempt = &binding["results"].as_array().expect("results")[0];
    assert_eq!(exempt["status"], "exempt");
    assert_eq!(exempt["exemption"], "annotation vigil.kube-zen.io/exempt");
    assert_eq!(j["errors"][0]["document"], 2);
    assert_eq!(j["errors"][0]["line"], 9);
}

#[test]
fn totals_and_scores_add_up() {
    let r = report();
    let t = &r.summary.totals;
    let all: Vec<_> = r.objects.iter().flat_map(|o| &o.results).collect();
    assert_eq!(t.results, all.len());
    assert_eq!(t.passed + t.failed + t.exempt, t.results);
    assert_eq!(t.objects, 2);
    assert_eq!(t.errors, 1);
    assert_eq!(t.exempt, 1);
    let f = &t.failed_by_severity;
    assert_eq!(f.critical + f.high + f.medium + f.low + f.info, t.failed);
    assert_eq!(
        f.critical, 1,
        "privileged (the cluster-admin binding is exempt)"
    );
    for p in &r.summary.pillars {
        let of_pillar: Vec<_> = all.iter().filter(|x| x.pillar == p.pillar).collect();
        assert_eq!(
            p.passed + p.failed + p.exempt,
            of_pillar.len(),
            "{}",
            p.pillar
        );
        assert_eq!(p.score.is_none(), p.passed + p.failed == 0, "{}", p.pillar);
        if let Some(s) = p.score {
            assert!(s <= 100);
            assert_eq!(s == 100, p.failed == 0, "{}", p.pillar);
        }
    }
    assert!(r.summary.score.is_some_and(|s| s < 100));
}

#[test]
fn json_schema_is_published_in_the_catalogue_page() {
    let page = render::markdown::catalogue();
    assert!(page.contains("\"schemaVersion\""));
    assert!(page.contains("\"failedBySeverity\""));
    assert!(page.contains("vigil.kube-zen.io/check-report/v1"));
}

fn sarif() -> Value {
    serde_json::from_str(&render::sarif::to_string(&report())).expect("SARIF JSON")
}

#[test]
fn sarif_log_has_version_schema_and_one_run() {
    let s = sarif();
    assert_eq!(s["version"], "2.1.0");
    assert_eq!(
        s["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let runs = s["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["tool"]["driver"]["name"], "vigil");
    assert_eq!(runs[0]["invocations"][0]["executionSuccessful"], false);
    let note = &runs[0]["invocations"][0]["toolExecutionNotifications"][0];
    assert_eq!(note["level"], "error");
    assert_eq!(
        note["locations"][0]["physicalLocation"]["region"]["startLine"],
        9
    );
}

#[test]
fn sarif_rules_are_the_catalogue_with_help() {
    let s = sarif();
    let rules = s["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    assert_eq!(rules.len(), catalogue::checks().count());
    for (rule, check) in rules.iter().zip(catalogue::checks()) {
        assert_eq!(rule["id"], check.id);
        for field in [
            "name",
            "shortDescription",
            "fullDescription",
            "help",
            "helpUri",
            "defaultConfiguration",
        ] {
            assert!(rule.get(field).is_some(), "{} lacks {field}", check.id);
        }
        assert!(rule["fullDescription"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()));
        let uri = rule["helpUri"].as_str().expect("helpUri");
        assert!(
            uri.ends_with(&format!("docs/CHECKS.md#{}", check.id.replace('.', "-"))),
            "{uri}"
        );
    }
}

#[test]
fn sarif_results_point_at_rules_files_and_lines() {
    let s = sarif();
    let run = &s["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    let results = run["results"].as_array().expect("results");
    let r = report();
    assert_eq!(
        results.len(),
        r.summary.totals.failed + r.summary.totals.exempt
    );
    for res in results {
        let index = usize::try_from(res["ruleIndex"].as_u64().expect("ruleIndex")).expect("index");
        assert_eq!(rules[index]["id"], res["ruleId"]);
        assert!(["error", "warning", "note"].contains(&res["level"].as_str().expect("level")));
        assert!(!res["message"]["text"].as_str().expect("text").is_empty());
        let loc = &res["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "deploy/app.yaml");
        assert!(loc["region"]["startLine"].as_u64().is_some_and(|l| l >= 1));
    }
    let privileged = results
        .iter()
        .find(|x| x["ruleId"] == "security.privileged")
        .expect("result");
    assert_eq!(privileged["level"], "error");
    assert_eq!(
        privileged["locations"][0]["physicalLocation"]["region"]["startLine"],
        1
    );
    assert_eq!(
        privileged["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "shop/Pod/debug"
    );
    assert!(privileged.get("suppressions").is_none());
    let exempt = results
        .iter()
        .find(|x| x["ruleId"] == "security.rbac-cluster-admin-binding")
        .expect("exempt result");
    assert_eq!(exempt["suppressions"][0]["kind"], "inSource");
    assert_eq!(
        exempt["locations"][0]["physicalLocation"]["region"]["startLine"],
        11
    );
}
