//! The tool presets shipped under `deploy/ingesters/` (embedded), matched to
//! replayed Kubernetes objects by API group, version and resource, so a dump
//! of Trivy, Kyverno or cert-manager objects replays like the agent would
//! ingest them. Informer presets only: ConfigMap reports and webhooks have
//! their own paths.

use serde_json::Value;
use vigil_mapping::Preset;

/// (file, contents) of every informer preset shipped.
const FILES: &[(&str, &str)] = &[
    (
        "trivy-vulnerabilityreport",
        include_str!("../../../deploy/ingesters/trivy-vulnerabilityreport.yaml"),
    ),
    (
        "trivy-configauditreport",
        include_str!("../../../deploy/ingesters/trivy-configauditreport.yaml"),
    ),
    (
        "trivy-exposedsecretreport",
        include_str!("../../../deploy/ingesters/trivy-exposedsecretreport.yaml"),
    ),
    (
        "trivy-rbacassessmentreport",
        include_str!("../../../deploy/ingesters/trivy-rbacassessmentreport.yaml"),
    ),
    (
        "kyverno-policyreport",
        include_str!("../../../deploy/ingesters/kyverno-policyreport.yaml"),
    ),
    (
        "kyverno-clusterpolicyreport",
        include_str!("../../../deploy/ingesters/kyverno-clusterpolicyreport.yaml"),
    ),
    (
        "kyverno-policyreport-v1alpha1",
        include_str!("../../../deploy/ingesters/kyverno-policyreport-v1alpha1.yaml"),
    ),
    (
        "kyverno-clusterpolicyreport-v1alpha1",
        include_str!("../../../deploy/ingesters/kyverno-clusterpolicyreport-v1alpha1.yaml"),
    ),
    (
        "cert-manager-certificate",
        include_str!("../../../deploy/ingesters/cert-manager-certificate.yaml"),
    ),
    (
        "argocd-application-health",
        include_str!("../../../deploy/ingesters/argocd-application-health.yaml"),
    ),
    (
        "argocd-application-sync",
        include_str!("../../../deploy/ingesters/argocd-application-sync.yaml"),
    ),
];
// Not replayed: cert-manager-certificate-expiring reads the clock (a dump's
// certificates would be judged against today, not the day of the dump).

/// The informer presets, each with the `apiVersion` and plural resource it reads.
pub struct Presets {
    by_resource: Vec<(String, String, Preset)>,
}

impl Presets {
    /// The shipped presets, parsed once per process; a preset that does not
    /// load is a build defect (a test loads them all), so it is reported, not
    /// skipped silently.
    pub fn shipped() -> Result<&'static Presets, String> {
        static SHIPPED: std::sync::OnceLock<Result<Presets, String>> = std::sync::OnceLock::new();
        SHIPPED
            .get_or_init(Presets::load)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn load() -> Result<Presets, String> {
        let mut by_resource = Vec::new();
        for (name, text) in FILES {
            let preset = Preset::load(text).map_err(|e| format!("preset {name}: {e}"))?;
            let Some(gvr) = preset
                .ingester()
                .spec
                .informer
                .as_ref()
                .map(|i| i.gvr.clone())
            else {
                return Err(format!("preset {name}: not an informer preset"));
            };
            let api_version = if gvr.group.is_empty() {
                gvr.version.clone()
            } else {
                format!("{}/{}", gvr.group, gvr.version)
            };
            by_resource.push((api_version, gvr.resource.to_ascii_lowercase(), preset));
        }
        Ok(Presets { by_resource })
    }

    /// The presets for an object, by its `apiVersion` and `kind` (the plural
    /// resource is the lower-cased kind plus `s`, true of every preset's
    /// kind); several for a kind two presets read (Argo CD health and sync).
    pub fn for_object(&self, object: &Value) -> Vec<&Preset> {
        let (Some(api_version), Some(kind)) = (
            object.get("apiVersion").and_then(Value::as_str),
            object.get("kind").and_then(Value::as_str),
        ) else {
            return Vec::new();
        };
        let plural = format!("{}s", kind.to_ascii_lowercase());
        self.by_resource
            .iter()
            .filter(|(v, r, _)| v == api_version && *r == plural)
            .map(|(_, _, p)| p)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_informer_preset_loads_and_is_found_by_its_kind() {
        let presets = Presets::shipped().expect("presets load");
        assert_eq!(presets.by_resource.len(), FILES.len());
        let report = serde_json::json!({"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "VulnerabilityReport"});
        let found = presets.for_object(&report);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].ingester().metadata.name.as_deref(),
            Some("trivy-vulnerabilityreport")
        );
        let app = serde_json::json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application"});
        let names: Vec<_> = presets
            .for_object(&app)
            .iter()
            .filter_map(|p| p.ingester().metadata.name.clone())
            .collect();
        assert_eq!(
            names,
            ["argocd-application-health", "argocd-application-sync"]
        );
        let v1alpha1 =
            serde_json::json!({"apiVersion": "wgpolicyk8s.io/v1alpha1", "kind": "PolicyReport"});
        assert_eq!(
            presets.for_object(&v1alpha1).first().and_then(|p| p
                .ingester()
                .metadata
                .name
                .as_deref()),
            Some("kyverno-policyreport-v1alpha1")
        );
        assert!(presets
            .for_object(&serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment"}))
            .is_empty());
    }
}
