//! `vigil run` survives its kube-apiserver going away under load: `/ready`
//! goes false, then true again by itself, and every event still becomes
//! exactly one Observation. Runs on a plane of its own, so stopping the
//! apiserver disturbs no other test.

mod common;

use common::{grant_agent, window_time, word, Agent, EventSpec};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use vigil_model::Observation;
use vigil_test_support::{DedicatedPlane, TestUser};

const CONFIG: &str =
    "dedup:\n  window: 1h\nwriter:\n  repeatFlushInterval: 200ms\ncheckpoint:\n  interval: 200ms\n";
const EVENTS: usize = 400;

/// One distinct Warning per event, so each must become its own Observation.
fn event(i: usize) -> EventSpec {
    EventSpec {
        name: format!("oom-{i}"),
        type_: "Warning",
        reason: "OOMKilling".into(),
        message: format!(
            "Memory cgroup out of memory: Killed process {} ({})",
            1000 + i,
            word(i)
        ),
        kind: "Pod",
        object: format!("{}-worker", word(i)),
        time: window_time(),
    }
}

/// Creates the events one after another, each retried until the apiserver
/// takes it. After the first half it reports on `half` and waits for `go`
/// (the apiserver is being stopped), so the second half meets the outage.
async fn produce(
    client: kube::Client,
    namespace: String,
    half: oneshot::Sender<()>,
    go: oneshot::Receiver<()>,
) {
    let api: Api<Event> = Api::namespaced(client, &namespace);
    let deadline = Instant::now() + common::DEADLINE;
    let (mut half, mut go) = (Some(half), Some(go));
    for i in 0..EVENTS {
        if i == EVENTS / 2 {
            half.take()
                .expect("once")
                .send(())
                .expect("the test waits for half");
            go.take()
                .expect("once")
                .await
                .expect("the test lets the producer go on");
        }
        let body = event(i).to_event(&namespace);
        loop {
            match api.create(&PostParams::default(), &body).await {
                Ok(_) => break,
                // A create that reached etcd before the connection broke.
                Err(kube::Error::Api(s)) if s.code == 409 => break,
                Err(err) => {
                    assert!(Instant::now() < deadline, "event {i} never created: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

#[tokio::test]
async fn the_agent_recovers_from_an_apiserver_restart_under_load_and_loses_nothing() {
    let plane = DedicatedPlane::start("agent-restart").await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("agent-restart").await;
    grant_agent(&admin, &ns).await;
    let agent = Agent::start(&plane.kubeconfig(TestUser::Vigil), &ns, CONFIG);
    agent.wait_ready(true).await;

    let (half_tx, half) = oneshot::channel();
    let (go, go_rx) = oneshot::channel();
    let producer = tokio::spawn(produce(admin.clone(), ns.clone(), half_tx, go_rx));
    half.await.expect("the producer created the first half");
    // Under load: the first half is still going through the agent.
    plane.stop_apiserver().await;
    go.send(()).expect("the producer waits");
    agent.wait_ready(false).await;
    plane.start_apiserver().await;
    producer.await.expect("producer");
    agent.wait_ready(true).await;

    let a = agent.wait_settled(EVENTS as f64).await;
    let api: Api<Observation> = Api::namespaced(admin.clone(), &ns);
    let all = api
        .list(&ListParams::default())
        .await
        .expect("list observations")
        .items
        .into_iter()
        // The detector's anomalies (source vigil-detect) are not the events'.
        .filter(|o| o.spec.source == "kubernetes-events")
        .collect::<Vec<_>>();
    assert_eq!(
        all.len(),
        EVENTS,
        "one Observation per event, none duplicated; {a:?}"
    );
    let covered: BTreeSet<String> = all
        .iter()
        .filter_map(|o| o.spec.resource.as_ref().and_then(|r| r.name.clone()))
        .collect();
    let expected: BTreeSet<String> = (0..EVENTS).map(|i| event(i).object).collect();
    assert_eq!(covered, expected, "every event has its Observation");
    assert_eq!(a.errors, 0.0, "nothing given up on: {a:?}");
    assert_eq!(a.received, a.created + a.deduped, "nothing filtered: {a:?}");
    assert!(
        agent.metric_sum("vigil_watch_restarts_total").await >= 1.0,
        "the watch noticed the outage\n{}",
        agent.log()
    );
}
