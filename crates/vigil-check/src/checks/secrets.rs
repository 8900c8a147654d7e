//! Credentials where they should not be: literal secrets in environment
//! variables and ConfigMaps, and API tokens mounted into pods that do not
//! need them. RBAC over Secrets is `rbac`'s.

use super::{per_container, Outcome, Rule};
use crate::catalogue::{Check, Pillar};
use crate::index::Index;
use crate::object::{Manifest, Object};
use vigil_model::Severity;

pub(crate) const RULES: &[Rule] = &[
    Rule {
        check: Check {
            id: "security.secret-in-env",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: "workloads (each container's env)",
            description: "No environment variable carries a literal credential: a sensitive name (password, token, secret, bearer, cloud keys) with an inline value, or a private key.",
            remediation: "Move the value into a Secret and reference it with `valueFrom.secretKeyRef` (or mount it as a file).",
            polaris: &["sensitiveContainerEnvVar"],
            kube_score: &[],
        },
        eval: secret_in_env,
    },
    Rule {
        check: Check {
            id: "security.secret-in-configmap",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: "ConfigMap",
            description: "ConfigMaps hold no credentials: no sensitive key with a value, no private key.",
            remediation: "Move the credential into a Secret (and restrict who can read it).",
            polaris: &["sensitiveConfigmapContent"],
            kube_score: &[],
        },
        eval: secret_in_configmap,
    },
    Rule {
        check: Check {
            id: "security.service-account-token",
            pillar: Pillar::Security,
            severity: Severity::Medium,
            applies_to: "workloads (pod spec, and its ServiceAccount when in the input)",
            description: "Pods that do not call the API server do not mount a ServiceAccount token (automountServiceAccountToken: false on the pod or its ServiceAccount).",
            remediation: "Set `automountServiceAccountToken: false` on the pod spec (or on its ServiceAccount); mount a projected token only where needed.",
            polaris: &["automountServiceAccountToken"],
            kube_score: &[],
        },
        eval: service_account_token,
    },
];

/// Whether a variable or key name says it holds a credential.
fn sensitive_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "aws_secret_access_key"
        || n == "google_application_credentials"
        || n == "oci_cli_key_content"
        || (n.starts_with("azure_") && n.ends_with("key") && n.len() > "azure_key".len())
        || ["password", "token", "bearer", "secret"]
            .iter()
            .any(|w| n.contains(w))
}

/// Whether a value is a PEM private key (`-----BEGIN RSA PRIVATE KEY-----`).
fn private_key(value: &str) -> bool {
    value.find("-BEGIN").is_some_and(|at| {
        let rest = &value[at + "-BEGIN".len()..];
        rest.starts_with(char::is_whitespace)
            && rest
                .find("PRIVATE KEY-")
                .is_some_and(|end| !rest[..end].contains('\n'))
    })
}

fn secret_in_env(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |_, c| {
        let names: Vec<&str> = c
            .env
            .iter()
            .flatten()
            .filter(|e| {
                let value = e.value.as_deref().unwrap_or("");
                (!value.is_empty() && sensitive_name(&e.name)) || private_key(value)
            })
            .map(|e| e.name.as_str())
            .collect();
        (!names.is_empty()).then(|| format!("literal credential in env {}", names.join(", ")))
    })
}

fn secret_in_configmap(m: &Manifest, _: &Index<'_>) -> Outcome {
    let Object::ConfigMap(cm) = &m.object else {
        return Outcome::Skip;
    };
    Outcome::from_findings(
        cm.data
            .iter()
            .flatten()
            .filter(|(k, v)| (!v.is_empty() && sensitive_name(k)) || private_key(v))
            .map(|(k, _)| format!("key {k} holds a credential"))
            .collect(),
    )
}

fn service_account_token(m: &Manifest, ix: &Index<'_>) -> Outcome {
    let Some(w) = m.workload() else {
        return Outcome::Skip;
    };
    match w.spec.automount_service_account_token {
        Some(false) => Outcome::Pass,
        Some(true) => Outcome::fail("automountServiceAccountToken is true"),
        None => {
            let sa = w.spec.service_account_name.as_deref().unwrap_or("default");
            let by_account = ix
                .service_account(m.effective_namespace(), sa)
                .and_then(|a| a.automount_service_account_token);
            Outcome::pass_unless(by_account != Some(false), || {
                format!("the token of ServiceAccount {sa} is mounted: automountServiceAccountToken is not false on the pod or the ServiceAccount")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_names_follow_polaris() {
        for n in [
            "DB_PASSWORD",
            "api_token",
            "AWS_SECRET_ACCESS_KEY",
            "AZURE_STORAGE_KEY",
            "ClientSecret",
            "BEARER",
        ] {
            assert!(sensitive_name(n), "{n}");
        }
        for n in ["AZURE_KEY", "LOG_LEVEL", "AWS_REGION", "PORT"] {
            assert!(!sensitive_name(n), "{n}");
        }
    }

    #[test]
    fn private_keys_are_recognised() {
        assert!(private_key("-----BEGIN RSA PRIVATE KEY-----\nMIIE..."));
        assert!(private_key("-----BEGIN PRIVATE KEY-----"));
        assert!(!private_key(
            "-----BEGIN CERTIFICATE-----\n...\n-----END PRIVATE KEY-----"
        ));
        assert!(!private_key("plain"));
    }
}
