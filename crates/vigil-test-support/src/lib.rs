//! Integration-test support: every Kubernetes-facing test runs against a real
//! kube-apiserver with etcd, started by `scripts/control-plane` (by `.ci/run`,
//! or here on demand when none is running). Gives tests clients (as admin or
//! as a test user), a fresh namespace each, and vigil's CRDs Established.
//! A test that needs the plane fails loudly when it cannot be started.
//!
//! [`Plane::get`] is the one shared plane; a test that stops and restarts the
//! API server gets a [`DedicatedPlane`] of its own instead. Both dereference to
//! [`Cluster`] for clients, kubeconfigs and namespaces.

mod apply;
mod dedicated;
mod plane;
mod tools;

pub use apply::{apply_yaml, ApplyError};
pub use dedicated::DedicatedPlane;
pub use plane::{Cluster, Plane, TestUser};
pub use tools::tool_crd_files;

/// Repository root, for tests that read committed files (deploy/, examples/).
pub fn repo_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
