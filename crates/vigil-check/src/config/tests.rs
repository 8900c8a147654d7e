use super::*;
use crate::catalogue;

fn errors(text: &str) -> Vec<String> {
    match Config::from_yaml(text) {
        Ok(_) => panic!("config accepted:\n{text}"),
        Err(e) => e.field_errors().iter().map(ToString::to_string).collect(),
    }
}

fn check(id: &str) -> &'static catalogue::Check {
    catalogue::find(id).expect("known check")
}

#[test]
fn empty_config_is_the_default() {
    assert_eq!(Config::from_yaml("").ok(), Some(Config::default()));
    assert_eq!(
        Config::from_yaml("# nothing\n").ok(),
        Some(Config::default())
    );
    let c = Config::default();
    assert!(c.enabled("security.privileged"));
    assert!(c.annotation_exemptions());
    assert_eq!(c.severity(check("security.privileged")), Severity::Critical);
}

#[test]
fn overrides_disable_and_globs_with_precedence() {
    let c = Config::from_yaml(
        "checks:\n  reliability.priority-class: off\n  \"operations.*\": info\n  operations.removed-api: critical\n  \"security.rbac-*\": disabled\n  \"security.*\": LOW\n",
    )
    .expect("valid");
    assert!(!c.enabled("reliability.priority-class"));
    assert!(c.enabled("reliability.replicas"));
    assert_eq!(c.severity(check("operations.metrics")), Severity::Info);
    assert_eq!(
        c.severity(check("operations.removed-api")),
        Severity::Critical
    );
    // the longer glob wins over the shorter one
    assert!(!c.enabled("security.rbac-wildcard-verbs"));
    assert_eq!(c.severity(check("security.privileged")), Severity::Low);
    assert_eq!(c.severity(check("cost.cpu-limits")), Severity::Low); // untouched default
}

#[test]
fn unknown_fields_name_their_path() {
    let e = errors("exemptions:\n  - namespace: kube-system\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("exemptions[0].namespace: unknown field `namespace`, expected one of"),
        "{e:?}"
    );
    let e = errors("check:\n  security.privileged: off\n");
    assert!(e[0].starts_with("check: unknown field `check`"), "{e:?}");
    let e = errors("checks:\n  security.privileged: true\n");
    assert!(
        e[0].starts_with("checks.security.privileged: unknown value true"),
        "{e:?}"
    );
    let e = errors("exemptions:\n  - names: web\n");
    assert!(e[0].starts_with("exemptions[0].names"), "{e:?}");
}

#[test]
fn every_semantic_error_is_reported_with_its_path() {
    let e = errors(
        "checks:\n  security.privilegd: off\n  security.privileged: urgent\n  \"nothing.*\": low\nexemptions:\n  - {}\n  - checks: [security.host-network, secrity.*]\n    namespaces: [\"\"]\n",
    );
    assert_eq!(
        e,
        [
            "checks.nothing.*: no check matches \"nothing.*\" (see `vigil check --catalogue`)",
            "checks.security.privilegd: no check matches \"security.privilegd\" (see `vigil check --catalogue`)",
            "checks.security.privileged: unknown value \"urgent\", expected one of: off, info, low, medium, high, critical",
            "exemptions[0]: an exemption must set at least one of checks, namespaces, names, kinds",
            "exemptions[1].checks[1]: no check matches \"secrity.*\"",
            "exemptions[1].namespaces[0]: must not be empty",
        ]
    );
}

#[test]
fn syntax_errors_are_reported() {
    let err = Config::from_yaml("checks: [unclosed\n").expect_err("invalid");
    assert!(matches!(err, ConfigError::Syntax(_)), "{err}");
    let err = Config::from_yaml("- a list\n").expect_err("not a mapping");
    assert!(matches!(err, ConfigError::Field { .. }), "{err}");
}

#[test]
fn annotation_exemptions_can_be_refused() {
    let c = Config::from_yaml("annotationExemptions: false\n").expect("valid");
    assert!(!c.annotation_exemptions());
}
