//! RBAC: roles that grant everything or the keys to escalate (wildcards,
//! escalate/bind/impersonate, pods/exec and attach), and bindings that hand
//! cluster-admin or Secret reads to broad subjects or to default service
//! accounts. Built-in ClusterRoles (`cluster-admin`, `admin`, `edit`,
//! `view`, `system:*`) are what Kubernetes ships and are not judged here.

use super::{Outcome, Rule};
use crate::catalogue::{Check, Pillar};
use crate::index::Index;
use crate::object::{Manifest, Object};
use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject};
use vigil_model::Severity;

const ROLES: &str = "Role, ClusterRole";
const BINDINGS: &str = "RoleBinding, ClusterRoleBinding";

pub(crate) const RULES: &[Rule] = &[
    Rule {
        check: Check {
            id: "security.rbac-wildcard-verbs",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: ROLES,
            description: "Role rules list their verbs; none grants `*` (every verb, including ones added in future releases).",
            remediation: "Replace `verbs: [\"*\"]` with the verbs the subject uses (get, list, watch, ...).",
            polaris: &[],
            kube_score: &[],
        },
        eval: wildcard_verbs,
    },
    Rule {
        check: Check {
            id: "security.rbac-wildcard-resources",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: ROLES,
            description: "Role rules list their resources; none grants `*` (every resource of the group, Secrets included).",
            remediation: "Replace `resources: [\"*\"]` with the resources the subject uses.",
            polaris: &[],
            kube_score: &[],
        },
        eval: wildcard_resources,
    },
    Rule {
        check: Check {
            id: "security.rbac-escalation-verbs",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: ROLES,
            description: "Roles do not grant escalate, bind or impersonate, the verbs that lift a subject past its own permissions.",
            remediation: "Remove escalate / bind / impersonate, or keep them to a tightly bound, audited role.",
            polaris: &[],
            kube_score: &[],
        },
        eval: escalation_verbs,
    },
    Rule {
        check: Check {
            id: "security.rbac-pod-exec-attach",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: ROLES,
            description: "Roles do not grant pods/exec or pods/attach (a shell in every pod the role reaches, with its secrets).",
            remediation: "Remove pods/exec and pods/attach from the role; grant them just-in-time to named people.",
            polaris: &["clusterrolePodExecAttach", "rolePodExecAttach"],
            kube_score: &[],
        },
        eval: pod_exec_attach,
    },
    Rule {
        check: Check {
            id: "security.rbac-cluster-admin-binding",
            pillar: Pillar::Security,
            severity: Severity::Critical,
            applies_to: BINDINGS,
            description: "No binding grants cluster-admin, or a role in the input that allows every verb on every resource, beyond the built-in bindings.",
            remediation: "Bind a role that lists what the subject needs; keep cluster-admin to break-glass accounts.",
            polaris: &[
                "clusterrolebindingClusterAdmin",
                "rolebindingClusterAdminClusterRole",
                "rolebindingClusterAdminRole",
            ],
            kube_score: &[],
        },
        eval: cluster_admin_binding,
    },
    Rule {
        check: Check {
            id: "security.rbac-pod-exec-binding",
            pillar: Pillar::Security,
            severity: Severity::Medium,
            applies_to: BINDINGS,
            description: "No binding hands out pods/exec or pods/attach: through the built-in admin or edit ClusterRoles or a role in the input that grants them (cluster-admin is its own check).",
            remediation: "Bind a role without exec/attach (view, or your own); grant exec just-in-time to named people.",
            polaris: &[
                "clusterrolebindingPodExecAttach",
                "rolebindingClusterRolePodExecAttach",
                "rolebindingRolePodExecAttach",
            ],
            kube_score: &[],
        },
        eval: pod_exec_binding,
    },
    Rule {
        check: Check {
            id: "security.rbac-secret-read-broad",
            pillar: Pillar::Security,
            severity: Severity::Critical,
            applies_to: BINDINGS,
            description: "Broad subjects (system:authenticated, system:unauthenticated, system:anonymous, system:serviceaccounts[:ns]) cannot read Secrets through a binding.",
            remediation: "Bind the role to the specific ServiceAccounts or groups that need it, or drop get/list/watch on secrets from the role.",
            polaris: &[],
            kube_score: &[],
        },
        eval: secret_read_broad,
    },
    Rule {
        check: Check {
            id: "security.rbac-default-service-account",
            pillar: Pillar::Security,
            severity: Severity::Medium,
            applies_to: BINDINGS,
            description: "No binding grants permissions to a namespace's `default` ServiceAccount, which every pod without its own account runs as.",
            remediation: "Create a dedicated ServiceAccount for the workload, bind the role to it, and set `serviceAccountName`.",
            polaris: &[],
            kube_score: &[],
        },
        eval: default_service_account,
    },
];

/// ClusterRoles and bindings Kubernetes itself creates.
fn built_in(name: &str) -> bool {
    matches!(name, "cluster-admin" | "admin" | "edit" | "view") || name.starts_with("system:")
}

/// The rules of a user-defined role (None for bindings, other kinds and built-ins).
fn role_rules(m: &Manifest) -> Option<&[PolicyRule]> {
    let rules = match &m.object {
        Object::Role(r) => r.rules.as_ref(),
        Object::ClusterRole(r) if !built_in(m.name()) => r.rules.as_ref(),
        _ => return None,
    };
    Some(rules.map_or(&[][..], Vec::as_slice))
}

fn has(list: &[String], wanted: &[&str]) -> bool {
    list.iter()
        .any(|x| x == "*" || wanted.contains(&x.as_str()))
}

/// Whether `rule` grants any of `verbs` on any of `resources` in the core group.
fn grants_core(rule: &PolicyRule, resources: &[&str], verbs: &[&str]) -> bool {
    has(rule.api_groups.as_deref().unwrap_or_default(), &[""])
        && has(rule.resources.as_deref().unwrap_or_default(), resources)
        && has(&rule.verbs, verbs)
}

fn describe(rule: &PolicyRule) -> String {
    let list = |v: Option<&Vec<String>>| v.map(|v| v.join(",")).unwrap_or_default();
    format!(
        "apiGroups [{}] resources [{}] verbs [{}]",
        list(rule.api_groups.as_ref()),
        list(rule.resources.as_ref()),
        rule.verbs.join(",")
    )
}

fn per_rule(m: &Manifest, bad: impl Fn(&PolicyRule) -> Option<String>) -> Outcome {
    let Some(rules) = role_rules(m) else {
        return Outcome::Skip;
    };
    Outcome::from_findings(
        rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| bad(r).map(|why| format!("rules[{i}] ({}): {why}", describe(r))))
            .collect(),
    )
}

fn wildcard_verbs(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_rule(m, |r| {
        r.verbs
            .iter()
            .any(|v| v == "*")
            .then(|| "grants every verb".into())
    })
}

fn wildcard_resources(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_rule(m, |r| {
        r.resources
            .iter()
            .flatten()
            .any(|v| v == "*")
            .then(|| "grants every resource".into())
    })
}

fn escalation_verbs(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_rule(m, |r| {
        let found: Vec<&str> = r
            .verbs
            .iter()
            .map(String::as_str)
            .filter(|v| matches!(*v, "escalate" | "bind" | "impersonate"))
            .collect();
        (!found.is_empty()).then(|| format!("grants {}", found.join(", ")))
    })
}

fn pod_exec_attach(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_rule(m, |r| {
        grants_exec(r).then(|| "allows exec / attach into pods".into())
    })
}

/// A binding's role reference, subjects and the namespace its Role lives in.
fn binding(m: &Manifest) -> Option<(&RoleRef, &[Subject])> {
    match &m.object {
        Object::RoleBinding(b) => Some((&b.role_ref, b.subjects.as_deref().unwrap_or_default())),
        Object::ClusterRoleBinding(b) => {
            Some((&b.role_ref, b.subjects.as_deref().unwrap_or_default()))
        }
        _ => None,
    }
}

fn cluster_admin_binding(m: &Manifest, ix: &Index<'_>) -> Outcome {
    let Some((role, _)) = binding(m) else {
        return Outcome::Skip;
    };
    if built_in(m.name()) {
        return Outcome::Pass;
    }
    if role.kind == "ClusterRole" && role.name == "cluster-admin" {
        return Outcome::fail("binds ClusterRole cluster-admin");
    }
    let full = |r: &PolicyRule| {
        let all = |v: Option<&Vec<String>>| v.is_some_and(|v| v.iter().any(|x| x == "*"));
        all(r.api_groups.as_ref()) && all(r.resources.as_ref()) && r.verbs.iter().any(|v| v == "*")
    };
    let rules = ix.role_rules(m.effective_namespace(), &role.kind, &role.name);
    Outcome::pass_unless(rules.is_some_and(|rules| rules.iter().any(full)), || {
        format!(
            "binds {} {}, which allows every verb on every resource",
            role.kind, role.name
        )
    })
}

fn grants_exec(rule: &PolicyRule) -> bool {
    grants_core(rule, &["pods/exec", "pods/attach"], &["create", "get"])
}

fn pod_exec_binding(m: &Manifest, ix: &Index<'_>) -> Outcome {
    let Some((role, _)) = binding(m) else {
        return Outcome::Skip;
    };
    if built_in(m.name()) {
        return Outcome::Pass;
    }
    let exec = match (role.kind.as_str(), role.name.as_str()) {
        ("ClusterRole", "cluster-admin") => false, // security.rbac-cluster-admin-binding
        ("ClusterRole", "admin" | "edit") => true,
        (kind, name) => ix
            .role_rules(m.effective_namespace(), kind, name)
            .is_some_and(|rules| rules.iter().any(grants_exec)),
    };
    Outcome::pass_unless(exec, || {
        format!(
            "binds {} {}, which allows exec / attach into pods",
            role.kind, role.name
        )
    })
}

fn broad(subject: &Subject) -> bool {
    match subject.kind.as_str() {
        "Group" => {
            matches!(
                subject.name.as_str(),
                "system:authenticated" | "system:unauthenticated" | "system:serviceaccounts"
            ) || subject.name.starts_with("system:serviceaccounts:")
        }
        "User" => subject.name == "system:anonymous",
        _ => false,
    }
}

fn secret_read_broad(m: &Manifest, ix: &Index<'_>) -> Outcome {
    let Some((role, subjects)) = binding(m) else {
        return Outcome::Skip;
    };
    let reads_secrets = match (role.kind.as_str(), role.name.as_str()) {
        ("ClusterRole", "cluster-admin" | "admin" | "edit") => true,
        (kind, name) => ix
            .role_rules(m.effective_namespace(), kind, name)
            .is_some_and(|rules| {
                rules
                    .iter()
                    .any(|r| grants_core(r, &["secrets"], &["get", "list", "watch"]))
            }),
    };
    let wide: Vec<String> = subjects
        .iter()
        .filter(|s| broad(s))
        .map(|s| format!("{} {}", s.kind, s.name))
        .collect();
    Outcome::pass_unless(reads_secrets && !wide.is_empty(), || {
        format!(
            "{} {} lets {} read Secrets",
            role.kind,
            role.name,
            wide.join(", ")
        )
    })
}

fn default_service_account(m: &Manifest, _: &Index<'_>) -> Outcome {
    let Some((role, subjects)) = binding(m) else {
        return Outcome::Skip;
    };
    if built_in(m.name()) {
        return Outcome::Pass;
    }
    Outcome::from_findings(
        subjects
            .iter()
            .filter(|s| s.kind == "ServiceAccount" && s.name == "default")
            .map(|s| {
                let ns = s.namespace.as_deref().unwrap_or(m.effective_namespace());
                format!(
                    "grants {} {} to ServiceAccount {ns}/default",
                    role.kind, role.name
                )
            })
            .collect(),
    )
}
