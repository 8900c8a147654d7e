//! Which events may pass, decided as early and as cheaply as possible. Owns
//! the rules (type, namespace, kind, reason, minimum severity) and the
//! Normal-reason allow-list; it does not classify events (that is normalize).
//!
//! Records of the push-based sources (Falco, audit) get the namespace and
//! minimum-severity rules only: type, kind, reason and the Normal allow-list
//! are about Kubernetes Events.

use crate::event::KubeEvent;
use crate::glob;
use crate::pipeline::DropReason;
use foldhash::fast::RandomState;
use std::collections::HashSet;
use vigil_model::Severity;

/// `type=Normal` reasons worth an Observation: node lifecycle and health,
/// pods killed, preempted or evicted. Every other Normal event (Scheduled,
/// Pulled, Created, Started, ScalingReplicaSet, SuccessfulCreate, ...) is
/// routine and dropped as [`DropReason::NormalType`].
///
/// | reason | emitted by | why it matters |
/// | --- | --- | --- |
/// | `NodeReady` / `NodeNotReady` | kubelet, node controller | node health flaps |
/// | `NodeNotSchedulable` | kubelet | node cordoned |
/// | `Rebooted` | kubelet | node rebooted (boot id changed) |
/// | `RegisteredNode` / `RemovingNode` / `DeletingNode` | node controller | nodes joining and leaving |
/// | `NodeHasDiskPressure` / `NodeHasInsufficientMemory` / `NodeHasInsufficientPID` | kubelet | node pressure conditions |
/// | `Killing` | kubelet | a container is being stopped |
/// | `Preempted` | scheduler | a pod evicted for a higher-priority one |
/// | `Evicted` / `TerminatingEvictedPod` / `TaintManagerEviction` | kubelet, node lifecycle | pods evicted |
/// | `SandboxChanged` | kubelet | the pod sandbox was recreated (network restart) |
pub const DEFAULT_NORMAL_ALLOW: &[&str] = &[
    "NodeReady",
    "NodeNotReady",
    "NodeNotSchedulable",
    "Rebooted",
    "RegisteredNode",
    "RemovingNode",
    "DeletingNode",
    "NodeHasDiskPressure",
    "NodeHasInsufficientMemory",
    "NodeHasInsufficientPID",
    "Killing",
    "Preempted",
    "Evicted",
    "TerminatingEvictedPod",
    "TaintManagerEviction",
    "SandboxChanged",
];

/// Which events may pass. Defaults: Warning always; Normal only for [`DEFAULT_NORMAL_ALLOW`].
///
/// Namespace rules are globs (`*`, `?`) on the regarding object's namespace,
/// falling back to the Event's own (Node events live in `default`). Kinds
/// compare case-insensitively, reasons exactly. An empty include list selects
/// everything; excludes win over includes. A Normal reason must be on
/// `normal_allow` even if `include_reasons` names it.
#[derive(Debug, Clone)]
pub struct FilterConfig {
    pub normal_allow: Vec<String>,
    pub include_namespaces: Vec<String>,
    pub exclude_namespaces: Vec<String>,
    pub include_kinds: Vec<String>,
    pub include_reasons: Vec<String>,
    pub exclude_reasons: Vec<String>,
    pub min_severity: Option<vigil_model::Severity>,
}

impl Default for FilterConfig {
    /// The recommended filter: [`DEFAULT_NORMAL_ALLOW`], nothing else restricted.
    fn default() -> Self {
        Self {
            normal_allow: DEFAULT_NORMAL_ALLOW.iter().map(|s| s.to_string()).collect(),
            include_namespaces: Vec::new(),
            exclude_namespaces: Vec::new(),
            include_kinds: Vec::new(),
            include_reasons: Vec::new(),
            exclude_reasons: Vec::new(),
            min_severity: None,
        }
    }
}

/// A [`FilterConfig`] prepared for per-event checks (reasons in hash sets).
#[derive(Debug, Clone)]
pub struct EventFilter {
    normal_allow: HashSet<String, RandomState>,
    include_namespaces: Vec<String>,
    exclude_namespaces: Vec<String>,
    include_kinds: Vec<String>,
    include_reasons: HashSet<String, RandomState>,
    exclude_reasons: HashSet<String, RandomState>,
    min_severity: Option<Severity>,
}

impl EventFilter {
    pub fn new(config: &FilterConfig) -> Self {
        let set = |v: &[String]| v.iter().cloned().collect::<HashSet<_, RandomState>>();
        Self {
            normal_allow: set(&config.normal_allow),
            include_namespaces: config.include_namespaces.clone(),
            exclude_namespaces: config.exclude_namespaces.clone(),
            include_kinds: config.include_kinds.clone(),
            include_reasons: set(&config.include_reasons),
            exclude_reasons: set(&config.exclude_reasons),
            min_severity: config.min_severity,
        }
    }

    /// The rules that need no classification: type, namespace, kind, reason,
    /// checked in that order; the first that fails names the drop.
    pub fn check_early(&self, event: &KubeEvent) -> Result<(), DropReason> {
        if event.is_normal() && !self.normal_allow.contains(event.reason.as_str()) {
            return Err(DropReason::NormalType);
        }
        self.check_namespace(event.effective_namespace())?;
        let kind = event.regarding.kind.as_str();
        if !(self.include_kinds.is_empty()
            || self
                .include_kinds
                .iter()
                .any(|k| k.eq_ignore_ascii_case(kind)))
        {
            return Err(DropReason::Kind);
        }
        let reason = event.reason.as_str();
        if self.exclude_reasons.contains(reason)
            || !(self.include_reasons.is_empty() || self.include_reasons.contains(reason))
        {
            return Err(DropReason::Reason);
        }
        Ok(())
    }

    /// The namespace rules alone: what applies to records of every source
    /// (Falco alerts, audit events); `""` is a record about no namespace,
    /// which an include list does not select.
    pub fn check_namespace(&self, namespace: &str) -> Result<(), DropReason> {
        if glob::any_match(&self.exclude_namespaces, namespace)
            || !(self.include_namespaces.is_empty()
                || glob::any_match(&self.include_namespaces, namespace))
        {
            return Err(DropReason::Namespace);
        }
        Ok(())
    }

    /// The minimum-severity rule, applied once normalize has classified the event.
    pub fn check_severity(&self, severity: Severity) -> Result<(), DropReason> {
        match self.min_severity {
            Some(min) if severity < min => Err(DropReason::Severity),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ObjectRef;

    fn event(type_: &str, reason: &str, kind: &str, namespace: &str) -> KubeEvent {
        KubeEvent {
            type_: type_.into(),
            reason: reason.into(),
            namespace: "default".into(),
            regarding: ObjectRef {
                kind: kind.into(),
                namespace: namespace.into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn check(config: FilterConfig, e: &KubeEvent) -> Result<(), DropReason> {
        EventFilter::new(&config).check_early(e)
    }

    #[test]
    fn the_default_allow_list_names_the_required_normal_reasons() {
        for reason in ["NodeReady", "NodeNotReady", "Killing", "Preempted"] {
            assert!(DEFAULT_NORMAL_ALLOW.contains(&reason), "{reason}");
        }
        assert_eq!(
            FilterConfig::default().normal_allow.len(),
            DEFAULT_NORMAL_ALLOW.len()
        );
    }

    #[test]
    fn normal_events_pass_only_when_allowed_and_warnings_always() {
        let d = FilterConfig::default;
        assert_eq!(
            check(
                d(),
                &event("Normal", "ScalingReplicaSet", "Deployment", "shop")
            ),
            Err(DropReason::NormalType)
        );
        assert_eq!(
            check(d(), &event("Normal", "Pulled", "Pod", "shop")),
            Err(DropReason::NormalType)
        );
        assert_eq!(
            check(d(), &event("Normal", "NodeNotReady", "Node", "")),
            Ok(())
        );
        assert_eq!(
            check(d(), &event("normal", "Killing", "Pod", "shop")),
            Ok(())
        );
        assert_eq!(
            check(d(), &event("Warning", "BackOff", "Pod", "shop")),
            Ok(())
        );
        assert_eq!(
            check(d(), &event("", "Whatever", "Pod", "shop")),
            Ok(()),
            "no type counts as Warning"
        );
        let none = FilterConfig {
            normal_allow: vec![],
            ..d()
        };
        assert_eq!(
            check(none, &event("Normal", "NodeNotReady", "Node", "")),
            Err(DropReason::NormalType)
        );
    }

    #[test]
    fn namespace_globs_include_and_exclude_with_fallback_to_the_event_namespace() {
        let c = FilterConfig {
            include_namespaces: vec!["team-*".into(), "default".into()],
            exclude_namespaces: vec!["team-sandbox-?".into()],
            ..FilterConfig::default()
        };
        assert_eq!(
            check(c.clone(), &event("Warning", "BackOff", "Pod", "team-a")),
            Ok(())
        );
        assert_eq!(
            check(c.clone(), &event("Warning", "BackOff", "Pod", "shop")),
            Err(DropReason::Namespace)
        );
        assert_eq!(
            check(
                c.clone(),
                &event("Warning", "BackOff", "Pod", "team-sandbox-1")
            ),
            Err(DropReason::Namespace)
        );
        assert_eq!(
            check(
                c.clone(),
                &event("Warning", "BackOff", "Pod", "team-sandbox-12")
            ),
            Ok(())
        );
        // A Node has no namespace: its Event's own ("default") decides.
        assert_eq!(check(c, &event("Warning", "Rebooted", "Node", "")), Ok(()));
        let exclude_default = FilterConfig {
            exclude_namespaces: vec!["default".into()],
            ..FilterConfig::default()
        };
        assert_eq!(
            check(exclude_default, &event("Warning", "Rebooted", "Node", "")),
            Err(DropReason::Namespace)
        );
    }

    #[test]
    fn kinds_compare_case_insensitively_and_empty_selects_all() {
        let c = FilterConfig {
            include_kinds: vec!["pod".into(), "Node".into()],
            ..FilterConfig::default()
        };
        assert_eq!(
            check(c.clone(), &event("Warning", "BackOff", "Pod", "shop")),
            Ok(())
        );
        assert_eq!(
            check(c, &event("Warning", "FailedCreate", "ReplicaSet", "shop")),
            Err(DropReason::Kind)
        );
        assert_eq!(
            check(
                FilterConfig::default(),
                &event("Warning", "FailedCreate", "ReplicaSet", "shop")
            ),
            Ok(())
        );
    }

    #[test]
    fn reasons_include_and_exclude_with_exclude_winning() {
        let c = FilterConfig {
            include_reasons: vec!["BackOff".into(), "FailedMount".into()],
            exclude_reasons: vec!["FailedMount".into()],
            ..FilterConfig::default()
        };
        assert_eq!(
            check(c.clone(), &event("Warning", "BackOff", "Pod", "shop")),
            Ok(())
        );
        assert_eq!(
            check(c.clone(), &event("Warning", "FailedMount", "Pod", "shop")),
            Err(DropReason::Reason)
        );
        assert_eq!(
            check(c, &event("Warning", "Unhealthy", "Pod", "shop")),
            Err(DropReason::Reason)
        );
    }

    #[test]
    fn the_first_failing_rule_names_the_drop() {
        let c = FilterConfig {
            exclude_namespaces: vec!["shop".into()],
            include_kinds: vec!["Node".into()],
            ..FilterConfig::default()
        };
        assert_eq!(
            check(c.clone(), &event("Normal", "Pulled", "Pod", "shop")),
            Err(DropReason::NormalType)
        );
        assert_eq!(
            check(c, &event("Warning", "BackOff", "Pod", "shop")),
            Err(DropReason::Namespace)
        );
    }

    #[test]
    fn minimum_severity_drops_only_what_is_below_it() {
        let f = EventFilter::new(&FilterConfig {
            min_severity: Some(Severity::Medium),
            ..FilterConfig::default()
        });
        assert_eq!(f.check_severity(Severity::Low), Err(DropReason::Severity));
        assert_eq!(f.check_severity(Severity::Medium), Ok(()));
        assert_eq!(f.check_severity(Severity::Critical), Ok(()));
        assert_eq!(
            EventFilter::new(&FilterConfig::default()).check_severity(Severity::Info),
            Ok(())
        );
    }
}
