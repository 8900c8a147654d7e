//! The endpoints the webhook router serves, changeable while it serves.
//!
//! The configuration file's endpoints are there from the start and cannot
//! be replaced or removed at run time. Others (an Ingester's) are added,
//! replaced and removed through an [`IntakeHandle`]:
//!
//! - [`IntakeHandle::upsert`] validates an [`EndpointSection`] exactly as
//!   the configuration file's are validated (errors name the key,
//!   `endpoints[<name>].auth.bearerTokenSecretRef: ...`), reads its secret,
//!   and adds it, or replaces the endpoint of that name. An upsert of the
//!   section already in force changes nothing (a controller may reconcile as
//!   often as it likes: queues, rate limits and secret watches stay).
//! - [`IntakeHandle::remove`] takes the endpoint out: new requests for its
//!   path get 404; requests already in it finish, and records it accepted
//!   still go through the pipeline (they hold the endpoint).
//!
//! A replaced endpoint is the same: requests in flight finish in the old
//! one; new requests reach the new one (with fresh queue, rate and
//! in-flight budgets).

use super::config::{check_mtls, EndpointSection};
use super::secrets::KubeAccess;
use super::{Batch, Endpoint};
use crate::config::{invalid, ConfigError};
use crate::metrics::Metrics;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, Weak};
use tokio::sync::mpsc;

/// The records channel's own bound: out of reach (the endpoints' queues
/// bound what is in it, one batch per queue slot at most).
pub(super) const CHANNEL_BOUND: usize = 1 << 30;

/// Where an endpoint was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The agent's configuration file: fixed for the process's life.
    Config,
    /// Through an [`IntakeHandle`].
    Runtime,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Replaced,
    /// The same section was already in force.
    Unchanged,
}

#[derive(Default)]
struct Routes {
    by_path: HashMap<String, Arc<Endpoint>>,
    by_name: BTreeMap<String, Arc<Endpoint>>,
}

/// The endpoints and what new ones need.
pub(super) struct Registry {
    routes: RwLock<Routes>,
    /// The only senders into the pipeline's records channel live here (and
    /// in requests being handled): dropping the router drops them.
    pub(super) tx: mpsc::Sender<Batch>,
    pub(super) metrics: Metrics,
    kube: Option<KubeAccess>,
    /// The listener verifies client certificates (`mtls` endpoints possible).
    client_ca: bool,
}

impl Registry {
    pub(super) fn new(
        endpoints: &[Arc<Endpoint>],
        tx: mpsc::Sender<Batch>,
        metrics: Metrics,
        kube: Option<KubeAccess>,
        client_ca: bool,
    ) -> Arc<Registry> {
        let mut routes = Routes::default();
        for e in endpoints {
            routes.by_path.insert(e.settings.path.clone(), e.clone());
            routes.by_name.insert(e.settings.name.clone(), e.clone());
        }
        Arc::new(Registry {
            routes: RwLock::new(routes),
            tx,
            metrics,
            kube,
            client_ca,
        })
    }

    fn routes(&self) -> std::sync::RwLockReadGuard<'_, Routes> {
        self.routes.read().unwrap_or_else(|e| e.into_inner())
    }

    fn routes_mut(&self) -> std::sync::RwLockWriteGuard<'_, Routes> {
        self.routes.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The endpoint serving `path`.
    pub(super) fn lookup(&self, path: &str) -> Option<Arc<Endpoint>> {
        self.routes().by_path.get(path).cloned()
    }

    /// Refuses a name or path the configuration file owns, or a path
    /// another endpoint serves.
    fn check_conflicts(
        routes: &Routes,
        name: &str,
        path: &str,
        at: &str,
    ) -> Result<(), ConfigError> {
        if let Some(e) = routes.by_name.get(name) {
            if e.origin == Origin::Config {
                return Err(invalid(
                    &format!("{at}.name"),
                    format!("{name:?} is an endpoint of the configuration file"),
                ));
            }
        }
        if let Some(e) = routes.by_path.get(path) {
            if e.name() != name {
                return Err(invalid(
                    &format!("{at}.path"),
                    format!("{path:?} is used by endpoint {:?}", e.name()),
                ));
            }
        }
        Ok(())
    }
}

/// Adds, replaces and removes run-time endpoints of a running intake.
/// Cheap to clone; holds the intake weakly (once the webhook server has
/// stopped, upserts fail and removals find nothing).
#[derive(Clone)]
pub struct IntakeHandle(Weak<Registry>);

impl IntakeHandle {
    pub(super) fn new(registry: &Arc<Registry>) -> Self {
        IntakeHandle(Arc::downgrade(registry))
    }

    /// Adds the endpoint `section` declares, or replaces the run-time
    /// endpoint of its name. Errors name the key under `endpoints[<name>]`;
    /// nothing changes on an error.
    pub async fn upsert(&self, section: EndpointSection) -> Result<Upserted, ConfigError> {
        let at = format!("endpoints[{}]", section.name);
        let stopped = || invalid(&at, "the webhook intake has stopped");
        let registry = self.0.upgrade().ok_or_else(stopped)?;
        let settings = section.validate(&at)?;
        check_mtls(&settings, registry.client_ca, &at)?;
        {
            let routes = registry.routes();
            Registry::check_conflicts(&routes, &settings.name, &settings.path, &at)?;
            if let Some(e) = routes.by_name.get(&settings.name) {
                if e.section.as_ref() == Some(&section) {
                    return Ok(Upserted::Unchanged);
                }
            }
        }
        let (metrics, kube) = (registry.metrics.clone(), registry.kube.clone());
        // Not holding the registry while the Secret is read: requests go on.
        drop(registry);
        let endpoint = Endpoint::start(
            settings,
            Some(section),
            super::Origin::Runtime,
            &metrics,
            kube.as_ref(),
        )
        .await?;
        let registry = self.0.upgrade().ok_or_else(stopped)?;
        let mut routes = registry.routes_mut();
        let (name, path) = (
            endpoint.settings.name.clone(),
            endpoint.settings.path.clone(),
        );
        // Again: another upsert may have run meanwhile.
        Registry::check_conflicts(&routes, &name, &path, &at)?;
        let endpoint = Arc::new(endpoint);
        let outcome = match routes.by_name.insert(name, endpoint.clone()) {
            Some(old) => {
                routes.by_path.remove(&old.settings.path);
                Upserted::Replaced
            }
            None => Upserted::Created,
        };
        routes.by_path.insert(path, endpoint);
        Ok(outcome)
    }

    /// Removes the run-time endpoint `name`: `Ok(true)` if there was one.
    /// Requests in flight in it finish; new ones for its path get 404. The
    /// configuration file's endpoints cannot be removed.
    pub fn remove(&self, name: &str) -> Result<bool, ConfigError> {
        let Some(registry) = self.0.upgrade() else {
            return Ok(false);
        };
        let mut routes = registry.routes_mut();
        match routes.by_name.get(name) {
            None => Ok(false),
            Some(e) if e.origin == Origin::Config => Err(invalid(
                &format!("endpoints[{name}]"),
                "an endpoint of the configuration file cannot be removed",
            )),
            Some(_) => {
                let e = routes.by_name.remove(name).expect("present");
                routes.by_path.remove(&e.settings.path);
                Ok(true)
            }
        }
    }

    /// The endpoints served now: name, path and origin, by name.
    pub fn endpoints(&self) -> Vec<(String, String, Origin)> {
        let Some(registry) = self.0.upgrade() else {
            return Vec::new();
        };
        let routes = registry.routes();
        routes
            .by_name
            .values()
            .map(|e| (e.name().to_string(), e.settings.path.clone(), e.origin))
            .collect()
    }
}
