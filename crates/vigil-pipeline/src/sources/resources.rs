//! The kind (and API group) of a built-in Kubernetes resource, from the
//! plural resource name that audit events and Falco's `ka.target.resource`
//! carry (`pods` → `Pod`). Owns that table only.
//!
//! A resource that is not in the table (a CRD, an aggregated API) keeps its
//! plural name as its kind: guessing `NodePool` from `nodepools` would be
//! wrong as often as right, and a consumer can still match the plural.

/// `(resource, API group, kind)`; the core group is `""`.
#[rustfmt::skip]
const BUILT_IN: &[(&str, &str, &str)] = &[
    ("bindings", "", "Binding"),
    ("configmaps", "", "ConfigMap"),
    ("endpoints", "", "Endpoints"),
    ("events", "", "Event"),
    ("limitranges", "", "LimitRange"),
    ("namespaces", "", "Namespace"),
    ("nodes", "", "Node"),
    ("persistentvolumeclaims", "", "PersistentVolumeClaim"),
    ("persistentvolumes", "", "PersistentVolume"),
    ("pods", "", "Pod"),
    ("podtemplates", "", "PodTemplate"),
    ("replicationcontrollers", "", "ReplicationController"),
    ("resourcequotas", "", "ResourceQuota"),
    ("secrets", "", "Secret"),
    ("serviceaccounts", "", "ServiceAccount"),
    ("services", "", "Service"),
    ("mutatingwebhookconfigurations", "admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("validatingadmissionpolicies", "admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("validatingadmissionpolicybindings", "admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("validatingwebhookconfigurations", "admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("customresourcedefinitions", "apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiservices", "apiregistration.k8s.io", "APIService"),
    ("controllerrevisions", "apps", "ControllerRevision"),
    ("daemonsets", "apps", "DaemonSet"),
    ("deployments", "apps", "Deployment"),
    ("replicasets", "apps", "ReplicaSet"),
    ("statefulsets", "apps", "StatefulSet"),
    ("tokenreviews", "authentication.k8s.io", "TokenReview"),
    ("selfsubjectaccessreviews", "authorization.k8s.io", "SelfSubjectAccessReview"),
    ("subjectaccessreviews", "authorization.k8s.io", "SubjectAccessReview"),
    ("horizontalpodautoscalers", "autoscaling", "HorizontalPodAutoscaler"),
    ("cronjobs", "batch", "CronJob"),
    ("jobs", "batch", "Job"),
    ("certificatesigningrequests", "certificates.k8s.io", "CertificateSigningRequest"),
    ("leases", "coordination.k8s.io", "Lease"),
    ("endpointslices", "discovery.k8s.io", "EndpointSlice"),
    ("ingressclasses", "networking.k8s.io", "IngressClass"),
    ("ingresses", "networking.k8s.io", "Ingress"),
    ("networkpolicies", "networking.k8s.io", "NetworkPolicy"),
    ("poddisruptionbudgets", "policy", "PodDisruptionBudget"),
    ("clusterrolebindings", "rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("clusterroles", "rbac.authorization.k8s.io", "ClusterRole"),
    ("rolebindings", "rbac.authorization.k8s.io", "RoleBinding"),
    ("roles", "rbac.authorization.k8s.io", "Role"),
    ("priorityclasses", "scheduling.k8s.io", "PriorityClass"),
    ("csidrivers", "storage.k8s.io", "CSIDriver"),
    ("csinodes", "storage.k8s.io", "CSINode"),
    ("storageclasses", "storage.k8s.io", "StorageClass"),
    ("volumeattachments", "storage.k8s.io", "VolumeAttachment"),
];

/// The kind of `resource` (a plural, lowercase name) in `group`; `None`
/// for a resource not in the table. An empty `group` matches the resource
/// in any group (Falco's `ka.target.resource` carries no group).
pub fn kind_of(resource: &str, group: Option<&str>) -> Option<&'static str> {
    BUILT_IN
        .iter()
        .find(|(r, g, _)| *r == resource && group.is_none_or(|want| want == *g))
        .map(|(_, _, kind)| *kind)
}

/// The kind of `resource`, or the resource name itself when unknown.
pub fn kind_or_resource<'a>(resource: &'a str, group: Option<&str>) -> &'a str {
    kind_of(resource, group).unwrap_or(resource)
}

/// The API group of a built-in resource (`""` for core), when known.
pub fn group_of(resource: &str) -> Option<&'static str> {
    BUILT_IN
        .iter()
        .find(|(r, _, _)| *r == resource)
        .map(|(_, g, _)| *g)
}

/// `group/version`, or `version` alone for the core group.
pub fn api_version(group: &str, version: &str) -> String {
    match (group, version) {
        (_, "") => String::new(),
        ("", v) => v.to_string(),
        (g, v) => format!("{g}/{v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_resources_have_their_kind_and_group() {
        assert_eq!(kind_of("pods", Some("")), Some("Pod"));
        assert_eq!(kind_of("pods", None), Some("Pod"));
        assert_eq!(kind_of("pods", Some("apps")), None, "wrong group");
        assert_eq!(
            kind_of("clusterrolebindings", Some("rbac.authorization.k8s.io")),
            Some("ClusterRoleBinding")
        );
        assert_eq!(kind_of("serviceaccounts", None), Some("ServiceAccount"));
        assert_eq!(group_of("volumeattachments"), Some("storage.k8s.io"));
        assert_eq!(group_of("secrets"), Some(""));
        assert_eq!(group_of("nodepools"), None);
    }

    #[test]
    fn unknown_resources_keep_their_plural_name() {
        assert_eq!(kind_or_resource("nodepools", None), "nodepools");
        assert_eq!(kind_or_resource("deployments", None), "Deployment");
    }

    #[test]
    fn api_versions_join_group_and_version() {
        assert_eq!(api_version("", "v1"), "v1");
        assert_eq!(
            api_version("rbac.authorization.k8s.io", "v1"),
            "rbac.authorization.k8s.io/v1"
        );
        assert_eq!(api_version("apps", ""), "");
    }

    #[test]
    fn the_table_has_no_duplicate_resource_in_a_group() {
        let mut seen = std::collections::HashSet::new();
        for (r, g, _) in BUILT_IN {
            assert!(seen.insert((r, g)), "{g}/{r}");
        }
    }
}
