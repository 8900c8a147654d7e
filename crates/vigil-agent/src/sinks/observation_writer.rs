//! Writes Observations to the API server: paced by the client rate limiter,
//! retried with exponential backoff and full jitter on 429, 5xx, timeouts and
//! connection errors (until the API server answers), never retried on an
//! answer that will not change (422, a namespace that is gone). A 403 is
//! retried a few times first: a kube-apiserver that has just started answers
//! 403 until its RBAC caches have synced, and a new RoleBinding takes a moment
//! to apply. A 409 is the duplicate a deterministic name exists to catch:
//! counted as deduped.

use super::rate_limiter::RateLimiter;
use crate::health::Health;
use crate::metrics::Metrics;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::Client;
use std::sync::Arc;
use std::time::Duration;
use vigil_model::Observation;
use vigil_pipeline::{Candidate, Repeat};

/// How a create ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Created,
    /// 409: it already exists (a restart, a relist, another replica).
    AlreadyExists,
    /// Given up; the reason is the metric label.
    Failed(&'static str),
}

/// How a spec update ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    Updated,
    /// It was not there (expired, deleted): written anew.
    Created,
    Failed(&'static str),
}

/// How a repeat patch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOutcome {
    Patched,
    /// The Observation is not there (yet): its create may still be in flight.
    NotFound,
    Failed(&'static str),
}

enum Verdict {
    Retry(&'static str),
    /// Retried up to [`BRIEF_RETRIES`] attempts, then given up.
    RetryBriefly(&'static str),
    GiveUp(&'static str),
}

/// Attempts for an answer that is usually final but can be transient (403):
/// with the backoff below, about 10 s on average, at most 27 s.
const BRIEF_RETRIES: u32 = 8;

const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

pub struct ObservationWriter {
    client: Client,
    limiter: RateLimiter,
    health: Arc<Health>,
    metrics: Metrics,
    source: String,
}

impl ObservationWriter {
    pub fn new(
        client: Client,
        qps: f64,
        burst: u32,
        health: Arc<Health>,
        metrics: Metrics,
        source: &str,
    ) -> Self {
        Self {
            client,
            limiter: RateLimiter::new(qps, burst),
            health,
            metrics,
            source: source.to_string(),
        }
    }

    /// Creates the Observation, retrying what can succeed later.
    pub async fn create(&self, candidate: &Candidate) -> WriteOutcome {
        let api: Api<Observation> = Api::namespaced(self.client.clone(), &candidate.namespace);
        let obj = Observation {
            metadata: ObjectMeta {
                name: Some(candidate.name.clone()),
                namespace: Some(candidate.namespace.clone()),
                labels: Some(candidate.labels.clone()),
                ..Default::default()
            },
            spec: candidate.spec.clone(),
            status: None,
        };
        let mut attempt = 0u32;
        // Counted apart from `attempt`: an outage must not use up the 403 budget.
        let mut refusals = 0u32;
        loop {
            self.limiter.acquire().await;
            let result = api.create(&PostParams::default(), &obj).await;
            match result {
                Ok(_) => {
                    self.health.set_writer_ok(true);
                    return WriteOutcome::Created;
                }
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    self.health.set_writer_ok(true);
                    return WriteOutcome::AlreadyExists;
                }
                Err(err) => match classify(&err) {
                    Verdict::RetryBriefly(reason) if refusals < BRIEF_RETRIES => {
                        self.health.set_writer_ok(false);
                        self.metrics
                            .write_retries
                            .get_or_create(&Metrics::reason(&self.source, reason))
                            .inc();
                        tracing::debug!(name = %candidate.name, error = %err, refusals, "create refused; retrying briefly");
                        tokio::time::sleep(backoff(refusals)).await;
                        refusals += 1;
                    }
                    Verdict::GiveUp(reason) | Verdict::RetryBriefly(reason) => {
                        self.health.set_writer_ok(true);
                        tracing::warn!(name = %candidate.name, namespace = %candidate.namespace, error = %err, "Observation not written");
                        return WriteOutcome::Failed(reason);
                    }
                    Verdict::Retry(reason) => {
                        self.health.set_writer_ok(false);
                        self.metrics
                            .write_retries
                            .get_or_create(&Metrics::reason(&self.source, reason))
                            .inc();
                        tracing::debug!(name = %candidate.name, error = %err, attempt, "create failed; retrying");
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt = attempt.saturating_add(1);
                    }
                },
            }
        }
    }

    /// Replaces the spec of an existing Observation with the candidate's (a
    /// finding that changed: a new severity, a fix now available), keeping
    /// when it was first detected; creates it when it is gone. A few
    /// retries: a conflict is read again, an outage is met by the next
    /// change or re-scan.
    pub async fn update_spec(&self, candidate: &Candidate) -> UpdateOutcome {
        let api: Api<Observation> = Api::namespaced(self.client.clone(), &candidate.namespace);
        for attempt in 0..5u32 {
            self.limiter.acquire().await;
            let mut current = match api.get(&candidate.name).await {
                Ok(o) => o,
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    return match self.create(candidate).await {
                        WriteOutcome::Created | WriteOutcome::AlreadyExists => {
                            UpdateOutcome::Created
                        }
                        WriteOutcome::Failed(reason) => UpdateOutcome::Failed(reason),
                    };
                }
                Err(err) => match classify(&err) {
                    Verdict::GiveUp(reason) => return UpdateOutcome::Failed(reason),
                    _ => {
                        tokio::time::sleep(backoff(attempt)).await;
                        continue;
                    }
                },
            };
            let first_detected = current.spec.detected_at.take();
            current.spec = candidate.spec.clone();
            current.spec.detected_at = first_detected.or(current.spec.detected_at);
            self.limiter.acquire().await;
            match api
                .replace(&candidate.name, &PostParams::default(), &current)
                .await
            {
                Ok(_) => return UpdateOutcome::Updated,
                // Changed meanwhile (a repeat count): read it again.
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(err) => match classify(&err) {
                    Verdict::GiveUp(reason) => return UpdateOutcome::Failed(reason),
                    _ => tokio::time::sleep(backoff(attempt)).await,
                },
            }
        }
        UpdateOutcome::Failed("retries_exhausted")
    }

    /// Records folded repeats on an existing Observation (a few retries only:
    /// the count is refreshed by the next repeat anyway).
    pub async fn patch_repeat(&self, repeat: &Repeat) -> PatchOutcome {
        let api: Api<Observation> = Api::namespaced(self.client.clone(), &repeat.namespace);
        let body = super::repeats::patch_body(repeat);
        for attempt in 0..5u32 {
            self.limiter.acquire().await;
            match api
                .patch(&repeat.name, &PatchParams::default(), &Patch::Merge(&body))
                .await
            {
                Ok(_) => return PatchOutcome::Patched,
                Err(kube::Error::Api(s)) if s.code == 404 => return PatchOutcome::NotFound,
                Err(err) => match classify(&err) {
                    Verdict::GiveUp(reason) => return PatchOutcome::Failed(reason),
                    Verdict::Retry(_) | Verdict::RetryBriefly(_) => {
                        tokio::time::sleep(backoff(attempt)).await
                    }
                },
            }
        }
        PatchOutcome::Failed("retries_exhausted")
    }
}

fn classify(err: &kube::Error) -> Verdict {
    match err {
        kube::Error::Api(s) => match s.code {
            429 => Verdict::Retry("throttled"),
            500..=599 => Verdict::Retry("server_error"),
            404 => Verdict::GiveUp("namespace_not_found"),
            403 => Verdict::RetryBriefly("forbidden"),
            401 => Verdict::Retry("unauthorized"),
            422 | 400 => Verdict::GiveUp("invalid"),
            _ => Verdict::GiveUp("rejected"),
        },
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) => Verdict::GiveUp("invalid"),
        // Connection refused/reset, timeouts, TLS hiccups: the server may come back.
        _ => Verdict::Retry("unavailable"),
    }
}

/// Exponential backoff with full jitter.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(10))
        .min(BACKOFF_MAX);
    ceiling.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 0..40 {
            let d = backoff(attempt);
            let ceiling = BACKOFF_BASE
                .saturating_mul(1u32 << attempt.min(10))
                .min(BACKOFF_MAX);
            assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
        }
        assert_eq!(
            BACKOFF_BASE.saturating_mul(1 << 10).min(BACKOFF_MAX),
            BACKOFF_MAX
        );
    }

    #[test]
    fn only_answers_that_can_change_are_retried() {
        let status = |code| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..Default::default()
            }))
        };
        for (code, retried) in [
            (429, true),
            (500, true),
            (503, true),
            (422, false),
            (403, false),
            (404, false),
        ] {
            let v = classify(&status(code));
            assert_eq!(matches!(v, Verdict::Retry(_)), retried, "HTTP {code}");
        }
        assert!(
            matches!(classify(&status(403)), Verdict::RetryBriefly("forbidden")),
            "403 can be transient"
        );
        let worst: Duration = (0..BRIEF_RETRIES)
            .map(|a| BACKOFF_BASE.saturating_mul(1 << a).min(BACKOFF_MAX))
            .sum();
        assert!(
            worst < Duration::from_secs(30),
            "a real 403 is given up within 30 s: {worst:?}"
        );
    }
}
