//! The `webhooks` section of the agent's configuration and its validation:
//! every value checked at start, errors naming the key
//! (`webhooks.endpoints[1].auth: ...`). Secrets in files are read here (and
//! re-read when they change, see [`super::secrets`]); secrets in Kubernetes
//! Secrets are read when the intake starts.

use super::auth::{trim_secret, Auth, Scheme};
use super::tls::{TlsSection, TlsSettings};
use crate::config::{invalid, is_dns_label, ConfigError};
use axum::http::HeaderName;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;
use vigil_pipeline::sources::audit::AuditStage;
use vigil_pipeline::sources::AuditConfig;

const MIB: usize = 1024 * 1024;

/// `webhooks:` — the HTTP intake of push-based tools. No endpoint, no listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WebhooksSection {
    /// Address of the webhook listener (apart from the admin server, so it
    /// can be exposed without exposing `/metrics`).
    pub listen: SocketAddr,
    /// On shutdown, how long in-flight requests may take to finish and the
    /// accepted records to go through the pipeline.
    pub shutdown_timeout: String,
    /// Serve https (and, with `clientCAFile`, require client certificates);
    /// absent: plain http.
    pub tls: Option<TlsSection>,
    pub endpoints: Vec<EndpointSection>,
}

impl Default for WebhooksSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8081)),
            shutdown_timeout: "10s".into(),
            tls: None,
            endpoints: Vec::new(),
        }
    }
}

/// What an endpoint receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    /// Falco's JSON output: one alert per request, or JSON lines.
    Falco,
    /// The API server's audit webhook backend: an `EventList` (or one
    /// `Event`, or JSON lines of Events).
    Audit,
    /// Any JSON, mapped by an Ingester's mapping: only webhook Ingesters
    /// declare these (the configuration file has no mapping to give).
    Generic,
}

impl EndpointKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Falco => "falco",
            EndpointKind::Audit => "audit",
            EndpointKind::Generic => "generic",
        }
    }
}

/// One endpoint as written in the file (and as the Ingester controller
/// declares one through [`super::IntakeHandle::upsert`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointSection {
    /// 1-63 characters of a-z, 0-9 and `-`; the `endpoint` metric label.
    pub name: String,
    pub kind: EndpointKind,
    /// Default `/webhooks/<name>`.
    #[serde(default)]
    pub path: Option<String>,
    /// Required: an endpoint without authentication says so (`none: true`).
    pub auth: Option<AuthSection>,
    /// Largest body taken (413 above). Default 1 MiB (falco), 8 MiB (audit).
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// Records accepted and not yet through the pipeline, at most (then 503).
    #[serde(default)]
    pub queue_capacity: Option<usize>,
    /// Bytes of request bodies being read and parsed at once, at most (then
    /// 503). Default the larger of 16 MiB and 4 × `maxBodyBytes`.
    #[serde(default)]
    pub max_in_flight_bytes: Option<usize>,
    #[serde(default)]
    pub rate_limit: WebhookRateLimit,
    /// Audit endpoints only: which events go on to the rules.
    #[serde(default)]
    pub audit: Option<AuditEndpointSection>,
    /// Only requests whose connection presented a client certificate
    /// verified against `webhooks.tls.clientCAFile` (else 403).
    #[serde(default)]
    pub mtls: bool,
}

/// A key of a Kubernetes Secret, in the agent's namespace unless another
/// is named (a webhook Ingester's Secret is in the Ingester's namespace).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    pub name: String,
    pub key: String,
    /// Default: the agent's namespace. The agent needs `get, list, watch`
    /// on the Secret there.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// Where an endpoint's secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file (a mounted Secret): re-read when its contents change.
    File(String),
    /// A Secret in the agent's namespace, read through the API and watched.
    Kubernetes(SecretRef),
}

/// An endpoint's secret: where it is and how it authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub source: SecretSource,
    pub scheme: Scheme,
    /// The configuration key, for errors (`webhooks.endpoints[0].auth.bearerTokenSecretRef`).
    pub key: String,
}

/// Exactly one of `bearerTokenFile`, `bearerTokenSecretRef`, `hmacSecretFile`,
/// `hmacSecretRef` (the HMAC ones with an optional `header`), `none: true`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AuthSection {
    /// File holding the token (`Authorization: Bearer <token>`), e.g. a
    /// mounted Secret key. One trailing newline is ignored.
    pub bearer_token_file: Option<String>,
    /// The token in a Secret of the agent's namespace, watched: an update
    /// takes effect at once.
    pub bearer_token_secret_ref: Option<SecretRef>,
    /// File holding the HMAC-SHA256 key; the request carries
    /// `sha256=<hex of HMAC(key, body)>` in `header`.
    pub hmac_secret_file: Option<String>,
    /// The HMAC key in a Secret of the agent's namespace, watched.
    pub hmac_secret_ref: Option<SecretRef>,
    /// The signature header (HMAC only). Default `X-Signature`.
    pub header: Option<String>,
    /// Explicitly unauthenticated.
    pub none: bool,
}

/// Requests per second per endpoint (token bucket): over it, 429.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WebhookRateLimit {
    pub requests_per_second: f64,
    pub burst: u32,
}

impl Default for WebhookRateLimit {
    fn default() -> Self {
        Self {
            requests_per_second: 2000.0,
            burst: 4000,
        }
    }
}

/// The audit endpoint's event filter, before the audit rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AuditEndpointSection {
    /// Default `[ResponseComplete]`: one event per request, with its response code.
    pub stages: Vec<String>,
    /// Exact verbs; empty is every verb.
    pub verbs: Vec<String>,
}

impl Default for AuditEndpointSection {
    fn default() -> Self {
        Self {
            stages: vec!["ResponseComplete".into()],
            verbs: Vec::new(),
        }
    }
}

/// The validated `webhooks` section.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub listen: SocketAddr,
    pub shutdown_timeout: Duration,
    /// Files read and checked; `None`: plain http.
    pub tls: Option<TlsSettings>,
    pub endpoints: Vec<WebhookEndpoint>,
}

/// One endpoint, validated, its secret read.
#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    pub name: String,
    pub kind: EndpointKind,
    pub path: String,
    /// The credentials as loaded at validation ([`Auth::Unavailable`] for a
    /// Secret, read when the intake starts).
    pub auth: Auth,
    /// Where the secret is, to re-read it; `None` for `none: true`.
    pub credentials: Option<Credentials>,
    /// Requests need a verified client certificate.
    pub mtls: bool,
    pub max_body_bytes: usize,
    pub queue_capacity: usize,
    pub max_in_flight_bytes: usize,
    pub requests_per_second: f64,
    pub burst: u32,
    /// Audit only (empty for Falco).
    pub audit_stages: Vec<AuditStage>,
    /// Audit only; empty is every verb.
    pub audit_verbs: Vec<String>,
}

impl WebhooksSection {
    /// Checks every endpoint; `key` is the section's own (`webhooks`).
    pub fn validate(&self, key: &str) -> Result<WebhookSettings, ConfigError> {
        let shutdown_timeout =
            vigil_model::duration::parse(&self.shutdown_timeout).map_err(|e| {
                invalid(
                    &format!("{key}.shutdownTimeout"),
                    format!("{:?}: {e}", self.shutdown_timeout),
                )
            })?;
        let mut names = BTreeSet::new();
        let mut paths = BTreeSet::new();
        let mut endpoints = Vec::with_capacity(self.endpoints.len());
        for (i, e) in self.endpoints.iter().enumerate() {
            let at = format!("{key}.endpoints[{i}]");
            let endpoint = e.validate(&at)?;
            if !names.insert(endpoint.name.clone()) {
                return Err(invalid(
                    &format!("{at}.name"),
                    format!("{:?} is used by another endpoint", endpoint.name),
                ));
            }
            if !paths.insert(endpoint.path.clone()) {
                return Err(invalid(
                    &format!("{at}.path"),
                    format!("{:?} is used by another endpoint", endpoint.path),
                ));
            }
            endpoints.push(endpoint);
        }
        let tls = match &self.tls {
            Some(tls) => Some(tls.load(&format!("{key}.tls"))?),
            None => None,
        };
        let client_ca = tls.as_ref().is_some_and(|t| t.client_ca_file.is_some());
        for (i, e) in endpoints.iter().enumerate() {
            check_mtls(e, client_ca, &format!("{key}.endpoints[{i}]"))?;
        }
        Ok(WebhookSettings {
            listen: self.listen,
            shutdown_timeout,
            tls,
            endpoints,
        })
    }
}

/// An endpoint requiring client certificates needs a listener that asks for them.
pub(super) fn check_mtls(
    e: &WebhookEndpoint,
    client_ca: bool,
    at: &str,
) -> Result<(), ConfigError> {
    if e.mtls && !client_ca {
        return Err(invalid(
            &format!("{at}.mtls"),
            "needs webhooks.tls with clientCAFile (the listener must ask for client certificates)",
        ));
    }
    Ok(())
}

impl EndpointSection {
    /// Checks the endpoint; `at` is its key (`webhooks.endpoints[1]`).
    pub fn validate(&self, at: &str) -> Result<WebhookEndpoint, ConfigError> {
        let key = |k: &str| format!("{at}.{k}");
        if !is_dns_label(&self.name) {
            return Err(invalid(
                &key("name"),
                format!(
                    "{:?}: want 1-63 characters of a-z, 0-9 and - (it is a metric label)",
                    self.name
                ),
            ));
        }
        if self.kind == EndpointKind::Generic && at.starts_with("webhooks.") {
            return Err(invalid(
                &key("kind"),
                "generic endpoints map pushed JSON with a mapping: declare them as webhook \
                 Ingesters (docs/INGESTERS.md); the configuration file takes falco or audit",
            ));
        }
        let path = match &self.path {
            Some(p) => p.clone(),
            None => format!("/webhooks/{}", self.name),
        };
        if !valid_path(&path) {
            return Err(invalid(
                &key("path"),
                format!(
                    "{path:?}: want an absolute path of letters, digits and - . _ ~ / \
                     (no captures, query or fragment)"
                ),
            ));
        }
        let (auth, credentials) = match &self.auth {
            Some(a) => a.load(&key("auth"))?,
            None => {
                return Err(invalid(
                    &key("auth"),
                    "required: bearerTokenFile, hmacSecretFile, or none: true for an \
                     unauthenticated endpoint",
                ))
            }
        };
        let max_body_bytes = self.max_body_bytes.unwrap_or(match self.kind {
            EndpointKind::Audit => 8 * MIB,
            _ => MIB,
        });
        if max_body_bytes == 0 {
            return Err(invalid(&key("maxBodyBytes"), "must be at least 1"));
        }
        let queue_capacity = self.queue_capacity.unwrap_or(10_000);
        if queue_capacity == 0 {
            return Err(invalid(&key("queueCapacity"), "must be at least 1"));
        }
        // Counted in semaphore permits, taken 2^32 - 1 at most at once.
        const MAX: usize = u32::MAX as usize;
        if queue_capacity > MAX {
            return Err(invalid(
                &key("queueCapacity"),
                format!("must be at most {MAX}"),
            ));
        }
        let max_in_flight_bytes = self
            .max_in_flight_bytes
            .unwrap_or_else(|| (16 * MIB).max(4 * max_body_bytes));
        if max_in_flight_bytes < max_body_bytes || max_in_flight_bytes > MAX {
            return Err(invalid(
                &key("maxInFlightBytes"),
                format!("must be at least maxBodyBytes ({max_body_bytes}) and at most {MAX}"),
            ));
        }
        let rate = &self.rate_limit;
        if !(rate.requests_per_second.is_finite() && rate.requests_per_second > 0.0) {
            return Err(invalid(
                &key("rateLimit.requestsPerSecond"),
                "must be a positive number",
            ));
        }
        if rate.burst == 0 {
            return Err(invalid(&key("rateLimit.burst"), "must be at least 1"));
        }
        let (audit_stages, audit_verbs) = match (self.kind, &self.audit) {
            (EndpointKind::Audit, section) => {
                let section = section.clone().unwrap_or_default();
                audit_filter(&section, &key("audit"))?
            }
            (_, Some(_)) => {
                return Err(invalid(&key("audit"), "only for endpoints of kind audit"));
            }
            (_, None) => (Vec::new(), Vec::new()),
        };
        Ok(WebhookEndpoint {
            name: self.name.clone(),
            kind: self.kind,
            path,
            auth,
            credentials,
            mtls: self.mtls,
            max_body_bytes,
            queue_capacity,
            max_in_flight_bytes,
            requests_per_second: rate.requests_per_second,
            burst: rate.burst,
            audit_stages,
            audit_verbs,
        })
    }
}

fn audit_filter(
    section: &AuditEndpointSection,
    at: &str,
) -> Result<(Vec<AuditStage>, Vec<String>), ConfigError> {
    let mut stages = Vec::new();
    for s in &section.stages {
        let stage: AuditStage = s.parse().map_err(|()| {
            invalid(
                &format!("{at}.stages"),
                format!(
                    "unknown stage {s:?}, expected RequestReceived, ResponseStarted, \
                     ResponseComplete or Panic"
                ),
            )
        })?;
        if !stages.contains(&stage) {
            stages.push(stage);
        }
    }
    let check = AuditConfig {
        stages: stages.clone(),
        verbs: section.verbs.clone(),
        ..AuditConfig::default()
    };
    check.validate().map_err(|message| {
        // `stages: ...` / `verbs: ...`: the key is the part before the colon.
        match message.split_once(": ") {
            Some((k, m)) => invalid(&format!("{at}.{k}"), m),
            None => invalid(at, message),
        }
    })?;
    Ok((stages, section.verbs.clone()))
}

impl AuthSection {
    fn load(&self, at: &str) -> Result<(Auth, Option<Credentials>), ConfigError> {
        let chosen = [
            self.bearer_token_file.is_some(),
            self.bearer_token_secret_ref.is_some(),
            self.hmac_secret_file.is_some(),
            self.hmac_secret_ref.is_some(),
            self.none,
        ]
        .into_iter()
        .filter(|&b| b)
        .count();
        if chosen != 1 {
            return Err(invalid(
                at,
                "exactly one of bearerTokenFile, bearerTokenSecretRef, hmacSecretFile, \
                 hmacSecretRef or none: true",
            ));
        }
        let hmac = self.hmac_secret_file.is_some() || self.hmac_secret_ref.is_some();
        if self.header.is_some() && !hmac {
            return Err(invalid(
                &format!("{at}.header"),
                "only with hmacSecretFile or hmacSecretRef",
            ));
        }
        let scheme = if hmac {
            let header_text = self.header.as_deref().unwrap_or("X-Signature");
            let header = HeaderName::from_bytes(header_text.as_bytes()).map_err(|_| {
                invalid(
                    &format!("{at}.header"),
                    format!("{header_text:?} is not a header name"),
                )
            })?;
            Scheme::Hmac(header)
        } else {
            Scheme::Bearer
        };
        let (field, source) = if let Some(path) = &self.bearer_token_file {
            ("bearerTokenFile", SecretSource::File(path.clone()))
        } else if let Some(path) = &self.hmac_secret_file {
            ("hmacSecretFile", SecretSource::File(path.clone()))
        } else if let Some(r) = &self.bearer_token_secret_ref {
            ("bearerTokenSecretRef", SecretSource::Kubernetes(r.clone()))
        } else if let Some(r) = &self.hmac_secret_ref {
            ("hmacSecretRef", SecretSource::Kubernetes(r.clone()))
        } else {
            return Ok((Auth::None, None));
        };
        let key = format!("{at}.{field}");
        let auth = match &source {
            SecretSource::File(path) => {
                let secret = read_secret(path, &key)?;
                scheme
                    .auth(&secret)
                    .map_err(|m| invalid(&key, format!("{path}: {m}")))?
            }
            SecretSource::Kubernetes(r) => {
                check_secret_ref(r, &key)?;
                Auth::Unavailable
            }
        };
        Ok((
            auth,
            Some(Credentials {
                source,
                scheme,
                key,
            }),
        ))
    }
}

/// A Secret's name (a DNS subdomain) and key (`[-._a-zA-Z0-9]+`).
fn check_secret_ref(r: &SecretRef, key: &str) -> Result<(), ConfigError> {
    let name_ok = !r.name.is_empty() && r.name.len() <= 253 && r.name.split('.').all(is_dns_label);
    if !name_ok {
        return Err(invalid(
            &format!("{key}.name"),
            format!("{:?} is not a Secret name", r.name),
        ));
    }
    let key_ok = !r.key.is_empty()
        && r.key.len() <= 253
        && r.key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    if !key_ok {
        return Err(invalid(
            &format!("{key}.key"),
            format!("{:?} is not a Secret key", r.key),
        ));
    }
    Ok(())
}

/// A secret file's bytes, one trailing newline (`\n` or `\r\n`) removed:
/// `echo token > file` and `kubectl create secret --from-file` both work.
/// The contents never appear in an error.
pub(super) fn read_secret(path: &str, key: &str) -> Result<Vec<u8>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| invalid(key, format!("reading {path}: {e}")))?;
    let bytes = trim_secret(bytes);
    if bytes.is_empty() {
        return Err(invalid(key, format!("{path} is empty")));
    }
    Ok(bytes)
}

fn valid_path(p: &str) -> bool {
    p.len() > 1
        && p.len() <= 256
        && p.starts_with('/')
        && !p.contains("//")
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AgentConfig;

    fn secret_file(name: &str, contents: &str) -> String {
        let dir = std::env::temp_dir().join(format!("vigil-webhook-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("secret file");
        path.display().to_string()
    }

    fn validate(yaml: &str) -> Result<WebhookSettings, ConfigError> {
        let config = AgentConfig::from_yaml(yaml).expect("yaml");
        config.webhooks.validate("webhooks")
    }

    fn key_of(yaml: &str) -> (String, String) {
        match validate(yaml) {
            Err(ConfigError::Invalid { key, message }) => (key, message),
            other => panic!("expected an invalid-key error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_per_kind_and_paths_from_names() {
        let token = secret_file("token-defaults", "s3cret\n");
        let yaml = format!(
            "webhooks:\n  endpoints:\n  - {{name: falco, kind: falco, auth: {{bearerTokenFile: {token}}}}}\n  \
             - {{name: audit, kind: audit, auth: {{none: true}}}}\n"
        );
        let w = validate(&yaml).expect("valid");
        assert_eq!(w.listen, SocketAddr::from(([0, 0, 0, 0], 8081)));
        assert_eq!(w.shutdown_timeout, Duration::from_secs(10));
        let [falco, audit] = &w.endpoints[..] else {
            panic!("two endpoints: {w:?}")
        };
        assert_eq!(falco.path, "/webhooks/falco");
        assert_eq!(falco.max_body_bytes, MIB);
        assert_eq!(falco.max_in_flight_bytes, 16 * MIB);
        assert_eq!(falco.queue_capacity, 10_000);
        assert_eq!((falco.requests_per_second, falco.burst), (2000.0, 4000));
        assert!(falco.audit_stages.is_empty());
        assert!(matches!(falco.auth, Auth::Bearer { .. }));
        assert_eq!(audit.max_body_bytes, 8 * MIB);
        assert_eq!(audit.max_in_flight_bytes, 32 * MIB);
        assert_eq!(audit.audit_stages, vec![AuditStage::ResponseComplete]);
        assert!(matches!(audit.auth, Auth::None));
        let debug = format!("{w:?}");
        assert!(
            !debug.contains("s3cret"),
            "a secret in Debug output: {debug}"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let token = secret_file("token-bad", "t");
        let empty = secret_file("empty", "\n");
        let ok = |extra: &str| {
            format!(
                "webhooks:\n  endpoints:\n  - {{name: a, kind: falco, auth: {{none: true}}}}\n  - {{name: b, kind: audit, {extra}}}\n"
            )
        };
        let cases = [
            (ok("auth: {}"), "webhooks.endpoints[1].auth", "exactly one"),
            (
                ok(&format!("auth: {{none: true, bearerTokenFile: {token}}}")),
                "webhooks.endpoints[1].auth",
                "exactly one",
            ),
            (ok("path: /x"), "webhooks.endpoints[1].auth", "required"),
            (
                ok("auth: {bearerTokenFile: /nonexistent/token}"),
                "webhooks.endpoints[1].auth.bearerTokenFile",
                "reading /nonexistent/token",
            ),
            (
                ok(&format!("auth: {{hmacSecretFile: {empty}}}")),
                "webhooks.endpoints[1].auth.hmacSecretFile",
                "is empty",
            ),
            (
                ok(&format!(
                    "auth: {{bearerTokenFile: {token}, header: X-Sig}}"
                )),
                "webhooks.endpoints[1].auth.header",
                "only with hmacSecretFile or hmacSecretRef",
            ),
            (
                ok(&format!(
                    "auth: {{hmacSecretFile: {token}, header: \"bad header\"}}"
                )),
                "webhooks.endpoints[1].auth.header",
                "not a header name",
            ),
            (
                ok("auth: {none: true}, path: /webhooks/a"),
                "webhooks.endpoints[1].path",
                "used by another endpoint",
            ),
            (
                ok("auth: {none: true}, path: \"/x/{id}\""),
                "webhooks.endpoints[1].path",
                "absolute path",
            ),
            (
                ok("auth: {none: true}, maxBodyBytes: 0"),
                "webhooks.endpoints[1].maxBodyBytes",
                "at least 1",
            ),
            (
                ok("auth: {none: true}, queueCapacity: 0"),
                "webhooks.endpoints[1].queueCapacity",
                "at least 1",
            ),
            (
                ok("auth: {none: true}, maxBodyBytes: 100, maxInFlightBytes: 10"),
                "webhooks.endpoints[1].maxInFlightBytes",
                "at least maxBodyBytes",
            ),
            (
                ok("auth: {none: true}, rateLimit: {requestsPerSecond: 0}"),
                "webhooks.endpoints[1].rateLimit.requestsPerSecond",
                "positive",
            ),
            (
                ok("auth: {none: true}, rateLimit: {burst: 0}"),
                "webhooks.endpoints[1].rateLimit.burst",
                "at least 1",
            ),
            (
                ok("auth: {none: true}, audit: {stages: [Done]}"),
                "webhooks.endpoints[1].audit.stages",
                "unknown stage \"Done\"",
            ),
            (
                ok("auth: {none: true}, audit: {stages: []}"),
                "webhooks.endpoints[1].audit.stages",
                "no stage",
            ),
            (
                ok("auth: {none: true}, audit: {verbs: [\"\"]}"),
                "webhooks.endpoints[1].audit.verbs",
                "empty verb",
            ),
        ];
        for (yaml, want_key, want_message) in cases {
            let (key, message) = key_of(&yaml);
            assert_eq!(key, want_key, "{yaml}");
            assert!(message.contains(want_message), "{yaml}: {message}");
            assert!(!message.contains("\"t\""), "the secret leaked: {message}");
        }
        let (key, _) = key_of(
            "webhooks:\n  endpoints:\n  - {name: a, kind: falco, auth: {none: true}}\n  - {name: a, kind: audit, auth: {none: true}}\n",
        );
        assert_eq!(key, "webhooks.endpoints[1].name");
        let (key, _) = key_of(
            "webhooks:\n  endpoints:\n  - {name: Bad_Name, kind: falco, auth: {none: true}}\n",
        );
        assert_eq!(key, "webhooks.endpoints[0].name");
        let (key, message) =
            key_of("webhooks:\n  endpoints:\n  - {name: g, kind: generic, auth: {none: true}}\n");
        assert_eq!(key, "webhooks.endpoints[0].kind");
        assert!(message.contains("Ingester"), "{message}");
        let (key, _) = key_of(
            "webhooks:\n  endpoints:\n  - {name: f, kind: falco, auth: {none: true}, audit: {verbs: [get]}}\n",
        );
        assert_eq!(key, "webhooks.endpoints[0].audit");
        let (key, _) = key_of("webhooks:\n  shutdownTimeout: soon\n");
        assert_eq!(key, "webhooks.shutdownTimeout");
        assert!(AgentConfig::from_yaml("webhooks:\n  endpoints:\n  - {name: a, kind: falco, auth: {none: true}, maxBody: 1}\n").is_err(), "unknown keys are errors");
    }

    #[test]
    fn secret_refs_mtls_and_client_auth_are_checked() {
        let w = validate(
            "webhooks:\n  endpoints:\n  - {name: a, kind: falco, auth: {bearerTokenSecretRef: {name: hooks.tokens, key: falco.token}}}\n  \
             - {name: b, kind: falco, auth: {hmacSecretRef: {name: hooks, key: key}, header: X-Hub-Signature-256}}\n",
        )
        .expect("valid");
        let [a, b] = &w.endpoints[..] else {
            panic!("two endpoints")
        };
        // Read when the intake starts; until then nothing is accepted.
        assert!(matches!(a.auth, Auth::Unavailable));
        let c = a.credentials.as_ref().expect("credentials");
        assert_eq!(
            c.source,
            SecretSource::Kubernetes(SecretRef {
                name: "hooks.tokens".into(),
                key: "falco.token".into(),
                namespace: None,
            })
        );
        assert_eq!(c.scheme, Scheme::Bearer);
        assert_eq!(c.key, "webhooks.endpoints[0].auth.bearerTokenSecretRef");
        assert_eq!(
            b.credentials.as_ref().expect("credentials").scheme,
            Scheme::Hmac(HeaderName::from_static("x-hub-signature-256"))
        );
        let one = |auth: &str| {
            format!("webhooks:\n  endpoints:\n  - {{name: a, kind: falco, auth: {auth}}}\n")
        };
        let cases = [
            (
                one("{bearerTokenSecretRef: {name: Bad_Name, key: k}}"),
                "webhooks.endpoints[0].auth.bearerTokenSecretRef.name",
            ),
            (
                one("{hmacSecretRef: {name: ok, key: \"a/b\"}}"),
                "webhooks.endpoints[0].auth.hmacSecretRef.key",
            ),
            (
                one("{bearerTokenSecretRef: {name: a, key: k}, none: true}"),
                "webhooks.endpoints[0].auth",
            ),
            (
                one("{bearerTokenSecretRef: {name: a, key: k}, header: X-Sig}"),
                "webhooks.endpoints[0].auth.header",
            ),
            (
                "webhooks:\n  endpoints:\n  - {name: a, kind: falco, mtls: true, auth: {none: true}}\n".into(),
                "webhooks.endpoints[0].mtls",
            ),
        ];
        for (yaml, want) in cases {
            assert_eq!(key_of(&yaml).0, want, "{yaml}");
        }
        assert!(AgentConfig::from_yaml(&one("{bearerTokenSecretRef: {name: a}}")).is_err());
    }

    #[test]
    fn secrets_lose_one_trailing_newline_only() {
        let crlf = secret_file("crlf", "abc\r\n");
        assert_eq!(read_secret(&crlf, "k").expect("read"), b"abc");
        let spaced = secret_file("spaced", " abc \n\n");
        assert_eq!(read_secret(&spaced, "k").expect("read"), b" abc \n");
    }
}
