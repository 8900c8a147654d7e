//! TTL garbage collection on the real control plane: Observations past their
//! `ttlSecondsAfterCreation` disappear, the others stay, the per-namespace
//! maximum deletes the oldest first, and the metrics count what was deleted.

mod common;

use common::{grant_agent, Agent};
use kube::api::{Api, ListParams, PostParams};
use kube::Client;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use vigil_model::Observation;
use vigil_test_support::{Plane, TestUser};

fn observation(name: &str, ttl: i64) -> Observation {
    serde_json::from_value(json!({
        "apiVersion": "zen.kube-zen.io/v1",
        "kind": "Observation",
        "metadata": {"name": name},
        "spec": {
            "source": "gc-test",
            "category": "operations",
            "severity": "low",
            "eventType": "test",
            "ttlSecondsAfterCreation": ttl,
        },
    }))
    .expect("observation json")
}

async fn create(client: &Client, ns: &str, name: &str, ttl: i64) {
    let api: Api<Observation> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &observation(name, ttl))
        .await
        .unwrap_or_else(|e| panic!("creating {name}: {e}"));
}

async fn names(client: &Client, ns: &str) -> BTreeSet<String> {
    let api: Api<Observation> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .collect()
}

/// Polls until the namespace holds exactly `want` and the metric series
/// reaches `deleted`.
async fn wait_for(
    client: &Client,
    ns: &str,
    agent: &Agent,
    want: &BTreeSet<String>,
    series: &str,
    deleted: f64,
) {
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        let now = names(client, ns).await;
        let counted = agent.metric(series).await;
        if &now == want && counted >= deleted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "left {now:?}, want {want:?}; {series} = {counted}\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn observations_past_their_ttl_are_deleted_and_the_others_stay() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("gc-ttl").await;
    grant_agent(&admin, &ns).await;
    for i in 0..6 {
        create(&admin, &ns, &format!("short-{i}"), 1).await;
    }
    for i in 0..4 {
        create(&admin, &ns, &format!("long-{i}"), 3600).await;
    }
    let long: BTreeSet<String> = (0..4).map(|i| format!("long-{i}")).collect();
    let agent = Agent::start(
        &plane.kubeconfig(TestUser::Vigil),
        &ns,
        "gc:\n  interval: 1s\n",
    );
    let expired = "vigil_gc_deleted_total{result=\"expired\"}";
    wait_for(&admin, &ns, &agent, &long, expired, 6.0).await;
    assert_eq!(
        agent.metric(expired).await,
        6.0,
        "each deletion counted once"
    );
    assert_eq!(
        agent
            .metric("vigil_gc_deleted_total{result=\"over_limit\"}")
            .await,
        0.0
    );
    assert_eq!(agent.metric_sum("vigil_gc_errors_total").await, 0.0);
    assert!(
        agent.metric("vigil_gc_duration_seconds_count").await >= 1.0,
        "passes are timed"
    );
    // Later passes keep the long-lived ones.
    let passes = agent.metric("vigil_gc_duration_seconds_count").await;
    let deadline = Instant::now() + common::DEADLINE;
    while agent.metric("vigil_gc_duration_seconds_count").await < passes + 2.0 {
        assert!(
            Instant::now() < deadline,
            "gc stopped running\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(names(&admin, &ns).await, long);
    assert_eq!(agent.metric(expired).await, 6.0);
}

#[tokio::test]
async fn beyond_the_namespace_maximum_the_oldest_go_first() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("gc-max").await;
    grant_agent(&admin, &ns).await;
    // Created one after the other: o-0 is the oldest (same second: by name).
    for i in 0..5 {
        create(&admin, &ns, &format!("o-{i}"), 3600).await;
    }
    let agent = Agent::start(
        &plane.kubeconfig(TestUser::Vigil),
        &ns,
        "gc:\n  interval: 1s\n  maxPerNamespace: 3\n",
    );
    let newest: BTreeSet<String> = (2..5).map(|i| format!("o-{i}")).collect();
    let over = "vigil_gc_deleted_total{result=\"over_limit\"}";
    wait_for(&admin, &ns, &agent, &newest, over, 2.0).await;
    assert_eq!(agent.metric(over).await, 2.0);
    assert_eq!(
        agent
            .metric("vigil_gc_deleted_total{result=\"expired\"}")
            .await,
        0.0
    );
}
