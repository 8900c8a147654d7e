//! Which Kubernetes audit events become Observations, and what they say.
//! Owns the audit source's filter (stages, verbs), the rule table and the
//! Observation content of a matched event; parsing is [`super::audit`]'s.
//!
//! An API server audits every request, nearly all of them routine (the
//! control plane's own watches, leader-election leases, kubelet status
//! updates). An event passes the stage filter (by default only
//! `ResponseComplete`: one event per request, with its response code) and
//! the verb filter (by default every verb), then the rules below are tried
//! in order and the first match decides; an event no rule matches is dropped
//! as [`DropReason::AuditNoRule`]. The rule's name is the `eventType`.
//!
//! | # | rule (`eventType`) | matches | category | severity |
//! | --- | --- | --- | --- | --- |
//! | 1 | `anonymous_request` | user `system:anonymous` or group `system:unauthenticated`, except the non-resource health and version probes (`/healthz`, `/livez`, `/readyz`, `/version` and below) | security | high |
//! | 2 | `rbac_cluster_admin_binding` | create/update/patch of a `rolebindings`/`clusterrolebindings` whose `roleRef` is the ClusterRole `cluster-admin`, not by the control plane | security | critical |
//! | 3 | `rbac_wildcard_role` | create/update/patch of `roles`/`clusterroles` with a rule whose `verbs` or `resources` hold `*`, not by the control plane | security | high |
//! | 4 | `privileged_pod_created` | create of `pods` with a container (init, ephemeral included) whose `securityContext.privileged` is true | security | high |
//! | 5 | `host_namespace_pod_created` | create of `pods` with `hostNetwork`, `hostPID` or `hostIPC` | security | high |
//! | 6 | `pod_exec` | `pods/exec` (create or get) | security | medium |
//! | 7 | `pod_attach` | `pods/attach` (create or get) | security | medium |
//! | 8 | `pod_portforward` | `pods/portforward` (create or get) | security | medium |
//! | 9 | `rbac_changed` | create/update/patch/delete/deletecollection of `roles`, `clusterroles`, `rolebindings`, `clusterrolebindings`, not by the control plane | compliance | medium |
//! | 10 | `secret_access` | get/list/watch of `secrets` by a non-system user | security | medium |
//! | 11 | `system_namespace_delete` | delete/deletecollection in a system namespace (or of one), by a non-system user | compliance | medium |
//!
//! A request that failed (`responseStatus.code` ≥ 400: denied, not found,
//! invalid) did not happen, but the attempt is worth knowing: it matches
//! like any other, one severity lower, with `details.outcome` `denied`
//! (401, 403) or `failed`, and is fingerprinted apart from successes.
//!
//! Who is who (all globs, see [`AuditConfig`]): system users `system:*`
//! (control-plane components, nodes, service accounts, anonymous); the
//! control plane `system:apiserver`, `system:kube-controller-manager`,
//! `system:kube-scheduler` and the ClusterRole aggregation controller (it
//! rewrites aggregated roles all the time); system namespaces
//! `kube-system`, `kube-public`, `*-system`. Rules 2, 3 and 9 ignore only the
//! control plane, on purpose: a stolen service-account token binding itself
//! to `cluster-admin` is exactly what they are for.

use super::audit::{AuditEvent, AuditStage};
use super::Target;
use crate::glob;
use crate::pipeline::DropReason;
use crate::throttle::ThrottleConfig;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Map, Value};
use std::collections::HashSet;
use vigil_model::{Category, ObservationSpec, Severity};

/// The default `source` of audit Observations.
pub const DEFAULT_SOURCE: &str = "k8s-audit";

/// Users whose routine reads and deletes are not worth an Observation.
pub const DEFAULT_SYSTEM_USERS: &[&str] = &["system:*"];

/// Control-plane identities whose RBAC writes are bootstrap and reconciliation.
pub const DEFAULT_CONTROL_PLANE_USERS: &[&str] = &[
    "system:apiserver",
    "system:kube-controller-manager",
    "system:kube-scheduler",
    "system:serviceaccount:kube-system:clusterrole-aggregation-controller",
];

/// Namespaces where a delete by a person is worth recording.
pub const DEFAULT_SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "*-system"];

/// The audit source's settings.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Written into each Observation's `source`; also names its throttle bucket.
    pub source: String,
    /// Stages that pass; others are dropped as [`DropReason::AuditStage`].
    pub stages: Vec<AuditStage>,
    /// Verbs that pass (exact); empty is every verb. Others are dropped as
    /// [`DropReason::AuditVerb`].
    pub verbs: Vec<String>,
    /// Globs on `user.username` for rules 10 and 11.
    pub system_users: Vec<String>,
    /// Globs on `user.username` for rules 2, 3 and 9.
    pub control_plane_users: Vec<String>,
    /// Globs on the namespace for rule 11.
    pub system_namespaces: Vec<String>,
    /// Rule names (the `eventType`s of the table) that never match.
    pub disabled_rules: Vec<String>,
    /// The rate of new Observations; `None` is the pipeline's own throttle
    /// settings (in a bucket of the audit source's own either way).
    pub throttle: Option<ThrottleConfig>,
}

impl Default for AuditConfig {
    /// Source `k8s-audit`, `ResponseComplete` only, every verb, every rule,
    /// the documented users and namespaces.
    fn default() -> Self {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Self {
            source: DEFAULT_SOURCE.to_string(),
            stages: vec![AuditStage::ResponseComplete],
            verbs: Vec::new(),
            system_users: owned(DEFAULT_SYSTEM_USERS),
            control_plane_users: owned(DEFAULT_CONTROL_PLANE_USERS),
            system_namespaces: owned(DEFAULT_SYSTEM_NAMESPACES),
            disabled_rules: Vec::new(),
            throttle: None,
        }
    }
}

impl AuditConfig {
    /// Refuses what would otherwise be silently ignored: an unknown rule
    /// name, an empty verb, no stage at all.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(bad) = self
            .disabled_rules
            .iter()
            .find(|n| !AUDIT_RULES.iter().any(|r| r.name == n.as_str()))
        {
            let names: Vec<&str> = AUDIT_RULES.iter().map(|r| r.name).collect();
            return Err(format!(
                "disabledRules: unknown rule {bad:?}, expected one of: {}",
                names.join(", ")
            ));
        }
        if self.verbs.iter().any(|v| v.is_empty()) {
            return Err("verbs: an empty verb".to_string());
        }
        if self.stages.is_empty() {
            return Err("stages: no stage selected, every event would be dropped".to_string());
        }
        Ok(())
    }
}

/// One row of the rule table.
#[derive(Debug, Clone, Copy)]
pub struct AuditRule {
    /// Also the Observation's `eventType`.
    pub name: &'static str,
    pub category: Category,
    pub severity: Severity,
    matches: fn(&AuditEvent, &AuditRules) -> bool,
}

impl AuditRule {
    /// Whether the rule matches `event` under `rules`' users and namespaces.
    pub fn matches(&self, event: &AuditEvent, rules: &AuditRules) -> bool {
        (self.matches)(event, rules)
    }
}

const fn rule(
    name: &'static str,
    category: Category,
    severity: Severity,
    matches: fn(&AuditEvent, &AuditRules) -> bool,
) -> AuditRule {
    AuditRule {
        name,
        category,
        severity,
        matches,
    }
}

/// The rule table, in the order rules are tried (the module documentation).
#[rustfmt::skip]
pub const AUDIT_RULES: &[AuditRule] = &[
    rule("anonymous_request", Category::Security, Severity::High, anonymous_request),
    rule("rbac_cluster_admin_binding", Category::Security, Severity::Critical, rbac_cluster_admin_binding),
    rule("rbac_wildcard_role", Category::Security, Severity::High, rbac_wildcard_role),
    rule("privileged_pod_created", Category::Security, Severity::High, privileged_pod_created),
    rule("host_namespace_pod_created", Category::Security, Severity::High, host_namespace_pod_created),
    rule("pod_exec", Category::Security, Severity::Medium, |e, _| pod_subresource(e, "exec")),
    rule("pod_attach", Category::Security, Severity::Medium, |e, _| pod_subresource(e, "attach")),
    rule("pod_portforward", Category::Security, Severity::Medium, |e, _| pod_subresource(e, "portforward")),
    rule("rbac_changed", Category::Compliance, Severity::Medium, rbac_changed),
    rule("secret_access", Category::Security, Severity::Medium, secret_access),
    rule("system_namespace_delete", Category::Compliance, Severity::Medium, system_namespace_delete),
];

/// How the request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestOutcome {
    /// No error code (or none known yet).
    Allowed,
    /// 401 or 403.
    Denied,
    /// Any other code ≥ 400.
    Failed,
}

impl RequestOutcome {
    pub fn of(event: &AuditEvent) -> Self {
        match event.response_code {
            Some(401 | 403) => RequestOutcome::Denied,
            Some(c) if c >= 400 => RequestOutcome::Failed,
            _ => RequestOutcome::Allowed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Allowed => "allowed",
            RequestOutcome::Denied => "denied",
            RequestOutcome::Failed => "failed",
        }
    }
}

/// What the rules decided for one event.
#[derive(Debug, Clone, Copy)]
pub struct AuditMatch {
    pub rule: &'static AuditRule,
    /// The rule's severity, one lower for a request that did not succeed.
    pub severity: Severity,
    pub outcome: RequestOutcome,
}

impl AuditMatch {
    /// The Observation's `eventType`.
    pub fn event_type(&self) -> &'static str {
        self.rule.name
    }
}

/// An [`AuditConfig`] prepared for per-event checks.
#[derive(Debug, Clone)]
pub struct AuditRules {
    stages: Vec<AuditStage>,
    verbs: HashSet<String>,
    system_users: Vec<String>,
    control_plane_users: Vec<String>,
    system_namespaces: Vec<String>,
    rules: Vec<&'static AuditRule>,
}

impl AuditRules {
    pub fn new(config: &AuditConfig) -> Self {
        Self {
            stages: config.stages.clone(),
            verbs: config.verbs.iter().cloned().collect(),
            system_users: config.system_users.clone(),
            control_plane_users: config.control_plane_users.clone(),
            system_namespaces: config.system_namespaces.clone(),
            rules: AUDIT_RULES
                .iter()
                .filter(|r| !config.disabled_rules.iter().any(|d| d == r.name))
                .collect(),
        }
    }

    /// The stage, then the verb filter.
    pub fn check(&self, event: &AuditEvent) -> Result<(), DropReason> {
        if !self.stages.contains(&event.stage) {
            return Err(DropReason::AuditStage);
        }
        if !(self.verbs.is_empty() || self.verbs.contains(event.verb.as_str())) {
            return Err(DropReason::AuditVerb);
        }
        Ok(())
    }

    /// The first enabled rule that matches, or `None`.
    pub fn classify(&self, event: &AuditEvent) -> Option<AuditMatch> {
        let rule = self.rules.iter().find(|r| r.matches(event, self))?;
        let outcome = RequestOutcome::of(event);
        let severity = match outcome {
            RequestOutcome::Allowed => rule.severity,
            _ => one_lower(rule.severity),
        };
        Some(AuditMatch {
            rule,
            severity,
            outcome,
        })
    }

    pub fn is_system_user(&self, username: &str) -> bool {
        glob::any_match(&self.system_users, username)
    }

    pub fn is_control_plane_user(&self, username: &str) -> bool {
        glob::any_match(&self.control_plane_users, username)
    }

    pub fn is_system_namespace(&self, namespace: &str) -> bool {
        !namespace.is_empty() && glob::any_match(&self.system_namespaces, namespace)
    }
}

fn one_lower(s: Severity) -> Severity {
    match s {
        Severity::Critical => Severity::High,
        Severity::High => Severity::Medium,
        Severity::Medium => Severity::Low,
        Severity::Low | Severity::Info => Severity::Info,
    }
}

/// Paths anyone may probe (load balancers do, all the time).
const PROBE_PATHS: &[&str] = &["/healthz", "/livez", "/readyz", "/version"];

fn anonymous_request(e: &AuditEvent, _: &AuditRules) -> bool {
    let anonymous = e.user.username == "system:anonymous"
        || e.user.groups.iter().any(|g| g == "system:unauthenticated");
    anonymous && !is_probe(e)
}

fn is_probe(e: &AuditEvent) -> bool {
    if e.object_ref.is_some() {
        return false;
    }
    let uri = e.request_uri.as_deref().unwrap_or("");
    let path = uri.split('?').next().unwrap_or("");
    PROBE_PATHS.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

const ROLES: &[&str] = &["roles", "clusterroles"];
const BINDINGS: &[&str] = &["rolebindings", "clusterrolebindings"];
const WRITES: &[&str] = &["create", "update", "patch"];

/// A request on one of the RBAC `resources` themselves (not a subresource).
fn on_rbac(e: &AuditEvent, resources: &[&str]) -> bool {
    e.object_ref.as_ref().is_some_and(|o| {
        matches!(o.api_group.as_str(), "" | "rbac.authorization.k8s.io")
            && o.subresource.is_empty()
            && resources.contains(&o.resource.as_str())
    })
}

/// The request's object, then the response's (the object as stored).
fn objects(e: &AuditEvent) -> impl Iterator<Item = &Value> {
    [&e.request_object, &e.response_object]
        .into_iter()
        .flatten()
}

fn rbac_cluster_admin_binding(e: &AuditEvent, r: &AuditRules) -> bool {
    on_rbac(e, BINDINGS)
        && WRITES.contains(&e.verb.as_str())
        && !r.is_control_plane_user(&e.user.username)
        && objects(e).any(|o| {
            let role = &o["roleRef"];
            role["kind"] == "ClusterRole" && role["name"] == "cluster-admin"
        })
}

fn rbac_wildcard_role(e: &AuditEvent, r: &AuditRules) -> bool {
    let wildcard = |v: &Value| {
        v.as_array()
            .is_some_and(|items| items.iter().any(|i| i == "*"))
    };
    // Only what the request sets: a patch of labels on a role that already
    // has a wildcard introduces none.
    on_rbac(e, ROLES)
        && WRITES.contains(&e.verb.as_str())
        && !r.is_control_plane_user(&e.user.username)
        && e.request_object.as_ref().is_some_and(|o| {
            o["rules"].as_array().is_some_and(|rules| {
                rules
                    .iter()
                    .any(|rule| wildcard(&rule["verbs"]) || wildcard(&rule["resources"]))
            })
        })
}

/// The spec of a pod being created, from the request.
fn created_pod_spec(e: &AuditEvent) -> Option<&Map<String, Value>> {
    let o = e.object_ref.as_ref()?;
    if e.verb != "create" || o.resource != "pods" || !o.subresource.is_empty() {
        return None;
    }
    e.request_object.as_ref()?["spec"].as_object()
}

/// Names of a pod spec's privileged containers, init and ephemeral ones included.
pub fn privileged_containers(spec: &Map<String, Value>) -> Vec<&str> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .filter(|c| c["securityContext"]["privileged"] == true)
        .map(|c| c["name"].as_str().unwrap_or(""))
        .collect()
}

/// Which of `hostNetwork`, `hostPID`, `hostIPC` a pod spec sets.
pub fn host_namespaces(spec: &Map<String, Value>) -> Vec<&'static str> {
    ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .filter(|k| spec.get(*k) == Some(&Value::Bool(true)))
        .collect()
}

fn privileged_pod_created(e: &AuditEvent, _: &AuditRules) -> bool {
    created_pod_spec(e).is_some_and(|s| !privileged_containers(s).is_empty())
}

fn host_namespace_pod_created(e: &AuditEvent, _: &AuditRules) -> bool {
    created_pod_spec(e).is_some_and(|s| !host_namespaces(s).is_empty())
}

fn pod_subresource(e: &AuditEvent, subresource: &str) -> bool {
    matches!(e.verb.as_str(), "create" | "get")
        && e.object_ref
            .as_ref()
            .is_some_and(|o| o.resource == "pods" && o.subresource == subresource)
}

fn rbac_changed(e: &AuditEvent, r: &AuditRules) -> bool {
    on_rbac(
        e,
        &[
            "roles",
            "clusterroles",
            "rolebindings",
            "clusterrolebindings",
        ],
    ) && matches!(
        e.verb.as_str(),
        "create" | "update" | "patch" | "delete" | "deletecollection"
    ) && !r.is_control_plane_user(&e.user.username)
}

fn secret_access(e: &AuditEvent, r: &AuditRules) -> bool {
    matches!(e.verb.as_str(), "get" | "list" | "watch")
        && e.resource() == "secrets"
        && e.subresource().is_empty()
        && !r.is_system_user(&e.user.username)
}

fn system_namespace_delete(e: &AuditEvent, r: &AuditRules) -> bool {
    matches!(e.verb.as_str(), "delete" | "deletecollection")
        && r.is_system_namespace(e.scope_namespace())
        && !r.is_system_user(&e.user.username)
}

/// What distinguishes two matches of one rule on one object (the rest of
/// the fingerprint): verb, subresource, user and outcome, exactly.
pub fn fingerprint_text(event: &AuditEvent, m: &AuditMatch) -> String {
    format!(
        "{}\0{}\0{}\0{}",
        event.verb,
        event.subresource(),
        event.user.username,
        m.outcome.as_str()
    )
}

/// The event as recorded: `rule`, `auditID`, `stage`, `verb`, `user`
/// (username, groups), `sourceIPs`, `outcome`, and when known
/// `requestURI`, `userAgent`, `impersonatedUser`, `objectRef`,
/// `responseStatus.code`, `annotations`; for pod creates what made the pod
/// privileged (`privilegedContainers`, `hostNamespaces`), for bindings the
/// `roleRef`.
pub fn details(event: &AuditEvent, m: &AuditMatch) -> Value {
    let mut d = Map::new();
    d.insert("rule".into(), m.rule.name.into());
    d.insert("auditID".into(), event.audit_id.clone().into());
    d.insert("stage".into(), event.stage.as_str().into());
    d.insert("verb".into(), event.verb.clone().into());
    if let Some(uri) = &event.request_uri {
        d.insert("requestURI".into(), uri.clone().into());
    }
    d.insert("user".into(), user_details(&event.user));
    if let Some(u) = &event.impersonated_user {
        d.insert("impersonatedUser".into(), user_details(u));
    }
    d.insert("sourceIPs".into(), event.source_ips.clone().into());
    if let Some(agent) = &event.user_agent {
        d.insert("userAgent".into(), agent.clone().into());
    }
    if let Some(o) = &event.object_ref {
        let mut r = Map::new();
        let parts = [
            ("resource", &o.resource),
            ("subresource", &o.subresource),
            ("namespace", &o.namespace),
            ("name", &o.name),
            ("uid", &o.uid),
            ("apiGroup", &o.api_group),
            ("apiVersion", &o.api_version),
        ];
        for (k, v) in parts {
            if !v.is_empty() {
                r.insert(k.into(), v.clone().into());
            }
        }
        d.insert("objectRef".into(), Value::Object(r));
    }
    if let Some(code) = event.response_code {
        d.insert("responseStatus".into(), serde_json::json!({ "code": code }));
    }
    d.insert("outcome".into(), m.outcome.as_str().into());
    if !event.annotations.is_empty() {
        let a: Map<String, Value> = event
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        d.insert("annotations".into(), Value::Object(a));
    }
    if let Some(spec) = created_pod_spec(event) {
        let privileged = privileged_containers(spec);
        if !privileged.is_empty() {
            d.insert("privilegedContainers".into(), privileged.into());
        }
        let host = host_namespaces(spec);
        if !host.is_empty() {
            d.insert("hostNamespaces".into(), host.into());
        }
    }
    if on_rbac(event, BINDINGS) {
        if let Some(role) = objects(event)
            .map(|o| &o["roleRef"])
            .find(|r| r.is_object())
        {
            d.insert("roleRef".into(), role.clone());
        }
    }
    Value::Object(d)
}

fn user_details(u: &super::audit::AuditUser) -> Value {
    serde_json::json!({ "username": u.username, "groups": u.groups })
}

/// The Observation content of a matched event.
pub fn observation_spec(
    event: &AuditEvent,
    target: &Target<'_>,
    m: &AuditMatch,
    source: &str,
    ttl_seconds: i64,
) -> ObservationSpec {
    ObservationSpec {
        source: source.to_string(),
        category: m.rule.category,
        severity: m.severity,
        event_type: m.event_type().to_string(),
        resource: target.resource_ref(),
        details: Some(details(event, m)),
        detected_at: Some(Time(event.time())),
        ttl_seconds_after_creation: Some(ttl_seconds),
    }
}

#[cfg(test)]
mod tests;
