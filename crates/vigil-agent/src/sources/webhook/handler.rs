//! The HTTP side of an endpoint: the checks in the order the module
//! documentation of [`super`] gives, each refusal a JSON `{"error": ...}`
//! with the status code that says what to do (retry later, fix the sender,
//! fix the credentials), every answer counted by endpoint and code.

use super::auth::Denied;
use super::decode::{gunzip, DecodeError, Encoding};
use super::limits::retry_after_secs;
use super::registry::Registry;
use super::tls::TlsPeer;
use super::{parse, Batch, Endpoint};
use crate::metrics::Metrics;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::StreamExt;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// Bodies larger than this are parsed off the async worker threads.
const PARSE_INLINE_MAX: usize = 256 * 1024;

/// The endpoint label of requests for no endpoint (not a valid name, so it
/// cannot be one).
const UNMATCHED: &str = "_unmatched";

/// Bodies compressed to more than this are decoded off the async worker
/// threads.
const DECODE_INLINE_MAX: usize = 64 * 1024;

/// One route for every endpoint: the registry finds the endpoint of the
/// request's path when the request arrives, so endpoints can come and go
/// while the server runs.
pub(super) fn router(registry: Arc<Registry>) -> Router {
    Router::new().fallback(dispatch).with_state(registry)
}

async fn dispatch(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    match registry.lookup(request.uri().path()) {
        Some(endpoint) => handle(&endpoint, &registry.tx, request).await,
        None => {
            registry
                .metrics
                .webhook_requests
                .get_or_create(&Metrics::endpoint_code(UNMATCHED, 404))
                .inc();
            json_error(StatusCode::NOT_FOUND, "no webhook endpoint at this path")
        }
    }
}

async fn handle(e: &Arc<Endpoint>, tx: &mpsc::Sender<Batch>, request: Request) -> Response {
    let started = Instant::now();
    let response = match accept(e, tx, request).await {
        Ok(n) => (
            StatusCode::ACCEPTED,
            [(header::CONTENT_TYPE, "application/json")],
            format!("{{\"accepted\":{n}}}"),
        )
            .into_response(),
        Err(refusal) => refusal.into_response(e),
    };
    e.metrics
        .webhook_requests
        .get_or_create(&Metrics::endpoint_code(
            e.name(),
            response.status().as_u16(),
        ))
        .inc();
    e.metrics
        .webhook_request_duration
        .get_or_create(&Metrics::endpoint(e.name()))
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Why a request was not taken.
struct Refusal {
    status: StatusCode,
    message: Cow<'static, str>,
    /// Records refused (counted by reason), when they were known.
    records: Option<(&'static str, usize)>,
    retry_after: Option<u64>,
    challenge: bool,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            message: message.into(),
            records: None,
            retry_after: None,
            challenge: false,
        }
    }

    fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    fn records(mut self, reason: &'static str, n: usize) -> Self {
        self.records = Some((reason, n));
        self
    }

    fn unauthorized(denied: Denied) -> Self {
        Self {
            challenge: true,
            ..Self::new(StatusCode::UNAUTHORIZED, denied.message())
        }
    }

    fn into_response(self, e: &Endpoint) -> Response {
        if let Some((reason, n)) = self.records {
            e.metrics
                .webhook_records_rejected
                .get_or_create(&Metrics::endpoint_reason(e.name(), reason))
                .inc_by(n as u64);
        }
        let mut response = json_error(self.status, &self.message);
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.challenge {
            if let Some(c) = e.auth().challenge() {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
            }
        }
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The checks, in order; the number of records enqueued.
async fn accept(
    e: &Arc<Endpoint>,
    tx: &mpsc::Sender<Batch>,
    request: Request,
) -> Result<usize, Refusal> {
    let (parts, body) = request.into_parts();
    if parts.method != Method::POST {
        return Err(Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "only POST"));
    }
    if e.settings.mtls {
        let verified = parts
            .extensions
            .get::<ConnectInfo<TlsPeer>>()
            .is_some_and(|c| c.0.client_certificate);
        if !verified {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "this endpoint requires a client certificate signed by the listener's client CA",
            ));
        }
    }
    // One snapshot of the credentials for the whole request, so that a
    // rotation between the header check and the signature check cannot
    // mix two secrets.
    let auth = e.auth();
    auth.check_headers(&parts.headers)
        .map_err(Refusal::unauthorized)?;
    let encoding = check_content_type(&parts.headers)?;
    let max = e.settings.max_body_bytes;
    let declared = declared_length(&parts.headers)?;
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large(max));
    }
    e.rate.try_take(Instant::now()).map_err(|wait| {
        Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "over the endpoint's request rate",
        )
        .retry_after(retry_after_secs(wait))
    })?;
    // Room for the body: what it declares, else the most it may be; a
    // compressed one may decode to the most.
    let want = match encoding {
        Encoding::Gzip => max,
        Encoding::Identity => declared.map_or(max, |n| n as usize).max(1),
    };
    let _bytes = e
        .in_flight
        .clone()
        .try_acquire_many_owned(u32::try_from(want).unwrap_or(u32::MAX))
        .map_err(|_| {
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many request bodies in flight",
            )
            .retry_after(1)
        })?;
    let body = read_body(body, max, declared).await?;
    // The signature is over the body as sent (compressed, if it is).
    auth.verify_body(&parts.headers, &body)
        .map_err(Refusal::unauthorized)?;
    let body = match encoding {
        Encoding::Identity => body,
        Encoding::Gzip if body.len() <= DECODE_INLINE_MAX => decoded(gunzip(&body, max), max)?,
        Encoding::Gzip => {
            let result = tokio::task::spawn_blocking(move || gunzip(&body, max))
                .await
                .map_err(|_| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "decoding failed"))?;
            decoded(result, max)?
        }
    };
    let kind = e.settings.kind;
    let parsed = if body.len() > PARSE_INLINE_MAX {
        tokio::task::spawn_blocking(move || parse::records(kind, &body))
            .await
            .map_err(|_| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "parsing failed"))?
    } else {
        parse::records(kind, &body)
    };
    let records = parsed.map_err(|err| {
        Refusal::new(StatusCode::BAD_REQUEST, err.to_string()).records("malformed", 1)
    })?;
    let n = records.len();
    if n == 0 {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "no records in the body",
        ));
    }
    if n > e.settings.queue_capacity {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{n} records in one request; the endpoint's queue holds {}: send smaller batches",
                e.settings.queue_capacity
            ),
        )
        .records("too_many", n));
    }
    let slots = e
        .queue
        .clone()
        .try_acquire_many_owned(n as u32)
        .map_err(|_| {
            Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "queue full")
                .retry_after(1)
                .records("queue_full", n)
        })?;
    let batch = Batch {
        endpoint: e.clone(),
        records,
        slots,
    };
    tx.try_send(batch).map_err(|_| {
        Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down")
            .retry_after(1)
            .records("shutting_down", n)
    })?;
    e.update_depth();
    e.accepted.inc_by(n as u64);
    Ok(n)
}

/// A decoded gzip body, or the refusal: 413 past `max`, 400 if corrupt.
fn decoded(result: Result<Vec<u8>, DecodeError>, max: usize) -> Result<Vec<u8>, Refusal> {
    result.map_err(|err| match err {
        DecodeError::TooLarge => Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than the endpoint's {max} bytes once decompressed"),
        ),
        DecodeError::Corrupt(m) => {
            Refusal::new(StatusCode::BAD_REQUEST, format!("corrupt gzip body: {m}"))
        }
    })
}

/// JSON, JSON lines, or plain text holding JSON lines (Falco without
/// `json_output` sends text/plain); parameters (`charset`) are ignored.
/// Bodies may be gzip-compressed (`Content-Encoding: gzip`, Falco's
/// `compress_uploads`); other encodings are refused.
fn check_content_type(headers: &HeaderMap) -> Result<Encoding, Refusal> {
    const TAKEN: &[&str] = &[
        "application/json",
        "application/x-ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "text/plain",
    ];
    let mut encoding = Encoding::Identity;
    for value in headers.get_all(header::CONTENT_ENCODING) {
        match (Encoding::parse(value.as_bytes()), encoding) {
            (Some(Encoding::Identity), _) => {}
            (Some(Encoding::Gzip), Encoding::Identity) => encoding = Encoding::Gzip,
            _ => {
                return Err(Refusal::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!(
                        "content encoding {:?} is not taken: send gzip or uncompressed bodies",
                        String::from_utf8_lossy(value.as_bytes())
                    ),
                ))
            }
        }
    }
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = value.split(';').next().unwrap_or("").trim();
    if TAKEN.iter().any(|t| t.eq_ignore_ascii_case(essence)) {
        Ok(encoding)
    } else {
        Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "content type {:?}: want application/json, application/x-ndjson, application/jsonl or text/plain",
                value
            ),
        ))
    }
}

fn declared_length(headers: &HeaderMap) -> Result<Option<u64>, Refusal> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| Refusal::new(StatusCode::BAD_REQUEST, "invalid Content-Length")),
    }
}

fn too_large(max: usize) -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("body larger than the endpoint's {max} bytes"),
    )
}

/// The body, `max` bytes at most (413 beyond, whatever was declared).
async fn read_body(body: Body, max: usize, declared: Option<u64>) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::with_capacity(declared.map_or(0, |n| n as usize).min(max));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, format!("reading the body: {e}")))?;
        if out.len() + chunk.len() > max {
            return Err(too_large(max));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
