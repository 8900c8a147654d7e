//! TLS, and optionally mTLS, on the webhook listener: `webhooks.tls`
//! loaded and checked at start (errors name the key), and an
//! [`axum::serve::Listener`] that hands `axum::serve` connections whose
//! handshake has completed, so graceful shutdown stays `axum::serve`'s own.
//!
//! rustls with the `ring` provider, as kube's client already uses.

use crate::config::{invalid, ConfigError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
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
}

/// The validated `webhooks.tls`: the files read, the rustls configuration built.
#[derive(Clone)]
pub struct TlsSettings {
    pub cert_file: String,
    pub key_file: String,
    pub client_ca_file: Option<String>,
    pub config: Arc<ServerConfig>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The paths only: never key material.
        f.debug_struct("TlsSettings")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("client_ca_file", &self.client_ca_file)
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
        let certs = certificates(&self.cert_file, &cert_key)?;
        let key_pem = read(&self.key_file, &key_key)?;
        // The error never quotes the file: it holds the private key.
        let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            invalid(
                &key_key,
                format!(
                    "{}: no private key in PEM form (PKCS#8, PKCS#1 or SEC1): {e}",
                    self.key_file
                ),
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(at, format!("TLS versions: {e}")))?;
        let builder = match &self.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for ca in certificates(path, &ca_key)? {
                    roots
                        .add(ca)
                        .map_err(|e| invalid(&ca_key, format!("{path}: {e}")))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| invalid(&ca_key, format!("{path}: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, private_key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => invalid(
                    &key_key,
                    format!(
                        "{} does not match the certificate in {}",
                        self.key_file, self.cert_file
                    ),
                ),
                e => invalid(&key_key, format!("{}: {e}", self.key_file)),
            })?;
        // The router speaks HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsSettings {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            client_ca_file: self.client_ca_file.clone(),
            config: Arc::new(config),
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
