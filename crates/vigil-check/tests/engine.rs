//! How the engine treats objects across one input: an object whose
//! controller is also in the input is not checked twice (a cluster dump
//! holds the Deployment, its ReplicaSet and their Pods); an object whose
//! controller is absent is checked on its own.

use vigil_check::{parse_manifests, Config};

const POD_SPEC: &str = "{containers: [{name: app, image: nginx}]}";

fn owned(kind: &str, name: &str, owner_kind: &str, owner: &str) -> String {
    let (api, spec) = match kind {
        "Pod" => ("v1", format!("spec: {POD_SPEC}")),
        _ => (
            "apps/v1",
            format!("spec: {{selector: {{matchLabels: {{app: web}}}}, template: {{metadata: {{labels: {{app: web}}}}, spec: {POD_SPEC}}}}}"),
        ),
    };
    format!(
        "apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: shop\n  ownerReferences: [{{apiVersion: apps/v1, kind: {owner_kind}, name: {owner}, uid: u-{owner}, controller: true}}]\n{spec}\n"
    )
}

#[test]
fn objects_whose_controller_is_in_the_input_are_skipped() {
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\nspec: {{selector: {{matchLabels: {{app: web}}}}, template: {{metadata: {{labels: {{app: web}}}}, spec: {POD_SPEC}}}}}\n"
    );
    let text = [
        deployment,
        owned("ReplicaSet", "web-7d9f", "Deployment", "web"),
        owned("Pod", "web-7d9f-abcde", "ReplicaSet", "web-7d9f"),
        owned("Pod", "orphan-1", "ReplicaSet", "gone"),
    ]
    .join("---\n");
    let parsed = parse_manifests("dump.yaml", &text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let report = vigil_check::run(&parsed, &Config::default());
    let checked: Vec<String> = report
        .objects
        .iter()
        .map(|o| format!("{}/{}", o.kind, o.name))
        .collect();
    assert_eq!(checked, ["Deployment/web", "Pod/orphan-1"]);
    assert_eq!(report.summary.totals.skipped_owned, 2);
    assert_eq!(report.summary.totals.objects, 2);
    let orphan = &report.objects[1];
    assert!(orphan
        .results
        .iter()
        .any(|r| r.check == "security.image-tag"));
    assert!(
        orphan
            .results
            .iter()
            .all(|r| r.check != "reliability.bare-pod" || r.status == vigil_check::Status::Pass),
        "a pod with a controller is not bare, even when the controller is elsewhere"
    );
}

#[test]
fn the_same_input_gives_the_same_report() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/security.rbac-cluster-admin-binding/fail-own-role.yaml"
    ))
    .expect("fixture");
    let run = || {
        vigil_check::render::json(&vigil_check::run(
            &parse_manifests("x.yaml", &text),
            &Config::default(),
        ))
    };
    assert_eq!(run(), run());
}
