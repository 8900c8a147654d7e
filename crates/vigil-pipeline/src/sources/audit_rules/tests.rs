//! Every rule, matching and not, the order, failures, the filter and config.

use super::*;
use serde_json::json;

fn request(verb: &str, user: &str, object_ref: Value) -> Value {
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Request",
        "auditID": "a-1", "stage": "ResponseComplete", "requestURI": "/x", "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.1"], "objectRef": object_ref,
        "responseStatus": {"code": 200},
        "requestReceivedTimestamp": "2026-01-01T00:00:00.000001Z",
        "stageTimestamp": "2026-01-01T00:00:00.000002Z"
    })
}

fn obj(resource: &str, namespace: &str, name: &str) -> Value {
    let group = match resource {
        "roles" | "clusterroles" | "rolebindings" | "clusterrolebindings" => {
            "rbac.authorization.k8s.io"
        }
        _ => "",
    };
    json!({"resource": resource, "namespace": namespace, "name": name, "apiGroup": group, "apiVersion": "v1"})
}

fn parse(v: Value) -> AuditEvent {
    AuditEvent::from_value(v).expect("a valid event")
}

fn classify_with(
    config: &AuditConfig,
    v: Value,
) -> Option<(&'static str, Severity, RequestOutcome)> {
    AuditRules::new(config)
        .classify(&parse(v))
        .map(|m| (m.event_type(), m.severity, m.outcome))
}

fn rule_of(v: Value) -> Option<&'static str> {
    classify_with(&AuditConfig::default(), v).map(|(r, _, _)| r)
}

fn pod_create(spec: Value) -> Value {
    let mut e = request(
        "create",
        "system:serviceaccount:kube-system:replicaset-controller",
        obj("pods", "default", ""),
    );
    e["requestObject"] = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"generateName": "web-"}, "spec": spec});
    e
}

#[test]
fn anonymous_requests_match_except_health_probes() {
    let anon = request("create", "system:anonymous", obj("namespaces", "", "foo"));
    assert_eq!(
        classify_with(&AuditConfig::default(), anon),
        Some(("anonymous_request", Severity::High, RequestOutcome::Allowed))
    );
    let mut unauthenticated = request("get", "someone", obj("pods", "shop", "web"));
    unauthenticated["user"]["groups"] = json!(["system:unauthenticated"]);
    assert_eq!(rule_of(unauthenticated), Some("anonymous_request"));
    for (uri, expected) in [
        ("/healthz", None),
        ("/livez?verbose", None),
        ("/readyz/etcd", None),
        ("/version", None),
        ("/healthzz", Some("anonymous_request")),
        ("/api", Some("anonymous_request")),
        ("/metrics", Some("anonymous_request")),
    ] {
        let mut probe = request("get", "system:anonymous", Value::Null);
        probe["requestURI"] = uri.into();
        assert_eq!(rule_of(probe), expected, "{uri}");
    }
    let mut denied = request("list", "system:anonymous", obj("secrets", "", ""));
    denied["responseStatus"]["code"] = 403.into();
    assert_eq!(
        classify_with(&AuditConfig::default(), denied),
        Some((
            "anonymous_request",
            Severity::Medium,
            RequestOutcome::Denied
        )),
        "a denied attempt is one severity lower"
    );
}

#[test]
fn binding_cluster_admin_is_critical_and_other_bindings_are_rbac_changes() {
    let mut e = request(
        "create",
        "minikube-user",
        obj("clusterrolebindings", "", "b"),
    );
    e["requestObject"] = json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}});
    assert_eq!(
        classify_with(&AuditConfig::default(), e.clone()),
        Some((
            "rbac_cluster_admin_binding",
            Severity::Critical,
            RequestOutcome::Allowed
        ))
    );
    let mut namespaced = request(
        "update",
        "system:serviceaccount:shop:ci",
        obj("rolebindings", "shop", "b"),
    );
    namespaced["responseObject"] = e["requestObject"].clone();
    assert_eq!(
        rule_of(namespaced),
        Some("rbac_cluster_admin_binding"),
        "a stolen token is no excuse"
    );
    let mut bootstrap = e.clone();
    bootstrap["user"]["username"] = "system:apiserver".into();
    assert_eq!(rule_of(bootstrap), None, "the control plane bootstraps it");
    let mut role_named_so = e.clone();
    role_named_so["requestObject"]["roleRef"]["kind"] = "Role".into();
    assert_eq!(rule_of(role_named_so), Some("rbac_changed"));
    let mut other = e.clone();
    other["requestObject"]["roleRef"]["name"] = "view".into();
    assert_eq!(rule_of(other), Some("rbac_changed"));
    let mut delete = e;
    delete["verb"] = "delete".into();
    assert_eq!(
        rule_of(delete),
        Some("rbac_changed"),
        "removing a binding is a change, not a grant"
    );
}

#[test]
fn wildcard_roles_are_high_only_for_what_the_request_sets() {
    let mut e = request("create", "minikube-user", obj("clusterroles", "", "r"));
    e["requestObject"] =
        json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}]});
    assert_eq!(
        classify_with(&AuditConfig::default(), e.clone()),
        Some((
            "rbac_wildcard_role",
            Severity::High,
            RequestOutcome::Allowed
        ))
    );
    e["requestObject"]["rules"] = json!([{"resources": ["*"], "verbs": ["get"]}, {"nonResourceURLs": ["*"], "verbs": ["get"]}]);
    assert_eq!(rule_of(e.clone()), Some("rbac_wildcard_role"));
    e["requestObject"]["rules"] = json!([{"nonResourceURLs": ["*"], "verbs": ["get"]}]);
    assert_eq!(
        rule_of(e.clone()),
        Some("rbac_changed"),
        "non-resource URLs are not resources"
    );
    let mut patch = e.clone();
    patch["verb"] = "patch".into();
    patch["requestObject"] = json!({"metadata": {"labels": {"a": "b"}}});
    patch["responseObject"] = json!({"rules": [{"resources": ["*"], "verbs": ["*"]}]});
    assert_eq!(
        rule_of(patch),
        Some("rbac_changed"),
        "the patch adds no wildcard"
    );
    let mut aggregation = e;
    aggregation["requestObject"]["rules"] = json!([{"resources": ["*"], "verbs": ["*"]}]);
    aggregation["user"]["username"] =
        "system:serviceaccount:kube-system:clusterrole-aggregation-controller".into();
    assert_eq!(rule_of(aggregation), None);
}

#[test]
fn privileged_and_host_namespace_pods_are_found_in_any_container() {
    let privileged = pod_create(
        json!({"containers": [{"name": "a"}, {"name": "b", "securityContext": {"privileged": true}}]}),
    );
    assert_eq!(rule_of(privileged.clone()), Some("privileged_pod_created"));
    let e = parse(privileged);
    let m = AuditRules::new(&AuditConfig::default())
        .classify(&e)
        .unwrap();
    assert_eq!(details(&e, &m)["privilegedContainers"], json!(["b"]));
    let init = pod_create(
        json!({"initContainers": [{"name": "i", "securityContext": {"privileged": true}}], "containers": [{"name": "a"}]}),
    );
    assert_eq!(rule_of(init), Some("privileged_pod_created"));
    let not = pod_create(
        json!({"containers": [{"name": "a", "securityContext": {"privileged": false}}]}),
    );
    assert_eq!(rule_of(not), None);
    for flag in ["hostNetwork", "hostPID", "hostIPC"] {
        let host = pod_create(json!({flag: true, "containers": [{"name": "a"}]}));
        assert_eq!(rule_of(host), Some("host_namespace_pod_created"), "{flag}");
    }
    let off = pod_create(json!({"hostNetwork": false, "containers": [{"name": "a"}]}));
    assert_eq!(rule_of(off), None);
    let both = pod_create(
        json!({"hostPID": true, "hostNetwork": true, "containers": [{"name": "a", "securityContext": {"privileged": true}}]}),
    );
    assert_eq!(
        rule_of(both.clone()),
        Some("privileged_pod_created"),
        "the first rule wins"
    );
    let e = parse(both);
    let m = AuditRules::new(&AuditConfig::default())
        .classify(&e)
        .unwrap();
    assert_eq!(
        details(&e, &m)["hostNamespaces"],
        json!(["hostNetwork", "hostPID"])
    );
    let mut update = pod_create(json!({"hostNetwork": true}));
    update["verb"] = "update".into();
    assert_eq!(rule_of(update), None, "only creates");
}

#[test]
fn exec_attach_and_portforward_match_create_and_get() {
    for (sub, rule) in [
        ("exec", "pod_exec"),
        ("attach", "pod_attach"),
        ("portforward", "pod_portforward"),
    ] {
        let mut o = obj("pods", "shop", "web-1");
        o["subresource"] = sub.into();
        for verb in ["create", "get"] {
            let e = request(verb, "alice", o.clone());
            assert_eq!(
                classify_with(&AuditConfig::default(), e),
                Some((rule, Severity::Medium, RequestOutcome::Allowed)),
                "{verb} {sub}"
            );
        }
        assert_eq!(rule_of(request("list", "alice", o)), None);
    }
    let mut log = obj("pods", "shop", "web-1");
    log["subresource"] = "log".into();
    assert_eq!(rule_of(request("get", "alice", log)), None);
}

#[test]
fn rbac_changes_are_compliance_and_ignore_only_the_control_plane() {
    for resource in [
        "roles",
        "clusterroles",
        "rolebindings",
        "clusterrolebindings",
    ] {
        for verb in ["create", "update", "patch", "delete", "deletecollection"] {
            let e = request(
                verb,
                "system:serviceaccount:ci:deployer",
                obj(resource, "", "x"),
            );
            assert_eq!(rule_of(e), Some("rbac_changed"), "{verb} {resource}");
        }
        assert_eq!(
            rule_of(request("get", "alice", obj(resource, "", "x"))),
            None
        );
        let controller = request(
            "patch",
            "system:kube-controller-manager",
            obj(resource, "", "x"),
        );
        assert_eq!(rule_of(controller), None);
    }
    let rule = AUDIT_RULES
        .iter()
        .find(|r| r.name == "rbac_changed")
        .unwrap();
    assert_eq!(
        (rule.category, rule.severity),
        (Category::Compliance, Severity::Medium)
    );
    let mut other_group = obj("roles", "", "x");
    other_group["apiGroup"] = "example.com".into();
    assert_eq!(
        rule_of(request("create", "alice", other_group)),
        None,
        "a CRD named roles"
    );
}

#[test]
fn secret_reads_by_people_match_and_by_system_users_do_not() {
    for verb in ["get", "list", "watch"] {
        assert_eq!(
            rule_of(request(verb, "alice", obj("secrets", "shop", "db"))),
            Some("secret_access"),
            "{verb}"
        );
        assert_eq!(
            rule_of(request(
                verb,
                "system:serviceaccount:shop:app",
                obj("secrets", "shop", "db")
            )),
            None
        );
        assert_eq!(
            rule_of(request(
                verb,
                "system:node:node-a",
                obj("secrets", "shop", "db")
            )),
            None
        );
    }
    assert_eq!(
        rule_of(request("create", "alice", obj("secrets", "shop", "db"))),
        None,
        "writes are not reads"
    );
    let mut missing = request("get", "alice", obj("secrets", "shop", "db"));
    missing["responseStatus"]["code"] = 404.into();
    assert_eq!(
        classify_with(&AuditConfig::default(), missing),
        Some(("secret_access", Severity::Low, RequestOutcome::Failed))
    );
    let strict = AuditConfig {
        system_users: vec!["system:node:*".into()],
        ..AuditConfig::default()
    };
    let sa = request(
        "get",
        "system:serviceaccount:shop:app",
        obj("secrets", "shop", "db"),
    );
    assert_eq!(
        classify_with(&strict, sa).map(|m| m.0),
        Some("secret_access")
    );
}

#[test]
fn deletes_in_system_namespaces_match_for_people_only() {
    for ns in ["kube-system", "kube-public", "cert-manager-system"] {
        let e = request("delete", "alice", obj("configmaps", ns, "x"));
        assert_eq!(
            classify_with(&AuditConfig::default(), e),
            Some((
                "system_namespace_delete",
                Severity::Medium,
                RequestOutcome::Allowed
            )),
            "{ns}"
        );
        let gc = request(
            "delete",
            "system:serviceaccount:kube-system:generic-garbage-collector",
            obj("pods", ns, "x"),
        );
        assert_eq!(rule_of(gc), None);
    }
    assert_eq!(
        rule_of(request(
            "deletecollection",
            "alice",
            obj("pods", "kube-system", "")
        )),
        Some("system_namespace_delete")
    );
    assert_eq!(
        rule_of(request(
            "delete",
            "alice",
            obj("namespaces", "", "kube-public")
        )),
        Some("system_namespace_delete"),
        "the namespace itself"
    );
    assert_eq!(
        rule_of(request(
            "delete",
            "alice",
            obj("configmaps", "default", "x")
        )),
        None
    );
    assert_eq!(
        rule_of(request("delete", "alice", obj("namespaces", "", "foo"))),
        None
    );
    assert_eq!(
        rule_of(request(
            "update",
            "alice",
            obj("configmaps", "kube-system", "x")
        )),
        None
    );
    assert_eq!(
        rule_of(request(
            "delete",
            "alice",
            obj("rolebindings", "kube-system", "x")
        )),
        Some("rbac_changed"),
        "RBAC comes first"
    );
}

#[test]
fn routine_traffic_matches_nothing() {
    for (verb, user, o) in [
        ("get", "system:node:minikube", obj("pods", "default", "web")),
        (
            "update",
            "system:kube-scheduler",
            obj("leases", "kube-system", "kube-scheduler"),
        ),
        (
            "create",
            "minikube-user",
            obj("configmaps", "default", "my-config"),
        ),
        (
            "watch",
            "system:kube-controller-manager",
            obj("secrets", "", ""),
        ),
        ("list", "alice", obj("pods", "shop", "")),
    ] {
        assert_eq!(rule_of(request(verb, user, o)), None, "{verb} by {user}");
    }
}

#[test]
fn failures_lower_the_severity_once_and_name_the_outcome() {
    assert_eq!(one_lower(Severity::Critical), Severity::High);
    assert_eq!(one_lower(Severity::Low), Severity::Info);
    assert_eq!(one_lower(Severity::Info), Severity::Info);
    let mut e = request("create", "alice", obj("clusterrolebindings", "", "b"));
    e["requestObject"] = json!({"roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}});
    e["responseStatus"]["code"] = 403.into();
    assert_eq!(
        classify_with(&AuditConfig::default(), e.clone()),
        Some((
            "rbac_cluster_admin_binding",
            Severity::High,
            RequestOutcome::Denied
        ))
    );
    let event = parse(e);
    let m = AuditRules::new(&AuditConfig::default())
        .classify(&event)
        .unwrap();
    assert_eq!(details(&event, &m)["outcome"], "denied");
    let allowed = parse(request("get", "alice", obj("secrets", "shop", "db")));
    let am = AuditRules::new(&AuditConfig::default())
        .classify(&allowed)
        .unwrap();
    let mut denied = request("get", "alice", obj("secrets", "shop", "db"));
    denied["responseStatus"]["code"] = 403.into();
    let denied = parse(denied);
    let dm = AuditRules::new(&AuditConfig::default())
        .classify(&denied)
        .unwrap();
    assert_ne!(
        fingerprint_text(&allowed, &am),
        fingerprint_text(&denied, &dm)
    );
}

#[test]
fn the_stage_and_verb_filter_comes_first() {
    let rules = AuditRules::new(&AuditConfig::default());
    let mut e = request("get", "alice", obj("secrets", "shop", "db"));
    assert_eq!(rules.check(&parse(e.clone())), Ok(()));
    e["stage"] = "ResponseStarted".into();
    assert_eq!(rules.check(&parse(e.clone())), Err(DropReason::AuditStage));
    let both = AuditRules::new(&AuditConfig {
        stages: vec![AuditStage::ResponseStarted, AuditStage::ResponseComplete],
        verbs: vec!["create".into()],
        ..AuditConfig::default()
    });
    assert_eq!(both.check(&parse(e.clone())), Err(DropReason::AuditVerb));
    e["verb"] = "create".into();
    assert_eq!(both.check(&parse(e)), Ok(()));
}

#[test]
fn disabled_rules_never_match_and_config_is_validated() {
    let config = AuditConfig {
        disabled_rules: vec!["secret_access".into()],
        ..AuditConfig::default()
    };
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(
        classify_with(
            &config,
            request("get", "alice", obj("secrets", "shop", "db"))
        ),
        None
    );
    let typo = AuditConfig {
        disabled_rules: vec!["secrets_access".into()],
        ..AuditConfig::default()
    };
    let err = typo.validate().unwrap_err();
    assert!(
        err.starts_with(
            "disabledRules: unknown rule \"secrets_access\", expected one of: anonymous_request"
        ),
        "{err}"
    );
    let no_stage = AuditConfig {
        stages: vec![],
        ..AuditConfig::default()
    };
    assert!(no_stage.validate().unwrap_err().starts_with("stages:"));
    let empty_verb = AuditConfig {
        verbs: vec![String::new()],
        ..AuditConfig::default()
    };
    assert!(empty_verb.validate().unwrap_err().starts_with("verbs:"));
    assert_eq!(AuditConfig::default().validate(), Ok(()));
}

#[test]
fn details_keep_who_did_what_to_which_object() {
    let mut e = request("get", "alice", obj("secrets", "shop", "db"));
    e["userAgent"] = "kubectl/v1.30.0".into();
    e["impersonatedUser"] = json!({"username": "bob", "groups": ["devs"]});
    e["annotations"] = json!({"authorization.k8s.io/decision": "allow"});
    let event = parse(e);
    let m = AuditRules::new(&AuditConfig::default())
        .classify(&event)
        .unwrap();
    let d = details(&event, &m);
    assert_eq!(d["rule"], "secret_access");
    assert_eq!(d["auditID"], "a-1");
    assert_eq!(d["stage"], "ResponseComplete");
    assert_eq!(d["verb"], "get");
    assert_eq!(d["requestURI"], "/x");
    assert_eq!(
        d["user"],
        json!({"username": "alice", "groups": ["system:authenticated"]})
    );
    assert_eq!(d["impersonatedUser"]["username"], "bob");
    assert_eq!(d["sourceIPs"], json!(["10.0.0.1"]));
    assert_eq!(d["userAgent"], "kubectl/v1.30.0");
    assert_eq!(
        d["objectRef"],
        json!({"resource": "secrets", "namespace": "shop", "name": "db", "apiVersion": "v1"})
    );
    assert_eq!(d["responseStatus"], json!({"code": 200}));
    assert_eq!(d["outcome"], "allowed");
    assert_eq!(d["annotations"]["authorization.k8s.io/decision"], "allow");
    let spec = observation_spec(&event, &event.target(), &m, "k8s-audit", 60);
    assert_eq!(
        (spec.category, spec.severity),
        (Category::Security, Severity::Medium)
    );
    assert_eq!(spec.event_type, "secret_access");
    assert_eq!(
        spec.detected_at.map(|t| t.0),
        Some("2026-01-01T00:00:00.000002Z".parse().unwrap())
    );
    let r = spec.resource.expect("resource");
    assert_eq!(
        (r.kind.as_deref(), r.namespace.as_deref(), r.name.as_deref()),
        (Some("Secret"), Some("shop"), Some("db"))
    );
}

#[test]
fn the_documented_table_lists_every_rule_in_order() {
    let source = include_str!("../audit_rules.rs");
    let rows: Vec<&str> = source
        .lines()
        .filter(|l| l.starts_with("//! | ") && l.contains("| `"))
        .filter_map(|l| l.split('`').nth(1))
        .collect();
    let names: Vec<&str> = AUDIT_RULES.iter().map(|r| r.name).collect();
    assert_eq!(rows, names);
    for r in AUDIT_RULES {
        let row = source
            .lines()
            .find(|l| l.contains(&format!("| `{}` |", r.name)))
            .expect("a row");
        assert!(
            row.ends_with(&format!("| {} | {} |", r.category, r.severity)),
            "{row}"
        );
        assert!(r.name.len() <= 63 && r.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    }
}
