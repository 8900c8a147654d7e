//! The default rules on what vigil-pipeline really emits: Kubernetes Events
//! through the pipeline, its Observations (and repeats) into the detector,
//! as the agent and `vigil replay` do.

use k8s_openapi::jiff::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;
use vigil_detect::{Anomaly, Detector, KeyField, Signal};
use vigil_model::{ObservationSpec, Severity};
use vigil_pipeline::event::ObjectRef;
use vigil_pipeline::{Audience, KubeEvent, ManualClock, Outcome, Pipeline, PipelineConfig};

fn ts(s: &str) -> Timestamp {
    s.parse().expect("valid time")
}

fn secs(t0: Timestamp, s: u64) -> Timestamp {
    t0 + std::time::Duration::from_secs(s)
}

fn event(
    uid: &str,
    reason: &str,
    message: &str,
    kind: &str,
    ns: &str,
    name: &str,
    at: Timestamp,
) -> KubeEvent {
    KubeEvent {
        uid: uid.into(),
        namespace: if ns.is_empty() {
            "default".into()
        } else {
            ns.into()
        },
        name: format!("{name}.{uid}"),
        resource_version: "1".into(),
        type_: if reason == "NodeNotReady" {
            "Normal"
        } else {
            "Warning"
        }
        .into(),
        reason: reason.into(),
        message: message.into(),
        regarding: ObjectRef {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        },
        count: 1,
        last_time: Some(at),
        ..Default::default()
    }
}

/// The glue an agent needs: a new Observation is a signal under its name; a
/// repeat reuses the Observation's content under `<name>#<occurrence>`.
struct Agent {
    pipeline: Pipeline,
    detector: Detector,
    emitted: HashMap<String, (ObservationSpec, Audience)>,
}

impl Agent {
    fn new(t0: Timestamp) -> Self {
        Self {
            pipeline: Pipeline::new(PipelineConfig::default(), Arc::new(ManualClock::new(t0))),
            detector: Detector::with_default_rules(),
            emitted: HashMap::new(),
        }
    }

    fn feed(&mut self, events: &[KubeEvent]) -> Vec<Anomaly> {
        let mut out = Vec::new();
        for e in events {
            let at = e.last_time.expect("event time");
            match self.pipeline.process(e) {
                Outcome::Emit(c) => {
                    self.detector
                        .process(&Signal::from_candidate("c1", &c, at), &mut out);
                    let audience = vigil_detect::signal::audience_of(&c.labels);
                    self.emitted
                        .insert(c.name.clone(), (c.spec.clone(), audience));
                }
                Outcome::Repeat(r) => {
                    let (spec, audience) = &self.emitted[&r.name];
                    let id = format!("{}#{}", r.name, r.occurrences);
                    let signal = Signal::new("c1", *audience, spec, at, &id);
                    self.detector.process(&signal, &mut out);
                }
                Outcome::Dropped(reason) => panic!("{} dropped: {reason:?}", e.uid),
            }
        }
        out
    }
}

#[test]
fn a_crashlooping_pod_raises_one_anomaly() {
    let t0 = ts("2026-03-01T10:00:00Z");
    let mut agent = Agent::new(t0);
    let events: Vec<KubeEvent> = (0..15)
        .map(|i| {
            event(
                &format!("u{i}"),
                "BackOff",
                "Back-off restarting failed container web in pod web-7c9d8f6b5-x2x7q_shop",
                "Pod",
                "shop",
                "web-7c9d8f6b5-x2x7q",
                secs(t0, 10 * i),
            )
        })
        .collect();
    let out = agent.feed(&events);
    assert_eq!(out.len(), 1, "{out:#?}");
    let a = &out[0];
    assert_eq!(a.rule, "pod-crashloop");
    assert_eq!(a.count, 10);
    assert_eq!(a.key_value(KeyField::Name), Some("web-7c9d8f6b5-x2x7q"));
    assert_eq!(a.audience, Audience::Customer);
    assert_eq!(a.detected_at, secs(t0, 90), "fired by the tenth event");
    assert_eq!(
        a.description,
        "Pod shop/web-7c9d8f6b5-x2x7q restarted with back-off 10 times within 5m"
    );
    assert_eq!(a.samples.len(), 5);
    assert_eq!(a.namespace(), Some("shop"));
    // Replaying the same dump elsewhere names the same anomaly.
    let again = Agent::new(t0).feed(&events);
    assert_eq!(again[0].name(), a.name());
}

#[test]
fn pods_failing_to_schedule_across_workloads_raise_a_namespace_anomaly() {
    let t0 = ts("2026-03-01T10:00:00Z");
    let mut agent = Agent::new(t0);
    let events: Vec<KubeEvent> = ["api", "web", "cart", "auth", "mail", "feed"]
        .iter()
        .enumerate()
        .map(|(i, app)| {
            event(
                &format!("s{i}"),
                "FailedScheduling",
                "0/3 nodes are available: 3 Insufficient cpu.",
                "Pod",
                "shop",
                &format!("{app}-7c9d8f6b5-x2x7q"),
                secs(t0, 20 * i as u64),
            )
        })
        .collect();
    let out = agent.feed(&events);
    assert!(!out.is_empty());
    assert!(out.iter().all(|a| a.rule == "scheduling-failures"));
    assert!(out
        .iter()
        .all(|a| a.count == 5 && a.distinct == Some(KeyField::Name)));
    let spec = out[0].to_observation_spec();
    assert_eq!(spec.category, vigil_model::Category::Performance);
    assert_eq!(
        spec.resource.and_then(|r| r.name),
        Some("shop".to_string()),
        "about the namespace"
    );
}

#[test]
fn a_flapping_node_is_critical_and_for_the_platform() {
    let t0 = ts("2026-03-01T10:00:00Z");
    let mut agent = Agent::new(t0);
    // NotReady every 6 minutes: each in its own dedup window, so each is new.
    let events: Vec<KubeEvent> = (0..3)
        .map(|i| {
            event(
                &format!("n{i}"),
                "NodeNotReady",
                "Node node-a status is now: NodeNotReady",
                "Node",
                "",
                "node-a",
                secs(t0, 360 * i),
            )
        })
        .collect();
    let out = agent.feed(&events);
    assert!(!out.is_empty());
    for a in &out {
        assert_eq!(a.rule, "node-not-ready-flapping");
        assert_eq!(
            (a.severity, a.audience),
            (Severity::Critical, Audience::Platform)
        );
        assert_eq!(a.key_value(KeyField::Name), Some("node-a"));
        assert_eq!(a.namespace(), None);
        assert_eq!(
            a.description,
            "node node-a went NotReady 3 times within 30m"
        );
    }
    // Hopping 30m every 5m: each window holding all three fires once.
    let ids: std::collections::HashSet<String> = out.iter().map(Anomaly::id).collect();
    assert_eq!(ids.len(), out.len());
}

#[test]
fn normal_noise_raises_nothing() {
    let t0 = ts("2026-03-01T10:00:00Z");
    let mut agent = Agent::new(t0);
    let events: Vec<KubeEvent> = (0..9)
        .map(|i| {
            event(
                &format!("f{i}"),
                "FailedMount",
                "MountVolume.SetUp failed for volume \"data\" : secret \"db\" not found",
                "Pod",
                "shop",
                "db-7c9d8f6b5-x2x7q",
                secs(t0, 20 * i),
            )
        })
        .collect();
    assert!(
        agent.feed(&events).is_empty(),
        "9 FailedMount stay below 10"
    );
    assert_eq!(agent.detector.stats().matched, 9);
}
