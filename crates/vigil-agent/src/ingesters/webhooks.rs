//! Webhook Ingesters, on every replica: each valid one becomes an endpoint of
//! this replica's webhook listener (added, replaced and removed at run time
//! through the intake's handle) with the Ingester's own processing
//! ([`super::pushed`]). The leader's controller writes their status; the
//! counters are shared through the [`CountersBook`].

use super::compile::{compile, Adapter, Compiled};
use super::pushed::Pushed;
use super::status::CountersBook;
use crate::sources::dynamic::{self, key_of};
use crate::sources::webhook::config::{
    AuditEndpointSection, AuthSection, EndpointKind, EndpointSection, SecretRef,
};
use crate::sources::webhook::IntakeHandle;
use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::watcher;
use kube::Client;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use vigil_model::ingester::{AuthType, WebhookAdapter, WebhookFormat};
use vigil_model::Ingester;
use vigil_pipeline::enrich::EnrichConfig;
use vigil_pipeline::sources::SourcesConfig;

/// Endpoint name → the processing of the Ingester behind it. The pipeline
/// loop looks a batch's endpoint up here; absent means the agent's own.
pub type PushedTable = Arc<RwLock<HashMap<String, Arc<Mutex<Pushed>>>>>;

/// What the watcher needs.
pub struct WebhookIngesters {
    pub client: Client,
    pub namespaces: Vec<String>,
    pub handle: IntakeHandle,
    pub table: PushedTable,
    pub book: CountersBook,
    pub enrich: EnrichConfig,
    pub default_ttl: i64,
    pub sources: SourcesConfig,
    /// Where `secretRef`s are read (the agent's namespace).
    pub agent_namespace: String,
    pub metrics: crate::metrics::Metrics,
}

/// The endpoint name of an Ingester: a DNS label, unique per namespace/name.
pub fn endpoint_name(namespace: &str, name: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{namespace}/{name}").as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let mut base: String = name.chars().take(50).collect();
    while base.ends_with('-') {
        base.pop();
    }
    format!("ing-{base}-{hex}")
}

/// The endpoint an Ingester's `spec.webhook` declares.
pub fn endpoint_section(
    compiled: &Compiled,
    w: &WebhookAdapter,
    agent_namespace: &str,
) -> EndpointSection {
    let meta = &compiled.ingester.metadata;
    let namespace = meta.namespace.clone().unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();
    let mut auth = AuthSection::default();
    let mut mtls = false;
    match &w.auth {
        None => auth.none = true,
        Some(a) => {
            mtls = a.mtls == Some(true);
            // The Secret is the Ingester's own, in its namespace.
            let secret_ref = a.secret_ref.as_ref().map(|r| SecretRef {
                name: r.name.clone(),
                key: r.key.clone(),
                namespace: (namespace != agent_namespace).then(|| namespace.clone()),
            });
            match a.auth_type {
                AuthType::None => auth.none = true,
                AuthType::Bearer => {
                    auth.bearer_token_file = a.secret_file.clone();
                    auth.bearer_token_secret_ref = secret_ref;
                }
                AuthType::Hmac => {
                    auth.hmac_secret_file = a.secret_file.clone();
                    auth.hmac_secret_ref = secret_ref;
                    auth.header = a.header.clone();
                }
            }
        }
    }
    let kind = match w.format {
        WebhookFormat::Falco => EndpointKind::Falco,
        WebhookFormat::Audit => EndpointKind::Audit,
        WebhookFormat::Generic => EndpointKind::Generic,
    };
    let audit = (kind == EndpointKind::Audit).then(|| {
        let mut section = AuditEndpointSection::default();
        if !w.stages.is_empty() {
            section.stages = w.stages.clone();
        }
        section.verbs = w.verbs.clone();
        section
    });
    EndpointSection {
        name: endpoint_name(&namespace, &name),
        kind,
        path: Some(w.path.clone()),
        auth: Some(auth),
        max_body_bytes: w.max_body_bytes.map(|b| b as usize),
        queue_capacity: w.queue_capacity.map(|q| q as usize),
        max_in_flight_bytes: None,
        rate_limit: Default::default(),
        audit,
        mtls,
    }
}

struct Served {
    uid: String,
    endpoint: String,
    spec: vigil_model::IngesterSpec,
}

impl WebhookIngesters {
    /// Runs until aborted.
    pub async fn run(self) {
        let resource = ApiResource::erase::<Ingester>(&());
        let mut events = dynamic::watch(
            &self.client,
            &resource,
            &self.namespaces,
            &watcher::Config::default(),
        );
        let mut served: HashMap<String, Served> = HashMap::new();
        let mut relists = dynamic::Relists::default();
        while let Some((stream, event)) = events.next().await {
            match event {
                Err(err) => {
                    tracing::warn!(error = %err, "webhook ingester watch failed; the watcher resumes with backoff")
                }
                Ok(watcher::Event::Init) => relists.begin(&stream),
                Ok(watcher::Event::InitDone) => {
                    // Deleted while the watch was down: no longer served.
                    for key in relists.gone(&stream, served.keys()) {
                        if let Some(s) = served.remove(&key) {
                            self.stop(&s);
                        }
                    }
                }
                Ok(watcher::Event::InitApply(o)) => {
                    relists.saw(&stream, key_of(&o));
                    self.apply(&mut served, o).await
                }
                Ok(watcher::Event::Apply(o)) => self.apply(&mut served, o).await,
                Ok(watcher::Event::Delete(o)) => {
                    let key = key_of(&o);
                    if let Some(s) = served.remove(&key) {
                        self.stop(&s);
                    }
                }
            }
        }
    }

    async fn apply(&self, served: &mut HashMap<String, Served>, object: DynamicObject) {
        let key = key_of(&object);
        let uid = object.metadata.uid.clone().unwrap_or_default();
        let Ok(value) = serde_json::to_value(&object) else {
            return;
        };
        let is_webhook = value["spec"]["ingester"] == "webhook";
        let compiled = match compile(value) {
            Ok(c) => c,
            // Invalid: the leader's controller reports it; the last valid
            // generation keeps being served.
            Err(_) if is_webhook => return,
            Err(_) => {
                if let Some(s) = served.remove(&key) {
                    self.stop(&s);
                }
                return;
            }
        };
        let Adapter::Webhook(w) = &compiled.adapter else {
            // No longer a webhook Ingester.
            if let Some(s) = served.remove(&key) {
                self.stop(&s);
            }
            return;
        };
        if let Some(s) = served.get(&key) {
            if s.uid == uid && s.spec == compiled.ingester.spec {
                return;
            }
            if s.uid != uid {
                let old = served.remove(&key).expect("present");
                self.stop(&old);
            }
        }
        let counters = self.book.of(&uid);
        let section = endpoint_section(&compiled, w, &self.agent_namespace);
        let endpoint = section.name.clone();
        let mut pushed = Pushed::new(
            &compiled,
            w.format,
            counters.clone(),
            self.enrich.clone(),
            self.default_ttl,
            &self.sources,
        );
        pushed.metrics = Some(self.metrics.clone());
        // The processing first, so the endpoint never serves without it.
        self.table
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(endpoint.clone(), Arc::new(Mutex::new(pushed)));
        match self.handle.upsert(section).await {
            Ok(done) => {
                counters.source_failing(None);
                tracing::info!(ingester = %key, endpoint = %endpoint, path = %w.path, outcome = ?done, "webhook ingester served");
                if let Some(old) = served.get(&key) {
                    if old.endpoint != endpoint {
                        self.stop(old);
                    }
                }
                served.insert(
                    key,
                    Served {
                        uid,
                        endpoint,
                        spec: compiled.ingester.spec.clone(),
                    },
                );
            }
            Err(err) => {
                tracing::warn!(ingester = %key, error = %err, "webhook ingester not served");
                counters.source_failing(Some(err.to_string()));
                if served.get(&key).is_none_or(|s| s.endpoint != endpoint) {
                    self.table
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&endpoint);
                }
            }
        }
    }

    fn stop(&self, s: &Served) {
        if let Err(err) = self.handle.remove(&s.endpoint) {
            tracing::warn!(endpoint = %s.endpoint, error = %err, "webhook ingester endpoint not removed");
        }
        self.table
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&s.endpoint);
        tracing::info!(endpoint = %s.endpoint, "webhook ingester endpoint removed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compiled(webhook: serde_json::Value, ns: &str) -> Compiled {
        super::super::test_support::compiled_in(
            "falco-edge",
            ns,
            json!({"source": "falco-edge", "ingester": "webhook", "webhook": webhook}),
        )
    }

    fn section(webhook: serde_json::Value, ns: &str) -> EndpointSection {
        let c = compiled(webhook, ns);
        let Adapter::Webhook(w) = &c.adapter else {
            panic!()
        };
        endpoint_section(&c, w, "vigil-system")
    }

    #[test]
    fn an_ingesters_webhook_becomes_an_endpoint_section() {
        let s = section(
            json!({"path": "/ingest/falco", "format": "falco", "maxBodyBytes": 4096,
                   "auth": {"type": "bearer", "secretRef": {"name": "falco-token", "key": "token"}}}),
            "vigil-system",
        );
        assert_eq!(s.kind, EndpointKind::Falco);
        assert_eq!(s.path.as_deref(), Some("/ingest/falco"));
        assert_eq!(s.max_body_bytes, Some(4096));
        let r = s.auth.unwrap().bearer_token_secret_ref.unwrap();
        assert_eq!((r.name.as_str(), r.key.as_str()), ("falco-token", "token"));
        assert!(s.name.starts_with("ing-falco-edge-") && s.name.len() <= 63);
        let audit = section(
            json!({"path": "/audit", "format": "audit", "verbs": ["create"], "auth": {"type": "hmac", "secretFile": "/s", "header": "X-Sig", "mtls": true}}),
            "vigil-system",
        );
        assert_eq!(audit.audit.as_ref().unwrap().stages, ["ResponseComplete"]);
        assert_eq!(audit.audit.as_ref().unwrap().verbs, ["create"]);
        let auth = audit.auth.unwrap();
        assert_eq!(
            (auth.hmac_secret_file.as_deref(), auth.header.as_deref()),
            (Some("/s"), Some("X-Sig"))
        );
        assert!(audit.mtls);
        assert!(
            section(json!({"path": "/x", "format": "falco"}), "shop")
                .auth
                .unwrap()
                .none
        );
    }

    #[test]
    fn a_secret_ref_is_read_in_the_ingesters_namespace() {
        let s = section(
            json!({"path": "/x", "format": "falco", "auth": {"type": "bearer", "secretRef": {"name": "t", "key": "k"}}}),
            "shop",
        );
        let r = s.auth.unwrap().bearer_token_secret_ref.unwrap();
        assert_eq!(r.namespace.as_deref(), Some("shop"));
        let own = section(
            json!({"path": "/x", "format": "falco", "auth": {"type": "bearer", "secretRef": {"name": "t", "key": "k"}}}),
            "vigil-system",
        );
        assert_eq!(
            own.auth.unwrap().bearer_token_secret_ref.unwrap().namespace,
            None
        );
    }

    #[test]
    fn endpoint_names_are_dns_labels_unique_per_ingester() {
        let a = endpoint_name("a", &"x".repeat(80));
        assert!(a.len() <= 63);
        assert_ne!(endpoint_name("a", "n"), endpoint_name("b", "n"));
    }
}
