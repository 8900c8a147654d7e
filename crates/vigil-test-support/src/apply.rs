//! Server-side apply of YAML manifests (what `kubectl apply --server-side` does),
//! so tests install the very files the project ships.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};
use kube::Client;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("document {doc}: not valid YAML: {message}")]
    Yaml { doc: usize, message: String },
    #[error("document {doc}: {message}")]
    Document { doc: usize, message: String },
    #[error("discovery: {0}")]
    Discovery(kube::Error),
    #[error("applying {what}: {source}")]
    Api { what: String, source: kube::Error },
}

/// Applies every document of `text`; namespaced objects without a namespace
/// go to `default_namespace`. Returns the applied objects as the server has them.
pub async fn apply_yaml(
    client: &Client,
    text: &str,
    default_namespace: &str,
) -> Result<Vec<DynamicObject>, ApplyError> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|e| ApplyError::Yaml {
            doc: 1,
            message: e.to_string(),
        })?;
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .map_err(ApplyError::Discovery)?;
    let params = PatchParams::apply("vigil-test-support").force();
    let mut applied = Vec::new();
    for (i, value) in docs.into_iter().enumerate().filter(|(_, v)| !v.is_null()) {
        let doc = i + 1;
        let obj: DynamicObject =
            serde_json::from_value(value).map_err(|e| ApplyError::Document {
                doc,
                message: e.to_string(),
            })?;
        let types = obj.types.clone().ok_or(ApplyError::Document {
            doc,
            message: "no apiVersion/kind".into(),
        })?;
        let gvk =
            kube::api::GroupVersionKind::try_from(&types).map_err(|e| ApplyError::Document {
                doc,
                message: e.to_string(),
            })?;
        let (resource, caps) = discovery
            .resolve_gvk(&gvk)
            .ok_or_else(|| ApplyError::Document {
                doc,
                message: format!("unknown kind {gvk:?}"),
            })?;
        let name = obj.metadata.name.clone().ok_or(ApplyError::Document {
            doc,
            message: "no metadata.name".into(),
        })?;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Cluster => Api::all_with(client.clone(), &resource),
            Scope::Namespaced => {
                let ns = obj
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| default_namespace.to_string());
                Api::namespaced_with(client.clone(), &ns, &resource)
            }
        };
        let what = format!("{} {name}", gvk.kind);
        applied.push(
            api.patch(&name, &params, &Patch::Apply(&obj))
                .await
                .map_err(|source| ApplyError::Api { what, source })?,
        );
    }
    Ok(applied)
}
