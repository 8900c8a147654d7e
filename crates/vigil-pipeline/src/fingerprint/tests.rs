//! Folding and fingerprints on realistic kubelet, scheduler and kernel messages.

use super::*;
use crate::event::ObjectRef;

fn pod_event(namespace: &str, pod: &str, reason: &str, message: &str) -> KubeEvent {
    KubeEvent {
        namespace: namespace.into(),
        type_: "Warning".into(),
        reason: reason.into(),
        message: message.into(),
        regarding: ObjectRef {
            kind: "Pod".into(),
            namespace: namespace.into(),
            name: pod.into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn fp(e: &KubeEvent) -> Fingerprint {
    Fingerprinter::new().fingerprint("kubernetes-events", e)
}

#[test]
fn generated_name_suffixes_fold_for_workload_kinds_only() {
    assert_eq!(fold_name("Pod", "web-7c9d8f6b5-x2x7q"), "web-*");
    assert_eq!(fold_name("Pod", "my-app-5fc464b465-t4z6r"), "my-app-*");
    assert_eq!(fold_name("Pod", "backup-28412340-xkzpq"), "backup-*");
    assert_eq!(
        fold_name("Pod", "fluentd-bkzqd"),
        "fluentd-*",
        "a DaemonSet pod suffix may hold no digit"
    );
    assert_eq!(fold_name("Pod", "web-0"), "web-*");
    assert_eq!(fold_name("ReplicaSet", "px-5d567cc74c"), "px-*");
    assert_eq!(fold_name("Job", "backup-28412340"), "backup-*");
    assert_eq!(fold_name("Pod", "postgres"), "postgres");
    assert_eq!(fold_name("Pod", "api-gateway"), "api-gateway");
    assert_eq!(
        fold_name("Pod", "7c9d8f6b5-x2x7q"),
        "7c9d8f6b5-*",
        "the stem is kept"
    );
    assert_eq!(
        fold_name("Node", "ip-10-0-1-23.ec2.internal"),
        "ip-10-0-1-23.ec2.internal"
    );
    assert_eq!(fold_name("Deployment", "web-2"), "web-2");
}

#[test]
fn volatile_parts_of_messages_fold() {
    assert_eq!(
        fold_message("Back-off 5m0s restarting failed container=web pod=web-7c9d8f6b5-x2x7q_shop(4f1c2d8e-9a0b-11ee-8c90-0242ac120002)"),
        "Back-off * restarting failed container=web pod=web-*_shop(*)"
    );
    assert_eq!(
        fold_message("0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."),
        "*/* nodes are available: * Insufficient cpu. preemption: */* nodes are available: * No preemption victims found for incoming pod."
    );
    assert_eq!(
        fold_message("Readiness probe failed: Get https://10.128.1.84:5000/healthz: dial tcp 10.128.1.84:5000: connect: connection refused"),
        "Readiness probe failed: Get https://*.*.*.*:*/healthz: dial tcp *.*.*.*:*: connect: connection refused"
    );
    assert_eq!(
        fold_message(
            "Killing container with id containerd://c954bd8b3391a08f23079552fdd639f3 after 1m30.5s"
        ),
        "Killing container with id containerd://* after *.*"
    );
    assert_eq!(
        fold_message("Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[data kube-api-access-x2x7q]: timed out waiting for the condition"),
        "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[data kube-api-access-*]: timed out waiting for the condition"
    );
    assert_eq!(
        fold_message("Über-Nachricht: 42 Fehler"),
        "Über-Nachricht: * Fehler"
    );
}

#[test]
fn backoff_on_two_pods_of_one_deployment_shares_a_fingerprint() {
    let a = pod_event(
        "shop",
        "web-7c9d8f6b5-x2x7q",
        "BackOff",
        "Back-off 10s restarting failed container=web pod=web-7c9d8f6b5-x2x7q_shop(4f1c2d8e-9a0b-11ee-8c90-0242ac120002)",
    );
    let b = pod_event(
        "shop",
        "web-7c9d8f6b5-k9m2p",
        "BackOff",
        "Back-off 5m0s restarting failed container=web pod=web-7c9d8f6b5-k9m2p_shop(0b7e1a9c-2222-4d4d-9e9e-0242ac120099)",
    );
    assert_eq!(fp(&a), fp(&b));
    // A different container is a different problem.
    let other_container = pod_event(
        "shop",
        "web-7c9d8f6b5-x2x7q",
        "BackOff",
        &a.message.replace("container=web", "container=sidecar"),
    );
    assert_ne!(fp(&a), fp(&other_container));
    // So is another namespace, another workload, another reason.
    assert_ne!(
        fp(&a),
        fp(&pod_event(
            "shop-staging",
            &a.regarding.name,
            "BackOff",
            &a.message
        ))
    );
    assert_ne!(
        fp(&a),
        fp(&pod_event(
            "shop",
            "api-7c9d8f6b5-x2x7q",
            "BackOff",
            &a.message
        ))
    );
    assert_ne!(
        fp(&a),
        fp(&pod_event(
            "shop",
            &a.regarding.name,
            "CrashLoopBackOff",
            &a.message
        ))
    );
}

#[test]
fn failed_mount_differs_by_volume_and_not_by_pod() {
    let msg = |pod: &str, cm: &str| {
        format!("MountVolume.SetUp failed for volume \"config\" : configmap \"{cm}\" not found (pod {pod})")
    };
    let a = pod_event(
        "shop",
        "web-7c9d8f6b5-x2x7q",
        "FailedMount",
        &msg("web-7c9d8f6b5-x2x7q", "app-config"),
    );
    let b = pod_event(
        "shop",
        "web-7c9d8f6b5-z8w4t",
        "FailedMount",
        &msg("web-7c9d8f6b5-z8w4t", "app-config"),
    );
    let c = pod_event(
        "shop",
        "web-7c9d8f6b5-x2x7q",
        "FailedMount",
        &msg("web-7c9d8f6b5-x2x7q", "app-secrets"),
    );
    assert_eq!(fp(&a), fp(&b));
    assert_ne!(fp(&a), fp(&c));
}

#[test]
fn failed_scheduling_folds_counts_but_keeps_the_resource() {
    let e = |n: u32, what: &str| {
        pod_event(
            "batch",
            "train-28412340-xkzpq",
            "FailedScheduling",
            &format!("0/{n} nodes are available: {n} Insufficient {what}."),
        )
    };
    assert_eq!(fp(&e(3, "cpu")), fp(&e(12, "cpu")));
    assert_ne!(fp(&e(3, "cpu")), fp(&e(3, "memory")));
}

#[test]
fn oom_on_a_node_folds_pids_and_sizes_but_not_the_node() {
    let node = |name: &str, pid: u32, process: &str| {
        KubeEvent {
        namespace: "default".into(),
        type_: "Warning".into(),
        reason: "OOMKilling".into(),
        message: format!("Memory cgroup out of memory: Killed process {pid} ({process}) total-vm:1256040kB, anon-rss:524288kB"),
        regarding: ObjectRef { kind: "Node".into(), name: name.into(), ..Default::default() },
        ..Default::default()
    }
    };
    assert_eq!(
        fp(&node("node-a", 4242, "java")),
        fp(&node("node-a", 977, "java"))
    );
    assert_ne!(
        fp(&node("node-a", 4242, "java")),
        fp(&node("node-b", 4242, "java"))
    );
    assert_ne!(
        fp(&node("node-a", 4242, "java")),
        fp(&node("node-a", 4242, "python"))
    );
}

#[test]
fn the_source_is_part_of_the_fingerprint() {
    let e = pod_event(
        "shop",
        "web-0",
        "BackOff",
        "Back-off restarting failed container",
    );
    assert_ne!(
        Fingerprinter::new().fingerprint("a", &e),
        Fingerprinter::new().fingerprint("b", &e)
    );
}

#[test]
fn fingerprints_are_stable_across_builds() {
    // Pinned: a change here changes every Observation name in every cluster.
    let e = pod_event(
        "my-app",
        "my-app-5fc464b465-t4z6r",
        "BackOff",
        "Back-off restarting failed container",
    );
    // Reproducible elsewhere: SHA-256 of b"vigil-fingerprint-v1", then each
    // field as u64-BE length + bytes ("kubernetes-events", "Pod", "my-app",
    // "my-app-*", "BackOff"), then the folded message as is; first 8 bytes.
    let f = fp(&e);
    assert_eq!(f.to_hex(), "0b8d6d5f826d5f76");
    assert_eq!(f.to_string(), f.to_hex());
    assert_eq!(
        observation_name("kubernetes-events", "pod_backoff", f, 5_000),
        "kubernetes-events-pod-backoff-e4c08dcceb22edf8"
    );
}

#[test]
fn observation_names_are_deterministic_dns_labels() {
    let f = Fingerprint(0x0123_4567_89ab_cdef);
    let a = observation_name("kubernetes-events", "volume_mount_failed", f, 5_000);
    assert_eq!(
        a,
        observation_name("kubernetes-events", "volume_mount_failed", f, 5_000)
    );
    assert_ne!(
        a,
        observation_name("kubernetes-events", "volume_mount_failed", f, 5_001)
    );
    assert_ne!(
        a,
        observation_name(
            "kubernetes-events",
            "volume_mount_failed",
            Fingerprint(1),
            5_000
        )
    );
    assert!(
        a.starts_with("kubernetes-events-volume-mount-failed-"),
        "{a}"
    );
    assert_eq!(a.len(), "kubernetes-events-volume-mount-failed-".len() + 16);
    let long = observation_name(&"s".repeat(63), &"warning_very_long".repeat(4), f, 1);
    assert!(long.len() <= MAX_NAME_LEN, "{long}");
    for name in [&a, &long, &observation_name("", "_X_", f, -3)] {
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{name}"
        );
        assert!(!name.starts_with('-') && !name.ends_with('-'), "{name}");
    }
    assert_eq!(observation_name("", "", f, 0).len(), 16);
}

#[test]
fn an_event_fingerprint_is_its_parts_with_a_folded_message() {
    let e = pod_event(
        "shop",
        "web-7c9d8f6b5-x2x7q",
        "BackOff",
        "Back-off 5m0s restarting",
    );
    let mut f = Fingerprinter::new();
    let parts = f.fingerprint_parts(
        "kubernetes-events",
        "Pod",
        "shop",
        "web-7c9d8f6b5-x2x7q",
        "BackOff",
        Text::Folded("Back-off 5m0s restarting"),
    );
    assert_eq!(parts, fp(&e));
    let exact = f.fingerprint_parts(
        "kubernetes-events",
        "Pod",
        "shop",
        "web-7c9d8f6b5-x2x7q",
        "BackOff",
        Text::Exact("Back-off 5m0s restarting"),
    );
    assert_ne!(exact, parts, "exact and folded text never hash alike");
    let exact_other = f.fingerprint_parts(
        "kubernetes-events",
        "Pod",
        "shop",
        "web-7c9d8f6b5-x2x7q",
        "BackOff",
        Text::Exact("Back-off 6m0s restarting"),
    );
    assert_ne!(exact, exact_other, "exact text is not folded");
    let folded_other = f.fingerprint_parts(
        "kubernetes-events",
        "Pod",
        "shop",
        "web-7c9d8f6b5-q9z8r",
        "BackOff",
        Text::Folded("Back-off 6m0s restarting"),
    );
    assert_eq!(
        folded_other, parts,
        "the name folds for its kind either way"
    );
}
