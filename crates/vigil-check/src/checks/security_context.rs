//! Container and pod security contexts: privilege, escalation, root user,
//! read-only root filesystem, Linux capabilities, /proc mount, Windows host
//! processes, seccomp and AppArmor. Host namespaces and volumes are `host`'s.

use super::{per_container, Outcome, Rule};
use crate::catalogue::{Check, Pillar};
use crate::index::Index;
use crate::object::{Manifest, Workload};
use k8s_openapi::api::core::v1::{Container, SecurityContext};
use vigil_model::Severity;

const CONTAINERS: &str = "workloads (each container and init container)";

pub(crate) const RULES: &[Rule] = &[
    Rule {
        check: Check {
            id: "security.privileged",
            pillar: Pillar::Security,
            severity: Severity::Critical,
            applies_to: CONTAINERS,
            description: "Containers do not run privileged (securityContext.privileged is not true).",
            remediation: "Remove `securityContext.privileged: true`; grant the one capability the container needs instead.",
            polaris: &["runAsPrivileged"],
            kube_score: &["container-security-context-privileged"],
        },
        eval: privileged,
    },
    Rule {
        check: Check {
            id: "security.privilege-escalation",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: CONTAINERS,
            description: "Containers set allowPrivilegeEscalation: false, so setuid binaries cannot gain privileges.",
            remediation: "Set `securityContext.allowPrivilegeEscalation: false` on every container.",
            polaris: &["privilegeEscalationAllowed"],
            kube_score: &[],
        },
        eval: privilege_escalation,
    },
    Rule {
        check: Check {
            id: "security.run-as-root",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: CONTAINERS,
            description: "Containers cannot run as root: runAsNonRoot: true or a non-zero runAsUser (pod or container level), never runAsUser: 0.",
            remediation: "Set `securityContext.runAsNonRoot: true` (pod level) and a non-zero `runAsUser`; build the image with a non-root USER.",
            polaris: &["runAsRootAllowed"],
            kube_score: &["container-security-context-user-group-id"],
        },
        eval: run_as_root,
    },
    Rule {
        check: Check {
            id: "security.read-only-root-filesystem",
            pillar: Pillar::Security,
            severity: Severity::Medium,
            applies_to: CONTAINERS,
            description: "Containers mount their root filesystem read-only.",
            remediation: "Set `securityContext.readOnlyRootFilesystem: true`; mount an emptyDir where the process must write.",
            polaris: &["notReadOnlyRootFilesystem"],
            kube_score: &["container-security-context-readonlyrootfilesystem"],
        },
        eval: read_only_root,
    },
    Rule {
        check: Check {
            id: "security.dangerous-capabilities",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: CONTAINERS,
            description: "Containers add no capability that amounts to root on the node (ALL, SYS_ADMIN, NET_ADMIN, SYS_MODULE, SYS_PTRACE, SYS_RAWIO, BPF, ...).",
            remediation: "Remove the capability from `securityContext.capabilities.add`; if a tool needs it, run that tool outside the workload.",
            polaris: &["dangerousCapabilities"],
            kube_score: &[],
        },
        eval: dangerous_capabilities,
    },
    Rule {
        check: Check {
            id: "security.capabilities-added",
            pillar: Pillar::Security,
            severity: Severity::Low,
            applies_to: CONTAINERS,
            description: "Containers add no capability beyond NET_BIND_SERVICE (the Pod Security Standards' restricted profile).",
            remediation: "Drop the extra entries from `securityContext.capabilities.add`, or exempt the workload with a reason.",
            polaris: &[],
            kube_score: &[],
        },
        eval: capabilities_added,
    },
    Rule {
        check: Check {
            id: "security.capabilities-not-dropped",
            pillar: Pillar::Security,
            severity: Severity::Medium,
            applies_to: CONTAINERS,
            description: "Containers drop ALL capabilities (or every capability of the runtime's default set) and add back only what they need.",
            remediation: "Set `securityContext.capabilities.drop: [ALL]`.",
            polaris: &["insecureCapabilities"],
            kube_score: &[],
        },
        eval: capabilities_not_dropped,
    },
    Rule {
        check: Check {
            id: "security.proc-mount",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: CONTAINERS,
            description: "Containers keep the default masked /proc (procMount is not Unmasked).",
            remediation: "Remove `securityContext.procMount: Unmasked`.",
            polaris: &["procMount"],
            kube_score: &[],
        },
        eval: proc_mount,
    },
    Rule {
        check: Check {
            id: "security.host-process",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: "workloads (pod and each container)",
            description: "Windows pods do not run as HostProcess containers (full access to the node).",
            remediation: "Remove `securityContext.windowsOptions.hostProcess: true`.",
            polaris: &["hostProcess"],
            kube_score: &[],
        },
        eval: host_process,
    },
    Rule {
        check: Check {
            id: "security.seccomp-profile",
            pillar: Pillar::Security,
            severity: Severity::Medium,
            applies_to: CONTAINERS,
            description: "Containers run under a seccomp profile: RuntimeDefault or Localhost, set on the pod or the container, never Unconfined.",
            remediation: "Set `securityContext.seccompProfile.type: RuntimeDefault` in the pod's securityContext.",
            polaris: &["linuxHardening"],
            kube_score: &["container-seccomp-profile"],
        },
        eval: seccomp_profile,
    },
    Rule {
        check: Check {
            id: "security.apparmor-unconfined",
            pillar: Pillar::Security,
            severity: Severity::Medium,
            applies_to: CONTAINERS,
            description: "No container turns AppArmor off (appArmorProfile type or the beta annotation set to Unconfined).",
            remediation: "Remove the Unconfined AppArmor profile; use RuntimeDefault or a Localhost profile.",
            polaris: &[],
            kube_score: &[],
        },
        eval: apparmor_unconfined,
    },
];

fn sc(c: &Container) -> Option<&SecurityContext> {
    c.security_context.as_ref()
}

fn privileged(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |_, c| {
        (sc(c)?.privileged == Some(true)).then(|| "securityContext.privileged is true".into())
    })
}

fn privilege_escalation(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |_, c| {
        match sc(c).and_then(|s| s.allow_privilege_escalation) {
            Some(false) => None,
            Some(true) => Some("allowPrivilegeEscalation is true".into()),
            None => Some("allowPrivilegeEscalation is not set to false".into()),
        }
    })
}

fn run_as_root(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |w, c| {
        let pod = w.spec.security_context.as_ref();
        let user = sc(c)
            .and_then(|s| s.run_as_user)
            .or(pod.and_then(|p| p.run_as_user));
        let non_root = sc(c)
            .and_then(|s| s.run_as_non_root)
            .or(pod.and_then(|p| p.run_as_non_root));
        match (user, non_root) {
            (Some(0), _) => Some("runs as root (runAsUser: 0)".into()),
            (_, Some(true)) => None,
            (Some(u), _) if u > 0 => None,
            _ => Some(
                "may run as root: neither runAsNonRoot: true nor a non-zero runAsUser is set"
                    .into(),
            ),
        }
    })
}

fn read_only_root(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |_, c| {
        (sc(c).and_then(|s| s.read_only_root_filesystem) != Some(true))
            .then(|| "readOnlyRootFilesystem is not true".into())
    })
}

/// Capabilities that amount to (near-)root on the node.
const DANGEROUS: &[&str] = &[
    "ALL",
    "SYS_ADMIN",
    "NET_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "SYS_TIME",
    "BPF",
    "PERFMON",
    "DAC_READ_SEARCH",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
];

/// The container runtime's default set (what Polaris requires dropped when ALL is not).
const DEFAULT_SET: &[&str] = &[
    "NET_ADMIN",
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

fn cap_name(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map(str::to_string)
        .unwrap_or(upper)
}

fn added(c: &Container) -> Vec<String> {
    sc(c)
        .and_then(|s| s.capabilities.as_ref())
        .and_then(|caps| caps.add.as_ref())
        .map(|add| add.iter().map(|a| cap_name(a)).collect())
        .unwrap_or_default()
}

fn dangerous_capabilities(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |_, c| {
        let bad: Vec<String> = added(c)
            .into_iter()
            .filter(|a| DANGEROUS.contains(&a.as_str()))
            .collect();
        (!bad.is_empty()).then(|| format!("adds {}", bad.join(", ")))
    })
}

fn capabilities_added(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |_, c| {
        let extra: Vec<String> = added(c)
            .into_iter()
            .filter(|a| a != "NET_BIND_SERVICE" && !DANGEROUS.contains(&a.as_str()))
            .collect();
        (!extra.is_empty()).then(|| format!("adds {}", extra.join(", ")))
    })
}

fn capabilities_not_dropped(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |_, c| {
        let dropped: Vec<String> = sc(c)
            .and_then(|s| s.capabilities.as_ref())
            .and_then(|caps| caps.drop.as_ref())
            .map(|d| d.iter().map(|x| cap_name(x)).collect())
            .unwrap_or_default();
        let all = dropped.iter().any(|d| d == "ALL")
            || DEFAULT_SET
                .iter()
                .all(|cap| dropped.iter().any(|d| d == cap));
        (!all).then(|| "does not drop ALL capabilities".into())
    })
}

fn proc_mount(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |_, c| {
        (sc(c).and_then(|s| s.proc_mount.as_deref()) == Some("Unmasked"))
            .then(|| "procMount is Unmasked".into())
    })
}

fn host_process(m: &Manifest, _: &Index<'_>) -> Outcome {
    let Some(w) = m.workload() else {
        return Outcome::Skip;
    };
    let pod_level = w
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.windows_options.as_ref())
        .and_then(|o| o.host_process)
        == Some(true);
    let mut findings: Vec<String> = Vec::new();
    if pod_level {
        findings.push("pod securityContext.windowsOptions.hostProcess is true".into());
    }
    if let Outcome::Fail(more) = per_container(m, |_, c| {
        (sc(c)
            .and_then(|s| s.windows_options.as_ref())
            .and_then(|o| o.host_process)
            == Some(true))
        .then(|| "windowsOptions.hostProcess is true".into())
    }) {
        findings.extend(more);
    }
    Outcome::from_findings(findings)
}

fn seccomp_profile(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |w: &Workload<'_>, c| {
        let container = sc(c).and_then(|s| s.seccomp_profile.as_ref());
        let pod = w
            .spec
            .security_context
            .as_ref()
            .and_then(|s| s.seccomp_profile.as_ref());
        match container.or(pod).map(|p| p.type_.as_str()) {
            Some("RuntimeDefault" | "Localhost") => None,
            Some(other) => Some(format!("seccompProfile type is {other}")),
            None => Some("no seccompProfile on the container or the pod".into()),
        }
    })
}

fn apparmor_unconfined(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |w: &Workload<'_>, c| {
        let container = sc(c).and_then(|s| s.app_armor_profile.as_ref());
        let pod = w
            .spec
            .security_context
            .as_ref()
            .and_then(|s| s.app_armor_profile.as_ref());
        let annotation = w.pod_annotations().get(&format!(
            "container.apparmor.security.beta.kubernetes.io/{}",
            c.name
        ));
        let by_field = container.or(pod).is_some_and(|p| p.type_ == "Unconfined");
        let by_annotation = annotation.is_some_and(|a| a == "unconfined");
        (by_field || by_annotation).then(|| "AppArmor profile is Unconfined".into())
    })
}
