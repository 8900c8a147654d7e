//! The real CRDs of the tools vigil's presets read (Trivy Operator, Kyverno's
//! PolicyReport, cert-manager, Argo CD), fetched by `scripts/tool-crds` from
//! the tools' source releases and installed in a test plane.

use crate::{Cluster, TestUser};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use std::path::PathBuf;
use std::time::Duration;

/// Runs `scripts/tool-crds` (a no-op once cached) and returns every CRD file.
pub fn tool_crd_files() -> Vec<PathBuf> {
    let out = std::process::Command::new(crate::repo_root().join("scripts/tool-crds"))
        .output()
        .expect("run scripts/tool-crds");
    assert!(
        out.status.success(),
        "scripts/tool-crds failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("crds dir")
        .flatten()
        .flat_map(|tool| {
            std::fs::read_dir(tool.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|f| f.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

impl Cluster {
    /// Installs the tools' real CRDs (server-side apply, as admin) and waits
    /// until each is Established.
    pub async fn install_tool_crds(&self) {
        let client = self.client(TestUser::Admin).await;
        let crds: Api<CustomResourceDefinition> = Api::all(client);
        let params = PatchParams::apply("vigil-test-support").force();
        for file in tool_crd_files() {
            let text = std::fs::read_to_string(&file).expect("crd file");
            let crd: CustomResourceDefinition =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let name = crd.metadata.name.clone().expect("CRD name");
            crds.patch(&name, &params, &Patch::Apply(&crd))
                .await
                .unwrap_or_else(|e| panic!("applying CRD {name} from {}: {e}", file.display()));
            tokio::time::timeout(
                Duration::from_secs(60),
                await_condition(crds.clone(), &name, conditions::is_crd_established()),
            )
            .await
            .unwrap_or_else(|_| panic!("CRD {name} not Established within 60 s"))
            .unwrap_or_else(|e| panic!("watching CRD {name}: {e}"));
        }
    }
}
