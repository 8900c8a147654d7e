//! The CustomResourceDefinitions generated from the Rust types, and their
//! YAML as committed under `deploy/crds/`. Owns version serving: Observation is
//! stored at `v1` and also served at `v1alpha1` (zen-watcher's release) with the
//! same schema, so existing consumers keep working.

use crate::{ClusterReport, Ingester, Observation};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Versions at which Observation is served besides its storage version `v1`.
pub const OBSERVATION_EXTRA_VERSIONS: &[&str] = &["v1alpha1"];

/// The Observation CRD: `v1` (storage) plus the extra served versions.
pub fn observation() -> CustomResourceDefinition {
    let mut crd = Observation::crd();
    let storage = crd.spec.versions[0].clone();
    for name in OBSERVATION_EXTRA_VERSIONS {
        let mut version = storage.clone();
        version.name = (*name).to_string();
        version.storage = false;
        crd.spec.versions.push(version);
    }
    crd
}

/// The Ingester CRD.
pub fn ingester() -> CustomResourceDefinition {
    Ingester::crd()
}

/// The ClusterReport CRD (cluster-scoped, `v1alpha1`).
pub fn cluster_report() -> CustomResourceDefinition {
    ClusterReport::crd()
}

/// Every CRD vigil owns, in install order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![observation(), ingester(), cluster_report()]
}

/// One CRD as YAML, the form committed under `deploy/crds/<name>.yaml`.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_saphyr::SerializeError> {
    serde_saphyr::to_string(crd)
}

/// File name under `deploy/crds/` for a CRD.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn schema_of(crd: &CustomResourceDefinition, version: usize) -> serde_json::Value {
        let v = &crd.spec.versions[version];
        serde_json::to_value(
            v.schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref()),
        )
        .expect("schema")
    }

    #[test]
    fn observation_is_stored_at_v1_and_served_at_v1alpha1_with_one_schema() {
        let crd = observation();
        let names: Vec<(&str, bool, bool)> = crd
            .spec
            .versions
            .iter()
            .map(|v| (v.name.as_str(), v.served, v.storage))
            .collect();
        assert_eq!(names, vec![("v1", true, true), ("v1alpha1", true, false)]);
        assert_eq!(schema_of(&crd, 0), schema_of(&crd, 1));
        assert_eq!(
            crd.spec.names.short_names,
            Some(vec!["obs".to_string(), "obsv".to_string()])
        );
    }

    #[test]
    fn observation_schema_enforces_required_enums_and_bounds() {
        let spec = &schema_of(&observation(), 0)["properties"]["spec"];
        let required: Vec<&str> = spec["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        for field in ["source", "category", "severity", "eventType"] {
            assert!(required.contains(&field), "{field} required: {required:?}");
        }
        let props = &spec["properties"];
        assert_eq!(
            props["severity"]["enum"],
            serde_json::json!(["info", "low", "medium", "high", "critical"])
        );
        assert_eq!(
            props["category"]["enum"],
            serde_json::json!([
                "security",
                "compliance",
                "performance",
                "operations",
                "cost"
            ])
        );
        assert_eq!(
            props["ttlSecondsAfterCreation"]["maximum"].as_f64(),
            Some(31_536_000.0)
        );
        assert_eq!(
            props["details"]["x-kubernetes-preserve-unknown-fields"],
            serde_json::json!(true)
        );
        assert_eq!(
            props["source"]["pattern"],
            serde_json::json!("^[a-z0-9-]+$")
        );
    }

    /// The committed YAML is what the code generates; regenerate with
    /// `cargo run -p vigil -- crds --write deploy/crds`.
    #[test]
    fn committed_crd_yaml_matches_the_code() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
        for crd in all() {
            let path = dir.join(file_name(&crd));
            let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run `cargo run -p vigil -- crds --write deploy/crds`",
                    path.display()
                )
            });
            let generated = to_yaml(&crd).expect("serializes");
            assert!(
                committed == generated,
                "{} differs from the generated CRD; run `cargo run -p vigil -- crds --write deploy/crds`",
                path.display()
            );
        }
    }
}
