//! The webhook intake: push-based tools (Falco, the API server's audit
//! webhook backend) POST their records here. Each endpoint has its own
//! authentication, limits and bounded queue; what it accepts goes, as
//! [`Batch`]es, into the agent's pipeline loop. See docs/WEBHOOKS.md.
//!
//! A request is checked in this order, and refused at the first failing
//! check: method (405) → authentication headers (401) → content type (415)
//! → declared size (413) → request rate (429) → bytes of bodies in flight
//! (503) → the body read, capped (413) → HMAC signature (401) → every
//! record parsed (400, nothing taken if one is bad) → queue slots for all
//! of them at once (503, or 413 for a batch larger than the whole queue) →
//! enqueued: 202 `{"accepted": N}`.
//!
//! Bounded everything: bodies being read (`maxInFlightBytes`), records
//! queued (`queueCapacity` per endpoint, slots held until each record's
//! outcome is decided), the channel to the pipeline (at most one batch per
//! slot). Nothing waits for room: a full queue is an immediate 503 with
//! `Retry-After`, counted in `vigil_webhook_records_rejected_total`.

pub mod auth;
pub mod config;
mod handler;
mod limits;
mod parse;
pub mod tls;

use crate::metrics::Metrics;
use axum::Router;
use config::{EndpointKind, WebhookEndpoint, WebhookSettings};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use vigil_pipeline::{AuditEvent, DropReason, FalcoAlert};

/// One record a webhook accepted.
#[derive(Debug, Clone)]
pub enum WebhookRecord {
    Falco(Box<FalcoAlert>),
    Audit(Box<AuditEvent>),
}

/// The records of one accepted request, holding their queue slots.
pub struct Batch {
    pub endpoint: Arc<Endpoint>,
    pub records: Vec<WebhookRecord>,
    slots: OwnedSemaphorePermit,
}

impl Batch {
    /// Frees one record's queue slot: its outcome has been decided.
    pub fn release_one(&mut self) {
        drop(self.slots.split(1));
        self.endpoint.update_depth();
    }
}

/// An endpoint's settings and running state.
pub struct Endpoint {
    pub settings: WebhookEndpoint,
    rate: limits::RequestRate,
    /// Bytes of request bodies being read and parsed.
    in_flight: Arc<Semaphore>,
    /// Records accepted and not yet through the pipeline.
    queue: Arc<Semaphore>,
    depth: Gauge,
    accepted: Counter,
    metrics: Metrics,
}

impl Endpoint {
    fn new(settings: WebhookEndpoint, metrics: &Metrics) -> Self {
        let labels = Metrics::endpoint(&settings.name);
        metrics
            .webhook_queue_capacity
            .get_or_create(&labels)
            .set(settings.queue_capacity as i64);
        Self {
            rate: limits::RequestRate::new(
                settings.requests_per_second,
                settings.burst,
                Instant::now(),
            ),
            in_flight: Arc::new(Semaphore::new(settings.max_in_flight_bytes)),
            queue: Arc::new(Semaphore::new(settings.queue_capacity)),
            depth: metrics.webhook_queue_depth.get_or_create(&labels).clone(),
            accepted: metrics
                .webhook_records_accepted
                .get_or_create(&labels)
                .clone(),
            metrics: metrics.clone(),
            settings,
        }
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    fn update_depth(&self) {
        let used = self.settings.queue_capacity - self.queue.available_permits();
        self.depth.set(used as i64);
    }

    /// The endpoint's own stage and verb filter for audit events, applied
    /// before the pipeline: the reason it drops `event`, if it does.
    pub fn audit_filter(&self, event: &AuditEvent) -> Option<DropReason> {
        let s = &self.settings;
        if s.kind != EndpointKind::Audit {
            return None;
        }
        if !s.audit_stages.contains(&event.stage) {
            return Some(DropReason::AuditStage);
        }
        if !s.audit_verbs.is_empty() && !s.audit_verbs.contains(&event.verb) {
            return Some(DropReason::AuditVerb);
        }
        None
    }
}

/// The webhook server's router and the receiving end of its queues.
pub struct Intake {
    /// Serves every endpoint; owns the only senders, so `records` ends once
    /// the router and every connection using it are gone.
    pub router: Router,
    pub records: mpsc::Receiver<Batch>,
    pub endpoints: Vec<Arc<Endpoint>>,
}

/// Builds the endpoints of `settings`.
pub fn intake(settings: &WebhookSettings, metrics: &Metrics) -> Intake {
    let endpoints: Vec<Arc<Endpoint>> = settings
        .endpoints
        .iter()
        .map(|e| Arc::new(Endpoint::new(e.clone(), metrics)))
        .collect();
    // At most one batch per queue slot: a batch holds at least one slot
    // until it is received, so sends into this channel never find it full.
    let slots: usize = endpoints
        .iter()
        .map(|e| e.settings.queue_capacity)
        .sum::<usize>()
        .max(1);
    let (tx, records) = mpsc::channel(slots);
    let router = handler::router(&endpoints, tx, metrics.clone());
    Intake {
        router,
        records,
        endpoints,
    }
}
