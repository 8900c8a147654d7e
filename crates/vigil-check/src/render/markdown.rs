//! docs/CHECKS.md, generated from the catalogue so it never drifts: every
//! check with its pillar, severity, remediation and Polaris / kube-score
//! equivalents, the Polaris coverage table, how to exempt and configure,
//! and the JSON report's schema (generated from the report types).

use crate::catalogue::{self, Check, Pillar};
use crate::report::{self, Report};
use std::fmt::Write;

/// Polaris's default checks (pkg/config/default.yaml), to show coverage.
pub const POLARIS_DEFAULT_CHECKS: &[&str] = &[
    "deploymentMissingReplicas",
    "priorityClassNotSet",
    "tagNotSpecified",
    "pullPolicyNotAlways",
    "readinessProbeMissing",
    "livenessProbeMissing",
    "metadataAndInstanceMismatched",
    "pdbDisruptionsIsZero",
    "missingPodDisruptionBudget",
    "topologySpreadConstraint",
    "hpaMaxAvailability",
    "hpaMinAvailability",
    "pdbMinAvailableGreaterThanHPAMinReplicas",
    "cpuRequestsMissing",
    "cpuLimitsMissing",
    "memoryRequestsMissing",
    "memoryLimitsMissing",
    "automountServiceAccountToken",
    "hostIPCSet",
    "hostPathSet",
    "hostProcess",
    "hostPIDSet",
    "linuxHardening",
    "missingNetworkPolicy",
    "notReadOnlyRootFilesystem",
    "privilegeEscalationAllowed",
    "procMount",
    "runAsRootAllowed",
    "runAsPrivileged",
    "dangerousCapabilities",
    "insecureCapabilities",
    "hostNetworkSet",
    "hostPortSet",
    "tlsSettingsMissing",
    "sensitiveContainerEnvVar",
    "sensitiveConfigmapContent",
    "clusterrolePodExecAttach",
    "rolePodExecAttach",
    "clusterrolebindingPodExecAttach",
    "rolebindingClusterRolePodExecAttach",
    "rolebindingRolePodExecAttach",
    "clusterrolebindingClusterAdmin",
    "rolebindingClusterAdminClusterRole",
    "rolebindingClusterAdminRole",
];

/// Polaris default checks no vigil check lists as an equivalent, and why.
pub const POLARIS_NOT_MAPPED: &[(&str, &str)] = &[
    (
        "metadataAndInstanceMismatched",
        "not adopted: Helm sets `app.kubernetes.io/instance` to the release name, which differs from object names by design; `operations.recommended-labels` requires the label instead",
    ),
];

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn ids(list: &[&str]) -> String {
    if list.is_empty() {
        "—".to_string()
    } else {
        list.iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn anchor(c: &Check) -> String {
    c.id.replace('.', "-")
}

/// The whole of docs/CHECKS.md.
pub fn catalogue() -> String {
    let mut out = String::new();
    out.push_str(HEADER);
    counts(&mut out);
    out.push_str(RUNNING);
    for pillar in Pillar::ALL {
        pillar_section(&mut out, pillar);
    }
    polaris_coverage(&mut out);
    out.push_str(EXEMPTIONS);
    json_section(&mut out);
    out.push_str(SARIF);
    out
}

fn counts(out: &mut String) {
    out.push_str("| pillar | checks |\n|---|---|\n");
    for p in Pillar::ALL {
        let n = catalogue::checks().filter(|c| c.pillar == p).count();
        let _ = writeln!(out, "| [{}](#{}) | {n} |", p.title(), p.as_str());
    }
    let _ = writeln!(out, "| **total** | **{}** |\n", catalogue::checks().count());
}

fn pillar_section(out: &mut String, pillar: Pillar) {
    let checks: Vec<&Check> = catalogue::checks().filter(|c| c.pillar == pillar).collect();
    let _ = writeln!(
        out,
        "<a id=\"{}\"></a>\n## {}\n",
        pillar.as_str(),
        pillar.title()
    );
    out.push_str(
        "| check | severity | passes when | Polaris | kube-score |\n|---|---|---|---|---|\n",
    );
    for c in &checks {
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | {} | {} | {} | {} |",
            c.id,
            anchor(c),
            c.severity,
            cell(c.description),
            ids(c.polaris),
            ids(c.kube_score)
        );
    }
    out.push('\n');
    for c in checks {
        let _ = writeln!(out, "<a id=\"{}\"></a>\n### `{}`\n", anchor(c), c.id);
        let _ = writeln!(
            out,
            "- **Severity:** {} · **Applies to:** {}",
            c.severity, c.applies_to
        );
        let _ = writeln!(out, "- **Passes when:** {}", c.description);
        let _ = writeln!(out, "- **Fix:** {}", c.remediation);
        let _ = writeln!(
            out,
            "- **Polaris:** {} · **kube-score:** {}\n",
            ids(c.polaris),
            ids(c.kube_score)
        );
    }
}

fn polaris_coverage(out: &mut String) {
    out.push_str("## Polaris coverage\n\nEvery check in Polaris's default configuration, and the vigil check that covers it.\n\n");
    out.push_str("| Polaris check | vigil check |\n|---|---|\n");
    for p in POLARIS_DEFAULT_CHECKS {
        let covering: Vec<String> = catalogue::checks()
            .filter(|c| c.polaris.contains(p))
            .map(|c| format!("[`{}`](#{})", c.id, anchor(c)))
            .collect();
        let text = match POLARIS_NOT_MAPPED.iter().find(|(id, _)| id == p) {
            Some((_, why)) if covering.is_empty() => cell(why),
            _ => covering.join(", "),
        };
        let _ = writeln!(out, "| `{p}` | {text} |");
    }
    out.push('\n');
}

fn json_section(out: &mut String) {
    let schema = schemars::schema_for!(Report);
    let _ = write!(
        out,
        "{JSON_INTRO}`schemaVersion` is `{}`; it changes only when a field is removed or changes meaning.\n\n\
         Scores weigh each result by its effective severity (info {}, low {}, medium {}, high {}, critical {}): \
         `score = round(100 × passed weight / (passed + failed weight))`. Exempt results do not count; a pillar \
         with no applicable check scores `null`.\n\n```json\n{}\n```\n\n",
        report::SCHEMA_VERSION,
        report::weight(vigil_model::Severity::Info),
        report::weight(vigil_model::Severity::Low),
        report::weight(vigil_model::Severity::Medium),
        report::weight(vigil_model::Severity::High),
        report::weight(vigil_model::Severity::Critical),
        serde_json::to_string_pretty(&schema).unwrap_or_default()
    );
}

const HEADER: &str = "<!-- Generated from crates/vigil-check by `vigil check --catalogue markdown > docs/CHECKS.md`; \
a test fails when this file and the code disagree. Edit the code, not this file. -->\n\
# Well-architected checks (`vigil check`)\n\n\
`vigil check` grades Kubernetes objects against a catalogue of best-practice checks, one of the six pillars \
of the well-architected framework each. It reads manifests offline (YAML or JSON, multi-document, `List`s, \
directories, `helm template` output) and reports a table, JSON or SARIF 2.1.0, with a 0-100 score per pillar. \
Where a check tests what a Polaris or kube-score check tests, it is listed; vigil agrees with them on \
what fails, and goes further (RBAC analysis, cross-object checks, pillar scores, SARIF).\n\n";

const RUNNING: &str = "## Running\n\n\
```sh\n\
vigil check -f deploy/                      # files and directories (recursive: .yaml, .yml, .json)\n\
helm template web ./chart | vigil check -f -  # standard input\n\
vigil check -f k8s/ -o sarif > vigil.sarif  # for code scanning\n\
vigil check -f k8s/ -o json --fail-on high  # CI gate\n\
vigil check -f k8s/ --config vigil-check.yaml\n\
vigil check --catalogue markdown            # this page\n\
vigil check                                 # the live cluster (current kubeconfig context, read-only)\n\
vigil check -n shop -o json                 # one namespace of it\n\
```\n\n\
**Live cluster.** Without `-f`, vigil lists (never watches, never writes) Namespaces, Pods, \
ReplicationControllers, Services, ServiceAccounts, ConfigMaps, ResourceQuotas, LimitRanges, Deployments, \
StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs, PodDisruptionBudgets, HPAs (autoscaling/v2), \
NetworkPolicies, Ingresses, Roles, RoleBindings, ClusterRoles, ClusterRoleBindings, and ServiceMonitors / \
PodMonitors when their CRDs exist; it never reads Secrets. It needs `list` on those resources; a list that \
is refused is reported (exit `2`) and everything else is still checked. `-n` limits the namespaced lists to \
one namespace; cluster-scoped RBAC is still read. Pods and ReplicaSets whose controller was read are not \
checked twice.\n\n\
Cross-object checks (PodDisruptionBudget, HPA, NetworkPolicy, monitors, quotas, RBAC role look-ups) look at \
everything given in one run, so pass the whole application (or cluster dump) at once. Objects without \
`metadata.namespace` are taken to be in `default`, where `kubectl apply` without `-n` would put them. \
Namespace checks (quota, limit range) judge the `Namespace` objects of the input, so checking an \
application's manifests does not blame a namespace defined elsewhere. An object whose controller is also in \
the input (a ReplicaSet of a Deployment) is not checked twice.\n\n\
**In the agent.** `vigil run` with `compliance.enabled` runs these checks on the live cluster every \
`compliance.interval` (leader only, the same read-only lists and the same config file format): each failing \
result becomes an Observation (`category: compliance`, `source: vigil-check`, `eventType` the check id with \
`_` for `.` and `-`, details with check, pillar, message and remediation), removed once it passes or its \
object is gone, and the run's scores, totals, cluster metadata and inventory are kept in a cluster-scoped \
`ClusterReport` (`kubectl get clusterreports`). See [AGENT.md](AGENT.md#compliance-periodic-checks-and-the-clusterreport).\n\n\
**Exit status:** `0` when no failing check reaches the `--fail-on` severity (default `critical`; `none` never \
fails on findings), `1` when one does, `2` when a document or file could not be read or the config is invalid \
(everything readable is still checked and reported; `2` wins over `1`, since the check was incomplete). \
Severities are the effective ones, after config overrides. The default gate is `critical` so that adopting \
vigil on an existing repository fails only on what is dangerous today (privileged containers, cluster-admin \
and Secret-reading bindings); tighten it with `--fail-on high` once the backlog is cleared.\n\n";

const EXEMPTIONS: &str = "## Exemptions and configuration\n\n\
### Annotations\n\n\
On the object (or, for workloads, its pod template):\n\n\
| annotation | exempts |\n|---|---|\n\
| `vigil.kube-zen.io/exempt: \"security.privileged,reliability.*\"` | the listed checks (ids or globs); `\"true\"` or `\"*\"` exempts all |\n\
| `vigil.kube-zen.io/exempt-reason: \"...\"` | (the reason shown with the exemption) |\n\
| `polaris.fairwinds.com/exempt: \"true\"` | every check |\n\
| `polaris.fairwinds.com/<polarisCheck>-exempt: \"true\"` | every vigil check listing that Polaris check as an equivalent |\n\
| `kube-score/ignore: \"container-image-tag,pod-probes\"` | every vigil check listing one of those kube-score tests |\n\n\
An entry of `vigil.kube-zen.io/exempt` that names no check is reported as a warning. Set \
`annotationExemptions: false` in the config to ignore all of these annotations (for a CI gate that only the \
platform team may relax).\n\n\
### Config file (`--config`)\n\n\
```yaml\n\
checks:\n\
  reliability.priority-class: off        # disable (also: disabled, ignore)\n\
  security.image-pull-policy: medium     # override the severity\n\
  \"operations.*\": info                   # globs; an exact id wins over a glob, a longer glob over a shorter\n\
exemptions:                              # each list is optional (empty matches anything), all globs\n\
  - checks: [security.host-network, security.host-path]\n\
    namespaces: [kube-system, \"monitoring-*\"]   # a Namespace object matches its own name\n\
    names: [\"node-exporter*\"]\n\
    kinds: [DaemonSet]\n\
    reason: node agents read the host\n\
annotationExemptions: true               # default\n\
```\n\n\
The file is read strictly: an unknown field, an unknown check id, a glob matching no check, an unknown \
severity or an exemption that sets nothing is an error naming its path (`exemptions[0].checks[1]: no check \
matches \"security.privilegd\"`), and nothing is checked. A disabled check is not evaluated; an exempted one \
is reported with status `exempt` and the annotation or config entry that exempted it, and does not count in \
scores.\n\n";

const JSON_INTRO: &str = "## JSON report (`-o json`)\n\n\
One object: `summary` (overall `score`, one entry per pillar with its `score`, `passed`, `failed`, `exempt`, \
and `totals` with failures by severity), `objects` (each checked object with its `origin` — file, document, \
List item, line, Helm template — and one result per applicable check: `check`, `pillar`, effective \
`severity`, `status` pass / fail / exempt, `messages` for failures, `exemption` for exemptions), `errors` \
(documents that could not be read) and `warnings`. ";

const SARIF: &str = "## SARIF (`-o sarif`)\n\n\
A SARIF 2.1.0 log (`$schema` https://json.schemastore.org/sarif-2.1.0.json) with one run: the driver's \
`rules` are the whole catalogue (short and full description, remediation as `help`, `helpUri` pointing \
into this page, default level, pillar and `security-severity` properties); each failing check is a result \
located at its file and the line its document starts on (`logicalLocations` name the object; List items \
and Helm templates are in `properties`); exempted checks are results with a `suppressions` entry \
(`inSource` for annotations, `external` for config); documents that could not be read are \
`toolExecutionNotifications`. Levels: critical and high → `error`, medium → `warning`, low and info → `note`.\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_polaris_default_check_is_covered_or_explained() {
        for p in POLARIS_DEFAULT_CHECKS {
            let covered = catalogue::checks().any(|c| c.polaris.contains(p));
            let explained = POLARIS_NOT_MAPPED.iter().any(|(id, _)| id == p);
            assert!(
                covered != explained,
                "{p}: covered={covered} explained={explained}"
            );
        }
    }

    #[test]
    fn equivalents_name_real_polaris_checks() {
        for c in catalogue::checks() {
            for p in c.polaris {
                assert!(
                    POLARIS_DEFAULT_CHECKS.contains(p),
                    "{}: unknown Polaris check {p}",
                    c.id
                );
            }
        }
    }
}
