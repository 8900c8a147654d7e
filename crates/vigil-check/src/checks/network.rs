//! Network exposure: pods without a NetworkPolicy, Ingresses without TLS,
//! Services opened on every node's port.

use super::{workload_where, Outcome, Rule};
use crate::catalogue::{Check, Pillar};
use crate::index::Index;
use crate::object::{Manifest, Object};
use vigil_model::Severity;

pub(crate) const RULES: &[Rule] = &[
    Rule {
        check: Check {
            id: "security.network-policy",
            pillar: Pillar::Security,
            severity: Severity::Medium,
            applies_to: "workloads (NetworkPolicies in the input, same namespace)",
            description: "Pods are selected by at least one NetworkPolicy, so their traffic is not open to every pod in the cluster.",
            remediation: "Add a NetworkPolicy whose podSelector matches the pod template's labels (start from default-deny).",
            polaris: &["missingNetworkPolicy"],
            kube_score: &["pod-networkpolicy"],
        },
        eval: network_policy,
    },
    Rule {
        check: Check {
            id: "security.ingress-tls",
            pillar: Pillar::Security,
            severity: Severity::Medium,
            applies_to: "Ingress",
            description: "Ingresses terminate TLS (spec.tls lists their hosts).",
            remediation: "Add `spec.tls` with a certificate Secret for the Ingress's hosts (cert-manager can issue it).",
            polaris: &["tlsSettingsMissing"],
            kube_score: &[],
        },
        eval: ingress_tls,
    },
    Rule {
        check: Check {
            id: "security.service-nodeport",
            pillar: Pillar::Security,
            severity: Severity::Low,
            applies_to: "Service",
            description: "Services are not of type NodePort (a port opened on every node, outside load balancer and firewall rules).",
            remediation: "Use a ClusterIP Service behind an Ingress or Gateway, or a LoadBalancer Service.",
            polaris: &[],
            kube_score: &["service-type"],
        },
        eval: service_nodeport,
    },
];

fn network_policy(m: &Manifest, ix: &Index<'_>) -> Outcome {
    let Some(w) = workload_where(m, |_| true) else {
        return Outcome::Skip;
    };
    let labels = w.pod_labels();
    let covered = ix
        .network_policies_for(m.effective_namespace(), labels)
        .next()
        .is_some();
    Outcome::pass_unless(!covered, || {
        format!(
            "no NetworkPolicy in namespace {} selects these pods",
            m.effective_namespace()
        )
    })
}

fn ingress_tls(m: &Manifest, _: &Index<'_>) -> Outcome {
    let Object::Ingress(ing) = &m.object else {
        return Outcome::Skip;
    };
    let tls = ing
        .spec
        .as_ref()
        .and_then(|s| s.tls.as_ref())
        .is_some_and(|t| !t.is_empty());
    Outcome::pass_unless(!tls, || {
        "spec.tls is empty: traffic is served in clear text".into()
    })
}

fn service_nodeport(m: &Manifest, _: &Index<'_>) -> Outcome {
    let Object::Service(svc) = &m.object else {
        return Outcome::Skip;
    };
    let ty = svc.spec.as_ref().and_then(|s| s.type_.as_deref());
    Outcome::pass_unless(ty == Some("NodePort"), || "type is NodePort".into())
}
