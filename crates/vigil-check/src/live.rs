//! Reading a live cluster (feature `live`): lists, never watches and never
//! writes, the objects the checks look at, into the same [`Parsed`] form
//! files take. Shared by `vigil check` without `-f` and the agent's periodic
//! compliance run. Secrets are never read. Everything else in this crate
//! stays pure; this module is the only one that talks to an API server.

use crate::input::{InputError, Parsed};
use crate::object::Origin;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::Client;

/// What a live check lists: (group, version, kind, plural, namespaced).
/// ConfigMaps are read for `security.secret-in-configmap`; Secrets never are.
pub const LIVE_KINDS: &[(&str, &str, &str, &str, bool)] = &[
    ("", "v1", "Namespace", "namespaces", false),
    ("", "v1", "Pod", "pods", true),
    (
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        true,
    ),
    ("", "v1", "Service", "services", true),
    ("", "v1", "ServiceAccount", "serviceaccounts", true),
    ("", "v1", "ConfigMap", "configmaps", true),
    ("", "v1", "ResourceQuota", "resourcequotas", true),
    ("", "v1", "LimitRange", "limitranges", true),
    ("apps", "v1", "Deployment", "deployments", true),
    ("apps", "v1", "StatefulSet", "statefulsets", true),
    ("apps", "v1", "DaemonSet", "daemonsets", true),
    ("apps", "v1", "ReplicaSet", "replicasets", true),
    ("batch", "v1", "Job", "jobs", true),
    ("batch", "v1", "CronJob", "cronjobs", true),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
    ),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
    ),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", true),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    ),
    (
        "monitoring.coreos.com",
        "v1",
        "ServiceMonitor",
        "servicemonitors",
        true,
    ),
    (
        "monitoring.coreos.com",
        "v1",
        "PodMonitor",
        "podmonitors",
        true,
    ),
];

/// Kinds whose API may be absent (a CRD not installed): a 404 is not an error.
pub const OPTIONAL_GROUPS: &[&str] = &["monitoring.coreos.com"];

/// Objects per list request.
const PAGE: u32 = 500;

/// The origin every live object carries (`file: cluster`).
const ORIGIN_FILE: &str = "cluster";

/// Lists the cluster's objects (read-only). With `namespaces` empty, every
/// namespaced kind is listed cluster-wide; otherwise only in those
/// namespaces (and only their `Namespace` objects are kept); cluster-scoped
/// RBAC is always read. A list that fails (forbidden, ...) is recorded in
/// [`Parsed::errors`] and the rest is still read.
pub async fn read_cluster(client: &Client, namespaces: &[String]) -> Parsed {
    let mut parsed = Parsed::default();
    for &(group, version, kind, plural, namespaced) in LIVE_KINDS {
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let apis: Vec<Api<DynamicObject>> = if namespaced && !namespaces.is_empty() {
            namespaces
                .iter()
                .map(|ns| Api::namespaced_with(client.clone(), ns, &resource))
                .collect()
        } else {
            vec![Api::all_with(client.clone(), &resource)]
        };
        for api in apis {
            if let Err(e) = list_into(&api, &resource, namespaces, &mut parsed).await {
                let absent = matches!(&e, kube::Error::Api(s) if s.code == 404);
                if !(absent && OPTIONAL_GROUPS.contains(&group)) {
                    parsed
                        .errors
                        .push(error(format!("listing {plural}: {}", api_message(&e))));
                }
                // One refusal per kind is enough (the other namespaces would repeat it).
                break;
            }
        }
    }
    parsed
}

fn error(message: String) -> InputError {
    InputError {
        file: ORIGIN_FILE.into(),
        document: 0,
        item: None,
        line: None,
        message,
    }
}

async fn list_into(
    api: &Api<DynamicObject>,
    resource: &ApiResource,
    namespaces: &[String],
    parsed: &mut Parsed,
) -> kube::Result<()> {
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = api.list(&params).await?;
        for item in &page.items {
            if resource.kind == "Namespace"
                && !namespaces.is_empty()
                && !namespaces
                    .iter()
                    .any(|ns| item.metadata.name.as_deref() == Some(ns.as_str()))
            {
                continue;
            }
            let origin = Origin {
                file: ORIGIN_FILE.into(),
                document: 0,
                item: None,
                line: None,
                helm_source: None,
            };
            match crate::input::from_serializable(
                item,
                &resource.api_version,
                &resource.kind,
                origin,
            ) {
                Ok(m) => parsed.manifests.push(m),
                Err(message) => parsed.errors.push(error(message)),
            }
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params.continue_token = Some(token),
            None => return Ok(()),
        }
    }
}

/// The API server's own words for an API error (kube's Display adds the whole Status).
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}
