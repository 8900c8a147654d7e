//! TLS, and optionally mTLS, on the webhook listener: `webhooks.tls`
//! loaded and checked at start (errors name the key), and an
//! [`axum::serve::Listener`] that hands `axum::serve` connections whose
//! handshake has completed, so graceful shutdown stays `axum::serve`'s own.
//!
//! rustls with the `ring` provider, as kube's client already uses.
//!
//! The server certificate is served by a [`ReloadingCert`] resolver: the
//! certificate and key files are re-read every [`RELOAD_INTERVAL`] and, when
//! they changed and form a valid pair, new handshakes use the new pair
//! (connections already open keep theirs). A half-written rotation (a new
//! certificate, the old key) is ignored until the pair matches again.

use crate::config::{invalid, ConfigError};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// `webhooks.tls:` — serve https; with `clientCAFile`, require a client
/// certificate signed by that CA (mTLS).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsSection {
    /// PEM: the server certificate, then any intermediates.
    pub cert_file: String,
    /// PEM: its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// PEM: CA certificates; when set, every client must present a
    /// certificate chaining to one of them.
    #[serde(default, rename = "clientCAFile")]
    pub client_ca_file: Option<String>,
    /// With `clientCAFile`: `required` (default), every connection presents
    /// a certificate from that CA; `optional`, connections without one are
    /// let through (a presented one must still verify) and only endpoints
    /// with `mtls: true` require it.
    #[serde(default)]
    pub client_auth: ClientAuth,
}

/// Whether the listener requires client certificates of every connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    #[default]
    Required,
    Optional,
}

/// The validated `webhooks.tls`: the files read, the rustls configuration built.
#[derive(Clone)]
pub struct TlsSettings {
    pub cert_file: String,
    pub key_file: String,
    pub client_ca_file: Option<String>,
    pub client_auth: ClientAuth,
    pub config: Arc<ServerConfig>,
    /// The certificate new handshakes get; [`ReloadingCert::watch`] keeps it
    /// in step with the files.
    pub cert: Arc<ReloadingCert>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The paths only: never key material.
        f.debug_struct("TlsSettings")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("client_ca_file", &self.client_ca_file)
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

fn read(path: &str, key: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| invalid(key, format!("reading {path}: {e}")))
}

fn certificates(path: &str, key: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read(path, key)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(key, format!("{path}: invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(
            key,
            format!("{path}: no CERTIFICATE in PEM form found"),
        ));
    }
    Ok(certs)
}

impl TlsSection {
    /// Reads and checks the files; `at` is the section's key (`webhooks.tls`).
    pub fn load(&self, at: &str) -> Result<TlsSettings, ConfigError> {
        let cert_key = format!("{at}.certFile");
        let key_key = format!("{at}.keyFile");
        let ca_key = format!("{at}.clientCAFile");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = certified_key(
            &self.cert_file,
            &self.key_file,
            &cert_key,
            &key_key,
            &provider,
        )?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(at, format!("TLS versions: {e}")))?;
        let builder = match (&self.client_ca_file, self.client_auth) {
            (None, ClientAuth::Optional) => {
                return Err(invalid(
                    &format!("{at}.clientAuth"),
                    "only with clientCAFile",
                ))
            }
            (None, ClientAuth::Required) => builder.with_no_client_auth(),
            (Some(path), client_auth) => {
                let mut roots = RootCertStore::empty();
                for ca in certificates(path, &ca_key)? {
                    roots
                        .add(ca)
                        .map_err(|e| invalid(&ca_key, format!("{path}: {e}")))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = match client_auth {
                    ClientAuth::Required => verifier,
                    ClientAuth::Optional => verifier.allow_unauthenticated(),
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| invalid(&ca_key, format!("{path}: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let cert = Arc::new(ReloadingCert {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            current: RwLock::new(Arc::new(certified)),
        });
        let mut config = builder.with_cert_resolver(cert.clone());
        // The router speaks HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsSettings {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            client_ca_file: self.client_ca_file.clone(),
            client_auth: self.client_auth,
            config: Arc::new(config),
            cert,
        })
    }
}

/// The certificate chain of `cert_file` with the private key of `key_file`,
/// checked to match. Errors name `cert_key` or `key_key`, never key material.
fn certified_key(
    cert_file: &str,
    key_file: &str,
    cert_key: &str,
    key_key: &str,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, ConfigError> {
    let certs = certificates(cert_file, cert_key)?;
    let key_pem = read(key_file, key_key)?;
    // The error never quotes the file: it holds the private key.
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        invalid(
            key_key,
            format!("{key_file}: no private key in PEM form (PKCS#8, PKCS#1 or SEC1): {e}"),
        )
    })?;
    CertifiedKey::from_der(certs, private_key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => invalid(
            key_key,
            format!("{key_file} does not match the certificate in {cert_file}"),
        ),
        e => invalid(key_key, format!("{key_file}: {e}")),
    })
}

/// How often the certificate and key files are checked for a new pair.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// The server certificate, swapped when its files change.
pub struct ReloadingCert {
    cert_file: String,
    key_file: String,
    current: RwLock<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

impl ReloadingCert {
    /// Re-reads the files; swaps in the pair when it is valid and differs
    /// from the one served. `Ok(true)`: swapped.
    pub fn reload(&self) -> Result<bool, ConfigError> {
        let provider = rustls::crypto::ring::default_provider();
        let new = certified_key(
            &self.cert_file,
            &self.key_file,
            "webhooks.tls.certFile",
            "webhooks.tls.keyFile",
            &provider,
        )?;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.cert == new.cert {
            return Ok(false);
        }
        *current = Arc::new(new);
        Ok(true)
    }

    /// Checks the files every [`RELOAD_INTERVAL`] until the returned task is
    /// aborted (it holds only a weak reference: it also ends with `self`).
    pub fn watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut last_error = String::new();
            loop {
                tokio::time::sleep(RELOAD_INTERVAL).await;
                let Some(cert) = weak.upgrade() else { return };
                match cert.reload() {
                    Ok(true) => {
                        last_error.clear();
                        tracing::info!(cert_file = %cert.cert_file, "webhook TLS certificate reloaded; new connections use it");
                    }
                    Ok(false) => last_error.clear(),
                    Err(err) => {
                        // Once per distinct problem: a rotation in progress
                        // (certificate written, key not yet) retries quietly.
                        let text = err.to_string();
                        if text != last_error {
                            tracing::warn!(error = %text, "webhook TLS files changed but cannot be used; still serving the previous certificate");
                            last_error = text;
                        }
                    }
                }
            }
        })
    }
}

/// How long a client has to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once, at most; beyond it, no new connection
/// is accepted until one completes (the kernel's backlog holds them).
const MAX_HANDSHAKES: usize = 256;

/// A TCP listener whose connections are handed over after their TLS
/// handshake, which runs off the accept loop (a slow or silent client holds
/// up no one). Failed handshakes (plain http, no or a wrong client
/// certificate) are logged at debug and dropped.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> Self {
        Self {
            tcp,
            acceptor: TlsAcceptor::from(config),
            handshakes: JoinSet::new(),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.handshakes.len() < MAX_HANDSHAKES;
            tokio::select! {
                // axum's TcpListener retries (and backs off on) accept errors.
                (tcp, peer) = axum::serve::Listener::accept(&mut self.tcp), if room => {
                    // Small answers, sent at once.
                    let _ = tcp.set_nodelay(true);
                    let acceptor = self.acceptor.clone();
                    self.handshakes.spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => Some((tls, peer)),
                            Ok(Err(err)) => {
                                tracing::debug!(%peer, error = %err, "webhook TLS handshake failed");
                                None
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "webhook TLS handshake timed out");
                                None
                            }
                        }
                    });
                }
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// What a request learns of its TLS connection (a request extension, as
/// `axum::extract::ConnectInfo<TlsPeer>`; absent over plain http).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsPeer {
    pub addr: SocketAddr,
    /// The client presented a certificate and the listener's verifier
    /// accepted it (rustls keeps no unverified peer certificate).
    pub client_certificate: bool,
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>>
    for TlsPeer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        TlsPeer {
            addr: *stream.remote_addr(),
            client_certificate: stream
                .io()
                .get_ref()
                .1
                .peer_certificates()
                .is_some_and(|c| !c.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{AgentConfig, ConfigError};
    use crate::sources::webhook::config::WebhookSettings;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A CA, a server certificate for 127.0.0.1 and a client certificate
    /// signed by it, with the openssl CLI, in a directory of `name`'s own.
    fn certificates(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vigil-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509", "-days", "1", "-subj", "/CN=test-ca"];
        ca.extend(ec);
        ca.extend(["-keyout", "ca.key", "-out", "ca.crt"]);
        openssl(&dir, &ca);
        for (who, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
            let (key, csr, crt, ext) = (
                format!("{who}.key"),
                format!("{who}.csr"),
                format!("{who}.crt"),
                format!("{who}.ext"),
            );
            std::fs::write(
                dir.join(&ext),
                format!("subjectAltName=IP:127.0.0.1\nextendedKeyUsage={usage}\n"),
            )
            .expect("ext file");
            let subject = format!("/CN={who}");
            let mut req = vec!["req", "-subj", subject.as_str()];
            req.extend(ec);
            req.extend(["-keyout", key.as_str(), "-out", csr.as_str()]);
            openssl(&dir, &req);
            openssl(
                &dir,
                &[
                    "x509",
                    "-req",
                    "-days",
                    "1",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-extfile",
                    &ext,
                    "-out",
                    &crt,
                ],
            );
        }
        std::fs::write(dir.join("garbage.pem"), "not PEM at all\n").expect("garbage");
        dir
    }

    fn validate(tls: &str) -> Result<WebhookSettings, ConfigError> {
        let yaml = format!("webhooks:\n  tls: {tls}\n");
        AgentConfig::from_yaml(&yaml)
            .expect("yaml")
            .webhooks
            .validate("webhooks")
    }

    #[test]
    fn tls_and_mtls_load_from_pem_files() {
        let d = certificates("ok");
        let p = |f: &str| d.join(f).display().to_string();
        let w = validate(&format!(
            "{{certFile: {}, keyFile: {}}}",
            p("server.crt"),
            p("server.key")
        ))
        .expect("tls");
        let tls = w.tls.expect("tls settings");
        assert_eq!(tls.client_ca_file, None);
        assert_eq!(tls.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let w = validate(&format!(
            "{{certFile: {}, keyFile: {}, clientCAFile: {}}}",
            p("server.crt"),
            p("server.key"),
            p("ca.crt")
        ))
        .expect("mtls");
        let tls = w.tls.expect("tls settings");
        assert_eq!(tls.client_ca_file, Some(p("ca.crt")));
        let debug = format!("{tls:?}");
        assert!(!debug.contains("PRIVATE"), "{debug}");
        assert!(validate("null").expect("no tls").tls.is_none());
    }

    #[test]
    fn client_auth_optional_needs_a_ca_and_the_certificate_reloads() {
        let d = certificates("reload");
        let p = |f: &str| d.join(f).display().to_string();
        let yaml = |extra: &str| {
            format!(
                "{{certFile: {}, keyFile: {}{extra}}}",
                p("serving.crt"),
                p("serving.key")
            )
        };
        std::fs::copy(p("server.crt"), p("serving.crt")).expect("copy");
        std::fs::copy(p("server.key"), p("serving.key")).expect("copy");
        match validate(&yaml(", clientAuth: optional")) {
            Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "webhooks.tls.clientAuth"),
            other => panic!("{other:?}"),
        }
        let tls = validate(&yaml(&format!(
            ", clientCAFile: {}, clientAuth: optional",
            p("ca.crt")
        )))
        .expect("optional client certificates")
        .tls
        .expect("tls");
        assert_eq!(tls.client_auth, super::ClientAuth::Optional);
        let served = || tls.cert.current.read().expect("lock").cert[0].to_vec();
        let first = served();
        assert!(!tls.cert.reload().expect("unchanged"), "same files");
        // Half a rotation (another certificate, the old key): refused, the
        // old pair stays.
        std::fs::copy(p("client.crt"), p("serving.crt")).expect("copy");
        assert!(tls.cert.reload().is_err());
        assert_eq!(served(), first);
        std::fs::copy(p("client.key"), p("serving.key")).expect("copy");
        assert!(tls.cert.reload().expect("a new pair"));
        assert_ne!(served(), first);
    }

    #[test]
    fn bad_tls_files_name_their_key() {
        let d = certificates("bad");
        let p = |f: &str| d.join(f).display().to_string();
        let tls = |cert: &str, key: &str, ca: Option<&str>| {
            let ca = ca
                .map(|c| format!(", clientCAFile: {}", p(c)))
                .unwrap_or_default();
            format!("{{certFile: {}, keyFile: {}{ca}}}", p(cert), p(key))
        };
        let cases = [
            (
                tls("missing.crt", "server.key", None),
                "webhooks.tls.certFile",
                "reading ",
            ),
            (
                tls("garbage.pem", "server.key", None),
                "webhooks.tls.certFile",
                "no CERTIFICATE",
            ),
            (
                // A private key is no certificate.
                tls("server.key", "server.key", None),
                "webhooks.tls.certFile",
                "no CERTIFICATE",
            ),
            (
                tls("server.crt", "missing.key", None),
                "webhooks.tls.keyFile",
                "reading ",
            ),
            (
                tls("server.crt", "garbage.pem", None),
                "webhooks.tls.keyFile",
                "no private key",
            ),
            (
                tls("server.crt", "client.key", None),
                "webhooks.tls.keyFile",
                "does not match the certificate",
            ),
            (
                tls("server.crt", "server.key", Some("missing.crt")),
                "webhooks.tls.clientCAFile",
                "reading ",
            ),
            (
                tls("server.crt", "server.key", Some("garbage.pem")),
                "webhooks.tls.clientCAFile",
                "no CERTIFICATE",
            ),
        ];
        for (section, want_key, want_message) in cases {
            match validate(&section) {
                Err(ConfigError::Invalid { key, message }) => {
                    assert_eq!(key, want_key, "{section}: {message}");
                    assert!(message.contains(want_message), "{section}: {message}");
                    assert!(!message.contains("BEGIN"), "PEM quoted: {message}");
                }
                other => panic!("{section}: expected an invalid-key error, got {other:?}"),
            }
        }
        for yaml in [
            "webhooks:\n  tls: {certFile: a}\n",
            "webhooks:\n  tls: {certFile: a, keyFile: b, clientCaFile: c}\n",
        ] {
            assert!(AgentConfig::from_yaml(yaml).is_err(), "{yaml}");
        }
    }
}
