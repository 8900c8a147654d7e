//! Manifests checked per second: a synthetic cluster of N applications, each
//! the fixtures' web application (Deployment, HPA, PDB, NetworkPolicy, one
//! privileged container) plus a Service, a Role and a RoleBinding, in its own
//! namespace. Measured parse + check (what `vigil check -f` does) and check
//! alone (what a live-cluster run would do with objects already in memory).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use vigil_check::{parse_manifests, Config};

const APP: &str = include_str!("../tests/fixtures/security.privileged/fail.yaml");

const EXTRA: &str = "\
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {app.kubernetes.io/name: web, app.kubernetes.io/instance: web}}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: web, namespace: shop}
rules: [{apiGroups: [\"\"], resources: [configmaps], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: web, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: web}
subjects: [{kind: ServiceAccount, name: web, namespace: shop}]
";

/// `apps` applications, 7 objects each, one namespace per application.
fn cluster(apps: usize) -> String {
    let one = format!("{APP}{EXTRA}");
    (0..apps)
        .map(|i| one.replace("namespace: shop", &format!("namespace: shop-{i}")))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn bench(c: &mut Criterion) {
    let config = Config::default();
    let mut group = c.benchmark_group("check");
    for apps in [10usize, 200] {
        let text = cluster(apps);
        let parsed = parse_manifests("cluster.yaml", &text);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let objects = parsed.manifests.len();
        assert_eq!(objects, apps * 7);
        group.throughput(Throughput::Elements(objects as u64));
        group.bench_with_input(
            BenchmarkId::new("parse_and_check", objects),
            &text,
            |b, text| {
                b.iter(|| {
                    let parsed = parse_manifests("cluster.yaml", black_box(text));
                    black_box(vigil_check::run(&parsed, &config))
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("check_only", objects),
            &parsed,
            |b, parsed| b.iter(|| black_box(vigil_check::run(black_box(parsed), &config))),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
