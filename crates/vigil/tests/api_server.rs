//! The Observation and Ingester APIs on a real kube-apiserver: CRDs install,
//! the shipped examples are accepted at every served version, bad objects are
//! rejected naming the field, status is a subresource, and the shipped RBAC
//! grants exactly what it says.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::Client;
use serde_json::{json, Value};
use std::path::Path;
use vigil_model::{Ingester, Observation, GROUP};
use vigil_test_support::{apply_yaml, repo_root, Plane, TestUser};

fn observation_resource(version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, version, "Observation"),
        "observations",
    )
}

fn ingester_resource(version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, version, "Ingester"),
        "ingesters",
    )
}

/// Every YAML document under `examples/<dir>`, with the file it came from.
fn examples(dir: &str) -> Vec<(String, Value)> {
    let dir = repo_root().join("examples").join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    files
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).expect("example readable");
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = file_name(path);
            docs.into_iter()
                .filter(|d| !d.is_null())
                .map(move |d| (name.clone(), d))
        })
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

fn observation(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/v1"), "kind": "Observation",
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("observation object")
}

fn valid_spec() -> Value {
    json!({"source": "trivy", "category": "security", "severity": "high", "eventType": "vulnerability"})
}

/// The API server's error for a request that must fail.
fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Box<kube::core::Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn crds_are_established_with_both_observation_versions() {
    let plane = Plane::get().await;
    let crds: Api<CustomResourceDefinition> = Api::all(plane.client(TestUser::Admin).await);
    for name in [
        "observations.zen.kube-zen.io",
        "ingesters.zen.kube-zen.io",
        "clusterreports.zen.kube-zen.io",
    ] {
        let crd = crds
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
        assert!(
            conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"),
            "{name} not Established: {conditions:?}"
        );
    }
    let obs = crds
        .get("observations.zen.kube-zen.io")
        .await
        .expect("observation CRD");
    let versions: Vec<(String, bool, bool)> = obs
        .spec
        .versions
        .iter()
        .map(|v| (v.name.clone(), v.served, v.storage))
        .collect();
    assert_eq!(
        versions,
        vec![("v1".into(), true, true), ("v1alpha1".into(), true, false)]
    );
    assert_eq!(
        obs.spec.names.short_names.unwrap_or_default(),
        vec!["obs", "obsv"]
    );
}

#[tokio::test]
async fn every_example_observation_is_accepted_at_both_versions_and_read_back_intact() {
    let plane = Plane::get().await;
    let client = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("examples-obs").await;
    let examples = examples("observations");
    for version in ["v1", "v1alpha1"] {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &ns, &observation_resource(version));
        for (file, doc) in &examples {
            let mut obj: DynamicObject =
                serde_json::from_value(doc.clone()).expect("example is an object");
            let name = format!(
                "{}-{version}",
                obj.metadata.name.clone().expect("example has a name")
            );
            obj.metadata.name = Some(name.clone());
            obj.types
                .as_mut()
                .expect("example has apiVersion")
                .api_version = format!("{GROUP}/{version}");
            let created = api
                .create(&PostParams::default(), &obj)
                .await
                .unwrap_or_else(|e| panic!("{file} rejected at {version}: {e}"));
            assert_eq!(
                created.data["spec"], doc["spec"],
                "{file} at {version}: spec changed on the way in"
            );
            // The typed client (v1) reads what was written at either version.
            let typed: Api<Observation> = Api::namespaced(client.clone(), &ns);
            let read = typed
                .get(&name)
                .await
                .unwrap_or_else(|e| panic!("{file} read at v1: {e}"));
            assert_eq!(
                serde_json::to_value(&read.spec).expect("spec json"),
                doc["spec"],
                "{file}"
            );
        }
    }
}

#[tokio::test]
async fn every_example_ingester_is_accepted() {
    let plane = Plane::get().await;
    let client = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("examples-ing").await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &ingester_resource("v1alpha1"));
    let typed: Api<Ingester> = Api::namespaced(client.clone(), &ns);
    for (file, doc) in examples("ingesters") {
        let obj: DynamicObject = serde_json::from_value(doc.clone()).expect("example is an object");
        let name = obj.metadata.name.clone().expect("example has a name");
        let created = api
            .create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("{file} rejected: {e}"));
        assert_eq!(
            created.data["spec"], doc["spec"],
            "{file}: spec changed on the way in"
        );
        let read = typed
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("{file}: typed read: {e}"));
        let errors = vigil_model::validate::validate_ingester(&read.spec);
        assert!(
            errors.is_ok(),
            "{file}: the server accepted it, vigil's validator did not: {errors:?}"
        );
    }
}

#[tokio::test]
async fn invalid_observations_are_rejected_with_422_naming_the_field() {
    let plane = Plane::get().await;
    let client = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("invalid-obs").await;
    let mut bad_severity = valid_spec();
    bad_severity["severity"] = json!("urgent");
    let mut no_source = valid_spec();
    no_source.as_object_mut().expect("object").remove("source");
    let mut ttl_too_long = valid_spec();
    ttl_too_long["ttlSecondsAfterCreation"] = json!(vigil_model::observation::MAX_TTL_SECONDS + 1);
    let mut bad_category = valid_spec();
    bad_category["category"] = json!("misc");
    let cases = [
        ("bad-severity", bad_severity, "spec.severity"),
        ("no-source", no_source, "spec.source"),
        ("ttl-too-long", ttl_too_long, "spec.ttlSecondsAfterCreation"),
        ("bad-category", bad_category, "spec.category"),
    ];
    for version in ["v1", "v1alpha1"] {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &ns, &observation_resource(version));
        for (name, spec, field) in &cases {
            let mut obj = observation(&format!("{name}-{version}"), spec.clone());
            obj.types.as_mut().expect("types").api_version = format!("{GROUP}/{version}");
            let status = api_error(api.create(&PostParams::default(), &obj).await);
            assert_eq!(status.code, 422, "{name} at {version}: {status:?}");
            assert!(
                status.message.contains(field),
                "{name} at {version}: message does not name {field}: {}",
                status.message
            );
        }
        // The control: the same object with a valid spec is accepted.
        let mut ok = observation(&format!("valid-{version}"), valid_spec());
        ok.types.as_mut().expect("types").api_version = format!("{GROUP}/{version}");
        api.create(&PostParams::default(), &ok)
            .await
            .expect("valid spec accepted");
    }
}

#[tokio::test]
async fn status_changes_only_through_the_status_subresource() {
    let plane = Plane::get().await;
    let client = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("status").await;
    let api: Api<Observation> = Api::namespaced(client, &ns);
    let obj: Observation = serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/v1"), "kind": "Observation",
        "metadata": {"name": "s"}, "spec": valid_spec(), "status": {"processed": true},
    }))
    .expect("observation");
    let created = api
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
    assert_eq!(created.status, None, "status set on create");

    let mut update = created.clone();
    update.status = Some(vigil_model::ObservationStatus {
        processed: Some(true),
        last_processed_at: None,
    });
    update.spec.severity = vigil_model::Severity::Critical;
    let replaced = api
        .replace("s", &PostParams::default(), &update)
        .await
        .expect("replace main resource");
    assert_eq!(
        replaced.spec.severity,
        vigil_model::Severity::Critical,
        "spec update applied"
    );
    assert_eq!(
        replaced.status, None,
        "an update of the main resource changed status"
    );

    let patched = api
        .patch_status(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"processed": true}})),
        )
        .await
        .expect("patch /status");
    assert_eq!(patched.status.and_then(|s| s.processed), Some(true));
    let spec_via_status = api
        .patch_status(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"severity": "low"}})),
        )
        .await
        .expect("patch spec through /status");
    assert_eq!(
        spec_via_status.spec.severity,
        vigil_model::Severity::Critical,
        "/status changed spec"
    );
}

/// Installs deploy/rbac/ as the operator would.
async fn install_rbac(admin: &Client) {
    let dir = repo_root().join("deploy/rbac");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("deploy/rbac")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("rbac file");
        apply_yaml(admin, &text, "default")
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}

#[tokio::test]
async fn vigil_service_account_writes_observations_and_ingester_status() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    install_rbac(&admin).await;
    let ns = plane.namespace("rbac-agent").await;
    let ingester_doc = examples("ingesters")
        .into_iter()
        .find(|(f, _)| f == "k8s-events.yaml")
        .expect("example")
        .1;
    let ingester: Ingester = serde_json::from_value(ingester_doc).expect("ingester");
    Api::<Ingester>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &ingester)
        .await
        .expect("ingester");

    let sa = plane.service_account_client("vigil-system", "vigil").await;
    let observations: Api<DynamicObject> =
        Api::namespaced_with(sa.clone(), &ns, &observation_resource("v1"));
    observations
        .create(
            &PostParams::default(),
            &observation("by-agent", valid_spec()),
        )
        .await
        .expect("the vigil service account creates Observations");
    observations
        .delete("by-agent", &DeleteParams::default())
        .await
        .expect("and deletes expired ones");

    let ingesters: Api<Ingester> = Api::namespaced(sa, &ns);
    let status = json!({"status": {"conditions": [{
        "type": "Ready", "status": "True", "reason": "Running", "message": "watching",
        "lastTransitionTime": "2026-01-01T00:00:00Z"}], "eventsReceived": 3}});
    let patched = ingesters
        .patch_status(
            "kubernetes-events",
            &PatchParams::default(),
            &Patch::Merge(status),
        )
        .await
        .expect("the vigil service account patches ingesters/status");
    assert_eq!(patched.status.and_then(|s| s.events_received), Some(3));
    let spec_change = ingesters
        .patch(
            "kubernetes-events",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"ttl": "1d"}})),
        )
        .await;
    assert_eq!(
        api_error(spec_change).code,
        403,
        "the agent must not edit Ingester specs"
    );
}

#[tokio::test]
async fn read_only_user_lists_but_cannot_create_or_touch_status() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    install_rbac(&admin).await;
    let binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: test-viewer}\n\
                   roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: vigil-viewer}\n\
                   subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: viewer}]\n";
    apply_yaml(&admin, binding, "default")
        .await
        .expect("bind viewer");
    let ns = plane.namespace("rbac-viewer").await;
    Api::<DynamicObject>::namespaced_with(admin, &ns, &observation_resource("v1"))
        .create(&PostParams::default(), &observation("seen", valid_spec()))
        .await
        .expect("admin creates");

    let viewer: Api<Observation> = Api::namespaced(plane.client(TestUser::Viewer).await, &ns);
    let listed = viewer
        .list(&Default::default())
        .await
        .expect("viewer lists Observations");
    assert_eq!(
        listed
            .items
            .iter()
            .filter_map(|o| o.metadata.name.as_deref())
            .collect::<Vec<_>>(),
        vec!["seen"]
    );

    let as_viewer: Api<DynamicObject> = Api::namespaced_with(
        plane.client(TestUser::Viewer).await,
        &ns,
        &observation_resource("v1"),
    );
    let create = as_viewer
        .create(&PostParams::default(), &observation("nope", valid_spec()))
        .await;
    assert_eq!(api_error(create).code, 403);
    let status = viewer
        .patch_status(
            "seen",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"processed": true}})),
        )
        .await;
    assert_eq!(api_error(status).code, 403);

    // The control: a user with no binding cannot even list.
    let mallory: Api<Observation> = Api::namespaced(plane.client(TestUser::Mallory).await, &ns);
    assert_eq!(api_error(mallory.list(&Default::default()).await).code, 403);
}
