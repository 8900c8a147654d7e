//! A dedicated plane's kube-apiserver stops and starts again on the same etcd
//! and port, while the shared plane keeps serving.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use std::path::Path;
use vigil_test_support::{DedicatedPlane, Plane, TestUser};

fn config_map(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "data": {"value": value},
    }))
    .expect("static ConfigMap")
}

/// Whether the error is the TCP connection being refused (nothing listens).
fn connection_refused(error: &kube::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        source = e.source();
    }
    false
}

fn pid(dir: &Path, name: &str) -> String {
    let file = dir.join(format!("{name}.pid"));
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()))
        .trim()
        .to_string()
}

/// Whether process `pid` runs a command of the plane in `dir` (not a reused pid).
fn runs_in(pid: &str, dir: &Path) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(&*dir.to_string_lossy()))
        .unwrap_or(false)
}

#[tokio::test]
async fn apiserver_restarts_on_the_same_etcd_while_the_shared_plane_serves() {
    let shared = Plane::get().await;
    let plane = DedicatedPlane::start("apiserver-restart").await;
    assert_ne!(
        plane.config(TestUser::Admin).await.cluster_url,
        shared.config(TestUser::Admin).await.cluster_url,
        "a dedicated plane has its own kube-apiserver"
    );
    let crds: Api<CustomResourceDefinition> = Api::all(plane.client(TestUser::Admin).await);
    for crd in vigil_model::crd::all() {
        let name = crd.metadata.name.expect("CRD name");
        crds.get(&name)
            .await
            .unwrap_or_else(|e| panic!("CRD {name} installed on the dedicated plane: {e}"));
    }

    let namespace = plane.namespace("restart").await;
    // Built before the restart: must reach the restarted server (same port).
    let config_maps: Api<ConfigMap> =
        Api::namespaced(plane.client(TestUser::Admin).await, &namespace);
    config_maps
        .create(&PostParams::default(), &config_map("before", "kept"))
        .await
        .expect("creating a ConfigMap on the dedicated plane");
    let etcd = pid(plane.dir(), "etcd");

    plane.stop_apiserver().await;
    // stop_apiserver returns once the process is gone: nothing listens now.
    let fresh: Api<ConfigMap> = Api::namespaced(plane.client(TestUser::Admin).await, &namespace);
    match fresh.get("before").await {
        Ok(_) => panic!("the stopped kube-apiserver answered"),
        Err(e) => assert!(connection_refused(&e), "want connection refused, got {e:?}"),
    }
    match config_maps.get("before").await {
        Ok(_) => panic!("the stopped kube-apiserver answered an existing client"),
        Err(kube::Error::Api(status)) => {
            panic!("want a connection error, got an API status: {status:?}")
        }
        Err(_) => {}
    }
    assert!(
        runs_in(&etcd, plane.dir()),
        "etcd (pid {etcd}) keeps running while kube-apiserver is stopped"
    );
    Api::<Namespace>::all(shared.client(TestUser::Admin).await)
        .list(&ListParams::default())
        .await
        .expect("the shared plane serves while the dedicated kube-apiserver is stopped");

    plane.start_apiserver().await;
    assert_eq!(
        pid(plane.dir(), "etcd"),
        etcd,
        "start-apiserver reuses the running etcd"
    );
    let kept = config_maps
        .get("before")
        .await
        .expect("the ConfigMap written before the restart, read through the old client");
    assert_eq!(
        kept.data.and_then(|d| d.get("value").cloned()).as_deref(),
        Some("kept"),
        "etcd kept the data across the restart"
    );
    config_maps
        .create(&PostParams::default(), &config_map("after", "new"))
        .await
        .expect("a write after the restart");
    let mut names: Vec<String> = config_maps
        .list(&ListParams::default())
        .await
        .expect("listing after the restart")
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .filter(|n| n == "before" || n == "after")
        .collect();
    names.sort();
    assert_eq!(names, ["after", "before"]);
}

#[tokio::test]
async fn dropping_a_dedicated_plane_stops_it_and_removes_its_directory() {
    let plane = DedicatedPlane::start("drop").await;
    let dir = plane.dir().to_path_buf();
    let pids = [pid(&dir, "etcd"), pid(&dir, "apiserver")];
    for pid in &pids {
        assert!(runs_in(pid, &dir), "pid {pid} runs in {}", dir.display());
    }
    // Stopped: Drop must still take etcd down and clean up.
    plane.stop_apiserver().await;
    drop(plane);
    for pid in &pids {
        assert!(
            !runs_in(pid, &dir),
            "pid {pid} still runs after the plane was dropped"
        );
    }
    assert!(!dir.exists(), "{} removed", dir.display());
    let lock = format!("{}.lock", dir.display());
    assert!(!Path::new(&lock).exists(), "{lock} removed");
}
