#!/usr/bin/env python3
"""Builds the bundled incident that `vigil demo` replays (deterministic).

A bad Friday afternoon, 2026-11-20 from 14:00 UTC, in one cluster:

- shop (customer): the checkout v2 rollout crash-loops. Three new pods back
  off restarting, their readiness probes fail; the usual Normal rollout
  chatter (Scheduled, Pulling, Pulled, Created, Started) surrounds it.
- monitoring-system (platform): prometheus-k8s-0 cannot mount its volume:
  the EBS CSI driver is not registered on the node, whose CSI node pod in
  kube-system is crash-looping too.
- Trivy Operator's scan of nginx in `default` reports critical CVEs (real
  VulnerabilityReport, read through the shipped preset).
- Someone opens a shell in a container (Falco, real alerts) and binds a
  ClusterRole to a broad group (audit log, real events from Falco's trace
  files), then deletes a ConfigMap in kube-system.

Real payloads come from ../../../shared/fixtures (see SOURCES.md there); only
their timestamps are moved into the incident's hour. The storms are
generated in the exact shape kubelet and the controllers write.

Run from the repository root:  python3 examples/incident/generate.py
"""
import hashlib
import json
import os
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = pathlib.Path(os.environ.get("VIGIL_FIXTURES", HERE.parents[2] / "shared" / "fixtures"))
DAY = "2026-11-20"


def t(hms):
    return f"{DAY}T{hms}Z"


def t_nanos(hms, nanos):
    return f"{DAY}T{hms}.{nanos:09d}Z"


RV = [1000]


def digits(text, n):
    """n stable decimal digits derived from text (Python's hash() is salted per run)."""
    return f"{int(hashlib.sha256(text.encode()).hexdigest(), 16) % 10**n:0{n}d}"


def event(ns, name, kind, obj, type_, reason, message, first, last, count, component="kubelet", host="ip-10-0-3-17"):
    RV[0] += 1
    uid = f"7b{RV[0]:06d}-3c4d-4e5f-8a9b-{digits(ns + name, 12)}"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ns, "uid": uid, "resourceVersion": str(RV[0]), "creationTimestamp": first},
        "involvedObject": {"apiVersion": "v1" if kind in ("Pod", "Node") else "apps/v1", "kind": kind, "name": obj,
                           "namespace": ns if kind != "Node" else None,
                           "uid": f"0a{digits(obj, 6)}-1b2c-4d3e-9f00-000000000001"},
        "type": type_,
        "reason": reason,
        "message": message,
        "firstTimestamp": first,
        "lastTimestamp": last,
        "count": count,
        "source": {"component": component, "host": host if component == "kubelet" else None},
        "reportingComponent": component,
        "reportingInstance": host if component == "kubelet" else "",
    }


def storm():
    events = []
    rs = "checkout-6d8f7b9c5d"
    pods = [(f"{rs}-x7k2p", 12, "14:04:10"), (f"{rs}-q9z4m", 11, "14:04:20"), (f"{rs}-t5w8n", 9, "14:04:30")]
    events.append(event("shop", "checkout.187a3c1f2e", "Deployment", "checkout", "Normal", "ScalingReplicaSet",
                        f"Scaled up replica set {rs} from 0 to 3", t("14:00:00"), t("14:00:00"), 1,
                        component="deployment-controller"))
    for i, (pod, backoffs, last) in enumerate(pods):
        s = f"14:00:0{i + 1}"
        chatter = [
            ("Scheduled", f"Successfully assigned shop/{pod} to ip-10-0-3-17", "default-scheduler"),
            ("Pulling", "Pulling image \"registry.example.com/shop/checkout:2.0.0\"", "kubelet"),
            ("Pulled", "Successfully pulled image \"registry.example.com/shop/checkout:2.0.0\" in 1.204s", "kubelet"),
            ("Created", "Created container: checkout", "kubelet"),
            ("Started", "Started container checkout", "kubelet"),
        ]
        for j, (reason, message, component) in enumerate(chatter):
            events.append(event("shop", f"{pod}.{j:x}187a3c{i}", "Pod", pod, "Normal", reason, message,
                                t(s), t(s), 1 if reason != "Pulled" else 1, component=component))
        events.append(event("shop", f"{pod}.bo187a3c{i}", "Pod", pod, "Warning", "BackOff",
                            f"Back-off restarting failed container checkout in pod {pod}_shop(5d0c{i}a1e-7e3b-4c55-9b1d-{i:012d})",
                            t(f"14:00:{40 + i}"), t(last), backoffs))
        events.append(event("shop", f"{pod}.un187a3c{i}", "Pod", pod, "Warning", "Unhealthy",
                            "Readiness probe failed: HTTP probe failed with statuscode: 503",
                            t(f"14:00:{20 + i}"), t(f"14:03:{10 + i}"), 6))
    events.append(event("monitoring-system", "prometheus-k8s-0.fm187a3c", "Pod", "prometheus-k8s-0", "Warning", "FailedMount",
                        "MountVolume.MountDevice failed for volume \"pvc-3f6c1e2a-8b7d-4c1e-9f0a-2d5e6b7c8a9f\" : "
                        "kubernetes.io/csi: attacher.MountDevice failed to create newCsiDriverClient: "
                        "driver name ebs.csi.aws.com not found in the list of registered CSI drivers",
                        t("14:00:30"), t("14:04:45"), 14))
    events.append(event("kube-system", "ebs-csi-node-7xk2p.bo187a3c", "Pod", "ebs-csi-node-7xk2p", "Warning", "BackOff",
                        "Back-off restarting failed container ebs-plugin in pod ebs-csi-node-7xk2p_kube-system(9e1f2a3b-4c5d-4e6f-8a7b-0c1d2e3f4a5b)",
                        t("14:00:15"), t("14:04:50"), 5))
    events.append(event("monitoring-system", "prometheus-k8s-0.sc187a3c", "Pod", "prometheus-k8s-0", "Normal", "Scheduled",
                        "Successfully assigned monitoring-system/prometheus-k8s-0 to ip-10-0-3-17", t("14:00:10"), t("14:00:10"), 1,
                        component="default-scheduler"))
    return events


def real_event_sample():
    """kubernetes-event-exporter's BackOff sample: no apiVersion, no kind."""
    e = json.loads((FIXTURES / "k8s-events" / "issue_opsgenie-kubernetes-event-exporter-115_backoff_enhanced-event.json").read_text())
    e["firstTimestamp"] = e["lastTimestamp"] = t("14:02:05")
    e["metadata"]["creationTimestamp"] = t("14:02:05")
    return e


def falco():
    lines = (FIXTURES / "falco" / "falco-website_blog_terminal-shell-k8s.jsonl").read_text().splitlines()
    alert = json.loads(lines[1])  # the shell in a Deployment's pod
    alert["time"] = t_nanos("14:03:12", 532086161)
    for key in ("evt.time",):
        if key in alert.get("output_fields", {}):
            alert["output_fields"][key] = 1795183392532086161
    return [alert]


def audit():
    out = []
    trace = FIXTURES / "k8s-audit" / "falco-trace-files"
    for name, hms in [("attach_cluster_admin_role.json", "14:03:40"), ("create_clusterrolebinding.json", "14:03:41"),
                      ("anonymous_creates_namespace_foo.json", "14:03:50")]:
        path = trace / name
        if not path.exists():
            continue
        text = path.read_text()
        try:
            records = [json.loads(text)]
        except json.JSONDecodeError:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        for e in records:
            e["requestReceivedTimestamp"] = t_nanos(hms, 0)
            e["stageTimestamp"] = t_nanos(hms, 120000)
            out.append(e)
    return out


def trivy():
    """Trivy Operator's real VulnerabilityReport (nginx in default): CRITICAL and HIGH CVEs."""
    dump = json.loads((FIXTURES / "trivy-operator" / "defectdojo_all_reports_in_dict.json").read_text())
    report = dump["vulnerabilityreports.aquasecurity.github.io"][0]
    report["metadata"]["creationTimestamp"] = t("14:02:40")
    report["report"]["updateTimestamp"] = t("14:02:40")
    return report


def main():
    events = storm() + [real_event_sample()]
    (HERE / "events.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": events}, indent=1) + "\n")
    (HERE / "falco.jsonl").write_text("".join(json.dumps(a) + "\n" for a in falco()))
    (HERE / "audit.jsonl").write_text("".join(json.dumps(a) + "\n" for a in audit()))
    (HERE / "trivy.json").write_text(json.dumps(trivy(), indent=1) + "\n")


if __name__ == "__main__":
    main()
