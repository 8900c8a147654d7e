//! Two `vigil run` processes share one Lease: only the leader watches and
//! writes; when it is killed while Events keep arriving, the other takes over
//! within the lease duration, resumes from the checkpoint, and every Event
//! still becomes exactly one Observation.

mod common;

use common::{create_events, grant_agent, window_time, word, Agent, EventSpec};
use kube::api::{Api, ListParams};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use vigil_model::Observation;
use vigil_test_support::{Plane, TestUser};

const CONFIG: &str = "dedup:\n  window: 1h\ncheckpoint:\n  interval: 200ms\n\
leaderElection:\n  enabled: true\n  leaseDuration: 6s\n  renewDeadline: 4s\n  retryPeriod: 500ms\n";

fn event(i: usize) -> EventSpec {
    EventSpec {
        name: format!("mount-{i}"),
        type_: "Warning",
        reason: "FailedMount".into(),
        message: format!(
            "MountVolume.SetUp failed for volume \"{}-data\" : secret not found",
            word(i)
        ),
        kind: "Pod",
        object: format!("{}-api", word(i)),
        time: window_time(),
    }
}

/// The Observations of Events (anomalies share the namespace).
async fn of_events(api: &Api<Observation>) -> Vec<Observation> {
    let all = api.list(&ListParams::default()).await.expect("list").items;
    all.into_iter()
        .filter(|o| o.spec.source == "kubernetes-events")
        .collect()
}

async fn leading(agent: &Agent) -> bool {
    agent.metric("vigil_leader").await == 1.0
}

#[tokio::test]
async fn the_follower_takes_over_and_nothing_is_lost_or_duplicated() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("failover").await;
    grant_agent(&admin, &ns).await;
    let mut a = Agent::start(&plane.kubeconfig(TestUser::Vigil), &ns, CONFIG);
    let mut b = Agent::start(&plane.kubeconfig(TestUser::Vigil), &ns, CONFIG);

    // Exactly one leads.
    let deadline = Instant::now() + common::DEADLINE;
    let (leader, follower) = loop {
        match (leading(&a).await, leading(&b).await) {
            (true, false) => break (&mut a, &mut b),
            (false, true) => break (&mut b, &mut a),
            (true, true) => panic!("two leaders at once"),
            (false, false) => {
                assert!(
                    Instant::now() < deadline,
                    "no leader elected\n{}\n{}",
                    a.log(),
                    b.log()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    leader.wait_ready(true).await;
    let events: Vec<EventSpec> = (0..300).map(event).collect();
    create_events(&admin, &ns, &events[..150]).await;
    while leader.accounting().await.created < 40.0 {
        assert!(
            Instant::now() < deadline,
            "the leader wrote nothing\n{}",
            leader.log()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        follower.accounting().await.received,
        0.0,
        "a follower does not watch"
    );
    leader.kill();
    let killed = Instant::now();
    create_events(&admin, &ns, &events[150..]).await;

    // The follower takes over once the killed leader's lease expires: within
    // the lease duration (6 s) of its last renewal, plus the follower's retry
    // period (0.5 s); 1.5 s of slack for a loaded machine.
    while !leading(follower).await {
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "no takeover\n{}",
            follower.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = killed.elapsed();
    eprintln!("takeover after SIGKILL: {took:?}");
    assert!(
        took < Duration::from_secs(8),
        "takeover took {took:?}\n{}",
        follower.log()
    );
    let api: Api<Observation> = Api::namespaced(admin.clone(), &ns);
    let all = loop {
        let all = of_events(&api).await;
        let acc = follower.accounting().await;
        if all.len() >= 300 && acc.settled() {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 300 Observations; {acc:?}\n{}",
            all.len(),
            follower.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(all.len(), 300, "none duplicated");
    let covered: BTreeSet<String> = all
        .iter()
        .filter_map(|o| o.spec.resource.as_ref().and_then(|r| r.name.clone()))
        .collect();
    assert_eq!(
        covered,
        events
            .iter()
            .map(|e| e.object.clone())
            .collect::<BTreeSet<_>>(),
        "none lost"
    );
    assert_eq!(follower.accounting().await.errors, 0.0);
}

/// A leader stopped with SIGTERM settles what it took, saves its checkpoint
/// and releases the Lease: it exits 0 and the follower takes over at once
/// (long before the 15 s lease would have expired), losing nothing.
#[tokio::test]
async fn a_terminated_leader_releases_the_lease_and_the_follower_takes_over_at_once() {
    const CONFIG: &str = "dedup:\n  window: 1h\ncheckpoint:\n  interval: 200ms\n\
leaderElection:\n  enabled: true\n  leaseDuration: 15s\n  renewDeadline: 10s\n  retryPeriod: 500ms\n";
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("handover").await;
    grant_agent(&admin, &ns).await;
    let mut a = Agent::start(&plane.kubeconfig(TestUser::Vigil), &ns, CONFIG);
    let mut b = Agent::start(&plane.kubeconfig(TestUser::Vigil), &ns, CONFIG);
    let deadline = Instant::now() + common::DEADLINE;
    let (leader, follower) = loop {
        match (leading(&a).await, leading(&b).await) {
            (true, false) => break (&mut a, &mut b),
            (false, true) => break (&mut b, &mut a),
            (true, true) => panic!("two leaders at once"),
            (false, false) => {
                assert!(Instant::now() < deadline, "no leader elected");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    leader.wait_ready(true).await;
    // A follower is ready too: it serves webhooks and the admin server.
    follower.wait_ready(true).await;
    let events: Vec<EventSpec> = (0..200).map(event).collect();
    create_events(&admin, &ns, &events[..100]).await;
    while leader.accounting().await.created < 20.0 {
        assert!(
            Instant::now() < deadline,
            "the leader wrote nothing\n{}",
            leader.log()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopping = Instant::now();
    let status = leader.terminate();
    assert!(status.success(), "exit status {status:?}\n{}", leader.log());
    create_events(&admin, &ns, &events[100..]).await;
    while !leading(follower).await {
        assert!(
            stopping.elapsed() < Duration::from_secs(30),
            "no takeover\n{}",
            follower.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = stopping.elapsed();
    eprintln!("takeover after SIGTERM (released lease): {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}: the lease was not released\n{}",
        leader.log()
    );
    let api: Api<Observation> = Api::namespaced(admin.clone(), &ns);
    let all = loop {
        let all = of_events(&api).await;
        let acc = follower.accounting().await;
        if all.len() >= 200 && acc.settled() {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 200 Observations; {acc:?}\n{}",
            all.len(),
            follower.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(all.len(), 200, "none duplicated");
    assert_eq!(follower.accounting().await.errors, 0.0);
}

/// Rewrites the Lease's holder (retrying on conflicts with the agent's renewals).
async fn set_holder(client: &kube::Client, ns: &str, holder: Option<&str>) {
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use kube::api::PostParams;
    let api: Api<Lease> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        let mut lease = api.get("vigil-agent").await.expect("the lease exists");
        let spec = lease.spec.get_or_insert_with(Default::default);
        spec.holder_identity = holder.map(str::to_string);
        spec.renew_time = holder.map(|_| MicroTime(k8s_openapi::jiff::Timestamp::now()));
        spec.lease_duration_seconds = Some(3600);
        match api
            .replace("vigil-agent", &PostParams::default(), &lease)
            .await
        {
            Ok(_) => return,
            Err(kube::Error::Api(e)) if e.code == 409 => {
                assert!(Instant::now() < deadline, "lease never written");
            }
            Err(err) => panic!("writing the lease: {err}"),
        }
    }
}

/// A leader whose Lease is taken by another holder stops watching at once
/// (while following it receives nothing), and when it wins the Lease again
/// it resumes from the checkpoint: every Event becomes exactly one
/// Observation.
#[tokio::test]
async fn losing_the_lease_stops_the_watch_and_winning_it_again_resumes() {
    let plane = Plane::get().await;
    let admin = plane.client(TestUser::Admin).await;
    let ns = plane.namespace("lease-lost").await;
    grant_agent(&admin, &ns).await;
    let agent = Agent::start(&plane.kubeconfig(TestUser::Vigil), &ns, CONFIG);
    let deadline = Instant::now() + common::DEADLINE;
    while !leading(&agent).await {
        assert!(Instant::now() < deadline, "never led\n{}", agent.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    agent.wait_ready(true).await;
    let events: Vec<EventSpec> = (0..100).map(event).collect();
    create_events(&admin, &ns, &events[..50]).await;
    let before = agent.wait_settled(50.0).await;
    assert_eq!(before.created, 50.0, "{before:?}");

    set_holder(&admin, &ns, Some("intruder")).await;
    let taken = Instant::now();
    while leading(&agent).await {
        assert!(
            taken.elapsed() < Duration::from_secs(10),
            "still leading after losing the lease\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "stepped down {:?} after the lease was taken",
        taken.elapsed()
    );
    // A follower is still ready, and does not watch.
    agent.wait_ready(true).await;
    create_events(&admin, &ns, &events[50..]).await;
    let window = Instant::now() + Duration::from_secs(2);
    while Instant::now() < window {
        assert_eq!(
            agent.accounting().await.received,
            50.0,
            "received events while following\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    set_holder(&admin, &ns, None).await;
    let api: Api<Observation> = Api::namespaced(admin.clone(), &ns);
    let all = loop {
        let all = of_events(&api).await;
        let acc = agent.accounting().await;
        if all.len() >= 100 && acc.settled() && leading(&agent).await {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 100 Observations; {acc:?}\n{}",
            all.len(),
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(all.len(), 100, "none duplicated");
    assert_eq!(agent.accounting().await.errors, 0.0);
    assert_eq!(
        agent.metric("vigil_leader_transitions_total").await,
        3.0,
        "gained, lost, gained"
    );
}
