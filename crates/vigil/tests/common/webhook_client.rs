//! An HTTP/1.1 client for the agent's webhook endpoints: one kept-alive
//! connection per [`Conn`] (hyper's connection API, no pool), over plain TCP
//! or TLS (rustls), for the end-to-end tests and the webhook benchmark; and
//! test certificates made with the openssl CLI.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A response: status, headers (lower-case names), body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `N` of a `{"accepted": N}` answer, else 0.
    pub fn accepted(&self) -> u64 {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["accepted"].as_u64())
            .unwrap_or(0)
    }
}

/// One connection to `address`, requests one after another on it.
pub struct Conn {
    address: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(address: &str) -> Result<Conn, String> {
        Self::open_with(address, None).await
    }

    /// Over TLS with `tls` (server name: the address's host) when given.
    pub async fn open_with(
        address: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Conn, String> {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("connecting to {address}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let sender = match &tls {
            None => handshake(stream, address).await?,
            Some(config) => {
                let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
                let name = ServerName::try_from(host.to_string())
                    .map_err(|e| format!("server name {host}: {e}"))?;
                let stream = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, stream)
                    .await
                    .map_err(|e| format!("TLS handshake with {address}: {e}"))?;
                handshake(stream, address).await?
            }
        };
        Ok(Conn {
            address: address.to_string(),
            tls,
            sender,
        })
    }

    /// POSTs `body`; a connection the server closed is opened again once.
    pub async fn post(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Reply, String> {
        if self.sender.ready().await.is_err() {
            *self = Conn::open_with(&self.address, self.tls.clone()).await?;
        }
        let mut request = Request::post(path).header("host", &self.address);
        for (n, v) in headers {
            request = request.header(*n, *v);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer to POST {path}: {e}"))?
            .to_bytes();
        Ok(Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

async fn handshake<S>(stream: S, address: &str) -> Result<SendRequest<Full<Bytes>>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake with {address}: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// One POST on a connection of its own, over TLS with `tls`; any failure
/// (connecting, the handshake, the exchange) is an `Err`.
pub async fn try_post_once(
    address: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Reply, String> {
    let mut conn = Conn::open_with(address, tls).await?;
    conn.post(path, headers, body.into()).await
}

/// Test certificates, PEM files in one directory: a CA, a server
/// certificate for 127.0.0.1 and a client certificate signed by it, and a
/// client certificate signed by another CA.
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    /// Made with the openssl CLI (P-256 keys, valid one day) in `dir`.
    pub fn make(dir: &Path) -> Certs {
        std::fs::create_dir_all(dir).expect("certificate dir");
        for ca in ["ca", "other-ca"] {
            let subject = format!("/CN=vigil-test-{ca}");
            let (key, crt) = (format!("{ca}.key"), format!("{ca}.crt"));
            openssl(
                dir,
                &[
                    "req",
                    "-x509",
                    "-days",
                    "1",
                    "-subj",
                    &subject,
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    &key,
                    "-out",
                    &crt,
                ],
            );
        }
        let certs = Certs {
            dir: dir.to_path_buf(),
        };
        for (who, ca, usage) in [
            ("server", "ca", "serverAuth"),
            ("client", "ca", "clientAuth"),
            ("stranger", "other-ca", "clientAuth"),
        ] {
            certs.issue(who, ca, usage);
        }
        certs
    }

    /// `<who>.crt` and `<who>.key` (subject `CN=<who>`, a SAN for
    /// 127.0.0.1, `usage` the extended key usage), signed by `<ca>.crt`.
    pub fn issue(&self, who: &str, ca: &str, usage: &str) {
        let dir = self.dir.as_path();
        {
            let ext = format!("{who}.ext");
            std::fs::write(
                dir.join(&ext),
                format!("subjectAltName=IP:127.0.0.1\nextendedKeyUsage={usage}\n"),
            )
            .expect("extensions file");
            let (key, csr, crt) = (
                format!("{who}.key"),
                format!("{who}.csr"),
                format!("{who}.crt"),
            );
            let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
            let subject = format!("/CN={who}");
            openssl(
                dir,
                &[
                    "req",
                    "-subj",
                    &subject,
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    &key,
                    "-out",
                    &csr,
                ],
            );
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-days",
                    "1",
                    "-in",
                    &csr,
                    "-CA",
                    &ca_crt,
                    "-CAkey",
                    &ca_key,
                    "-CAcreateserial",
                    "-extfile",
                    &ext,
                    "-out",
                    &crt,
                ],
            );
        }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// A file's contents in base64 (for kubeconfig `*-data` fields).
    pub fn base64(&self, file: &str) -> String {
        let out = std::process::Command::new("openssl")
            .args(["base64", "-A", "-in"])
            .arg(self.path(file))
            .output()
            .expect("openssl base64");
        assert!(out.status.success(), "openssl base64 {file}");
        String::from_utf8(out.stdout).expect("base64 is ASCII")
    }

    /// A client trusting `ca.crt`, presenting `<client>.crt` when given.
    pub fn client(&self, client: Option<&str>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(self.path("ca.crt")).expect("ca.crt") {
            roots.add(ca.expect("CA PEM")).expect("CA certificate");
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots);
        let config = match client {
            None => builder.with_no_client_auth(),
            Some(who) => {
                let chain = CertificateDer::pem_file_iter(self.path(&format!("{who}.crt")))
                    .expect("client certificate")
                    .collect::<Result<Vec<_>, _>>()
                    .expect("client certificate PEM");
                let key = PrivateKeyDer::from_pem_file(self.path(&format!("{who}.key")))
                    .expect("client key");
                builder
                    .with_client_auth_cert(chain, key)
                    .expect("client certificate and key")
            }
        };
        Arc::new(config)
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
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

/// One POST on a connection of its own.
pub async fn post_once(
    address: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let mut conn = Conn::open(address).await.unwrap_or_else(|e| panic!("{e}"));
    conn.post(path, headers, body.into())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}
