//! Lease-based leader election (`coordination.k8s.io/v1`), so only one
//! replica runs leader-only work (the informer sources, GC) at a time.
//!
//! A small module of our own rather than kube-lease-manager: that crate keeps
//! reporting leadership while it cannot reach the API server, so a
//! partitioned leader would keep acting after another replica took the
//! lease. Here a leader steps down by itself when it has not renewed for
//! `renew_deadline` (shorter than the lease duration), so two leaders never
//! act at once as long as clocks advance at similar rates.
//!
//! [`decide`] is the pure rule; [`Elector::run`] does the I/O and publishes
//! leadership on a `watch` channel.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::Client;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Timings, as in client-go's leader election (15 s / 10 s / 2 s by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionSettings {
    pub lease_name: String,
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a lease is valid after its last renewal.
    pub lease_duration: Duration,
    /// A leader that has not renewed for this long stops acting.
    pub renew_deadline: Duration,
    /// How often to try to acquire or renew.
    pub retry_period: Duration,
}

/// What the lease looks like, as far as the rule cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub holder: Option<String>,
    pub renewed: Option<Timestamp>,
    pub duration: Duration,
}

/// What to do with the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Ours: write a new renew time.
    Renew,
    /// Free or expired: take it (a new acquire time, transitions + 1).
    Acquire,
    /// Someone else holds a valid lease.
    Follow,
}

/// The rule: renew our own lease; take a lease without holder or whose
/// holder has not renewed within its duration; otherwise follow.
pub fn decide(lease: Option<&Observed>, me: &str, now: Timestamp) -> Action {
    let Some(lease) = lease else {
        return Action::Acquire;
    };
    match lease.holder.as_deref() {
        Some(holder) if holder == me => Action::Renew,
        None | Some("") => Action::Acquire,
        Some(_) => {
            let expired = lease.renewed.is_none_or(|renewed| {
                let duration =
                    SignedDuration::try_from(lease.duration).unwrap_or(SignedDuration::MAX);
                renewed
                    .checked_add(duration)
                    .is_ok_and(|until| until <= now)
            });
            if expired {
                Action::Acquire
            } else {
                Action::Follow
            }
        }
    }
}

fn observed(lease: &Lease) -> Observed {
    let spec = lease.spec.clone().unwrap_or_default();
    Observed {
        holder: spec.holder_identity,
        renewed: spec
            .renew_time
            .map(|t| t.0)
            .or(spec.acquire_time.map(|t| t.0)),
        duration: Duration::from_secs(spec.lease_duration_seconds.unwrap_or(15).max(1) as u64),
    }
}

/// Runs the election; `leading` reflects whether this replica may act.
pub struct Elector {
    api: Api<Lease>,
    settings: ElectionSettings,
    leading: watch::Sender<bool>,
}

impl Elector {
    pub fn new(client: Client, settings: ElectionSettings) -> (Self, watch::Receiver<bool>) {
        let (leading, rx) = watch::channel(false);
        let api = Api::namespaced(client, &settings.namespace);
        (
            Self {
                api,
                settings,
                leading,
            },
            rx,
        )
    }

    /// Tries every `retry_period` until `stop` resolves, then releases the
    /// lease if held (so a successor need not wait for it to expire).
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut last_renewed: Option<Instant> = None;
        let mut tick = tokio::time::interval(self.settings.retry_period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {}
            }
            match self.try_once().await {
                Ok(true) => last_renewed = Some(Instant::now()),
                Ok(false) => last_renewed = None,
                Err(err) => {
                    tracing::warn!(error = %err, lease = %self.settings.lease_name, "leader election: lease not read or written")
                }
            }
            // Lead only while the last renewal is recent enough.
            let leading = last_renewed.is_some_and(|t| t.elapsed() < self.settings.renew_deadline);
            if !leading {
                last_renewed = None;
            }
            self.leading.send_if_modified(|v| {
                let changed = *v != leading;
                if changed {
                    tracing::info!(identity = %self.settings.identity, leading, "leadership changed");
                }
                *v = leading;
                changed
            });
        }
        let was_leading = *self.leading.borrow();
        self.leading.send_replace(false);
        if was_leading {
            if let Err(err) = self.release().await {
                tracing::warn!(error = %err, "leader election: lease not released; it expires by itself");
            }
        }
    }

    /// One round: read, decide, write. `Ok(true)` when we hold a fresh lease.
    async fn try_once(&self) -> Result<bool, kube::Error> {
        let s = &self.settings;
        let current = self.api.get_opt(&s.lease_name).await?;
        let now = Timestamp::now();
        let action = decide(current.as_ref().map(observed).as_ref(), &s.identity, now);
        if action == Action::Follow {
            return Ok(false);
        }
        let mut lease = current.clone().unwrap_or_else(|| Lease {
            metadata: ObjectMeta {
                name: Some(s.lease_name.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec::default()),
        });
        let spec = lease.spec.get_or_insert_with(Default::default);
        spec.holder_identity = Some(s.identity.clone());
        spec.lease_duration_seconds = Some(s.lease_duration.as_secs() as i32);
        spec.renew_time = Some(MicroTime(now));
        if action == Action::Acquire {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        // Optimistic concurrency: the update carries the resourceVersion we
        // read, so of two replicas acquiring at once only one succeeds (409).
        let result = match current {
            Some(_) => {
                self.api
                    .replace(&s.lease_name, &PostParams::default(), &lease)
                    .await
            }
            None => self.api.create(&PostParams::default(), &lease).await,
        };
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Gives the lease up: no holder, so another replica takes it at once.
    async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.settings.lease_name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        self.api
            .replace(&self.settings.lease_name, &PostParams::default(), &lease)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn lease(holder: Option<&str>, renewed: Option<&str>) -> Observed {
        Observed {
            holder: holder.map(str::to_string),
            renewed: renewed.map(at),
            duration: Duration::from_secs(15),
        }
    }

    #[test]
    fn own_leases_are_renewed_free_or_expired_ones_taken_valid_ones_followed() {
        let now = at("2026-01-01T00:00:20Z");
        assert_eq!(decide(None, "a", now), Action::Acquire);
        assert_eq!(
            decide(
                Some(&lease(Some("a"), Some("2026-01-01T00:00:19Z"))),
                "a",
                now
            ),
            Action::Renew
        );
        assert_eq!(decide(Some(&lease(None, None)), "a", now), Action::Acquire);
        assert_eq!(
            decide(
                Some(&lease(Some(""), Some("2026-01-01T00:00:19Z"))),
                "a",
                now
            ),
            Action::Acquire
        );
        // b renewed 10 s ago: valid for 5 s more.
        assert_eq!(
            decide(
                Some(&lease(Some("b"), Some("2026-01-01T00:00:10Z"))),
                "a",
                now
            ),
            Action::Follow
        );
        // b renewed exactly 15 s ago: expired.
        assert_eq!(
            decide(
                Some(&lease(Some("b"), Some("2026-01-01T00:00:05Z"))),
                "a",
                now
            ),
            Action::Acquire
        );
        assert_eq!(
            decide(Some(&lease(Some("b"), None)), "a", now),
            Action::Acquire
        );
    }
}
