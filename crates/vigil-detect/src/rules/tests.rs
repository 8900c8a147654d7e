//! The rule format: parsing, every validation error with its path, defaults.

use super::*;
use crate::window::WindowKind;
use std::time::Duration;

/// One rule with every required field, the given lines replacing or adding
/// to the base (YAML flow keys, one per line).
fn one_rule(overrides: &[(&str, &str)]) -> String {
    let mut fields: Vec<(String, String)> = [
        ("name", "r"),
        ("window", "{kind: tumbling, size: 5m}"),
        ("threshold", "{count: 3}"),
        ("severity", "high"),
        ("category", "operations"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in overrides {
        match fields.iter_mut().find(|(f, _)| f == k) {
            Some(slot) => slot.1 = v.to_string(),
            None => fields.push((k.to_string(), v.to_string())),
        }
    }
    let mut out = String::from("rules:\n");
    for (i, (k, v)) in fields.iter().enumerate() {
        let lead = if i == 0 { "  - " } else { "    " };
        out.push_str(&format!("{lead}{k}: {v}\n"));
    }
    out
}

fn invalid(yaml: &str) -> Vec<String> {
    match RuleSet::from_yaml(yaml) {
        Ok(set) => panic!("expected an error, got {set:?}"),
        Err(RuleError::Invalid(errors)) => errors.0.iter().map(ToString::to_string).collect(),
        Err(other) => vec![other.to_string()],
    }
}

#[test]
fn a_full_rule_parses_into_its_parts() {
    let yaml = r#"
rules:
  - name: pod-crashloop
    version: 3
    match:
      source: [kubernetes-events]
      category: [operations, performance]
      minSeverity: medium
      eventType: [pod_backoff]
      reason: [BackOff, CrashLoopBackOff]
      namespace: ["shop-*", default]
      audience: customer
      kind: [Pod]
    groupBy: [cluster, namespace, kind, name]
    window: {kind: hopping, size: 10m, hop: 1m}
    threshold: {distinct: reason, count: 2}
    severity: critical
    category: performance
    description: "{count} in {namespace}/{name} within {window}"
"#;
    let set = RuleSet::from_yaml(yaml).expect("valid");
    assert_eq!(set.len(), 1);
    let r = set.get("pod-crashloop").expect("present");
    assert_eq!(r.version(), 3);
    assert_eq!(
        r.group_by(),
        &[
            KeyField::Cluster,
            KeyField::Namespace,
            KeyField::Kind,
            KeyField::Name
        ]
    );
    assert_eq!(r.window().kind(), WindowKind::Hopping);
    assert_eq!(
        (r.window().size(), r.window().hop()),
        (Duration::from_secs(600), Duration::from_secs(60))
    );
    assert_eq!(
        r.threshold(),
        Threshold::Distinct {
            field: KeyField::Reason,
            count: 2
        }
    );
    assert_eq!(
        (r.severity(), r.category()),
        (Severity::Critical, Category::Performance)
    );
    assert_eq!(r.conditions().reasons(), ["BackOff", "CrashLoopBackOff"]);
    assert_eq!(
        r.description().as_str(),
        "{count} in {namespace}/{name} within {window}"
    );
    assert_eq!(r.conditions().audience, Some(Audience::Customer));
    assert_eq!(r.conditions().min_severity, Some(Severity::Medium));
}

#[test]
fn optional_fields_have_defaults() {
    let set = RuleSet::from_yaml(&one_rule(&[])).expect("valid");
    let r = &set.rules()[0];
    assert_eq!(r.version(), 1);
    assert_eq!(r.conditions(), &Conditions::default());
    assert!(r.group_by().is_empty());
    assert_eq!(r.window().kind(), WindowKind::Tumbling);
    assert_eq!(r.window().hop(), r.window().size());
    assert_eq!(r.threshold(), Threshold::Count(3));
    assert_eq!(r.description().as_str(), DEFAULT_DESCRIPTION);
    assert!(RuleSet::from_yaml("rules: []").expect("valid").is_empty());
}

#[test]
fn window_errors_name_the_field() {
    let cases: &[(&str, &str)] = &[
        (
            "{kind: tumbling, size: 0s}",
            "rules[0].window.size: must be > 0",
        ),
        (
            "{kind: tumbling, size: 5x}",
            "rules[0].window.size: invalid duration \"5x\"",
        ),
        (
            "{kind: tumbling, size: 400d}",
            "rules[0].window.size: must be at most 366d",
        ),
        (
            "{kind: tumbling, size: 5m, hop: 1m}",
            "rules[0].window.hop: only hopping windows have a hop",
        ),
        (
            "{kind: hopping, size: 5m}",
            "rules[0].window.hop: required for a hopping window",
        ),
        (
            "{kind: hopping, size: 5m, hop: 10m}",
            "rules[0].window.hop: must not be greater than the window size",
        ),
        (
            "{kind: hopping, size: 5m, hop: 0s}",
            "rules[0].window.hop: must be > 0",
        ),
        (
            "{kind: hopping, size: 0s, hop: 0s}",
            "rules[0].window.size: must be > 0",
        ),
        (
            "{kind: hopping, size: 1h, hop: 1s}",
            "rules[0].window.hop: size / hop must be at most 60",
        ),
        (
            "{kind: sliding, size: 5m}",
            "rules[0].window.kind: \"sliding\" windows are not supported; use hopping",
        ),
        (
            "{kind: session, size: 5m}",
            "rules[0].window.kind: \"session\" windows are not supported",
        ),
        (
            "{kind: rolling, size: 5m}",
            "rules[0].window.kind: unknown window kind \"rolling\", expected tumbling or hopping",
        ),
    ];
    for (window, expected) in cases {
        let errors = invalid(&one_rule(&[("window", window)]));
        assert_eq!(errors.len(), 1, "{window}: {errors:?}");
        assert!(
            errors[0].starts_with(expected),
            "{window}: got {:?}, expected {expected:?}",
            errors[0]
        );
    }
}

#[test]
fn the_failing_rule_is_named_by_its_index() {
    let mut yaml = one_rule(&[("name", "a")]);
    yaml.push_str(&one_rule(&[("name", "b")]).replacen("rules:\n", "", 1));
    yaml.push_str(
        &one_rule(&[("name", "c"), ("window", "{kind: tumbling, size: 0s}")])
            .replacen("rules:\n", "", 1),
    );
    assert_eq!(invalid(&yaml), ["rules[2].window.size: must be > 0"]);
}

#[test]
fn rule_level_errors_are_all_reported() {
    let errors = invalid(&one_rule(&[
        ("name", "Bad_Name"),
        ("version", "0"),
        ("groupBy", "[namespace, name, namespace]"),
        ("threshold", "{count: 0}"),
        ("description", "'{cnt} in {namespace}'"),
    ]));
    assert_eq!(
        errors,
        [
            "rules[0].name: \"Bad_Name\" must be a DNS label: lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit",
            "rules[0].version: must be > 0",
            "rules[0].groupBy[2]: namespace is listed twice",
            "rules[0].threshold.count: must be > 0",
            "rules[0].description: unknown placeholder {cnt}; known: {count}, {threshold}, {window}, {windowStart}, {windowEnd}, {rule}, {namespace}, {name}",
        ]
    );
}

#[test]
fn match_values_are_checked_one_by_one() {
    let errors = invalid(&one_rule(&[(
        "match",
        "{source: [ok, Bad], eventType: [pod_backoff, pod-backoff], reason: ['has space'], namespace: ['shop', 'a b'], kind: ['Pod', 'v1/Pod']}",
    )]));
    let paths: Vec<&str> = errors
        .iter()
        .map(|e| e.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        paths,
        [
            "rules[0].match.source[1]",
            "rules[0].match.eventType[1]",
            "rules[0].match.reason[0]",
            "rules[0].match.namespace[1]",
            "rules[0].match.kind[1]",
        ]
    );
}

#[test]
fn thresholds_and_placeholders_follow_group_by() {
    let errors = invalid(&one_rule(&[
        ("groupBy", "[namespace, name]"),
        ("threshold", "{distinct: name, count: 20000}"),
        ("description", "'{reason}'"),
    ]));
    assert_eq!(
        errors,
        [
            "rules[0].threshold.count: must be at most 10000 for a distinct count",
            "rules[0].threshold.distinct: name is in groupBy, so every group has exactly one distinct value",
            "rules[0].description: placeholder {reason} needs reason in groupBy (otherwise it has no single value)",
        ]
    );
}

#[test]
fn duplicate_names_point_at_the_first() {
    let mut yaml = one_rule(&[("name", "same")]);
    yaml.push_str(&one_rule(&[("name", "other")]).replacen("rules:\n", "", 1));
    yaml.push_str(&one_rule(&[("name", "same")]).replacen("rules:\n", "", 1));
    assert_eq!(
        invalid(&yaml),
        ["rules[2].name: \"same\" is already the name of rules[0]"]
    );
}

#[test]
fn shape_errors_carry_the_path() {
    let cases: &[(String, &str, &str)] = &[
        (
            one_rule(&[("window", "{kind: tumbling, size: 5m, every: 1m}")]),
            "rules[0].window.every",
            "unknown field `every`",
        ),
        (
            one_rule(&[("severity", "urgent")]),
            "rules[0].severity",
            "unknown variant `urgent`",
        ),
        (
            one_rule(&[("groupBy", "[namespace, pod]")]),
            "rules[0].groupBy[1]",
            "unknown variant `pod`",
        ),
        (
            one_rule(&[("match", "{reason: BackOff}")]),
            "rules[0].match.reason",
            "invalid type",
        ),
        (
            one_rule(&[("match", "{audience: tenant}")]),
            "rules[0].match.audience",
            "unknown variant `tenant`",
        ),
        (
            one_rule(&[("threshold", "{count: -1}")]),
            "rules[0].threshold.count",
            "invalid value",
        ),
        (
            "rules:\n  - name: x\n".to_string(),
            "rules[0]",
            "missing field",
        ),
        ("other: 1\n".to_string(), "other", "unknown field `other`"),
        ("- a\n".to_string(), "(root)", "invalid type"),
        ("".to_string(), "rules", "missing"),
    ];
    for (yaml, path, message) in cases {
        match RuleSet::from_yaml(yaml) {
            Err(RuleError::Field {
                path: got,
                message: m,
            }) => {
                assert_eq!(&got, path, "{yaml}");
                assert!(m.contains(message), "{yaml}: {m}");
            }
            other => panic!("{yaml}: expected a field error, got {other:?}"),
        }
    }
    assert!(matches!(
        RuleSet::from_yaml("rules: [ {"),
        Err(RuleError::Syntax(_))
    ));
}

#[test]
fn error_paths_are_listed() {
    let e = RuleSet::from_yaml(&one_rule(&[("version", "0"), ("threshold", "{count: 0}")]))
        .expect_err("invalid");
    assert_eq!(e.paths(), ["rules[0].version", "rules[0].threshold.count"]);
    assert!(RuleError::Syntax("x".into()).paths().is_empty());
}

#[test]
fn the_default_rules_load_and_cover_the_classic_storms() {
    let set = RuleSet::default_rules();
    let names: Vec<&str> = set.rules().iter().map(Rule::name).collect();
    assert_eq!(
        names,
        [
            "pod-crashloop",
            "volume-mount-failures",
            "scheduling-failures",
            "oom-kills",
            "node-not-ready-flapping",
            "image-pull-failures",
            "probe-failures",
            "eviction-wave",
        ]
    );
    for rule in set.rules() {
        assert!(
            rule.group_by().first() == Some(&KeyField::Cluster),
            "{} groups by cluster first",
            rule.name()
        );
    }
}

#[test]
fn default_rules_use_reasons_and_event_types_the_pipeline_produces() {
    use vigil_pipeline::normalize::REASON_TABLE;
    for rule in RuleSet::default_rules().rules() {
        let c = rule.conditions();
        assert!(
            !c.reason.is_empty() && !c.event_type.is_empty(),
            "{}",
            rule.name()
        );
        for reason in &c.reason {
            let rows: Vec<_> = REASON_TABLE.iter().filter(|r| r.reason == reason).collect();
            assert!(
                !rows.is_empty(),
                "{}: reason {reason} is not in the pipeline's table",
                rule.name()
            );
            assert!(
                rows.iter()
                    .any(|r| c.event_type.iter().any(|t| t == r.event_type)),
                "{}: no eventType of {reason} is matched",
                rule.name()
            );
        }
        for event_type in &c.event_type {
            assert!(
                REASON_TABLE.iter().any(|r| r.event_type == event_type),
                "{}: eventType {event_type} is never produced",
                rule.name()
            );
        }
    }
}

#[test]
fn overrides_replace_by_name_and_append_the_rest() {
    let base = RuleSet::default_rules();
    let extra = RuleSet::from_yaml(&format!(
        "{}{}",
        one_rule(&[("name", "pod-crashloop"), ("version", "2")]),
        one_rule(&[("name", "mine")]).replacen("rules:\n", "", 1)
    ))
    .expect("valid");
    let merged = base.clone().with_overrides(extra);
    assert_eq!(merged.len(), base.len() + 1);
    assert_eq!(merged.rules()[0].name(), "pod-crashloop");
    assert_eq!(merged.rules()[0].version(), 2);
    assert_eq!(merged.rules().last().map(Rule::name), Some("mine"));
}

#[test]
fn every_match_condition_is_applied() {
    use k8s_openapi::jiff::Timestamp;
    use vigil_model::{ObservationSpec, ResourceRef};
    let set = RuleSet::from_yaml(&one_rule(&[(
        "match",
        "{source: [kubernetes-events], category: [operations], minSeverity: medium, eventType: [pod_backoff], reason: [BackOff], namespace: ['shop-*'], audience: customer, kind: [pod]}",
    )]))
    .expect("valid");
    let rule = &set.rules()[0];
    let base = ObservationSpec {
        source: "kubernetes-events".into(),
        category: Category::Operations,
        severity: Severity::Medium,
        event_type: "pod_backoff".into(),
        resource: Some(ResourceRef {
            kind: Some("Pod".into()),
            name: Some("web-0".into()),
            namespace: Some("shop-eu".into()),
            api_version: None,
        }),
        details: Some(serde_json::json!({"reason": "BackOff"})),
        detected_at: None,
        ttl_seconds_after_creation: None,
    };
    let at = Timestamp::UNIX_EPOCH;
    let matches = |spec: &ObservationSpec, audience: Audience| {
        rule.matches(&Signal::new("c", audience, spec, at, "id"))
    };
    assert!(
        matches(&base, Audience::Customer),
        "kinds compare case-insensitively"
    );
    assert!(!matches(&base, Audience::Platform), "audience");
    type Change = Box<dyn Fn(&mut ObservationSpec)>;
    let changes: Vec<(&str, Change)> = vec![
        ("source", Box::new(|s| s.source = "falco".into())),
        ("category", Box::new(|s| s.category = Category::Security)),
        ("severity", Box::new(|s| s.severity = Severity::Low)),
        (
            "eventType",
            Box::new(|s| s.event_type = "image_pull_failed".into()),
        ),
        (
            "reason",
            Box::new(|s| s.details = Some(serde_json::json!({"reason": "Failed"}))),
        ),
        ("no reason", Box::new(|s| s.details = None)),
        (
            "namespace",
            Box::new(|s| {
                if let Some(r) = s.resource.as_mut() {
                    r.namespace = Some("shop".into());
                }
            }),
        ),
        (
            "kind",
            Box::new(|s| {
                if let Some(r) = s.resource.as_mut() {
                    r.kind = Some("Node".into());
                }
            }),
        ),
    ];
    for (what, change) in changes {
        let mut spec = base.clone();
        change(&mut spec);
        assert!(!matches(&spec, Audience::Customer), "{what} must not match");
    }
    let higher = ObservationSpec {
        severity: Severity::Critical,
        ..base
    };
    assert!(matches(&higher, Audience::Customer), "above the minimum");
}
