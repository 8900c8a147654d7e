//! Container images: a pinned tag or digest, and the pull policy that makes
//! the kubelet check pull credentials on every start.

use super::{per_container, Outcome, Rule};
use crate::catalogue::{Check, Pillar};
use crate::index::Index;
use crate::object::Manifest;
use vigil_model::Severity;

pub(crate) const RULES: &[Rule] = &[
    Rule {
        check: Check {
            id: "security.image-tag",
            pillar: Pillar::Security,
            severity: Severity::High,
            applies_to: "workloads (each container and init container)",
            description: "Images name an explicit tag other than latest, or a digest.",
            remediation: "Pin the image to a release tag (`app:1.4.2`) or, better, a digest (`app@sha256:...`).",
            polaris: &["tagNotSpecified"],
            kube_score: &["container-image-tag"],
        },
        eval: image_tag,
    },
    Rule {
        check: Check {
            id: "security.image-pull-policy",
            pillar: Pillar::Security,
            severity: Severity::Low,
            applies_to: "workloads (each container and init container)",
            description: "Containers set imagePullPolicy: Always, so the registry checks the pod's pull credentials on every start.",
            remediation: "Set `imagePullPolicy: Always`.",
            polaris: &["pullPolicyNotAlways"],
            kube_score: &["container-image-pull-policy"],
        },
        eval: pull_policy,
    },
];

/// The tag of an image reference: after the last `:` of the last path
/// component (a registry port is not a tag); None when a digest pins it.
fn tag(image: &str) -> Result<Option<&str>, ()> {
    if image.contains('@') {
        return Err(()); // digest-pinned
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    Ok(last.rsplit_once(':').map(|(_, t)| t))
}

fn image_tag(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |_, c| {
        let image = c.image.as_deref().unwrap_or("");
        match tag(image) {
            Err(()) => None,
            Ok(None) if image.is_empty() => Some("no image".into()),
            Ok(None) => Some(format!("image {image} has no tag (means latest)")),
            Ok(Some("latest")) => Some(format!("image {image} uses the latest tag")),
            Ok(Some(_)) => None,
        }
    })
}

fn pull_policy(m: &Manifest, _: &Index<'_>) -> Outcome {
    per_container(m, |_, c| match c.image_pull_policy.as_deref() {
        Some("Always") => None,
        Some(other) => Some(format!("imagePullPolicy is {other}")),
        None => Some("imagePullPolicy is not set (IfNotPresent for tagged images)".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::tag;

    #[test]
    fn tags_registry_ports_and_digests() {
        assert_eq!(tag("nginx"), Ok(None));
        assert_eq!(tag("nginx:1.27"), Ok(Some("1.27")));
        assert_eq!(tag("registry:5000/team/app"), Ok(None));
        assert_eq!(tag("registry:5000/team/app:v2"), Ok(Some("v2")));
        assert_eq!(tag("app@sha256:0123"), Err(()));
        assert_eq!(tag("app:1.0@sha256:0123"), Err(()));
    }
}
