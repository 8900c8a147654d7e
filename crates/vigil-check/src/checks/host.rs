//! What a pod shares with its node: network, PID and IPC namespaces,
//! hostPath volumes and host ports. Container privileges are
//! `security_context`'s.

use super::{per_container, Outcome, Rule};
use crate::catalogue::{Check, Pillar};
use crate::index::Index;
use crate::object::Manifest;
use vigil_model::Severity;

const PODS: &str = "workloads (pod spec)";

pub(crate) const RULES: &[Rule] = &[
    Rule {
        check: Check {
            id: "security.host-network",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: PODS,
            description: "Pods do not use the node's network namespace (hostNetwork is not true).",
            remediation: "Remove `hostNetwork: true`; expose the pod through a Service.",
            polaris: &["hostNetworkSet"],
            kube_score: &[],
        },
        eval: host_network,
    },
    Rule {
        check: Check {
            id: "security.host-pid",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: PODS,
            description: "Pods do not share the node's process namespace (hostPID is not true).",
            remediation: "Remove `hostPID: true`.",
            polaris: &["hostPIDSet"],
            kube_score: &[],
        },
        eval: host_pid,
    },
    Rule {
        check: Check {
            id: "security.host-ipc",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: PODS,
            description: "Pods do not share the node's IPC namespace (hostIPC is not true).",
            remediation: "Remove `hostIPC: true`.",
            polaris: &["hostIPCSet"],
            kube_score: &[],
        },
        eval: host_ipc,
    },
    Rule {
        check: Check {
            id: "security.host-path",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: PODS,
            description: "Pods mount no hostPath volume (a window onto the node's filesystem).",
            remediation: "Use a PersistentVolumeClaim, emptyDir, ConfigMap or CSI volume instead of `hostPath`.",
            polaris: &["hostPathSet"],
            kube_score: &[],
        },
        eval: host_path,
    },
    Rule {
        check: Check {
            id: "security.host-port",
            pillar: Pillar::Security,
            severity: Severity::Medium,
            applies_to: "workloads (each container's ports)",
            description: "Containers bind no host port (hostPort), which pins pods to nodes and bypasses network policy.",
            remediation: "Remove `hostPort`; expose the port through a Service.",
            polaris: &["hostPortSet"],
            kube_score: &[],
        },
        eval: host_port,
    },
];

fn pod_flag(
    m: &Manifest,
    field: &str,
    get: fn(&k8s_openapi::api::core::v1::PodSpec) -> Option<bool>,
) -> Outcome {
    match m.workload() {
        None => Outcome::Skip,
        Some(w) => Outcome::pass_unless(get(w.spec) == Some(true), || format!("{field} is true")),
    }
}

fn host_network(m: &Manifest, _: &Index<'_>) -> Outcome {
    pod_flag(m, "hostNetwork", |s| s.host_network)
}

fn host_pid(m: &Manifest, _: &Index<'_>) -> Outcome {
    pod_flag(m, "hostPID", |s| s.host_pid)
}

fn host_ipc(m: &Manifest, _: &Index<'_>) -> Outcome {
    pod_flag(m, "hostIPC", |s| s.host_ipc)
}

fn host_path(m: &Manifest, _: &Index<'_>) -> Outcome {
    let Some(w) = m.workload() else {
        return Outcome::Skip;
    };
    Outcome::from_findings(
        w.spec
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| {
                let hp = v.host_path.as_ref()?;
                Some(format!("volume \"{}\" mounts hostPath {}", v.name, hp.path))
            })
            .collect(),
    )
}

fn host_port(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |_, c| {
        let ports: Vec<String> = c
            .ports
            .iter()
            .flatten()
            .filter_map(|p| p.host_port.filter(|&h| h != 0).map(|h| h.to_string()))
            .collect();
        (!ports.is_empty()).then(|| format!("binds hostPort {}", ports.join(", ")))
    })
}
