//! A plain HTTP/1.1 client for the agent's webhook endpoints: one kept-alive
//! connection per [`Conn`] (hyper's connection API, no pool), for the
//! end-to-end tests and the webhook benchmark.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;

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
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(address: &str) -> Result<Conn, String> {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("connecting to {address}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake with {address}: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn {
            address: address.to_string(),
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
            *self = Conn::open(&self.address).await?;
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
