//! Reading Ingesters from YAML or JSON text, the offline twin of the API
//! server's admission: parse, type-check with the failing field's path, then
//! run the shared validator. Owns no I/O; callers hand it the text.

use crate::ingester::Ingester;
use crate::validate::{validate_ingester, FieldError, ValidationErrors};

/// Why a document could not be turned into a valid Ingester.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("document {doc}: not valid YAML: {message}")]
    Syntax { doc: usize, message: String },
    #[error("document {doc}: {path}: {message}")]
    Field {
        doc: usize,
        path: String,
        message: String,
    },
    #[error("document {doc}: expected kind Ingester of apiVersion zen.kube-zen.io/v1alpha1, found {found}")]
    WrongKind { doc: usize, found: String },
    #[error("document {doc} (Ingester {name}): {errors}")]
    Invalid {
        doc: usize,
        name: String,
        errors: ValidationErrors,
    },
}

/// Parses every document of a (multi-document) YAML or JSON text into
/// validated Ingesters. Documents are numbered from 1 in errors.
pub fn ingesters_from_yaml(text: &str) -> Result<Vec<Ingester>, LoadError> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|e| LoadError::Syntax {
            doc: 1,
            message: e.to_string(),
        })?;
    let mut out = Vec::new();
    for (i, value) in docs.into_iter().enumerate().filter(|(_, v)| !v.is_null()) {
        let doc = i + 1;
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("<none>");
        let api_version = value
            .get("apiVersion")
            .and_then(|k| k.as_str())
            .unwrap_or("<none>");
        if kind != "Ingester" || api_version != "zen.kube-zen.io/v1alpha1" {
            return Err(LoadError::WrongKind {
                doc,
                found: format!("{api_version}/{kind}"),
            });
        }
        let ingester: Ingester =
            serde_path_to_error::deserialize(value).map_err(|e| LoadError::Field {
                doc,
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        validate_ingester(&ingester.spec).map_err(|errors| LoadError::Invalid {
            doc,
            name: ingester.metadata.name.clone().unwrap_or_default(),
            errors,
        })?;
        out.push(ingester);
    }
    Ok(out)
}

/// One Ingester as the API server hands it over (the controller's path):
/// type-checked with the failing field's path, then the shared validator.
/// Every problem names its field, e.g. `spec.mapping.severity.default`.
pub fn ingester_from_value(value: serde_json::Value) -> Result<Ingester, ValidationErrors> {
    let ingester: Ingester = serde_path_to_error::deserialize(value).map_err(|e| {
        ValidationErrors(vec![FieldError {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        }])
    })?;
    validate_ingester(&ingester.spec)?;
    Ok(ingester)
}
