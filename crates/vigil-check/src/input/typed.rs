//! From one JSON value to a typed [`Manifest`]: dispatch on kind and API
//! group, read older API versions (`extensions/v1beta1`, `policy/v1beta1`,
//! ...) through the current type, and report type errors with the field path.

use crate::object::{Manifest, Object, Origin};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;

/// A kind checks read typed: the version parsed into and the API groups
/// (current and removed) that serve it.
struct Known {
    kind: &'static str,
    current: &'static str,
    groups: &'static [&'static str],
}

const KNOWN: &[Known] = &[
    Known {
        kind: "Pod",
        current: "v1",
        groups: &[""],
    },
    Known {
        kind: "Deployment",
        current: "apps/v1",
        groups: &["apps", "extensions"],
    },
    Known {
        kind: "StatefulSet",
        current: "apps/v1",
        groups: &["apps"],
    },
    Known {
        kind: "DaemonSet",
        current: "apps/v1",
        groups: &["apps", "extensions"],
    },
    Known {
        kind: "ReplicaSet",
        current: "apps/v1",
        groups: &["apps", "extensions"],
    },
    Known {
        kind: "ReplicationController",
        current: "v1",
        groups: &[""],
    },
    Known {
        kind: "Job",
        current: "batch/v1",
        groups: &["batch"],
    },
    Known {
        kind: "CronJob",
        current: "batch/v1",
        groups: &["batch"],
    },
    Known {
        kind: "Role",
        current: "rbac.authorization.k8s.io/v1",
        groups: &["rbac.authorization.k8s.io"],
    },
    Known {
        kind: "ClusterRole",
        current: "rbac.authorization.k8s.io/v1",
        groups: &["rbac.authorization.k8s.io"],
    },
    Known {
        kind: "RoleBinding",
        current: "rbac.authorization.k8s.io/v1",
        groups: &["rbac.authorization.k8s.io"],
    },
    Known {
        kind: "ClusterRoleBinding",
        current: "rbac.authorization.k8s.io/v1",
        groups: &["rbac.authorization.k8s.io"],
    },
    Known {
        kind: "PodDisruptionBudget",
        current: "policy/v1",
        groups: &["policy"],
    },
    Known {
        kind: "HorizontalPodAutoscaler",
        current: "autoscaling/v2",
        groups: &["autoscaling"],
    },
    Known {
        kind: "ResourceQuota",
        current: "v1",
        groups: &[""],
    },
    Known {
        kind: "LimitRange",
        current: "v1",
        groups: &[""],
    },
    Known {
        kind: "Namespace",
        current: "v1",
        groups: &[""],
    },
    Known {
        kind: "Service",
        current: "v1",
        groups: &[""],
    },
    Known {
        kind: "ServiceAccount",
        current: "v1",
        groups: &[""],
    },
    Known {
        kind: "ConfigMap",
        current: "v1",
        groups: &[""],
    },
    Known {
        kind: "NetworkPolicy",
        current: "networking.k8s.io/v1",
        groups: &["networking.k8s.io", "extensions"],
    },
    Known {
        kind: "Ingress",
        current: "networking.k8s.io/v1",
        groups: &["networking.k8s.io", "extensions"],
    },
];

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Reads one object; the error says which object and which field.
pub(super) fn to_manifest(
    mut value: serde_json::Value,
    origin: Origin,
) -> Result<Manifest, String> {
    let Some(map) = value.as_object_mut() else {
        return Err(format!(
            "not a Kubernetes object: expected a mapping with apiVersion and kind, found {}",
            json_type(&value)
        ));
    };
    let field = |key: &str| map.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
        return Err(
            "not a Kubernetes object: apiVersion and kind must both be set (as strings)".into(),
        );
    };
    let known = KNOWN
        .iter()
        .find(|k| k.kind == kind && k.groups.contains(&group_of(&api_version)));
    if let Some(k) = known {
        map.insert("apiVersion".into(), k.current.into());
    }
    let object = match known.map(|k| k.kind) {
        Some("Pod") => Object::Pod(Box::new(typed(value, &kind)?)),
        Some("Deployment") => Object::Deployment(Box::new(typed(value, &kind)?)),
        Some("StatefulSet") => Object::StatefulSet(Box::new(typed(value, &kind)?)),
        Some("DaemonSet") => Object::DaemonSet(Box::new(typed(value, &kind)?)),
        Some("ReplicaSet") => Object::ReplicaSet(Box::new(typed(value, &kind)?)),
        Some("ReplicationController") => {
            Object::ReplicationController(Box::new(typed(value, &kind)?))
        }
        Some("Job") => Object::Job(Box::new(typed(value, &kind)?)),
        Some("CronJob") => Object::CronJob(Box::new(typed(value, &kind)?)),
        Some("Role") => Object::Role(typed(value, &kind)?),
        Some("ClusterRole") => Object::ClusterRole(typed(value, &kind)?),
        Some("RoleBinding") => Object::RoleBinding(typed(value, &kind)?),
        Some("ClusterRoleBinding") => Object::ClusterRoleBinding(typed(value, &kind)?),
        Some("PodDisruptionBudget") => Object::PodDisruptionBudget(typed(value, &kind)?),
        Some("HorizontalPodAutoscaler") => Object::HorizontalPodAutoscaler(typed(value, &kind)?),
        Some("ResourceQuota") => Object::ResourceQuota(typed(value, &kind)?),
        Some("LimitRange") => Object::LimitRange(typed(value, &kind)?),
        Some("Namespace") => Object::Namespace(typed(value, &kind)?),
        Some("Service") => Object::Service(typed(value, &kind)?),
        Some("ServiceAccount") => Object::ServiceAccount(typed(value, &kind)?),
        Some("ConfigMap") => Object::ConfigMap(typed(value, &kind)?),
        Some("NetworkPolicy") => Object::NetworkPolicy(typed(value, &kind)?),
        Some("Ingress") => Object::Ingress(typed(value, &kind)?),
        _ => {
            let metadata = match value.get("metadata") {
                None => ObjectMeta::default(),
                Some(meta) => serde_path_to_error::deserialize(meta.clone()).map_err(|e| {
                    field_error(&kind, &value, &format!("metadata.{}", e.path()), e.inner())
                })?,
            };
            Object::Other { metadata, value }
        }
    };
    Ok(Manifest {
        api_version,
        kind,
        object,
        origin,
    })
}

fn typed<T: DeserializeOwned>(value: serde_json::Value, kind: &str) -> Result<T, String> {
    let name = object_name(&value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let what = match name {
            Some(n) => format!("{kind} {n}"),
            None => kind.to_string(),
        };
        format!("{what}: {path}: {}", e.inner())
    })
}

fn field_error(
    kind: &str,
    value: &serde_json::Value,
    path: &str,
    e: &impl std::fmt::Display,
) -> String {
    match object_name(value) {
        Some(n) => format!("{kind} {n}: {path}: {e}"),
        None => format!("{kind}: {path}: {e}"),
    }
}

fn object_name(value: &serde_json::Value) -> Option<String> {
    value
        .pointer("/metadata/name")
        .and_then(|n| n.as_str())
        .map(str::to_string)
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "nothing",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a sequence",
        serde_json::Value::Object(_) => "a mapping",
    }
}
