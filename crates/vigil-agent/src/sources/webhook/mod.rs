//! The webhook intake: push-based tools (Falco, the API server's audit
//! webhook backend) POST their records here. Each endpoint has its own
//! authentication, limits and bounded queue; what it accepts goes, as
//! [`Batch`]es, into the agent's pipeline loop. See docs/WEBHOOKS.md.
//!
//! A request is checked in this order, and refused at the first failing
//! check: method (405) → client certificate for `mtls` endpoints (403) →
//! authentication headers (401) → content type and encoding (415)
//! → declared size (413) → request rate (429) → bytes of bodies in flight
//! (503) → the body read, capped (413) → HMAC signature (401) → a gzip
//! body decoded, capped (413; 400 if corrupt) → every record parsed (400, nothing taken if one is bad) → queue slots for all
//! of them at once (503, or 413 for a batch larger than the whole queue) →
//! enqueued: 202 `{"accepted": N}`.
//!
//! Bounded everything: bodies being read (`maxInFlightBytes`), records
//! queued (`queueCapacity` per endpoint, slots held until each record's
//! outcome is decided), the channel to the pipeline (at most one batch per
//! slot). Nothing waits for room: a full queue is an immediate 503 with
//! `Retry-After`, counted in `vigil_webhook_records_rejected_total`.
//!
//! The endpoints are a [`registry`]: those of the configuration file, and
//! those declared at run time through an [`IntakeHandle`] (the Ingester
//! controller's). Secrets and the TLS certificate are reloaded when they
//! change ([`secrets`], [`tls::ReloadingCert`]).

pub mod auth;
pub mod config;
mod decode;
mod handler;
mod limits;
mod parse;
pub mod registry;
pub mod secrets;
pub mod tls;

use crate::config::ConfigError;
use crate::metrics::Metrics;
use axum::Router;
use config::{EndpointKind, EndpointSection, WebhookEndpoint, WebhookSettings};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
pub use registry::{IntakeHandle, Origin, Upserted};
pub use secrets::KubeAccess;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use vigil_pipeline::{AuditEvent, DropReason, FalcoAlert};

/// One record a webhook accepted.
#[derive(Debug, Clone)]
pub enum WebhookRecord {
    Falco(Box<FalcoAlert>),
    Audit(Box<AuditEvent>),
    /// One JSON document of a generic endpoint (an object, or an array the
    /// Ingester's mapping reads as several records).
    Generic(Box<serde_json::Value>),
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
    /// The configuration section it was made of, for run-time endpoints
    /// (an upsert of the same section changes nothing).
    section: Option<EndpointSection>,
    origin: Origin,
    /// The credentials in force (swapped when the secret rotates).
    auth: secrets::LiveAuth,
    _reload: Option<secrets::AbortOnDrop>,
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
    /// The endpoint with its secret loaded (a Kubernetes Secret is read
    /// here) and kept current.
    async fn start(
        settings: WebhookEndpoint,
        section: Option<EndpointSection>,
        origin: Origin,
        metrics: &Metrics,
        kube: Option<&KubeAccess>,
    ) -> Result<Self, ConfigError> {
        let (auth, reload) = secrets::start(
            &settings.name,
            &settings.auth,
            settings.credentials.as_ref(),
            kube,
        )
        .await?;
        let labels = Metrics::endpoint(&settings.name);
        metrics
            .webhook_queue_capacity
            .get_or_create(&labels)
            .set(settings.queue_capacity as i64);
        Ok(Self {
            section,
            origin,
            auth,
            _reload: reload,
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
        })
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The credentials in force now.
    fn auth(&self) -> Arc<auth::Auth> {
        self.auth.read().unwrap_or_else(|e| e.into_inner()).clone()
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
    /// Serves every endpoint; owns (through the registry) the only
    /// senders, so `records` ends once the router and every connection
    /// using it are gone.
    pub router: Router,
    pub records: mpsc::Receiver<Batch>,
    /// The endpoints of the configuration file.
    pub endpoints: Vec<Arc<Endpoint>>,
    handle: IntakeHandle,
}

impl Intake {
    /// Adds, replaces and removes run-time endpoints while the router serves.
    pub fn handle(&self) -> IntakeHandle {
        self.handle.clone()
    }
}

/// Builds the endpoints of `settings`, reading the Kubernetes Secrets
/// they name through `kube` (the agent's client and namespace).
pub async fn intake(
    settings: &WebhookSettings,
    metrics: &Metrics,
    kube: Option<KubeAccess>,
) -> Result<Intake, ConfigError> {
    let mut endpoints = Vec::with_capacity(settings.endpoints.len());
    for e in &settings.endpoints {
        let endpoint =
            Endpoint::start(e.clone(), None, Origin::Config, metrics, kube.as_ref()).await?;
        endpoints.push(Arc::new(endpoint));
    }
    // A batch holds at least one queue slot until it is received, so the
    // endpoints' queues bound this channel; its own bound only has to be
    // out of reach, as endpoints come and go at run time.
    let (tx, records) = mpsc::channel(registry::CHANNEL_BOUND);
    let client_ca = settings
        .tls
        .as_ref()
        .is_some_and(|t| t.client_ca_file.is_some());
    let registry = registry::Registry::new(&endpoints, tx, metrics.clone(), kube, client_ca);
    let handle = IntakeHandle::new(&registry);
    let router = handler::router(registry);
    Ok(Intake {
        router,
        records,
        endpoints,
        handle,
    })
}

/// Serves `router` on `listener` (https with `tls`) until `stopped`
/// completes, then lets the requests in flight finish (`axum::serve`'s
/// graceful shutdown). With TLS, the certificate files are watched for a
/// new pair while it runs, and requests carry
/// `ConnectInfo<`[`tls::TlsPeer`]`>`.
pub fn serve(
    listener: TcpListener,
    tls: Option<&tls::TlsSettings>,
    router: Router,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    use axum::serve::ListenerExt;
    match tls {
        Some(tls) => {
            let reload = secrets::AbortOnDrop(tls.cert.watch());
            let listener = tls::TlsListener::new(listener, tls.config.clone());
            let service = router.into_make_service_with_connect_info::<tls::TlsPeer>();
            tokio::spawn(async move {
                let _reload = reload;
                axum::serve(listener, service)
                    .with_graceful_shutdown(stopped)
                    .await
            })
        }
        None => {
            let listener = listener.tap_io(|tcp| {
                // Small answers, sent at once.
                let _ = tcp.set_nodelay(true);
            });
            tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(stopped)
                    .await
            })
        }
    }
}
