//! `vigil run` end to end on the real control plane: Kubernetes Events in,
//! exactly the expected Observations out, nothing lost across a killed agent.

mod common;

use common::{create_events, grant_agent, labels_of, window_time, word, Agent, EventSpec};
use kube::api::{Api, ListParams};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use vigil_model::{Category, Observation, Severity};
use vigil_test_support::{Plane, TestUser};

/// One-hour dedup window, so every event of a test shares a window.
const CONFIG: &str =
    "dedup:\n  window: 1h\nwriter:\n  repeatFlushInterval: 200ms\ncheckpoint:\n  interval: 200ms\n";

fn spec(
    name: String,
    type_: &'static str,
    reason: &str,
    object: String,
    message: String,
) -> EventSpec {
    EventSpec {
        name,
        type_,
        reason: reason.into(),
        message,
        kind: "Pod",
        object,
        time: window_time(),
    }
}

/// 1,000 events built so that the expected Observations are known by
/// construction: 400 unlisted Normal events (filtered), 100 allow-listed
/// Normal `Killing` events on distinct pods (100 Observations), 30 crash
/// looping deployments × 10 BackOff events whose pods and messages differ only
/// in volatile parts (30 Observations, 270 repeats), 20 unschedulable pods ×
/// 10 FailedScheduling events differing only in numbers (20 Observations).
fn thousand_events() -> Vec<EventSpec> {
    let mut events = Vec::new();
    for i in 0..400 {
        let reason = ["Pulled", "Created", "Started", "Scheduled"][i % 4];
        events.push(spec(
            format!("normal-{i}"),
            "Normal",
            reason,
            word(i),
            format!("{reason} container app"),
        ));
    }
    for i in 0..100 {
        events.push(spec(
            format!("killing-{i}"),
            "Normal",
            "Killing",
            format!("{}-db", word(i)),
            "Stopping container db".into(),
        ));
    }
    for d in 0..30 {
        for r in 0..10 {
            let pod = format!(
                "{}-web-7c9d8f6b5-{}",
                word(d),
                ["x2x7q", "k8s9z", "p0d4m", "a1b2c", "zz9qq"][r % 5]
            );
            let message = format!("Back-off restarting failed container web in pod {pod}_shop(0b6f{r}e2a-1c2d-4e5f-8a9b-{r:012})");
            events.push(spec(
                format!("backoff-{d}-{r}"),
                "Warning",
                "BackOff",
                pod,
                message,
            ));
        }
    }
    for p in 0..20 {
        for r in 0..10 {
            let nodes = 3 + r;
            let message = format!("0/{nodes} nodes are available: {nodes} Insufficient cpu. preemption: 0/{nodes} nodes are available");
            events.push(spec(
                format!("sched-{p}-{r}"),
                "Warning",
                "FailedScheduling",
                format!("{}-batch", word(p)),
                message,
            ));
        }
    }
    assert_eq!(events.len(), 1000);
    events
}

async fn observations(client: &kube::Client, ns: &str) -> Vec<Observation> {
    Api::<Observation>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("list observations")
        .items
}

#[tokio::test]
async fn a_thousand_events_become_exactly_the_expected_observations() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("agent-1k").await;
    grant_agent(&admin, &ns).await;
    let agent = Agent::start(&plane.kubeconfig(TestUser::Vigil), &ns, CONFIG);
    agent.wait_ready(true).await;

    create_events(&admin, &ns, &thousand_events()).await;
    let a = agent.wait_settled(1000.0).await;
    assert_eq!(
        (a.received, a.created, a.filtered, a.deduped, a.errors),
        (1000.0, 150.0, 400.0, 450.0, 0.0),
        "{a:?}"
    );
    assert_eq!(
        agent.metric("vigil_observations_filtered_total{source=\"kubernetes-events\",reason=\"normal_type\"}").await,
        400.0
    );

    // The events' Observations; the detector's anomalies (source
    // vigil-detect, outside the accounting) may sit beside them.
    let all: Vec<Observation> = observations(&admin, &ns)
        .await
        .into_iter()
        .filter(|o| o.spec.source == "kubernetes-events")
        .collect();
    assert_eq!(all.len(), 150, "exactly the expected Observations");
    let by_reason: BTreeMap<String, usize> = all.iter().fold(BTreeMap::new(), |mut m, o| {
        let reason = o
            .spec
            .details
            .as_ref()
            .and_then(|d| d["reason"].as_str())
            .unwrap_or("?")
            .to_string();
        *m.entry(reason).or_default() += 1;
        m
    });
    assert_eq!(
        by_reason,
        BTreeMap::from([
            ("BackOff".into(), 30),
            ("FailedScheduling".into(), 20),
            ("Killing".into(), 100)
        ])
    );

    // Field by field, for a sample of each kind.
    let backoff = all
        .iter()
        .find(|o| {
            let name = o
                .spec
                .resource
                .as_ref()
                .and_then(|r| r.name.as_deref())
                .unwrap_or_default();
            name.starts_with(&format!("{}-web-", word(7)))
        })
        .expect("the Observation of deployment 7's crash loop");
    assert_eq!(backoff.spec.source, "kubernetes-events");
    assert_eq!(backoff.spec.category, Category::Operations);
    assert_eq!(backoff.spec.severity, Severity::High);
    assert_eq!(backoff.spec.event_type, "pod_backoff");
    assert_eq!(backoff.spec.ttl_seconds_after_creation, Some(604_800));
    let resource = backoff.spec.resource.as_ref().expect("resource");
    assert_eq!(
        (resource.kind.as_deref(), resource.namespace.as_deref()),
        (Some("Pod"), Some(ns.as_str()))
    );
    let details = backoff.spec.details.as_ref().expect("details");
    assert_eq!(details["reason"], "BackOff");
    assert_eq!(details["reportingController"], "kubelet");
    assert!(details["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Back-off restarting failed container web")));
    assert_eq!(
        backoff.spec.detected_at.as_ref().map(|t| t.0),
        Some(window_time())
    );
    assert_eq!(
        labels_of(backoff)
            .get("vigil.kube-zen.io/audience")
            .map(String::as_str),
        Some("customer")
    );

    let sched = all
        .iter()
        .find(|o| o.spec.event_type == "scheduling_failed")
        .expect("a FailedScheduling Observation");
    assert_eq!(
        (sched.spec.category, sched.spec.severity),
        (Category::Performance, Severity::Medium)
    );
    let killing = all
        .iter()
        .find(|o| {
            o.spec
                .details
                .as_ref()
                .is_some_and(|d| d["reason"] == "Killing")
        })
        .expect("Killing");
    assert!(
        killing.spec.severity <= Severity::Low,
        "Killing is routine: {:?}",
        killing.spec.severity
    );

    // Repeats are counted on the Observation they repeat.
    let name = backoff.metadata.name.clone().expect("name");
    let api: Api<Observation> = Api::namespaced(admin.clone(), &ns);
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        let o = api.get(&name).await.expect("get");
        let occurrences = o
            .spec
            .details
            .as_ref()
            .and_then(|d| d["occurrences"].as_u64());
        if occurrences == Some(10) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "occurrences never reached 10: {occurrences:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_killed_agent_loses_nothing_and_duplicates_nothing() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("agent-kill").await;
    grant_agent(&admin, &ns).await;
    let events: Vec<EventSpec> = (0..300)
        .map(|i| {
            let pod = format!("{}-api", word(i));
            let message = format!(
                "MountVolume.SetUp failed for volume \"{}-data\" : secret not found",
                word(i)
            );
            spec(format!("mount-{i}"), "Warning", "FailedMount", pod, message)
        })
        .collect();

    let mut first = Agent::start(&plane.kubeconfig(TestUser::Vigil), &ns, CONFIG);
    first.wait_ready(true).await;
    create_events(&admin, &ns, &events[..150]).await;
    // Kill it mid-stream: once some, not all, have been written.
    let deadline = Instant::now() + common::DEADLINE;
    while first.accounting().await.created < 40.0 {
        assert!(
            Instant::now() < deadline,
            "the first agent wrote nothing\n{}",
            first.log()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill();
    let written_before = observations(&admin, &ns).await.len();
    create_events(&admin, &ns, &events[150..]).await;

    let second = Agent::start(&plane.kubeconfig(TestUser::Vigil), &ns, CONFIG);
    second.wait_ready(true).await;
    let deadline = Instant::now() + common::DEADLINE;
    let all = loop {
        let all = observations(&admin, &ns).await;
        let a = second.accounting().await;
        if all.len() >= 300 && a.settled() {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 300 Observations; {a:?}\n{}",
            all.len(),
            second.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(all.len(), 300, "no duplicates");
    let covered: BTreeSet<String> = all
        .iter()
        .filter_map(|o| o.spec.resource.as_ref().and_then(|r| r.name.clone()))
        .collect();
    let expected: BTreeSet<String> = events.iter().map(|e| e.object.clone()).collect();
    assert_eq!(covered, expected, "every event has its Observation");
    let a = second.accounting().await;
    assert_eq!(a.errors, 0.0, "{a:?}");
    assert!(
        (40..300).contains(&written_before),
        "killed mid-stream ({written_before} written)"
    );
    // The restart skipped (checkpoint) or re-found (409) what was done before.
    let skipped = second.metric_sum("vigil_events_skipped_total").await;
    assert!(
        skipped + a.deduped >= 40.0,
        "the second agent redid finished work: skipped {skipped}, {a:?}"
    );
}

/// The start of the 5-minute window `back` windows before the current one.
fn window_start(back: i64) -> k8s_openapi::jiff::Timestamp {
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    k8s_openapi::jiff::Timestamp::from_second(now - now.rem_euclid(300) - back * 300).expect("time")
}

#[tokio::test]
async fn a_backoff_storm_raises_exactly_one_anomaly_per_window() {
    use k8s_openapi::api::core::v1::Event;
    use kube::api::{Patch, PatchParams};
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("agent-storm").await;
    grant_agent(&admin, &ns).await;
    let agent = Agent::start(&plane.kubeconfig(TestUser::Vigil), &ns, CONFIG);
    agent.wait_ready(true).await;

    // Window A: one BackOff Event that kubelet updates 14 times (count 1 → 15).
    let (a, b) = (window_start(2), window_start(1));
    let pod = "checkout-6d8f7b9c5d-x7k2p".to_string();
    let message = format!("Back-off restarting failed container checkout in pod {pod}_{ns}(5d0c0a1e-7e3b-4c55-9b1d-000000000000)");
    let mut first = spec(
        "storm-a".into(),
        "Warning",
        "BackOff",
        pod.clone(),
        message.clone(),
    );
    first.time = a;
    create_events(&admin, &ns, &[first]).await;
    let events: Api<Event> = Api::namespaced(admin.clone(), &ns);
    for count in 2..=15 {
        let t = (a + std::time::Duration::from_secs(count * 10)).to_string();
        let patch = serde_json::json!({"count": count, "lastTimestamp": t});
        events
            .patch("storm-a", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("update the Event");
    }
    // Window B: the storm goes on, a fresh Event already counting 12.
    let mut second = spec("storm-b".into(), "Warning", "BackOff", pod.clone(), message);
    second.time = b;
    let mut event = second.to_event(&ns);
    event.count = Some(12);
    events
        .create(&kube::api::PostParams::default(), &event)
        .await
        .expect("create");

    let settled = agent.wait_settled(16.0).await;
    // One Observation for the storm, or two when windows A and B fall into
    // different one-hour dedup windows (A starts at :55).
    let dedup_windows = if a.as_second() / 3600 == b.as_second() / 3600 {
        1.0
    } else {
        2.0
    };
    assert_eq!(
        (settled.created, settled.deduped, settled.errors),
        (dedup_windows, 16.0 - dedup_windows, 0.0),
        "{settled:?}"
    );
    let deadline = Instant::now() + common::DEADLINE;
    let anomalies = loop {
        let found: Vec<Observation> = observations(&admin, &ns)
            .await
            .into_iter()
            .filter(|o| o.spec.event_type == "anomaly")
            .collect();
        let written = agent
            .metric("vigil_anomaly_writes_total{result=\"created\"}")
            .await;
        if found.len() >= 2 && written >= 2.0 {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "{} anomalies\n{}",
            found.len(),
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(anomalies.len(), 2, "one per window");
    assert_eq!(
        agent
            .metric("vigil_anomalies_total{rule=\"pod-crashloop\"}")
            .await,
        2.0
    );
    let mut windows: Vec<(String, u64)> = anomalies
        .iter()
        .map(|o| {
            let d = o.spec.details.as_ref().expect("details");
            assert_eq!(d["rule"], "pod-crashloop");
            assert_eq!(d["key"]["name"], pod.as_str());
            assert_eq!(d["key"]["namespace"], ns.as_str());
            assert_eq!(o.metadata.namespace.as_deref(), Some(ns.as_str()));
            assert_eq!(o.spec.source, "vigil-detect");
            assert_eq!(o.spec.severity, Severity::High);
            (
                d["window"]["start"].as_str().expect("start").to_string(),
                d["count"].as_u64().expect("count"),
            )
        })
        .collect();
    windows.sort();
    // Window A fires when the count reaches 10; window B on its first Event.
    assert_eq!(windows, [(a.to_string(), 10), (b.to_string(), 12)]);
}
