//! Running it day to day: recommended and valid labels, rollout strategies
//! without downtime, a metrics endpoint someone scrapes, and API versions
//! the cluster still serves.

use super::{Outcome, Rule};
use crate::catalogue::{Check, Pillar};
use crate::index::Index;
use crate::object::{Manifest, Object, Workload};
use crate::util::selector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use vigil_model::Severity;

pub(crate) const RULES: &[Rule] = &[
    Rule {
        check: Check {
            id: "operations.recommended-labels",
            pillar: Pillar::OperationalExcellence,
            severity: Severity::Low,
            applies_to: "workloads, Service",
            description: "Objects carry the recommended labels app.kubernetes.io/name and app.kubernetes.io/instance, so tools can group them.",
            remediation: "Add `app.kubernetes.io/name` and `app.kubernetes.io/instance` (and ideally version, component, part-of, managed-by) to metadata.labels.",
            polaris: &[],
            kube_score: &[],
        },
        eval: recommended_labels,
    },
    Rule {
        check: Check {
            id: "operations.label-values",
            pillar: Pillar::OperationalExcellence,
            severity: Severity::Low,
            applies_to: "every object (metadata and pod template labels)",
            description: "Label keys and values are valid: value at most 63 characters of [A-Za-z0-9-_.] starting and ending alphanumeric; key an optional DNS prefix and a name of the same form.",
            remediation: "Fix the label; the API server rejects the object as written.",
            polaris: &[],
            kube_score: &["label-values"],
        },
        eval: label_values,
    },
    Rule {
        check: Check {
            id: "operations.rollout-strategy",
            pillar: Pillar::OperationalExcellence,
            severity: Severity::Low,
            applies_to: "Deployment, StatefulSet, DaemonSet",
            description: "Rollouts replace pods gradually: no Recreate or OnDelete strategy, no maxUnavailable of 100% or of every replica.",
            remediation: "Use RollingUpdate with `maxUnavailable` below the replica count (and `maxSurge` > 0 when maxUnavailable is 0).",
            polaris: &[],
            kube_score: &["deployment-strategy"],
        },
        eval: rollout_strategy,
    },
    Rule {
        check: Check {
            id: "operations.metrics",
            pillar: Pillar::OperationalExcellence,
            severity: Severity::Low,
            applies_to: "workloads except Job and CronJob (monitors in the input)",
            description: "Long-running pods are scraped: a prometheus.io/scrape annotation, a PodMonitor, or a ServiceMonitor on a Service that selects them.",
            remediation: "Expose /metrics and add a ServiceMonitor or PodMonitor (or `prometheus.io/scrape: \"true\"` and `prometheus.io/port` on the pod template).",
            polaris: &[],
            kube_score: &[],
        },
        eval: metrics,
    },
    Rule {
        check: Check {
            id: "operations.removed-api",
            pillar: Pillar::OperationalExcellence,
            severity: Severity::High,
            applies_to: "every object",
            description: "Objects use API versions the API server still serves (not extensions/v1beta1, policy/v1beta1, batch/v1beta1, autoscaling/v2beta2, ...).",
            remediation: "Move the manifest to the current API version (`kubectl convert` or the version named in the message).",
            polaris: &[],
            kube_score: &["stable-version"],
        },
        eval: removed_api,
    },
];

const RECOMMENDED: [&str; 2] = ["app.kubernetes.io/name", "app.kubernetes.io/instance"];

fn recommended_labels(m: &Manifest, _: &Index<'_>) -> Outcome {
    if m.workload().is_none() && !matches!(m.object, Object::Service(_)) {
        return Outcome::Skip;
    }
    let labels = m.meta().labels.as_ref();
    let missing: Vec<&str> = RECOMMENDED
        .into_iter()
        .filter(|k| labels.is_none_or(|l| !l.contains_key(*k)))
        .collect();
    Outcome::pass_unless(!missing.is_empty(), || {
        format!("missing label {}", missing.join(", "))
    })
}

fn valid_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    s.len() <= 63
        && bytes.first().is_none_or(u8::is_ascii_alphanumeric)
        && bytes.last().is_none_or(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn valid_key(key: &str) -> bool {
    let (prefix, name) = key
        .rsplit_once('/')
        .map_or((None, key), |(p, n)| (Some(p), n));
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part.len() <= 63
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && valid_name(name)
}

fn label_problems(labels: Option<&BTreeMap<String, String>>, at: &str, out: &mut Vec<String>) {
    for (k, v) in labels.into_iter().flatten() {
        if !valid_key(k) {
            out.push(format!("{at} label key {k:?} is invalid"));
        } else if !valid_name(v) {
            out.push(format!("{at} label {k} has invalid value {v:?}"));
        }
    }
}

fn label_values(m: &Manifest, _: &Index<'_>) -> Outcome {
    let mut found = Vec::new();
    label_problems(m.meta().labels.as_ref(), "metadata", &mut found);
    if let Some(w) = m
        .workload()
        .filter(|w| !std::ptr::eq(w.meta, w.template_meta.unwrap_or(w.meta)))
    {
        label_problems(
            w.template_meta.and_then(|t| t.labels.as_ref()),
            "pod template",
            &mut found,
        );
    }
    Outcome::from_findings(found)
}

/// Whether `maxUnavailable` lets every replica go at once: 100% always, a
/// number when it reaches a (known, multi-pod) replica count.
fn all_unavailable(v: &IntOrString, replicas: Option<i32>) -> bool {
    match v {
        IntOrString::Int(n) => replicas.is_some_and(|r| r > 1 && *n >= r),
        IntOrString::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<f64>().ok())
            .is_some_and(|p| p >= 100.0),
    }
}

fn rollout_strategy(m: &Manifest, _: &Index<'_>) -> Outcome {
    let (ty, max_unavailable, replicas) = match &m.object {
        Object::Deployment(d) => {
            let strategy = d.spec.strategy.as_ref();
            (
                strategy.and_then(|s| s.type_.clone()),
                strategy
                    .and_then(|s| s.rolling_update.as_ref())
                    .and_then(|r| r.max_unavailable.clone()),
                d.spec.replicas,
            )
        }
        Object::StatefulSet(s) => (
            s.spec
                .update_strategy
                .as_ref()
                .and_then(|u| u.type_.clone()),
            None,
            None,
        ),
        Object::DaemonSet(d) => (
            d.spec
                .update_strategy
                .as_ref()
                .and_then(|u| u.type_.clone()),
            None,
            None,
        ),
        _ => return Outcome::Skip,
    };
    match ty.as_deref() {
        Some("Recreate") => {
            Outcome::fail("strategy Recreate stops every pod before new ones start")
        }
        Some("OnDelete") => {
            Outcome::fail("updateStrategy OnDelete only updates pods deleted by hand")
        }
        _ => {
            let all_down = max_unavailable
                .as_ref()
                .is_some_and(|v| all_unavailable(v, replicas));
            Outcome::pass_unless(all_down, || {
                "rollingUpdate.maxUnavailable lets every replica go down at once".into()
            })
        }
    }
}

/// Whether a ServiceMonitor / PodMonitor `monitor` watches namespace `ns`
/// and selects labels `labels`.
fn monitor_selects(monitor: &Manifest, ns: &str, labels: &BTreeMap<String, String>) -> bool {
    let Object::Other { value, .. } = &monitor.object else {
        return false;
    };
    let spec = &value["spec"];
    let ns_sel = &spec["namespaceSelector"];
    let in_ns = ns_sel["any"].as_bool() == Some(true)
        || ns_sel["matchNames"]
            .as_array()
            .map_or(monitor.effective_namespace() == ns, |names| {
                names.iter().any(|n| n == ns)
            });
    let sel: Option<LabelSelector> = serde_json::from_value(spec["selector"].clone()).ok();
    in_ns && sel.is_some_and(|s| selector::matches(&s, labels))
}

fn scraped(m: &Manifest, w: &Workload<'_>, ix: &Index<'_>) -> bool {
    let ns = m.effective_namespace();
    let annotated = w
        .pod_annotations()
        .get("prometheus.io/scrape")
        .is_some_and(|v| v == "true");
    let labels = w.pod_labels();
    let by_pod_monitor = ix
        .monitors()
        .iter()
        .any(|mon| mon.kind == "PodMonitor" && monitor_selects(mon, ns, labels));
    let by_service_monitor = ix.services_for(ns, labels).any(|svc| {
        let svc_labels = svc.metadata.labels.clone().unwrap_or_default();
        ix.monitors()
            .iter()
            .any(|mon| mon.kind == "ServiceMonitor" && monitor_selects(mon, ns, &svc_labels))
    });
    annotated || by_pod_monitor || by_service_monitor
}

fn metrics(m: &Manifest, ix: &Index<'_>) -> Outcome {
    let Some(w) = m.workload().filter(|w| !w.kind.is_batch()) else {
        return Outcome::Skip;
    };
    Outcome::pass_unless(!scraped(m, &w, ix), || {
        "no prometheus.io/scrape annotation, PodMonitor or ServiceMonitor covers these pods".into()
    })
}

/// API versions removed from Kubernetes, with the release that removed them.
const REMOVED: &[(&str, &str)] = &[
    ("extensions/v1beta1", "1.22 (workloads 1.16)"),
    ("apps/v1beta1", "1.16"),
    ("apps/v1beta2", "1.16"),
    ("rbac.authorization.k8s.io/v1alpha1", "1.22"),
    ("rbac.authorization.k8s.io/v1beta1", "1.22"),
    ("networking.k8s.io/v1beta1", "1.22"),
    ("admissionregistration.k8s.io/v1beta1", "1.22"),
    ("apiextensions.k8s.io/v1beta1", "1.22"),
    ("apiregistration.k8s.io/v1beta1", "1.22"),
    ("certificates.k8s.io/v1beta1", "1.22"),
    ("coordination.k8s.io/v1beta1", "1.22"),
    ("scheduling.k8s.io/v1beta1", "1.22"),
    ("storage.k8s.io/v1alpha1", "1.24"),
    ("policy/v1beta1", "1.25"),
    ("batch/v1beta1", "1.25"),
    ("batch/v2alpha1", "1.21"),
    ("autoscaling/v2beta1", "1.25"),
    ("discovery.k8s.io/v1beta1", "1.25"),
    ("events.k8s.io/v1beta1", "1.25"),
    ("node.k8s.io/v1beta1", "1.25"),
    ("autoscaling/v2beta2", "1.26"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "1.26"),
    ("flowcontrol.apiserver.k8s.io/v1beta2", "1.29"),
    ("flowcontrol.apiserver.k8s.io/v1beta3", "1.32"),
];

fn removed_api(m: &Manifest, _: &Index<'_>) -> Outcome {
    match REMOVED.iter().find(|(v, _)| *v == m.api_version) {
        Some((v, when)) => {
            Outcome::fail(format!("{v} {} was removed in Kubernetes {when}", m.kind))
        }
        None => Outcome::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_and_values() {
        assert!(valid_key("app.kubernetes.io/name"));
        assert!(valid_key("tier"));
        assert!(!valid_key("Example.com/x"));
        assert!(!valid_key("/x"));
        assert!(!valid_key("a/"));
        assert!(valid_name(""));
        assert!(valid_name("v1.2_3-x"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("x y"));
        assert!(!valid_name(&"a".repeat(64)));
    }
}
