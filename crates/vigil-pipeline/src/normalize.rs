//! Turns a Kubernetes Event into an Observation's content: category,
//! severity and `eventType` from the reason table below, the resource, the
//! event time and the details. It does not decide whether an event passes
//! (filter) nor who it is for (enrich).
//!
//! Rules for one reason are tried in order; a rule with "message contains"
//! applies only when the message contains that text (ASCII case-insensitive).
//! A reason not in the table is `operations` / `medium` /
//! `warning_<snake_reason>` for a Warning and `operations` / `info` /
//! `normal_<snake_reason>` for an allowed Normal event (`eventType` is cut to
//! 63 characters of `[a-z0-9_]`).
//!
//! | reason | message contains | category | severity | eventType | note |
//! | --- | --- | --- | --- | --- | --- |
//! | `BackOff` | `pulling image` | operations | high | `image_pull_failed` | kubelet: back-off pulling an image |
//! | `BackOff` |  | operations | high | `pod_backoff` | kubelet: back-off restarting a failed container |
//! | `CrashLoopBackOff` |  | operations | high | `pod_backoff` | container restarting in a loop |
//! | `ErrImagePull` |  | operations | high | `image_pull_failed` |  |
//! | `ImagePullBackOff` |  | operations | high | `image_pull_failed` |  |
//! | `ErrImageNeverPull` |  | operations | high | `image_pull_failed` | pull policy Never, image absent |
//! | `InvalidImageName` |  | operations | high | `image_pull_failed` |  |
//! | `Failed` | `pull` | operations | high | `image_pull_failed` | kubelet: `Failed to pull image ...` |
//! | `Failed` |  | operations | high | `container_failed` | kubelet: any other container failure |
//! | `OOMKilling` |  | operations | high | `oom_killed` | kernel OOM killer (node-problem-detector) |
//! | `OOMKilled` |  | operations | high | `oom_killed` |  |
//! | `SystemOOM` |  | operations | high | `oom_killed` | kubelet: system OOM on the node |
//! | `Unhealthy` |  | operations | medium | `probe_failed` | liveness/readiness/startup probe failed |
//! | `ProbeWarning` |  | operations | low | `probe_warning` |  |
//! | `Killing` |  | operations | low | `container_killed` | Normal: container being stopped |
//! | `Preempted` |  | operations | medium | `pod_preempted` | Normal: preempted by a higher-priority pod |
//! | `Evicted` |  | operations | high | `pod_evicted` | kubelet: node-pressure eviction |
//! | `TerminatingEvictedPod` |  | operations | medium | `pod_evicted` | node lifecycle: taint eviction |
//! | `TaintManagerEviction` |  | operations | medium | `pod_evicted` |  |
//! | `FailedKillPod` |  | operations | high | `pod_kill_failed` |  |
//! | `FailedPreStopHook` |  | operations | medium | `lifecycle_hook_failed` |  |
//! | `FailedPostStartHook` |  | operations | medium | `lifecycle_hook_failed` |  |
//! | `ExceededGracePeriod` |  | operations | medium | `grace_period_exceeded` |  |
//! | `FailedSync` |  | operations | medium | `pod_sync_failed` |  |
//! | `FailedCreatePodSandBox` |  | operations | high | `pod_sandbox_failed` |  |
//! | `FailedPodSandBoxStatus` |  | operations | high | `pod_sandbox_failed` |  |
//! | `SandboxChanged` |  | operations | low | `pod_sandbox_changed` | Normal: sandbox recreated |
//! | `NetworkNotReady` |  | operations | high | `network_not_ready` | CNI not ready on the node |
//! | `DNSConfigForming` |  | operations | low | `dns_config_forming` | resolv.conf limits exceeded |
//! | `FailedMount` |  | operations | high | `volume_mount_failed` |  |
//! | `FailedAttachVolume` |  | operations | high | `volume_mount_failed` |  |
//! | `FailedMapVolume` |  | operations | high | `volume_mount_failed` |  |
//! | `FailedUnMount` |  | operations | medium | `volume_unmount_failed` |  |
//! | `FailedDetachVolume` |  | operations | medium | `volume_unmount_failed` |  |
//! | `VolumeResizeFailed` |  | operations | medium | `volume_resize_failed` |  |
//! | `ProvisioningFailed` |  | operations | high | `volume_provisioning_failed` |  |
//! | `FailedBinding` |  | operations | medium | `volume_binding_failed` |  |
//! | `FailedScheduling` |  | performance | medium | `scheduling_failed` | scheduler: no node fits |
//! | `NotTriggerScaleUp` |  | performance | medium | `scale_up_not_triggered` | cluster-autoscaler |
//! | `FailedGetScale` |  | performance | medium | `autoscaler_failed` | HPA |
//! | `FailedGetResourceMetric` |  | performance | medium | `autoscaler_failed` | HPA |
//! | `FailedComputeMetricsReplicas` |  | performance | medium | `autoscaler_failed` | HPA |
//! | `FailedRescale` |  | performance | medium | `autoscaler_failed` | HPA |
//! | `FailedCreate` |  | operations | high | `create_failed` | controllers: e.g. quota exceeded, admission denied |
//! | `FailedDelete` |  | operations | medium | `delete_failed` |  |
//! | `BackoffLimitExceeded` |  | operations | high | `job_failed` | Job |
//! | `DeadlineExceeded` |  | operations | high | `job_failed` | Job |
//! | `NodeNotReady` |  | operations | critical | `node_not_ready` |  |
//! | `NodeReady` |  | operations | info | `node_ready` |  |
//! | `NodeNotSchedulable` |  | operations | low | `node_not_schedulable` | cordoned |
//! | `NodeSchedulable` |  | operations | info | `node_schedulable` | uncordoned |
//! | `Rebooted` |  | operations | high | `node_rebooted` |  |
//! | `RegisteredNode` |  | operations | info | `node_registered` |  |
//! | `RemovingNode` |  | operations | medium | `node_removing` |  |
//! | `DeletingNode` |  | operations | medium | `node_deleting` |  |
//! | `NodeHasDiskPressure` |  | operations | high | `node_disk_pressure` |  |
//! | `NodeHasInsufficientMemory` |  | operations | high | `node_memory_pressure` |  |
//! | `NodeHasInsufficientPID` |  | operations | high | `node_pid_pressure` |  |
//! | `EvictionThresholdMet` |  | operations | high | `node_eviction_threshold_met` |  |
//! | `FreeDiskSpaceFailed` |  | operations | high | `node_disk_cleanup_failed` |  |
//! | `ImageGCFailed` |  | operations | medium | `image_gc_failed` |  |
//! | `ContainerGCFailed` |  | operations | medium | `container_gc_failed` |  |
//! | `InvalidDiskCapacity` |  | operations | medium | `node_invalid_disk_capacity` |  |
//! | `KubeletSetupFailed` |  | operations | critical | `kubelet_setup_failed` |  |
//! | `CIDRNotAvailable` |  | operations | high | `node_cidr_unavailable` | node IPAM |
//! | `KernelDeadlock` |  | operations | critical | `node_kernel_deadlock` | node-problem-detector |
//! | `KernelOops` |  | operations | high | `node_kernel_oops` | node-problem-detector |
//! | `TaskHung` |  | operations | high | `node_task_hung` | node-problem-detector |
//! | `SyncLoadBalancerFailed` |  | operations | high | `load_balancer_sync_failed` | service controller |
//! | `FailedToUpdateEndpoint` |  | operations | medium | `endpoint_update_failed` |  |
//! | `FailedToUpdateEndpointSlices` |  | operations | medium | `endpoint_update_failed` |  |

use crate::event::KubeEvent;
use foldhash::fast::RandomState;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use vigil_model::{Category, ObservationSpec, ResourceRef, Severity};

/// Longest `eventType` the Observation schema accepts.
pub const MAX_EVENT_TYPE_LEN: usize = 63;

/// One row of the reason table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasonRule {
    pub reason: &'static str,
    /// The rule applies only if the message contains this (ASCII case-insensitive).
    pub message_contains: Option<&'static str>,
    pub category: Category,
    pub severity: Severity,
    pub event_type: &'static str,
}

const fn row(
    reason: &'static str,
    message_contains: Option<&'static str>,
    category: Category,
    severity: Severity,
    event_type: &'static str,
) -> ReasonRule {
    ReasonRule {
        reason,
        message_contains,
        category,
        severity,
        event_type,
    }
}

/// The reason table, as rendered in the module documentation. Rows for one
/// reason are adjacent, the most specific first.
#[rustfmt::skip]
pub const REASON_TABLE: &[ReasonRule] = &[
    row("BackOff", Some("pulling image"), Category::Operations, Severity::High, "image_pull_failed"),
    row("BackOff", None, Category::Operations, Severity::High, "pod_backoff"),
    row("CrashLoopBackOff", None, Category::Operations, Severity::High, "pod_backoff"),
    row("ErrImagePull", None, Category::Operations, Severity::High, "image_pull_failed"),
    row("ImagePullBackOff", None, Category::Operations, Severity::High, "image_pull_failed"),
    row("ErrImageNeverPull", None, Category::Operations, Severity::High, "image_pull_failed"),
    row("InvalidImageName", None, Category::Operations, Severity::High, "image_pull_failed"),
    row("Failed", Some("pull"), Category::Operations, Severity::High, "image_pull_failed"),
    row("Failed", None, Category::Operations, Severity::High, "container_failed"),
    row("OOMKilling", None, Category::Operations, Severity::High, "oom_killed"),
    row("OOMKilled", None, Category::Operations, Severity::High, "oom_killed"),
    row("SystemOOM", None, Category::Operations, Severity::High, "oom_killed"),
    row("Unhealthy", None, Category::Operations, Severity::Medium, "probe_failed"),
    row("ProbeWarning", None, Category::Operations, Severity::Low, "probe_warning"),
    row("Killing", None, Category::Operations, Severity::Low, "container_killed"),
    row("Preempted", None, Category::Operations, Severity::Medium, "pod_preempted"),
    row("Evicted", None, Category::Operations, Severity::High, "pod_evicted"),
    row("TerminatingEvictedPod", None, Category::Operations, Severity::Medium, "pod_evicted"),
    row("TaintManagerEviction", None, Category::Operations, Severity::Medium, "pod_evicted"),
    row("FailedKillPod", None, Category::Operations, Severity::High, "pod_kill_failed"),
    row("FailedPreStopHook", None, Category::Operations, Severity::Medium, "lifecycle_hook_failed"),
    row("FailedPostStartHook", None, Category::Operations, Severity::Medium, "lifecycle_hook_failed"),
    row("ExceededGracePeriod", None, Category::Operations, Severity::Medium, "grace_period_exceeded"),
    row("FailedSync", None, Category::Operations, Severity::Medium, "pod_sync_failed"),
    row("FailedCreatePodSandBox", None, Category::Operations, Severity::High, "pod_sandbox_failed"),
    row("FailedPodSandBoxStatus", None, Category::Operations, Severity::High, "pod_sandbox_failed"),
    row("SandboxChanged", None, Category::Operations, Severity::Low, "pod_sandbox_changed"),
    row("NetworkNotReady", None, Category::Operations, Severity::High, "network_not_ready"),
    row("DNSConfigForming", None, Category::Operations, Severity::Low, "dns_config_forming"),
    row("FailedMount", None, Category::Operations, Severity::High, "volume_mount_failed"),
    row("FailedAttachVolume", None, Category::Operations, Severity::High, "volume_mount_failed"),
    row("FailedMapVolume", None, Category::Operations, Severity::High, "volume_mount_failed"),
    row("FailedUnMount", None, Category::Operations, Severity::Medium, "volume_unmount_failed"),
    row("FailedDetachVolume", None, Category::Operations, Severity::Medium, "volume_unmount_failed"),
    row("VolumeResizeFailed", None, Category::Operations, Severity::Medium, "volume_resize_failed"),
    row("ProvisioningFailed", None, Category::Operations, Severity::High, "volume_provisioning_failed"),
    row("FailedBinding", None, Category::Operations, Severity::Medium, "volume_binding_failed"),
    row("FailedScheduling", None, Category::Performance, Severity::Medium, "scheduling_failed"),
    row("NotTriggerScaleUp", None, Category::Performance, Severity::Medium, "scale_up_not_triggered"),
    row("FailedGetScale", None, Category::Performance, Severity::Medium, "autoscaler_failed"),
    row("FailedGetResourceMetric", None, Category::Performance, Severity::Medium, "autoscaler_failed"),
    row("FailedComputeMetricsReplicas", None, Category::Performance, Severity::Medium, "autoscaler_failed"),
    row("FailedRescale", None, Category::Performance, Severity::Medium, "autoscaler_failed"),
    row("FailedCreate", None, Category::Operations, Severity::High, "create_failed"),
    row("FailedDelete", None, Category::Operations, Severity::Medium, "delete_failed"),
    row("BackoffLimitExceeded", None, Category::Operations, Severity::High, "job_failed"),
    row("DeadlineExceeded", None, Category::Operations, Severity::High, "job_failed"),
    row("NodeNotReady", None, Category::Operations, Severity::Critical, "node_not_ready"),
    row("NodeReady", None, Category::Operations, Severity::Info, "node_ready"),
    row("NodeNotSchedulable", None, Category::Operations, Severity::Low, "node_not_schedulable"),
    row("NodeSchedulable", None, Category::Operations, Severity::Info, "node_schedulable"),
    row("Rebooted", None, Category::Operations, Severity::High, "node_rebooted"),
    row("RegisteredNode", None, Category::Operations, Severity::Info, "node_registered"),
    row("RemovingNode", None, Category::Operations, Severity::Medium, "node_removing"),
    row("DeletingNode", None, Category::Operations, Severity::Medium, "node_deleting"),
    row("NodeHasDiskPressure", None, Category::Operations, Severity::High, "node_disk_pressure"),
    row("NodeHasInsufficientMemory", None, Category::Operations, Severity::High, "node_memory_pressure"),
    row("NodeHasInsufficientPID", None, Category::Operations, Severity::High, "node_pid_pressure"),
    row("EvictionThresholdMet", None, Category::Operations, Severity::High, "node_eviction_threshold_met"),
    row("FreeDiskSpaceFailed", None, Category::Operations, Severity::High, "node_disk_cleanup_failed"),
    row("ImageGCFailed", None, Category::Operations, Severity::Medium, "image_gc_failed"),
    row("ContainerGCFailed", None, Category::Operations, Severity::Medium, "container_gc_failed"),
    row("InvalidDiskCapacity", None, Category::Operations, Severity::Medium, "node_invalid_disk_capacity"),
    row("KubeletSetupFailed", None, Category::Operations, Severity::Critical, "kubelet_setup_failed"),
    row("CIDRNotAvailable", None, Category::Operations, Severity::High, "node_cidr_unavailable"),
    row("KernelDeadlock", None, Category::Operations, Severity::Critical, "node_kernel_deadlock"),
    row("KernelOops", None, Category::Operations, Severity::High, "node_kernel_oops"),
    row("TaskHung", None, Category::Operations, Severity::High, "node_task_hung"),
    row("SyncLoadBalancerFailed", None, Category::Operations, Severity::High, "load_balancer_sync_failed"),
    row("FailedToUpdateEndpoint", None, Category::Operations, Severity::Medium, "endpoint_update_failed"),
    row("FailedToUpdateEndpointSlices", None, Category::Operations, Severity::Medium, "endpoint_update_failed"),
];

/// What normalize decided for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub category: Category,
    pub severity: Severity,
    pub event_type: Cow<'static, str>,
}

/// The reason table indexed by reason.
#[derive(Debug, Clone)]
pub struct Normalizer {
    /// Reason → the range of its rows in [`REASON_TABLE`].
    by_reason: HashMap<&'static str, (usize, usize), RandomState>,
}

impl Default for Normalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Normalizer {
    pub fn new() -> Self {
        let mut by_reason: HashMap<&'static str, (usize, usize), RandomState> = HashMap::default();
        for (i, rule) in REASON_TABLE.iter().enumerate() {
            by_reason
                .entry(rule.reason)
                .and_modify(|(_, end)| *end = i + 1)
                .or_insert((i, i + 1));
        }
        Self { by_reason }
    }

    /// Category, severity and `eventType` of an event.
    pub fn classify(&self, event: &KubeEvent) -> Classification {
        let rules = self
            .by_reason
            .get(event.reason.as_str())
            .and_then(|&(start, end)| REASON_TABLE.get(start..end))
            .unwrap_or(&[]);
        let matched = rules.iter().find(|r| match r.message_contains {
            Some(needle) => contains_ignore_ascii_case(&event.message, needle),
            None => true,
        });
        if let Some(rule) = matched {
            return Classification {
                category: rule.category,
                severity: rule.severity,
                event_type: Cow::Borrowed(rule.event_type),
            };
        }
        let (prefix, severity) = if event.is_normal() {
            ("normal_", Severity::Info)
        } else {
            ("warning_", Severity::Medium)
        };
        Classification {
            category: Category::Operations,
            severity,
            event_type: Cow::Owned(event_type_for(prefix, &event.reason)),
        }
    }
}

/// `prefix` + the reason in snake case, within the schema's pattern and length.
fn event_type_for(prefix: &str, reason: &str) -> String {
    let snake = snake_case(reason);
    let mut out = format!(
        "{prefix}{}",
        if snake.is_empty() { "unknown" } else { &snake }
    );
    out.truncate(MAX_EVENT_TYPE_LEN);
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// `FailedCreatePodSandBox` → `failed_create_pod_sand_box`, `OOMKilling` →
/// `oom_killing`; anything outside `[A-Za-z0-9]` separates words.
pub fn snake_case(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_ascii_uppercase() && i > 0 && !out.is_empty() && !out.ends_with('_') {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// The Observation content for a classified event.
pub fn observation_spec(
    event: &KubeEvent,
    class: &Classification,
    source: &str,
    ttl_seconds: i64,
) -> ObservationSpec {
    ObservationSpec {
        source: source.to_string(),
        category: class.category,
        severity: class.severity,
        event_type: class.event_type.to_string(),
        resource: resource(event),
        details: Some(details(event)),
        detected_at: event.last_time.map(Time),
        ttl_seconds_after_creation: Some(ttl_seconds),
    }
}

fn resource(event: &KubeEvent) -> Option<ResourceRef> {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let r = &event.regarding;
    let resource = ResourceRef {
        api_version: some(&r.api_version),
        kind: some(&r.kind),
        name: some(&r.name),
        namespace: some(&r.namespace),
    };
    (resource != ResourceRef::default()).then_some(resource)
}

/// The event as recorded: always reason, message, count, eventName and type;
/// times and reporter only when known.
fn details(event: &KubeEvent) -> Value {
    let mut d = Map::new();
    d.insert("reason".into(), event.reason.clone().into());
    d.insert("message".into(), event.message.clone().into());
    d.insert("count".into(), event.count.into());
    d.insert("type".into(), event.type_.clone().into());
    let event_name = match event.namespace.as_str() {
        "" => event.name.clone(),
        ns => format!("{ns}/{}", event.name),
    };
    d.insert("eventName".into(), event_name.into());
    let times = [
        ("firstTime", event.first_time),
        ("lastTime", event.last_time),
    ];
    for (key, time) in times {
        if let Some(t) = time {
            d.insert(key.into(), t.to_string().into());
        }
    }
    let reporters = [
        ("reportingController", &event.reporting_controller),
        ("reportingInstance", &event.reporting_instance),
    ];
    for (key, value) in reporters {
        if !value.is_empty() {
            d.insert(key.into(), value.clone().into());
        }
    }
    Value::Object(d)
}

#[cfg(test)]
mod tests;
