//! Health probes of long-running workloads: liveness and readiness present,
//! and not the same endpoint (a shared probe restarts a pod that is merely
//! busy). Jobs, CronJobs and init containers are not probed.

use super::{Outcome, Rule};
use crate::catalogue::{Check, Pillar};
use crate::index::Index;
use crate::object::Manifest;
use k8s_openapi::api::core::v1::{Container, Probe};
use vigil_model::Severity;

const SERVING: &str = "workloads except Job and CronJob (each container)";

pub(crate) const RULES: &[Rule] = &[
    Rule {
        check: Check {
            id: "reliability.liveness-probe",
            pillar: Pillar::Reliability,
            severity: Severity::Medium,
            applies_to: SERVING,
            description: "Containers declare a livenessProbe, so a hung process is restarted.",
            remediation: "Add a `livenessProbe` that fails only when the process cannot recover on its own.",
            polaris: &["livenessProbeMissing"],
            kube_score: &["pod-probes"],
        },
        eval: liveness,
    },
    Rule {
        check: Check {
            id: "reliability.readiness-probe",
            pillar: Pillar::Reliability,
            severity: Severity::Medium,
            applies_to: SERVING,
            description: "Containers declare a readinessProbe, so traffic waits until they can serve.",
            remediation: "Add a `readinessProbe` that checks the container can answer requests.",
            polaris: &["readinessProbeMissing"],
            kube_score: &["pod-probes"],
        },
        eval: readiness,
    },
    Rule {
        check: Check {
            id: "reliability.identical-probes",
            pillar: Pillar::Reliability,
            severity: Severity::Medium,
            applies_to: SERVING,
            description: "A container's liveness and readiness probes do not hit the same endpoint (same HTTP path and port, TCP port, gRPC service or command).",
            remediation: "Point the liveness probe at a cheaper endpoint that only fails when a restart helps, or drop it.",
            polaris: &[],
            kube_score: &["pod-probes-identical"],
        },
        eval: identical,
    },
];

fn per_serving_container(m: &Manifest, f: impl Fn(&Container) -> Option<String>) -> Outcome {
    let Some(w) = m.workload().filter(|w| !w.kind.is_batch()) else {
        return Outcome::Skip;
    };
    Outcome::from_findings(
        w.main_containers()
            .filter_map(|c| f(c).map(|msg| format!("container \"{}\": {msg}", c.name)))
            .collect(),
    )
}

fn liveness(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_serving_container(m, |c| {
        c.liveness_probe
            .is_none()
            .then(|| "no livenessProbe".into())
    })
}

fn readiness(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_serving_container(m, |c| {
        c.readiness_probe
            .is_none()
            .then(|| "no readinessProbe".into())
    })
}

/// The endpoint a probe hits; None for a probe without a handler.
fn target(p: &Probe) -> Option<String> {
    let port = |p: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString| match p {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i) => i.to_string(),
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
    };
    if let Some(h) = &p.http_get {
        return Some(format!(
            "http {} {}:{}{}",
            h.scheme.as_deref().unwrap_or("HTTP"),
            h.host.as_deref().unwrap_or(""),
            port(&h.port),
            h.path.as_deref().unwrap_or("/")
        ));
    }
    if let Some(t) = &p.tcp_socket {
        return Some(format!("tcp {}", port(&t.port)));
    }
    if let Some(g) = &p.grpc {
        return Some(format!(
            "grpc {} {}",
            g.port,
            g.service.as_deref().unwrap_or("")
        ));
    }
    p.exec
        .as_ref()
        .map(|e| format!("exec {:?}", e.command.as_deref().unwrap_or_default()))
}

fn identical(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_serving_container(m, |c| {
        let live = target(c.liveness_probe.as_ref()?)?;
        let ready = target(c.readiness_probe.as_ref()?)?;
        (live == ready).then(|| format!("liveness and readiness probes both hit {live}"))
    })
}
