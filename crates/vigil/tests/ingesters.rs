//! Ingesters on the real control plane, with the tools' real CRDs installed
//! (scripts/tool-crds): the shipped presets turn the tools' objects into
//! exactly the Observations the mapping says, field by field; a report
//! updated with one new finding yields exactly one more; editing an
//! Ingester reconfigures it within 10 s; an invalid edit sets Ready=False
//! with the field path and keeps the last valid generation running; a
//! deleted Ingester stops its source and nothing else.

mod common;
#[path = "common/webhook_client.rs"]
mod webhook_client;

use common::{grant_agent, Agent};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::Client;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vigil_model::{Ingester, Observation};
use vigil_test_support::{apply_yaml, repo_root, Plane, TestUser};

/// Reconfiguration must take effect within this (the bound).
const RECONFIGURE: Duration = Duration::from_secs(10);

async fn setup(prefix: &str) -> (Client, String) {
    let plane = Plane::get().await;
    plane.install_tool_crds().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace(prefix).await;
    grant_agent(&admin, &ns).await;
    (admin, ns)
}

async fn start_agent(ns: &str) -> Agent {
    start_agent_with(ns, "").await
}

async fn start_agent_with(ns: &str, extra: &str) -> Agent {
    let kubeconfig = Plane::get().await.kubeconfig(TestUser::Vigil);
    Agent::start(
        &kubeconfig,
        ns,
        &format!("detect: {{enabled: false}}\n{extra}"),
    )
}

/// A shipped preset (deploy/ingesters/), moved into `ns` and, for an
/// informer, confined to `ns` (the shared plane holds other tests' objects).
fn preset(name: &str, ns: &str) -> Value {
    let path = repo_root()
        .join("deploy/ingesters")
        .join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut v: Value = serde_saphyr::from_str(&text).expect("preset yaml");
    v["metadata"]["namespace"] = json!(ns);
    if v["spec"]["ingester"] == "informer" {
        v["spec"]["informer"]["namespaces"] = json!([ns]);
    }
    v
}

async fn apply(admin: &Client, object: &Value, ns: &str) -> DynamicObject {
    let text = serde_json::to_string(object).expect("json");
    let mut applied = apply_yaml(admin, &text, ns)
        .await
        .unwrap_or_else(|e| panic!("applying {}: {e}", object["metadata"]["name"]));
    applied.remove(0)
}

/// A tool's object from a fixture, as a user would create it: server-set
/// metadata dropped, moved into `ns`; its `status` (a subresource for
/// cert-manager) written after the object.
async fn create_tool_object(admin: &Client, mut object: Value, ns: &str) -> Value {
    let meta = object["metadata"].as_object_mut().expect("metadata");
    for server_set in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
        "selfLink",
    ] {
        meta.remove(server_set);
    }
    meta.insert("namespace".into(), json!(ns));
    // Kept with the object where `status` is not a subresource (Argo CD),
    // written through the subresource where it is (cert-manager).
    let status = object.get("status").cloned();
    let created = apply(admin, &object, ns).await;
    let resource = api_resource(&object);
    let api: Api<DynamicObject> = if created.metadata.namespace.is_some() {
        Api::namespaced_with(admin.clone(), ns, &resource)
    } else {
        Api::all_with(admin.clone(), &resource)
    };
    let name = created.metadata.name.clone().expect("name");
    if let Some(status) = status {
        let patch = Patch::Merge(json!({"status": status}));
        match api
            .patch_status(&name, &PatchParams::default(), &patch)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => panic!("status of {name}: {e}"),
        }
    }
    serde_json::to_value(api.get(&name).await.expect("get back")).expect("json")
}

fn api_resource(object: &Value) -> ApiResource {
    let types = kube::api::TypeMeta {
        api_version: object["apiVersion"].as_str().expect("apiVersion").into(),
        kind: object["kind"].as_str().expect("kind").into(),
    };
    let gvk = kube::api::GroupVersionKind::try_from(&types).expect("gvk");
    let plural = match gvk.kind.as_str() {
        "PolicyReport" => "policyreports".to_string(),
        "Application" => "applications".to_string(),
        k => format!("{}s", k.to_lowercase()),
    };
    ApiResource::from_gvk_with_plural(&gvk, &plural)
}

async fn observations(admin: &Client, ns: &str, source: &str) -> Vec<Observation> {
    let api: Api<Observation> = Api::namespaced(admin.clone(), ns);
    let mut found: Vec<Observation> = api
        .list(&ListParams::default())
        .await
        .expect("list observations")
        .items
        .into_iter()
        .filter(|o| o.spec.source == source)
        .collect();
    found.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    found
}

/// Waits until `source` has exactly `n` Observations in `ns` (and keeps
/// them for a moment of further polling is not needed: counts only grow here).
async fn wait_count(
    admin: &Client,
    ns: &str,
    source: &str,
    n: usize,
    agent: &Agent,
    within: Duration,
) -> Vec<Observation> {
    let deadline = Instant::now() + within;
    loop {
        let found = observations(admin, ns, source).await;
        if found.len() == n {
            return found;
        }
        assert!(
            found.len() < n && Instant::now() < deadline,
            "{source}: {} Observations, want {n}: {:?}\n{}",
            found.len(),
            found.iter().map(|o| &o.spec).collect::<Vec<_>>(),
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ingester(admin: &Client, ns: &str, name: &str) -> Ingester {
    Api::<Ingester>::namespaced(admin.clone(), ns)
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("get ingester {name}: {e}"))
}

/// Polls the Ingester's status until `done` holds (within the deadline) and
/// returns it.
async fn wait_status(
    admin: &Client,
    ns: &str,
    name: &str,
    agent: &Agent,
    what: &str,
    done: impl Fn(&vigil_model::IngesterStatus) -> bool,
) -> vigil_model::IngesterStatus {
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        let status = ingester(admin, ns, name).await.status.unwrap_or_default();
        if done(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: never {what}: {status:?}\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the Ingester's Ready condition reflects its current
/// generation with `status`, and returns the condition's message.
async fn wait_ready(
    admin: &Client,
    ns: &str,
    name: &str,
    status: &str,
    agent: &Agent,
    within: Duration,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let ing = ingester(admin, ns, name).await;
        let generation = ing.metadata.generation;
        let ready = ing.status.as_ref().and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == "Ready" && c.observed_generation == generation)
                .cloned()
        });
        if let Some(c) = ready.filter(|c| c.status == status) {
            return c.message;
        }
        assert!(
            Instant::now() < deadline,
            "Ingester {name}: Ready is not {status} for generation {generation:?}: {:?}\n{}",
            ing.status,
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the mapping says the object yields, as (name, severity, eventType,
/// resource, details) — the offline engine `vigil validate` and replay use.
fn expected(preset: &Value, object: &Value, ns: &str) -> BTreeMap<String, Value> {
    let text = serde_json::to_string(preset).expect("json");
    let p = vigil_mapping::Preset::load(&text).expect("preset loads");
    p.apply(object)
        .expect("maps")
        .into_iter()
        .map(|m| {
            let namespace = m
                .spec
                .resource
                .as_ref()
                .and_then(|r| r.namespace.clone())
                .unwrap_or_else(|| ns.to_string());
            (
                m.name(),
                json!({"namespace": namespace, "spec": view(&serde_json::to_value(&m.spec).unwrap())}),
            )
        })
        .collect()
}

fn actual(found: &[Observation]) -> BTreeMap<String, Value> {
    found
        .iter()
        .map(|o| {
            (
                o.metadata.name.clone().expect("name"),
                json!({"namespace": o.metadata.namespace, "spec": view(&serde_json::to_value(&o.spec).unwrap())}),
            )
        })
        .collect()
}

/// The fields the mapping decides (the writer adds a TTL default).
fn view(spec: &Value) -> Value {
    json!({
        "source": spec["source"], "category": spec["category"], "severity": spec["severity"],
        "eventType": spec["eventType"], "resource": spec["resource"], "details": spec["details"],
    })
}

/// The agent's accounting for one source: (received, created + filtered +
/// deduped + create errors), from its /metrics.
async fn accounting_of(agent: &Agent, source: &str) -> (f64, f64) {
    let (_, body) = agent.get("/metrics").await;
    let sum = |family: &str| -> f64 {
        body.lines()
            .filter(|l| l.starts_with(family) && l.contains(&format!("source=\"{source}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let settled = sum("vigil_observations_created_total")
        + sum("vigil_observations_filtered_total")
        + sum("vigil_observations_deduped_total")
        + sum("vigil_observations_create_errors_total");
    (sum("vigil_events_received_total"), settled)
}

/// Waits until every record of `source` the agent received is accounted for.
async fn wait_accounted(agent: &Agent, source: &str) -> (f64, f64) {
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        let (received, settled) = accounting_of(agent, source).await;
        if received > 0.0 && received == settled {
            return (received, settled);
        }
        assert!(
            Instant::now() < deadline,
            "{source}: received {received}, settled {settled}\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn fixture(rel: &str) -> Value {
    let path = repo_root()
        .join("crates/vigil-mapping/tests/fixtures")
        .join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A Trivy VulnerabilityReport fixture about a workload in `ns`. The docs
/// sample predates fields Trivy Operator v0.26's CRD requires (the API
/// server refuses it without them); they are filled in, nothing else changes.
fn trivy_report(ns: &str) -> Value {
    let mut r = fixture("trivy-operator/docs_vulnerability-report-1.yaml");
    r["metadata"]["labels"]["trivy-operator.resource.namespace"] = json!(ns);
    complete_trivy(&mut r);
    r
}

fn complete_trivy(r: &mut Value) {
    r["report"]["updateTimestamp"] = json!("2026-11-20T10:00:00Z");
    for v in r["report"]["vulnerabilities"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        for field in ["publishedDate", "lastModifiedDate"] {
            if v.get(field).is_none() {
                v[field] = json!("2026-01-01T00:00:00Z");
            }
        }
    }
}

fn critical(id: &str, package: &str) -> Value {
    json!({"vulnerabilityID": id, "resource": package, "installedVersion": "1.0",
           "fixedVersion": "1.1", "severity": "CRITICAL", "score": 9.8, "title": "test",
           "primaryLink": format!("https://avd.aquasec.com/nvd/{}", id.to_lowercase()), "links": [],
           "target": "library/nginx:1.16"})
}

#[tokio::test]
async fn trivy_vulnerability_reports_become_observations_and_one_new_finding_one_more() {
    let (admin, ns) = setup("ing-trivy").await;
    let ingester_obj = preset("trivy-vulnerabilityreport", &ns);
    apply(&admin, &ingester_obj, &ns).await;
    let agent = start_agent(&ns).await;
    let name = ingester_obj["metadata"]["name"].as_str().unwrap();
    assert_eq!(
        wait_ready(&admin, &ns, name, "True", &agent, common::DEADLINE).await,
        "the source runs"
    );

    let stored = create_tool_object(&admin, trivy_report(&ns), &ns).await;
    // The docs report: two CRITICAL vulnerabilities, nothing else.
    let found = wait_count(&admin, &ns, "trivy", 2, &agent, common::DEADLINE).await;
    assert_eq!(actual(&found), expected(&ingester_obj, &stored, &ns));
    for o in &found {
        assert_eq!(o.spec.severity, vigil_model::Severity::Critical);
        let r = o.spec.resource.as_ref().expect("resource");
        assert_eq!(
            (r.kind.as_deref(), r.name.as_deref(), r.namespace.as_deref()),
            (
                Some("ReplicaSet"),
                Some("nginx-6d4cf56db6"),
                Some(ns.as_str())
            )
        );
        assert_eq!(o.spec.ttl_seconds_after_creation, Some(604_800));
    }

    // A re-scan with one new finding: exactly one more Observation.
    let mut rescan = trivy_report(&ns);
    let vulns = rescan["report"]["vulnerabilities"].as_array_mut().unwrap();
    vulns.push(critical("CVE-2099-0001", "openssl"));
    complete_trivy(&mut rescan);
    let stored = create_tool_object(&admin, rescan, &ns).await;
    let found = wait_count(&admin, &ns, "trivy", 3, &agent, common::DEADLINE).await;
    assert_eq!(actual(&found), expected(&ingester_obj, &stored, &ns));
    let new: Vec<_> = found
        .iter()
        .filter(|o| o.spec.details.as_ref().unwrap()["vulnerabilityID"] == "CVE-2099-0001")
        .collect();
    assert_eq!(new.len(), 1);

    // The next scan finds a fix for CVE-2018-25009 (its fixedVersion was
    // empty): no new Observation, the existing one says so.
    let mut fixed = trivy_report(&ns);
    let vulns = fixed["report"]["vulnerabilities"].as_array_mut().unwrap();
    vulns.push(critical("CVE-2099-0001", "openssl"));
    for v in vulns.iter_mut() {
        if v["vulnerabilityID"] == "CVE-2018-25009" {
            v["fixedVersion"] = json!("1.0.2-1");
        }
    }
    complete_trivy(&mut fixed);
    create_tool_object(&admin, fixed, &ns).await;
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        let found = observations(&admin, &ns, "trivy").await;
        assert_eq!(found.len(), 3, "an update, not a new Observation");
        let fix = found
            .iter()
            .find(|o| o.spec.details.as_ref().unwrap()["vulnerabilityID"] == "CVE-2018-25009")
            .expect("the CVE's Observation");
        if fix.spec.details.as_ref().unwrap()["fixedVersion"] == "1.0.2-1" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never updated: {:?}\n{}",
            fix.spec,
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The status tells an operator what the source did.
    let status = wait_status(
        &admin,
        &ns,
        name,
        &agent,
        "counted 3 created, 1 updated",
        |status| status.observations_created == Some(3) && status.observations_updated == Some(1),
    )
    .await;
    assert!(status.last_event_time.is_some());
    assert!(status.events_received.unwrap_or(0) >= 2);
    assert_eq!(status.errors, Some(0));
    assert_eq!(agent.metric("vigil_ingesters{state=\"ready\"}").await, 1.0);
    assert_eq!(
        agent
            .metric("vigil_observations_updated_total{source=\"trivy\",reason=\"updated\"}")
            .await,
        1.0
    );
    // Every finding the mapping saw is accounted for: the 3 created and the
    // LOW/MEDIUM ones the preset's minSeverity filtered, each re-scan's too.
    let (received, _) = wait_accounted(&agent, "trivy").await;
    assert!(received >= 3.0, "{received}");
    let filtered = agent
        .metric("vigil_observations_filtered_total{source=\"trivy\",reason=\"severity\"}")
        .await;
    assert_eq!(received, 3.0 + filtered);
}

#[tokio::test]
async fn kyverno_and_cert_manager_objects_become_exactly_the_mapped_observations() {
    let (admin, ns) = setup("ing-presets").await;
    let cases = [
        (
            "kyverno-policyreport",
            "kyverno-policyreport/polr_v1alpha2_pod_kube-apiserver.yaml",
            "kyverno",
            1,
        ),
        (
            "cert-manager-certificate",
            "cert-manager/certificate_not-ready_DoesNotExist_kubectl-get-o-yaml.yaml",
            "cert-manager",
            1,
        ),
    ];
    let mut presets = Vec::new();
    for (preset_name, _, _, _) in &cases {
        let p = preset(preset_name, &ns);
        apply(&admin, &p, &ns).await;
        presets.push(p);
    }
    let agent = start_agent(&ns).await;
    for p in &presets {
        wait_ready(
            &admin,
            &ns,
            p["metadata"]["name"].as_str().unwrap(),
            "True",
            &agent,
            common::DEADLINE,
        )
        .await;
    }
    for ((_, file, source, n), p) in cases.iter().zip(&presets) {
        let mut object = fixture(file);
        if object["kind"] == "PolicyReport" {
            // The report is about a pod of its own namespace.
            object["scope"]["namespace"] = json!(ns);
            for r in object["results"].as_array_mut().unwrap() {
                let resources = r.get_mut("resources").and_then(Value::as_array_mut);
                for res in resources.into_iter().flatten() {
                    res["namespace"] = json!(ns);
                }
            }
        }
        let stored = create_tool_object(&admin, object.clone(), &ns).await;
        let found = wait_count(&admin, &ns, source, *n, &agent, common::DEADLINE).await;
        let want = expected(p, &stored, &ns);
        assert_eq!(want.len(), *n, "{file}");
        assert_eq!(actual(&found), want, "{file}");
        if object["kind"] == "PolicyReport" {
            // Kyverno re-evaluates and one more rule fails: one more Observation.
            let mut next = object.clone();
            let mut result = next["results"][1].clone();
            result["policy"] = json!("require-run-as-nonroot");
            result["rule"] = json!("run-as-non-root");
            next["results"].as_array_mut().unwrap().push(result);
            let stored = create_tool_object(&admin, next, &ns).await;
            let found = wait_count(&admin, &ns, source, n + 1, &agent, common::DEADLINE).await;
            assert_eq!(actual(&found), expected(p, &stored, &ns));
        }
        if object["kind"] == "Certificate" {
            // Still not ready, for another reason: a new finding, one more.
            let mut next = object;
            for c in next["status"]["conditions"].as_array_mut().unwrap() {
                if c["type"] == "Ready" {
                    c["reason"] = json!("Failed");
                    c["message"] = json!("The certificate request has failed to complete");
                }
            }
            let stored = create_tool_object(&admin, next, &ns).await;
            let found = wait_count(&admin, &ns, source, n + 1, &agent, common::DEADLINE).await;
            let new: Vec<_> = found
                .iter()
                .filter(|o| o.spec.details.as_ref().unwrap()["reason"] == "Failed")
                .collect();
            assert_eq!(new.len(), 1);
            let want = expected(p, &stored, &ns);
            assert_eq!(
                actual(&found)[new[0].metadata.name.as_ref().unwrap()],
                want[new[0].metadata.name.as_ref().unwrap()]
            );
        }
    }
}

#[tokio::test]
async fn a_kube_bench_configmap_report_and_its_update() {
    let (admin, ns) = setup("ing-kube-bench").await;
    let p = preset("kube-bench-configmap", &ns);
    apply(&admin, &p, &ns).await;
    let agent = start_agent(&ns).await;
    wait_ready(
        &admin,
        &ns,
        "kube-bench-configmap",
        "True",
        &agent,
        common::DEADLINE,
    )
    .await;
    let run = fixture("kube-bench/wg-policy_kube-bench-adapter_kube-bench-output.json");
    let fails = |run: &Value| {
        run["Controls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["tests"].as_array().unwrap())
            .flat_map(|t| t["results"].as_array().unwrap())
            .filter(|r| r["status"] == "FAIL")
            .count()
    };
    assert_eq!(fails(&run), 36);
    let configmap = |run: &Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "kube-bench-run", "namespace": ns, "labels": {"app": "kube-bench"}},
               "data": {"results.json": serde_json::to_string(run).unwrap()}})
    };
    apply(&admin, &configmap(&run), &ns).await;
    let found = wait_count(&admin, &ns, "kube-bench", 36, &agent, common::DEADLINE).await;
    assert_eq!(actual(&found), expected(&p, &run, &ns));

    // The next run fails one more test: exactly one more Observation.
    let mut next = run.clone();
    let result = next["Controls"][0]["tests"][0]["results"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["status"] != "FAIL")
        .expect("a passing or warning result");
    result["status"] = json!("FAIL");
    apply(&admin, &configmap(&next), &ns).await;
    let found = wait_count(&admin, &ns, "kube-bench", 37, &agent, common::DEADLINE).await;
    assert_eq!(actual(&found), expected(&p, &next, &ns));

    // An unreadable report is an error on the Ingester, nothing else changes.
    let mut broken = configmap(&next);
    broken["data"]["results.json"] = json!("{not json");
    apply(&admin, &broken, &ns).await;
    let status = wait_status(
        &admin,
        &ns,
        "kube-bench-configmap",
        &agent,
        "counted an error",
        |status| status.errors == Some(1),
    )
    .await;
    let last = status.last_error.unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "ConfigMap {ns}/kube-bench-run: data key \"results.json\" is not valid JSON"
        )),
        "{last}"
    );
    assert_eq!(observations(&admin, &ns, "kube-bench").await.len(), 37);
    // Accounted: the WARN and PASS results each scan's filter dropped are
    // counted as received and filtered (86 of the first run, 85 of the next).
    wait_accounted(&agent, "kube-bench").await;
    let matched = agent
        .metric("vigil_observations_filtered_total{source=\"kube-bench\",reason=\"match\"}")
        .await;
    assert_eq!(matched, 86.0 + 85.0);
}

/// An informer Ingester of Trivy reports with a severity filter, named `name`.
fn filtered_trivy(ns: &str, name: &str, source: &str, min_severity: &str) -> Value {
    let mut p = preset("trivy-vulnerabilityreport", ns);
    p["metadata"]["name"] = json!(name);
    p["spec"]["source"] = json!(source);
    p["spec"]["filters"]["minSeverity"] = json!(min_severity);
    p
}

fn report_with(ns: &str, name: &str, vulns: Vec<Value>) -> Value {
    let mut r = trivy_report(ns);
    r["metadata"]["name"] = json!(name);
    r["report"]["vulnerabilities"] = json!(vulns);
    complete_trivy(&mut r);
    r
}

fn high(id: &str, package: &str) -> Value {
    let mut v = critical(id, package);
    v["severity"] = json!("HIGH");
    v
}

#[tokio::test]
async fn edits_reconfigure_live_invalid_edits_keep_the_last_valid_and_deletes_stop_only_that_source(
) {
    let (admin, ns) = setup("ing-live").await;
    let a = filtered_trivy(&ns, "trivy-a", "trivy-a", "critical");
    apply(&admin, &a, &ns).await;
    let agent = start_agent(&ns).await;
    wait_ready(&admin, &ns, "trivy-a", "True", &agent, common::DEADLINE).await;
    create_tool_object(
        &admin,
        report_with(
            &ns,
            "r1",
            vec![critical("CVE-2099-1000", "a"), high("CVE-2099-1001", "b")],
        ),
        &ns,
    )
    .await;
    wait_count(&admin, &ns, "trivy-a", 1, &agent, common::DEADLINE).await;

    // Editing the filter: the HIGH finding appears within 10 s.
    let edited = filtered_trivy(&ns, "trivy-a", "trivy-a", "high");
    apply(&admin, &edited, &ns).await;
    let found = wait_count(&admin, &ns, "trivy-a", 2, &agent, RECONFIGURE).await;
    assert!(found
        .iter()
        .any(|o| o.spec.severity == vigil_model::Severity::High));

    // An invalid edit (no way to decide a severity): Ready=False naming the
    // field; the last valid generation keeps running.
    let mut invalid = edited.clone();
    invalid["spec"]["mapping"]["severity"] = json!({"map": {"CRITICAL": "critical"}});
    let gen_before = ingester(&admin, &ns, "trivy-a").await.metadata.generation;
    apply(&admin, &invalid, &ns).await;
    let message = wait_ready(&admin, &ns, "trivy-a", "False", &agent, RECONFIGURE).await;
    assert!(
        message.starts_with("spec.mapping.severity: set from (with map) or default"),
        "{message}"
    );
    assert!(
        message.contains(&format!("generation {}", gen_before.unwrap())),
        "{message}"
    );
    let cond = ingester(&admin, &ns, "trivy-a")
        .await
        .status
        .unwrap()
        .conditions;
    assert_eq!(cond[0].reason, "InvalidSpec");
    create_tool_object(
        &admin,
        report_with(&ns, "r2", vec![high("CVE-2099-2000", "c")]),
        &ns,
    )
    .await;
    wait_count(&admin, &ns, "trivy-a", 3, &agent, common::DEADLINE).await;

    // A second Ingester on the same resource; then delete the first: only
    // its source stops. The second one seeing a new report proves the
    // report was delivered while the first stayed silent.
    let b = filtered_trivy(&ns, "trivy-b", "trivy-b", "high");
    apply(&admin, &b, &ns).await;
    wait_ready(&admin, &ns, "trivy-b", "True", &agent, common::DEADLINE).await;
    wait_count(&admin, &ns, "trivy-b", 3, &agent, common::DEADLINE).await;
    Api::<Ingester>::namespaced(admin.clone(), &ns)
        .delete("trivy-a", &DeleteParams::default())
        .await
        .expect("delete trivy-a");
    // Its source task is gone, not leaked: one source runs, trivy-b's.
    let deadline = Instant::now() + RECONFIGURE;
    loop {
        let invalid = agent.metric("vigil_ingesters{state=\"invalid\"}").await;
        let sources = agent.metric("vigil_ingester_sources").await;
        if invalid == 0.0 && sources == 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "trivy-a still known ({invalid} invalid) or its source still runs ({sources} sources)\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    create_tool_object(
        &admin,
        report_with(&ns, "r3", vec![high("CVE-2099-3000", "d")]),
        &ns,
    )
    .await;
    wait_count(&admin, &ns, "trivy-b", 4, &agent, common::DEADLINE).await;
    assert_eq!(observations(&admin, &ns, "trivy-a").await.len(), 3);

    // Re-created under the same name: a fresh Ingester, valid and running.
    apply(
        &admin,
        &filtered_trivy(&ns, "trivy-a", "trivy-a", "high"),
        &ns,
    )
    .await;
    wait_ready(&admin, &ns, "trivy-a", "True", &agent, common::DEADLINE).await;
    wait_count(&admin, &ns, "trivy-a", 4, &agent, common::DEADLINE).await;
    let status = ingester(&admin, &ns, "trivy-a").await.status.unwrap();
    assert_eq!(status.conditions[0].reason, "Running");
    // Edits replaced sources rather than adding them: two Ingesters, two sources.
    assert_eq!(agent.metric("vigil_ingester_sources").await, 2.0);
}

#[tokio::test]
async fn an_ingester_whose_source_cannot_read_says_why_and_the_others_run() {
    let (admin, ns) = setup("ing-missing").await;
    let mut missing = preset("trivy-vulnerabilityreport", &ns);
    missing["metadata"]["name"] = json!("not-served");
    missing["spec"]["source"] = json!("nothing");
    missing["spec"]["informer"]["gvr"] =
        json!({"group": "example.invalid", "version": "v1", "resource": "reports"});
    apply(&admin, &missing, &ns).await;
    let good = preset("trivy-vulnerabilityreport", &ns);
    apply(&admin, &good, &ns).await;
    let agent = start_agent(&ns).await;
    let message = wait_ready(&admin, &ns, "not-served", "False", &agent, common::DEADLINE).await;
    // RBAC answers before discovery: the agent may not list it.
    assert!(
        message.starts_with("watching example.invalid/v1 reports"),
        "{message}"
    );
    assert!(
        message.ends_with("grant the agent's ServiceAccount list and watch on it"),
        "{message}"
    );
    let status = ingester(&admin, &ns, "not-served").await.status.unwrap();
    assert_eq!(status.conditions[0].reason, "SourceFailing");
    wait_ready(
        &admin,
        &ns,
        good["metadata"]["name"].as_str().unwrap(),
        "True",
        &agent,
        common::DEADLINE,
    )
    .await;
    create_tool_object(&admin, trivy_report(&ns), &ns).await;
    wait_count(&admin, &ns, "trivy", 2, &agent, common::DEADLINE).await;
}

#[tokio::test]
async fn a_k8s_events_ingester_runs_the_events_pipeline_with_its_own_filters() {
    let (admin, ns) = setup("ing-events").await;
    let ingester_obj = json!({
        "apiVersion": "zen.kube-zen.io/v1alpha1", "kind": "Ingester",
        "metadata": {"name": "shop-events", "namespace": ns},
        "spec": {"source": "shop-events", "ingester": "k8s-events",
                 "k8sEvents": {"namespaces": [ns], "api": "v1"},
                 "filters": {"excludeReasons": ["FailedMount"]},
                 "ttl": "1h"}});
    apply(&admin, &ingester_obj, &ns).await;
    let agent = start_agent(&ns).await;
    wait_ready(&admin, &ns, "shop-events", "True", &agent, common::DEADLINE).await;
    let at = common::window_time();
    let event = |i: usize, reason: &str| common::EventSpec {
        name: format!("e-{i}"),
        type_: "Warning",
        reason: reason.into(),
        message: format!("{reason} on pod {}", common::word(i)),
        kind: "Pod",
        object: format!("web-{}", common::word(i)),
        time: at,
    };
    let events = vec![
        event(1, "BackOff"),
        event(2, "BackOff"),
        event(3, "FailedMount"),
        event(4, "Unhealthy"),
    ];
    common::create_events(&admin, &ns, &events).await;
    let found = wait_count(&admin, &ns, "shop-events", 3, &agent, common::DEADLINE).await;
    let mut reasons: Vec<String> = found
        .iter()
        .map(|o| {
            o.spec.details.as_ref().unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    reasons.sort();
    assert_eq!(reasons, ["BackOff", "BackOff", "Unhealthy"]);
    assert!(found
        .iter()
        .all(|o| o.spec.ttl_seconds_after_creation == Some(3600)));
    // Counted on the Ingester: 4 received, 1 filtered, 3 created.
    let s = wait_status(
        &admin,
        &ns,
        "shop-events",
        &agent,
        "counted 3 created and 1 filtered",
        |s| s.observations_created == Some(3) && s.events_filtered == Some(1),
    )
    .await;
    assert_eq!(s.events_received, Some(4));
}

#[tokio::test]
async fn argo_cd_applications_that_degrade_or_drift_become_observations() {
    let (admin, ns) = setup("ing-argo").await;
    let health = preset("argocd-application-health", &ns);
    let sync = preset("argocd-application-sync", &ns);
    apply(&admin, &health, &ns).await;
    apply(&admin, &sync, &ns).await;
    let agent = start_agent(&ns).await;
    for p in [&health, &sync] {
        wait_ready(
            &admin,
            &ns,
            p["metadata"]["name"].as_str().unwrap(),
            "True",
            &agent,
            common::DEADLINE,
        )
        .await;
    }
    // Argo CD's own test Application: Healthy and Synced, nothing to say.
    let app = fixture("argo-cd/argo-cd_controller-testdata_diff-cache.yaml");
    create_tool_object(&admin, app.clone(), &ns).await;
    wait_status(
        &admin,
        &ns,
        "argocd-application-health",
        &agent,
        "seen the healthy Application",
        |s| s.events_filtered == Some(1),
    )
    .await;
    assert!(observations(&admin, &ns, "argocd").await.is_empty());

    // The controller finds it degraded: one Observation.
    let mut degraded = app.clone();
    degraded["status"]["health"] = json!({"status": "Degraded", "message": "Deployment \"test-lla\" exceeded its progress deadline"});
    let stored = create_tool_object(&admin, degraded.clone(), &ns).await;
    let found = wait_count(&admin, &ns, "argocd", 1, &agent, common::DEADLINE).await;
    let degraded_once = expected(&health, &stored, &ns);
    assert_eq!(actual(&found), degraded_once);
    assert_eq!(found[0].spec.event_type, "argocd_app_degraded");

    // Then it drifts from Git as well: one more, from the sync preset.
    let mut drifted = degraded;
    drifted["status"]["sync"]["status"] = json!("OutOfSync");
    let stored = create_tool_object(&admin, drifted, &ns).await;
    wait_count(&admin, &ns, "argocd", 2, &agent, common::DEADLINE).await;
    // The degraded finding is the same one, updated: it now says OutOfSync.
    let mut want = expected(&health, &stored, &ns);
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        degraded_once.keys().collect::<Vec<_>>()
    );
    want.extend(expected(&sync, &stored, &ns));
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        let now = actual(&observations(&admin, &ns, "argocd").await);
        if now == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{now:#?}\nwant {want:#?}\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_certificate_nearing_expiry_is_reported_when_it_crosses_the_horizon() {
    let (admin, ns) = setup("ing-expiry").await;
    let p = preset("cert-manager-certificate-expiring", &ns);
    apply(&admin, &p, &ns).await;
    let agent = start_agent_with(&ns, "ingesters: {resyncInterval: 1s}\n").await;
    wait_ready(
        &admin,
        &ns,
        "cert-manager-certificate-expiring",
        "True",
        &agent,
        common::DEADLINE,
    )
    .await;
    let base = fixture("cert-manager/qovery-engine_src-fs-rs_certificate_ready.yaml");
    let now = k8s_openapi::jiff::Timestamp::now();
    let cert = |name: &str, not_after: k8s_openapi::jiff::Timestamp| {
        let mut c = base.clone();
        c["metadata"]["name"] = json!(name);
        c["status"]["notAfter"] = json!(not_after.to_string());
        c
    };
    let day = k8s_openapi::jiff::SignedDuration::from_hours(24);
    // Expires in 5 days: within 30 at once. In 30 days and 4 seconds: not
    // yet; the agent's periodic re-mapping reports it once it is.
    create_tool_object(&admin, cert("soon", now + day * 5), &ns).await;
    let crossing = now + day * 30 + k8s_openapi::jiff::SignedDuration::from_secs(4);
    create_tool_object(&admin, cert("crossing", crossing), &ns).await;
    create_tool_object(&admin, cert("far", now + day * 200), &ns).await;
    let first = wait_count(&admin, &ns, "cert-manager", 1, &agent, common::DEADLINE).await;
    assert_eq!(
        first[0].spec.resource.as_ref().unwrap().name.as_deref(),
        Some("soon")
    );
    let both = wait_count(&admin, &ns, "cert-manager", 2, &agent, common::DEADLINE).await;
    let mut names: Vec<_> = both
        .iter()
        .map(|o| o.spec.resource.as_ref().unwrap().name.clone().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["crossing", "soon"]);
    let reported = both
        .iter()
        .find(|o| o.spec.resource.as_ref().unwrap().name.as_deref() == Some("crossing"))
        .and_then(|o| o.metadata.creation_timestamp.clone())
        .expect("created");
    // Whole seconds: the horizon is compared in seconds.
    assert!(
        reported.0.as_second() >= (crossing - day * 30).as_second(),
        "reported at {} before it crossed the horizon at {}",
        reported.0,
        crossing - day * 30
    );
}

/// Moves a fixture's report into `ns` (and the objects it is about).
fn into_namespace(mut object: Value, ns: &str) -> Value {
    if let Some(labels) = object["metadata"]
        .get_mut("labels")
        .and_then(Value::as_object_mut)
    {
        if labels.contains_key("trivy-operator.resource.namespace") {
            labels.insert("trivy-operator.resource.namespace".into(), json!(ns));
        }
    }
    if object.get("scope").is_some() {
        object["scope"]["namespace"] = json!(ns);
    }
    if let Some(results) = object.get_mut("results").and_then(Value::as_array_mut) {
        for r in results {
            let resources = r.get_mut("resources").and_then(Value::as_array_mut);
            for res in resources.into_iter().flatten() {
                res["namespace"] = json!(ns);
            }
        }
    }
    object
}

#[tokio::test]
async fn every_other_shipped_preset_yields_exactly_its_mapped_observations() {
    let (admin, ns) = setup("ing-all").await;
    // (preset, fixture, source, Observations the payload holds)
    let cases = [
        (
            "trivy-configauditreport",
            "trivy-operator/docs_configaudit-report-1.yaml",
            "trivy",
            2,
        ),
        (
            "trivy-exposedsecretreport",
            "trivy-operator/docs_exposedsecret-report-1.yaml",
            "trivy",
            2,
        ),
        (
            "trivy-rbacassessmentreport",
            "trivy-operator/docs_rbacassessment-report-1.yaml",
            "trivy",
            1,
        ),
        (
            "kyverno-clusterpolicyreport",
            "kyverno-policyreport/cpolr_v1alpha2_kyverno-cli-merged.yaml",
            "kyverno",
            1,
        ),
    ];
    for (name, file, source, n) in cases {
        let mut p = preset(name, &ns);
        if name.starts_with("kyverno-cluster") {
            // Cluster-scoped reports: one cluster-wide watch; the test's
            // report has a name of its own.
            p["spec"]["informer"]
                .as_object_mut()
                .unwrap()
                .remove("namespaces");
        }
        apply(&admin, &p, &ns).await;
        let agent = start_agent(&ns).await;
        wait_ready(&admin, &ns, name, "True", &agent, common::DEADLINE).await;
        let mut object = into_namespace(fixture(file), &ns);
        if object["kind"] == "ClusterPolicyReport" {
            object["metadata"]["name"] = json!(format!("merged-{ns}"));
        }
        let stored = create_tool_object(&admin, object.clone(), &ns).await;
        let want = expected(&p, &stored, &ns);
        assert_eq!(want.len(), n, "{file}");
        let found = wait_count(&admin, &ns, source, n, &agent, common::DEADLINE).await;
        assert_eq!(actual(&found), want, "{file}");
        // A re-scan with one more finding: exactly one more Observation.
        let stored = create_tool_object(&admin, one_more_finding(&object), &ns).await;
        let found = wait_count(&admin, &ns, source, n + 1, &agent, common::DEADLINE).await;
        assert_eq!(actual(&found), expected(&p, &stored, &ns), "{file} + 1");
        // Clean slate for the next preset.
        Api::<Ingester>::namespaced(admin.clone(), &ns)
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete ingester");
        drop(agent);
        let api: Api<Observation> = Api::namespaced(admin.clone(), &ns);
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .expect("delete observations");
    }

    // Checkov through a ConfigMap: every failed check of every framework.
    let p = preset("checkov-configmap", &ns);
    apply(&admin, &p, &ns).await;
    let agent = start_agent(&ns).await;
    wait_ready(
        &admin,
        &ns,
        "checkov-configmap",
        "True",
        &agent,
        common::DEADLINE,
    )
    .await;
    let report = fixture("checkov/defectdojo_checkov-report-multiple-check_type.json");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "checkov-results", "namespace": ns},
        "data": {"results.json": serde_json::to_string(&report).unwrap()}});
    apply(&admin, &cm, &ns).await;
    let found = wait_count(&admin, &ns, "checkov", 13, &agent, common::DEADLINE).await;
    assert_eq!(actual(&found), expected(&p, &report, &ns));
    let next = one_more_finding(&report);
    let mut cm = cm;
    cm["data"]["results.json"] = json!(serde_json::to_string(&next).unwrap());
    apply(&admin, &cm, &ns).await;
    let found = wait_count(&admin, &ns, "checkov", 14, &agent, common::DEADLINE).await;
    assert_eq!(actual(&found), expected(&p, &next, &ns));
}

/// The same report with one more failing finding, as the tool's next scan
/// would write it: a copy of an existing failing entry under a new id.
fn one_more_finding(report: &Value) -> Value {
    let mut next = report.clone();
    let push_copy =
        |list: &mut Value, pick: &dyn Fn(&Value) -> bool, rename: &dyn Fn(&mut Value)| {
            let items = list.as_array_mut().expect("a list of findings");
            let mut copy = items
                .iter()
                .find(|v| pick(v))
                .expect("a failing entry")
                .clone();
            rename(&mut copy);
            items.push(copy);
        };
    match next["kind"].as_str() {
        Some("ConfigAuditReport") | Some("RbacAssessmentReport") => push_copy(
            &mut next["report"]["checks"],
            &|c| c["success"] == false,
            &|c| c["checkID"] = json!("KSV999"),
        ),
        Some("ExposedSecretReport") => push_copy(&mut next["report"]["secrets"], &|_| true, &|c| {
            c["ruleID"] = json!("github-pat");
            c["match"] = json!("GITHUB_TOKEN=ghp_****");
        }),
        Some("ClusterPolicyReport") | Some("PolicyReport") => {
            push_copy(&mut next["results"], &|r| r["result"] == "fail", &|r| {
                r["policy"] = json!("require-requests-limits")
            })
        }
        _ => {
            // Checkov: the first framework's failed checks.
            let first = if next.is_array() {
                &mut next[0]
            } else {
                &mut next
            };
            push_copy(&mut first["results"]["failed_checks"], &|_| true, &|c| {
                c["check_id"] = json!("CKV_K8S_999")
            })
        }
    }
    next
}

/// The test plane has no kubelet, so no container writes a log: this
/// follows the logs adapter up to that boundary. A pod the selector picks,
/// reported running, is followed through the API (the API server answers
/// with an empty log: there is no node to read from) and the pod the
/// selector does not pick is never read; the source keeps running.
#[tokio::test]
async fn a_logs_ingester_follows_the_selected_running_containers_through_the_api() {
    let (admin, ns) = setup("ing-logs").await;
    let ingester_obj = json!({
        "apiVersion": "zen.kube-zen.io/v1alpha1", "kind": "Ingester",
        "metadata": {"name": "app-logs", "namespace": ns},
        "spec": {"source": "app", "ingester": "logs",
                 "logs": {"podSelector": "app=web", "patterns": [{"regex": "ERROR", "eventType": "app_error"}]}}});
    apply(&admin, &ingester_obj, &ns).await;
    let agent = start_agent(&ns).await;
    wait_ready(&admin, &ns, "app-logs", "True", &agent, common::DEADLINE).await;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(admin.clone(), &ns);
    for (name, app) in [("db-1", "db"), ("web-1", "web")] {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
            "spec": {"containers": [{"name": "main", "image": "example.invalid/app:1"}]}});
        apply(&admin, &pod, &ns).await;
        let status = json!({"status": {"phase": "Running", "containerStatuses": [{
            "name": "main", "image": "example.invalid/app:1", "imageID": "", "ready": true,
            "restartCount": 0, "state": {"running": {"startedAt": "2026-11-23T10:00:00Z"}}}]}});
        pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap_or_else(|e| panic!("status of {name}: {e}"));
    }
    // db-1 was reported running first: once web-1's log has been opened and
    // ended, db-1 would have been followed already if the selector let it.
    let ended = format!("container log ended\",\"container\":\"{ns}/web-1/main\"");
    let deadline = Instant::now() + common::DEADLINE;
    while !agent.log().contains(&ended) {
        assert!(
            Instant::now() < deadline,
            "web-1 not followed\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = agent.log();
    assert!(log.contains(&format!(
        "following container logs\",\"container\":\"{ns}/web-1/main\""
    )));
    assert!(
        !log.contains(&format!("{ns}/db-1")),
        "the unselected pod was read"
    );
    let status = ingester(&admin, &ns, "app-logs")
        .await
        .status
        .unwrap_or_default();
    assert_eq!(status.conditions[0].status, "True");
    assert_eq!(status.errors, Some(0));
    assert_eq!(agent.metric("vigil_ingester_sources").await, 1.0);
}

/// A Falco alert from the shared fixtures, about a pod in `ns`, under `rule`.
fn falco_alert(ns: &str, rule: &str) -> String {
    let path = repo_root().join(
        "crates/vigil-pipeline/tests/fixtures/falco/falco-website_channels_terminal-shell.jsonl",
    );
    let text = std::fs::read_to_string(&path).expect("falco fixture");
    let mut alert: Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("json");
    alert["output_fields"]["k8s.ns.name"] = json!(ns);
    alert["rule"] = json!(rule);
    serde_json::to_string(&alert).unwrap()
}

/// POSTs `body` to `path` until the answer is not 404 (the endpoint is
/// served), within `within`; returns that answer.
async fn post_when_served(
    address: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    within: Duration,
    agent: &Agent,
) -> webhook_client::Reply {
    let deadline = Instant::now() + within;
    loop {
        let reply = webhook_client::post_once(address, path, headers, body.to_string()).await;
        if reply.status != 404 {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "{path} not served within {within:?}\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_unserved(address: &str, path: &str, agent: &Agent) {
    let deadline = Instant::now() + RECONFIGURE;
    loop {
        let reply = webhook_client::post_once(address, path, &[], "{}").await;
        if reply.status == 404 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} still served ({})\n{}",
            reply.status,
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_falco_webhook_ingester_is_served_reconfigured_and_removed_live() {
    let (admin, ns) = setup("ing-hook").await;
    let dir = std::env::temp_dir().join(format!("vigil-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let kubeconfig = Plane::get().await.kubeconfig(TestUser::Vigil);
    let agent = Agent::start_with(
        &kubeconfig,
        &ns,
        "detect: {enabled: false}\ningesters: {serveWebhooks: true}\nwebhooks: {listen: 127.0.0.1:0}\n",
        &[],
        true,
    );
    let address = agent.webhook_address.clone().expect("webhook listener");
    let hook = |path: &str| {
        json!({"apiVersion": "zen.kube-zen.io/v1alpha1", "kind": "Ingester",
            "metadata": {"name": "falco-edge", "namespace": ns},
            "spec": {"source": "falco-edge", "ingester": "webhook", "ttl": "1h",
                     "webhook": {"path": path, "format": "falco",
                                 "auth": {"type": "bearer", "secretFile": token.display().to_string()}},
                     "filters": {"excludeNamespaces": ["kube-system"]}}})
    };
    apply(&admin, &hook("/ingest/edge"), &ns).await;
    wait_ready(&admin, &ns, "falco-edge", "True", &agent, common::DEADLINE).await;
    let auth = [
        ("authorization", "Bearer s3cret-token"),
        ("content-type", "application/json"),
    ];
    let reply = post_when_served(
        &address,
        "/ingest/edge",
        &auth,
        &falco_alert(&ns, "Terminal shell in container"),
        RECONFIGURE,
        &agent,
    )
    .await;
    assert_eq!((reply.status, reply.accepted()), (202, 1), "{}", reply.body);
    let found = wait_count(&admin, &ns, "falco-edge", 1, &agent, common::DEADLINE).await;
    assert_eq!(found[0].spec.ttl_seconds_after_creation, Some(3600));
    assert_eq!(found[0].spec.severity, vigil_model::Severity::Critical);
    // Its auth, not the agent's: no token, 401.
    let unauth =
        webhook_client::post_once(&address, "/ingest/edge", &auth[1..], falco_alert(&ns, "x"))
            .await;
    assert_eq!(unauth.status, 401);

    // A new path: served within 10 s, the old one gone.
    apply(&admin, &hook("/ingest/edge-2"), &ns).await;
    let reply = post_when_served(
        &address,
        "/ingest/edge-2",
        &auth,
        &falco_alert(&ns, "Read sensitive file untrusted"),
        RECONFIGURE,
        &agent,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    wait_unserved(&address, "/ingest/edge", &agent).await;
    wait_count(&admin, &ns, "falco-edge", 2, &agent, common::DEADLINE).await;
    let s = wait_status(
        &admin,
        &ns,
        "falco-edge",
        &agent,
        "counted 2 created",
        |s| s.observations_created == Some(2),
    )
    .await;
    assert_eq!(s.events_received, Some(2));

    // Deleted: no longer served; the agent's own endpoints are untouched.
    Api::<Ingester>::namespaced(admin.clone(), &ns)
        .delete("falco-edge", &DeleteParams::default())
        .await
        .expect("delete");
    wait_unserved(&address, "/ingest/edge-2", &agent).await;
    assert_eq!(agent.get("/ready").await.0, 200);
}

#[tokio::test]
async fn a_generic_webhook_ingester_maps_any_pushed_json() {
    let (admin, ns) = setup("ing-generic").await;
    let kubeconfig = Plane::get().await.kubeconfig(TestUser::Vigil);
    let agent = Agent::start_with(
        &kubeconfig,
        &ns,
        "detect: {enabled: false}\ningesters: {serveWebhooks: true}\nwebhooks: {listen: 127.0.0.1:0}\n",
        &[],
        true,
    );
    let address = agent.webhook_address.clone().expect("webhook listener");
    // A CI system posting failed jobs (no preset: the mapping is the Ingester's).
    let hook = json!({"apiVersion": "zen.kube-zen.io/v1alpha1", "kind": "Ingester",
        "metadata": {"name": "ci-failures", "namespace": ns},
        "spec": {"source": "ci", "ingester": "webhook",
                 "webhook": {"path": "/ingest/ci", "format": "generic"},
                 "filters": {"match": [{"path": ".status", "values": ["failed"]}]},
                 "mapping": {"forEach": ".jobs", "key": "{{ .pipeline }}/{{ .item.name }}",
                     "category": "operations", "eventType": "ci_job_failed",
                     "severity": {"from": ".item.severity", "default": "medium"},
                     "resource": {"kind": "Deployment", "name": "{{ .app }}", "namespace": ns},
                     "details": {"job": "{{ .item.name }}", "pipeline": "{{ .pipeline }}"}}}});
    apply(&admin, &hook, &ns).await;
    wait_ready(&admin, &ns, "ci-failures", "True", &agent, common::DEADLINE).await;
    let body = json!([
        {"pipeline": "p-1", "app": "web", "status": "failed",
         "jobs": [{"name": "build", "severity": "high"}, {"name": "test"}]},
        {"pipeline": "p-2", "app": "web", "status": "passed", "jobs": [{"name": "build"}]}
    ]);
    let headers = [("content-type", "application/json")];
    let reply = post_when_served(
        &address,
        "/ingest/ci",
        &headers,
        &body.to_string(),
        RECONFIGURE,
        &agent,
    )
    .await;
    assert_eq!((reply.status, reply.accepted()), (202, 1), "{}", reply.body);
    let found = wait_count(&admin, &ns, "ci", 2, &agent, common::DEADLINE).await;
    let mut jobs: Vec<(String, vigil_model::Severity)> = found
        .iter()
        .map(|o| {
            (
                o.spec.details.as_ref().unwrap()["job"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                o.spec.severity,
            )
        })
        .collect();
    jobs.sort();
    assert_eq!(
        jobs,
        [
            ("build".to_string(), vigil_model::Severity::High),
            ("test".to_string(), vigil_model::Severity::Medium)
        ]
    );
    // Not JSON: 400 naming the problem, nothing else changes.
    let bad = webhook_client::post_once(&address, "/ingest/ci", &headers, "3").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("a JSON object or array is expected"),
        "{}",
        bad.body
    );
    wait_status(
        &admin,
        &ns,
        "ci-failures",
        &agent,
        "counted 2 created and 1 filtered",
        |s| s.observations_created == Some(2) && s.events_filtered == Some(1),
    )
    .await;
}

/// A team's webhook Ingester in its own namespace, authenticated by a
/// Secret next to it: read there (the agent is granted that one Secret),
/// and rotated without a restart.
#[tokio::test]
async fn a_webhook_ingesters_secret_in_its_own_namespace_is_read_and_rotated() {
    let (admin, ns) = setup("ing-hook-secret").await;
    let plane = Plane::get().await;
    let team = plane.namespace("ing-team").await;
    let grant = json!([
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "vigil-reads-hook-token", "namespace": team},
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["hook-token"],
                    "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "vigil-reads-hook-token", "namespace": team},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "vigil-reads-hook-token"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "vigil"}]},
    ]);
    for object in grant.as_array().unwrap() {
        apply(&admin, object, &team).await;
    }
    let secret = |token: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hook-token", "namespace": team},
               "stringData": {"token": token}})
    };
    apply(&admin, &secret("first-token"), &team).await;
    let kubeconfig = plane.kubeconfig(TestUser::Vigil);
    let agent = Agent::start_with(
        &kubeconfig,
        &ns,
        &format!("detect: {{enabled: false}}\ningesters: {{serveWebhooks: true, namespaces: [{team}]}}\nwebhooks: {{listen: 127.0.0.1:0}}\n"),
        &[],
        true,
    );
    let address = agent.webhook_address.clone().expect("webhook listener");
    let hook = json!({"apiVersion": "zen.kube-zen.io/v1alpha1", "kind": "Ingester",
        "metadata": {"name": "team-falco", "namespace": team},
        "spec": {"source": "team-falco", "ingester": "webhook",
                 "webhook": {"path": "/ingest/team", "format": "falco",
                             "auth": {"type": "bearer", "secretRef": {"name": "hook-token", "key": "token"}}}}});
    apply(&admin, &hook, &team).await;
    wait_ready(
        &admin,
        &team,
        "team-falco",
        "True",
        &agent,
        common::DEADLINE,
    )
    .await;
    let first = [
        ("authorization", "Bearer first-token"),
        ("content-type", "application/json"),
    ];
    let reply = post_when_served(
        &address,
        "/ingest/team",
        &first,
        &falco_alert(&team, "Terminal shell in container"),
        RECONFIGURE,
        &agent,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    wait_count(&admin, &team, "team-falco", 1, &agent, common::DEADLINE).await;

    // Rotated: the new token is taken and the old one refused, no restart.
    apply(&admin, &secret("second-token"), &team).await;
    let second = [
        ("authorization", "Bearer second-token"),
        ("content-type", "application/json"),
    ];
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        let reply = webhook_client::post_once(
            &address,
            "/ingest/team",
            &second,
            falco_alert(&team, "Read sensitive file untrusted"),
        )
        .await;
        if reply.status == 202 {
            break;
        }
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert!(
            Instant::now() < deadline,
            "the rotated token was never taken\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let old =
        webhook_client::post_once(&address, "/ingest/team", &first, falco_alert(&team, "x")).await;
    assert_eq!(old.status, 401);
    wait_count(&admin, &team, "team-falco", 2, &agent, common::DEADLINE).await;
}
