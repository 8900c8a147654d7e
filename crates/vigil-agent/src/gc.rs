//! TTL garbage collection of Observations: every `interval`, list them in
//! pages, delete those older than their `ttlSecondsAfterCreation` (or the
//! default TTL when unset), and, per namespace, the oldest beyond a maximum
//! count (so a flood cannot fill etcd). Deletes run with bounded concurrency
//! behind the writer's rate limiter. With `namespaces` configured (sharding
//! by namespace), only those namespaces are collected. [`plan`] decides (pure); [`run`] does
//! the I/O.

use crate::metrics::Metrics;
use crate::sinks::rate_limiter::RateLimiter;
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Preconditions};
use kube::Client;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vigil_model::Observation;

/// How the collector runs.
#[derive(Debug, Clone, PartialEq)]
pub struct GcSettings {
    pub interval: Duration,
    /// TTL of Observations that carry none.
    pub default_ttl_seconds: i64,
    /// Observations kept per namespace at most (oldest deleted first); 0 = no limit.
    pub max_per_namespace: usize,
    /// Items per list page.
    pub page_size: u32,
    /// Deletes in flight at once.
    pub concurrency: usize,
    /// Collect only in these namespaces (the agent's `namespaces`, so a
    /// shard collects what it owns); empty = the whole cluster.
    pub namespaces: Vec<String>,
}

/// What the collector needs of one Observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub created: Timestamp,
    pub ttl_seconds: Option<i64>,
}

impl Item {
    pub fn from_observation(o: &Observation) -> Option<Item> {
        Some(Item {
            namespace: o.metadata.namespace.clone()?,
            name: o.metadata.name.clone()?,
            uid: o.metadata.uid.clone().unwrap_or_default(),
            created: o.metadata.creation_timestamp.as_ref()?.0,
            ttl_seconds: o.spec.ttl_seconds_after_creation,
        })
    }
}

/// Why an Observation is deleted (the metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    Expired,
    OverLimit,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Expired => "expired",
            Reason::OverLimit => "over_limit",
        }
    }
}

/// Which items to delete at `now`: every expired one, then per namespace the
/// oldest of the rest beyond `max_per_namespace`. Deterministic order: by
/// namespace, then creation time, then name.
pub fn plan(items: &[Item], now: Timestamp, settings: &GcSettings) -> Vec<(Item, Reason)> {
    let mut out = Vec::new();
    let mut kept: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
    for item in items {
        let ttl = item
            .ttl_seconds
            .unwrap_or(settings.default_ttl_seconds)
            .max(0);
        if now.as_second() - item.created.as_second() >= ttl {
            out.push((item.clone(), Reason::Expired));
        } else {
            kept.entry(&item.namespace).or_default().push(item);
        }
    }
    if settings.max_per_namespace > 0 {
        for list in kept.values_mut() {
            if list.len() > settings.max_per_namespace {
                list.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
                let excess = list.len() - settings.max_per_namespace;
                out.extend(
                    list[..excess]
                        .iter()
                        .map(|i| ((*i).clone(), Reason::OverLimit)),
                );
            }
        }
    }
    out.sort_by(|a, b| {
        (&a.0.namespace, a.0.created, &a.0.name).cmp(&(&b.0.namespace, b.0.created, &b.0.name))
    });
    out
}

/// One pass: list every Observation (in pages), plan, delete. Returns the
/// number deleted. Deletes are preconditioned on the uid, so an Observation
/// re-created under the same name meanwhile is not deleted.
pub async fn collect_once(
    client: &Client,
    settings: &GcSettings,
    limiter: &RateLimiter,
    metrics: &Metrics,
) -> u64 {
    let started = Instant::now();
    let scopes: Vec<Api<Observation>> = if settings.namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        settings
            .namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    };
    let mut items = Vec::new();
    for api in scopes {
        if let Err(err) = list_into(&api, settings.page_size, &mut items).await {
            tracing::warn!(error = %err, "gc: listing Observations failed; next pass retries");
            metrics
                .gc_errors
                .get_or_create(&Metrics::result("list"))
                .inc();
            return 0;
        }
    }
    let doomed = plan(&items, Timestamp::now(), settings);
    metrics.gc_backlog.set(doomed.len() as i64);
    let deleted = futures::stream::iter(doomed)
        .map(|(item, reason)| async move {
            limiter.acquire().await;
            let api: Api<Observation> = Api::namespaced(client.clone(), &item.namespace);
            let params = DeleteParams {
                preconditions: Some(Preconditions { uid: Some(item.uid.clone()), resource_version: None }),
                ..Default::default()
            };
            match api.delete(&item.name, &params).await {
                Ok(_) => {
                    metrics.gc_deleted.get_or_create(&Metrics::result(reason.as_str())).inc();
                    1
                }
                // Gone already, or replaced by a newer one: nothing to do.
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => 0,
                Err(err) => {
                    tracing::warn!(name = %item.name, namespace = %item.namespace, error = %err, "gc: delete failed");
                    metrics.gc_errors.get_or_create(&Metrics::result("delete")).inc();
                    0
                }
            }
        })
        .buffer_unordered(settings.concurrency.max(1))
        .fold(0u64, |n, d| async move { n + d })
        .await;
    metrics.gc_backlog.set(0);
    metrics.gc_duration.observe(started.elapsed().as_secs_f64());
    deleted
}

/// Lists every Observation `api` sees, a page at a time.
async fn list_into(
    api: &Api<Observation>,
    page_size: u32,
    items: &mut Vec<Item>,
) -> Result<(), kube::Error> {
    let mut params = ListParams::default().limit(page_size);
    loop {
        let page = api.list(&params).await?;
        items.extend(page.items.iter().filter_map(Item::from_observation));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(()),
        }
    }
}

/// Runs a pass every `interval` until the task is dropped.
pub async fn run(client: Client, settings: GcSettings, limiter: RateLimiter, metrics: Metrics) {
    let mut tick = tokio::time::interval(settings.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let deleted = collect_once(&client, &settings, &limiter, &metrics).await;
        if deleted > 0 {
            tracing::info!(deleted, "gc: Observations deleted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(ns: &str, name: &str, created: &str, ttl: Option<i64>) -> Item {
        Item {
            namespace: ns.into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            created: created.parse().unwrap(),
            ttl_seconds: ttl,
        }
    }

    fn settings(max: usize) -> GcSettings {
        GcSettings {
            interval: Duration::from_secs(60),
            default_ttl_seconds: 3600,
            max_per_namespace: max,
            page_size: 500,
            concurrency: 4,
            namespaces: Vec::new(),
        }
    }

    fn names(plan: &[(Item, Reason)]) -> Vec<(&str, Reason)> {
        plan.iter().map(|(i, r)| (i.name.as_str(), *r)).collect()
    }

    #[test]
    fn expired_by_their_own_ttl_or_the_default() {
        let now: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        let items = [
            item("a", "short", "2026-01-01T00:59:00Z", Some(30)), // 60 s old, ttl 30 s
            item("a", "young", "2026-01-01T00:59:50Z", Some(30)), // 10 s old
            item("a", "default-old", "2026-01-01T00:00:00Z", None), // exactly the default hour
            item("a", "default-young", "2026-01-01T00:30:00Z", None),
        ];
        assert_eq!(
            names(&plan(&items, now, &settings(0))),
            [("default-old", Reason::Expired), ("short", Reason::Expired)]
        );
    }

    #[test]
    fn the_oldest_beyond_the_namespace_limit_go_first() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let items = [
            item("a", "a3", "2026-01-01T00:03:00Z", None),
            item("a", "a1", "2026-01-01T00:01:00Z", None),
            item("a", "a2", "2026-01-01T00:02:00Z", None),
            item("b", "b1", "2026-01-01T00:01:00Z", None),
        ];
        assert_eq!(
            names(&plan(&items, now, &settings(2))),
            [("a1", Reason::OverLimit)]
        );
        assert_eq!(
            names(&plan(&items, now, &settings(1))),
            [("a1", Reason::OverLimit), ("a2", Reason::OverLimit)]
        );
        assert!(
            plan(&items, now, &settings(0)).is_empty(),
            "no limit, nothing expired"
        );
    }
}
