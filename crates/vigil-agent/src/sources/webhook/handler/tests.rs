//! One HTTP exchange at a time through the router (no socket): the status
//! code, headers and body of each check, and what reached the queue.

use super::super::auth::{sign, Auth};
use super::super::config::{AuthSection, EndpointSection, WebhookRateLimit};
use super::super::config::{EndpointKind, WebhookEndpoint, WebhookSettings};
use super::super::tls::TlsPeer;
use super::super::{intake, Batch, Intake};
use super::super::{Origin, Upserted};
use crate::metrics::Telemetry;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderName, Request, StatusCode};
use axum::response::Response;
use std::time::Duration;
use tower::ServiceExt;
use vigil_pipeline::sources::audit::AuditStage;

const ALERT: &str = r#"{"rule":"Terminal shell in container","priority":"Critical","output":"shell","time":"2023-05-25T13:44:05.478445995Z","output_fields":{"k8s.pod.name":"web","k8s.ns.name":"shop"}}"#;

fn endpoint(name: &str, kind: EndpointKind, auth: Auth) -> WebhookEndpoint {
    WebhookEndpoint {
        name: name.into(),
        kind,
        path: format!("/webhooks/{name}"),
        auth,
        credentials: None,
        mtls: false,
        max_body_bytes: 4096,
        queue_capacity: 3,
        max_in_flight_bytes: 16384,
        requests_per_second: 1000.0,
        burst: 1000,
        audit_stages: vec![AuditStage::ResponseComplete],
        audit_verbs: Vec::new(),
    }
}

async fn build(endpoints: Vec<WebhookEndpoint>) -> (Intake, Telemetry) {
    let telemetry = Telemetry::new();
    let settings = WebhookSettings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        shutdown_timeout: Duration::from_secs(1),
        tls: None,
        endpoints,
    };
    let intake = intake(&settings, &telemetry.metrics, None)
        .await
        .expect("intake");
    (intake, telemetry)
}

async fn falco_bearer() -> (Intake, Telemetry) {
    build(vec![endpoint(
        "falco",
        EndpointKind::Falco,
        Auth::bearer(b"tok").expect("token"),
    )])
    .await
}

struct Post<'a> {
    path: &'a str,
    method: &'a str,
    headers: Vec<(&'a str, String)>,
    body: Body,
    /// The TLS connection the request came on (none: plain http).
    peer: Option<TlsPeer>,
}

impl<'a> Post<'a> {
    fn new(path: &'a str, body: impl Into<String>) -> Self {
        let body = body.into();
        Post {
            path,
            method: "POST",
            headers: vec![
                ("content-type", "application/json".into()),
                ("content-length", body.len().to_string()),
                ("authorization", "Bearer tok".into()),
            ],
            body: Body::from(body),
            peer: None,
        }
    }

    fn set(mut self, name: &'a str, value: &str) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_string()));
        self
    }

    fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self
    }

    async fn send(self, intake: &Intake) -> (StatusCode, Response, String) {
        let mut request = Request::builder().method(self.method).uri(self.path);
        for (n, v) in &self.headers {
            request = request.header(*n, v);
        }
        if let Some(peer) = self.peer {
            request = request.extension(ConnectInfo(peer));
        }
        let request = request.body(self.body).expect("request");
        let response = intake
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (status, Response::from_parts(parts, Body::empty()), text)
    }
}

fn header_of(r: &Response, name: HeaderName) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii").to_string())
}

fn queued(intake: &mut Intake) -> Vec<Batch> {
    let mut out = Vec::new();
    while let Ok(b) = intake.records.try_recv() {
        out.push(b);
    }
    out
}

#[tokio::test]
async fn a_good_request_is_accepted_and_queued() {
    let (mut i, t) = falco_bearer().await;
    let body = format!("{ALERT}\n{ALERT}\n");
    let (status, r, text) = Post::new("/webhooks/falco", body)
        .set("content-type", "application/x-ndjson")
        .send(&i)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    assert_eq!(text, r#"{"accepted":2}"#);
    assert_eq!(
        header_of(&r, header::CONTENT_TYPE).as_deref(),
        Some("application/json")
    );
    let mut batches = queued(&mut i);
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].records.len(), 2);
    assert_eq!(batches[0].endpoint.name(), "falco");
    let metrics = t.render();
    assert!(
        metrics.contains(r#"vigil_webhook_records_accepted_total{endpoint="falco"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"vigil_webhook_queue_depth{endpoint="falco"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"vigil_webhook_requests_total{endpoint="falco",code="202"} 1"#),
        "{metrics}"
    );
    batches[0].release_one();
    batches[0].release_one();
    assert!(t
        .render()
        .contains(r#"vigil_webhook_queue_depth{endpoint="falco"} 0"#));
}

#[tokio::test]
async fn bearer_missing_or_wrong_is_401_with_a_challenge() {
    let (mut i, t) = falco_bearer().await;
    for post in [
        Post::new("/webhooks/falco", ALERT).without("authorization"),
        Post::new("/webhooks/falco", ALERT).set("authorization", "Bearer nope"),
        Post::new("/webhooks/falco", ALERT).set("authorization", "Basic dG9r"),
    ] {
        let (status, r, text) = post.send(&i).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
        assert_eq!(
            header_of(&r, header::WWW_AUTHENTICATE).as_deref(),
            Some("Bearer realm=\"vigil\"")
        );
        assert!(!text.contains("tok\""), "{text}");
    }
    assert!(queued(&mut i).is_empty());
    assert!(t
        .render()
        .contains(r#"vigil_webhook_requests_total{endpoint="falco",code="401"} 3"#));
}

#[tokio::test]
async fn the_checks_come_in_order() {
    let (mut i, _t) = falco_bearer().await;
    // Method before authentication.
    let mut get = Post::new("/webhooks/falco", "").without("authorization");
    get.method = "GET";
    let (status, r, _) = get.send(&i).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header_of(&r, header::ALLOW).as_deref(), Some("POST"));
    // Authentication before the content type.
    let (status, _, _) = Post::new("/webhooks/falco", ALERT)
        .without("authorization")
        .set("content-type", "application/xml")
        .send(&i)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The content type before the size.
    let big = "x".repeat(5000);
    let (status, _, text) = Post::new("/webhooks/falco", big.clone())
        .set("content-type", "application/x-www-form-urlencoded")
        .send(&i)
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{text}");
    assert!(text.contains("x-www-form-urlencoded"), "{text}");
    let (status, _, _) = Post::new("/webhooks/falco", ALERT)
        .without("content-type")
        .send(&i)
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _, text) = Post::new("/webhooks/falco", ALERT)
        .set("content-encoding", "br")
        .send(&i)
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{text}");
    assert!(text.contains("\\\"br\\\""), "{text}");
    // The size before parsing.
    let (status, _, text) = Post::new("/webhooks/falco", big).send(&i).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert!(text.contains("4096 bytes"), "{text}");
    for ct in [
        "application/json; charset=utf-8",
        "text/plain",
        "application/jsonl",
        "APPLICATION/JSON",
    ] {
        let (status, _, text) = Post::new("/webhooks/falco", ALERT)
            .set("content-type", ct)
            .send(&i)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{ct}: {text}");
        drop(queued(&mut i));
    }
    let (status, _, _) = Post::new("/webhooks/other", ALERT).send(&i).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_body_without_length_is_capped_while_read() {
    let (mut i, _t) = falco_bearer().await;
    let chunks: Vec<Result<String, std::io::Error>> =
        (0..10).map(|_| Ok("x".repeat(1000))).collect();
    let mut post = Post::new("/webhooks/falco", "").without("content-length");
    post.body = Body::from_stream(futures::stream::iter(chunks));
    let (status, _, text) = post.send(&i).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert!(queued(&mut i).is_empty());
}

#[tokio::test]
async fn a_malformed_record_refuses_the_whole_request() {
    let (mut i, t) = falco_bearer().await;
    let bad = ALERT.replace(r#""priority":"Critical","#, "");
    let (status, _, text) = Post::new("/webhooks/falco", format!("{ALERT}\n{ALERT}\n{bad}\n"))
        .send(&i)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(text, r#"{"error":"line 3: priority: missing"}"#);
    assert!(
        queued(&mut i).is_empty(),
        "nothing of a bad request is taken"
    );
    assert!(t
        .render()
        .contains(r#"vigil_webhook_queue_depth{endpoint="falco"} 0"#));
    let (status, _, text) = Post::new("/webhooks/falco", "\n").send(&i).await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":"no records in the body"}"#
        )
    );
}

#[tokio::test]
async fn a_full_queue_is_503_with_retry_after_and_counted() {
    let (mut i, t) = falco_bearer().await;
    let two = format!("{ALERT}\n{ALERT}\n");
    assert_eq!(
        Post::new("/webhooks/falco", two.clone()).send(&i).await.0,
        StatusCode::ACCEPTED
    );
    let (status, r, text) = Post::new("/webhooks/falco", two).send(&i).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert_eq!(header_of(&r, header::RETRY_AFTER).as_deref(), Some("1"));
    // One slot is left: a single record still fits.
    assert_eq!(
        Post::new("/webhooks/falco", ALERT).send(&i).await.0,
        StatusCode::ACCEPTED
    );
    // More records than the whole queue can ever hold: retrying is useless.
    let four = format!("{ALERT}\n{ALERT}\n{ALERT}\n{ALERT}\n");
    let (status, _, text) = Post::new("/webhooks/falco", four).send(&i).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    let metrics = t.render();
    assert!(
        metrics.contains(
            r#"vigil_webhook_records_rejected_total{endpoint="falco",reason="queue_full"} 2"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"vigil_webhook_records_rejected_total{endpoint="falco",reason="too_many"} 4"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"vigil_webhook_queue_depth{endpoint="falco"} 3"#),
        "{metrics}"
    );
    // Slots come back as records go through.
    let mut batches = queued(&mut i);
    batches[0].release_one();
    assert_eq!(
        Post::new("/webhooks/falco", ALERT).send(&i).await.0,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn over_the_rate_is_429_with_retry_after() {
    let mut e = endpoint("falco", EndpointKind::Falco, Auth::None);
    e.requests_per_second = 0.5;
    e.burst = 2;
    let (i, t) = build(vec![e]).await;
    for _ in 0..2 {
        assert_eq!(
            Post::new("/webhooks/falco", ALERT).send(&i).await.0,
            StatusCode::ACCEPTED
        );
    }
    let (status, r, _) = Post::new("/webhooks/falco", ALERT).send(&i).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header_of(&r, header::RETRY_AFTER).as_deref(), Some("2"));
    assert!(t
        .render()
        .contains(r#"vigil_webhook_requests_total{endpoint="falco",code="429"} 1"#));
}

#[tokio::test]
async fn hmac_signatures_are_checked_against_the_body() {
    let key = b"k3y".to_vec();
    let auth = Auth::hmac(key.clone(), HeaderName::from_static("x-hub-signature-256"));
    let (mut i, _t) = build(vec![endpoint("signed", EndpointKind::Falco, auth)]).await;
    let post = |sig: Option<String>| {
        let p = Post::new("/webhooks/signed", ALERT).without("authorization");
        match sig {
            Some(s) => p.set("x-hub-signature-256", &s),
            None => p,
        }
    };
    let (status, _, text) = post(Some(sign(&key, ALERT.as_bytes()))).send(&i).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let (status, r, _) = post(Some(sign(b"other", ALERT.as_bytes()))).send(&i).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(&r, header::WWW_AUTHENTICATE), None);
    assert_eq!(post(None).send(&i).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(queued(&mut i).len(), 1);
}

#[tokio::test]
async fn audit_bodies_name_the_bad_field() {
    let (mut i, _t) = build(vec![endpoint("audit", EndpointKind::Audit, Auth::None)]).await;
    let (status, _, text) = Post::new("/webhooks/audit", r#"{"kind": 0}"#)
        .send(&i)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        text,
        r#"{"error":"line 1: kind: expected a string, got 0"}"#
    );
    let list = r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"stageTimestamp":"2024-01-01T00:00:00Z"},{"auditID":"b","stage":"RequestReceived","verb":"get","user":{"username":"u"},"stageTimestamp":"2024-01-01T00:00:00Z"}]}"#;
    let (status, _, text) = Post::new("/webhooks/audit", list).send(&i).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::ACCEPTED, r#"{"accepted":2}"#)
    );
    let batches = queued(&mut i);
    let filtered: Vec<_> = batches[0]
        .records
        .iter()
        .map(|r| match r {
            super::super::WebhookRecord::Audit(e) => batches[0].endpoint.audit_filter(e),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        filtered,
        vec![None, Some(vigil_pipeline::DropReason::AuditStage)],
        "the endpoint's stage filter"
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("compress");
    e.finish().expect("compress")
}

impl<'a> Post<'a> {
    fn gzipped(path: &'a str, body: &[u8]) -> Self {
        let body = gzip(body);
        let mut p = Post::new(path, "");
        p = p
            .set("content-encoding", "gzip")
            .set("content-length", &body.len().to_string());
        p.body = Body::from(body);
        p
    }
}

#[tokio::test]
async fn gzip_bodies_are_decoded_within_the_endpoints_bound() {
    let (mut i, _t) = falco_bearer().await;
    let body = format!("{ALERT}\n{ALERT}\n");
    let (status, _, text) = Post::gzipped("/webhooks/falco", body.as_bytes())
        .set("content-type", "application/x-ndjson")
        .send(&i)
        .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::ACCEPTED, r#"{"accepted":2}"#)
    );
    assert_eq!(queued(&mut i)[0].records.len(), 2);
    // `x-gzip` and upper case are gzip too.
    let (status, _, text) = Post::gzipped("/webhooks/falco", ALERT.as_bytes())
        .set("content-encoding", "X-GZIP")
        .send(&i)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    drop(queued(&mut i));
    // Small compressed, over maxBodyBytes (4096) decompressed: 413.
    let padded = format!("{ALERT}{}\n", " ".repeat(5000));
    let (status, _, text) = Post::gzipped("/webhooks/falco", padded.as_bytes())
        .send(&i)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert!(text.contains("once decompressed"), "{text}");
    // Not gzip at all, and a truncated gzip body: 400 naming the problem.
    let (status, _, text) = Post::new("/webhooks/falco", ALERT)
        .set("content-encoding", "gzip")
        .send(&i)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("corrupt gzip body: "), "{text}");
    let mut cut = gzip(body.as_bytes());
    cut.truncate(cut.len() - 10);
    let mut post =
        Post::gzipped("/webhooks/falco", b"").set("content-length", &cut.len().to_string());
    post.body = Body::from(cut);
    let (status, _, text) = post.send(&i).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("corrupt gzip body"), "{text}");
    // A bad record inside a good gzip body: the usual 400 naming the line.
    let (status, _, text) = Post::gzipped("/webhooks/falco", b"{\"rule\":\"x\"}")
        .send(&i)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("line 1: "), "{text}");
    assert!(queued(&mut i).is_empty());
}

#[tokio::test]
async fn hmac_of_a_gzip_body_is_over_the_bytes_sent() {
    let key = b"k3y".to_vec();
    let auth = Auth::hmac(key.clone(), HeaderName::from_static("x-signature"));
    let (mut i, _t) = build(vec![endpoint("signed", EndpointKind::Falco, auth)]).await;
    let compressed = gzip(ALERT.as_bytes());
    let post = |sig: String| {
        let mut p = Post::gzipped("/webhooks/signed", ALERT.as_bytes())
            .without("authorization")
            .set("x-signature", &sig);
        p.body = Body::from(compressed.clone());
        p.set("content-length", &compressed.len().to_string())
    };
    let (status, _, text) = post(sign(&key, &compressed)).send(&i).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let (status, _, _) = post(sign(&key, ALERT.as_bytes())).send(&i).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(queued(&mut i).len(), 1);
}

#[tokio::test]
async fn an_mtls_endpoint_needs_a_verified_client_certificate_others_do_not() {
    let mut strict = endpoint("strict", EndpointKind::Falco, Auth::None);
    strict.mtls = true;
    let open = endpoint("open", EndpointKind::Falco, Auth::None);
    let (mut i, t) = build(vec![strict, open]).await;
    let peer = |client_certificate| TlsPeer {
        addr: "127.0.0.1:1".parse().expect("addr"),
        client_certificate,
    };
    let send = |path: &'static str, p: Option<TlsPeer>| {
        let mut post = Post::new(path, ALERT);
        post.peer = p;
        post
    };
    for p in [None, Some(peer(false))] {
        let (status, _, text) = send("/webhooks/strict", p).send(&i).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{p:?}: {text}");
        assert!(text.contains("client certificate"), "{text}");
        let (status, _, text) = send("/webhooks/open", p).send(&i).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{p:?}: {text}");
    }
    let (status, _, text) = send("/webhooks/strict", Some(peer(true))).send(&i).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    assert_eq!(queued(&mut i).len(), 3);
    assert!(t
        .render()
        .contains(r#"vigil_webhook_requests_total{endpoint="strict",code="403"} 2"#));
}

fn section(name: &str, path: Option<&str>) -> EndpointSection {
    EndpointSection {
        name: name.into(),
        kind: EndpointKind::Falco,
        path: path.map(str::to_string),
        auth: Some(AuthSection {
            none: true,
            ..AuthSection::default()
        }),
        max_body_bytes: None,
        queue_capacity: Some(5),
        max_in_flight_bytes: None,
        rate_limit: WebhookRateLimit::default(),
        audit: None,
        mtls: false,
    }
}

fn config_error(e: crate::config::ConfigError) -> (String, String) {
    match e {
        crate::config::ConfigError::Invalid { key, message } => (key, message),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn endpoints_are_added_replaced_and_removed_at_run_time() {
    let (mut i, _t) = falco_bearer().await;
    let h = i.handle();
    assert_eq!(
        Post::new("/hooks/dyn", ALERT).send(&i).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.upsert(section("dyn", Some("/hooks/dyn")))
            .await
            .expect("add"),
        Upserted::Created
    );
    let (status, _, text) = Post::new("/hooks/dyn", ALERT).send(&i).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let batches = queued(&mut i);
    assert_eq!(batches[0].endpoint.name(), "dyn");
    // The same section again: nothing changes (same endpoint, same queue).
    assert_eq!(
        h.upsert(section("dyn", Some("/hooks/dyn")))
            .await
            .expect("same"),
        Upserted::Unchanged
    );
    // Another path: the old one is gone, the new one serves.
    assert_eq!(
        h.upsert(section("dyn", Some("/hooks/dyn2")))
            .await
            .expect("move"),
        Upserted::Replaced
    );
    assert_eq!(
        Post::new("/hooks/dyn", ALERT).send(&i).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        Post::new("/hooks/dyn2", ALERT).send(&i).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        h.endpoints(),
        vec![
            ("dyn".into(), "/hooks/dyn2".into(), Origin::Runtime),
            ("falco".into(), "/webhooks/falco".into(), Origin::Config),
        ]
    );
    // Conflicts and bad sections: errors naming the key, nothing changed.
    let (key, message) = config_error(
        h.upsert(section("other", Some("/hooks/dyn2")))
            .await
            .expect_err("path taken"),
    );
    assert_eq!(key, "endpoints[other].path");
    assert!(message.contains("\"dyn\""), "{message}");
    let (key, _) = config_error(
        h.upsert(section("falco", None))
            .await
            .expect_err("config's"),
    );
    assert_eq!(key, "endpoints[falco].name");
    let mut bad = section("bad", None);
    bad.auth = None;
    let (key, _) = config_error(h.upsert(bad).await.expect_err("no auth"));
    assert_eq!(key, "endpoints[bad].auth");
    let mut strict = section("strict", None);
    strict.mtls = true;
    let (key, _) = config_error(h.upsert(strict).await.expect_err("no client CA"));
    assert_eq!(key, "endpoints[strict].mtls");
    // Removal: 404 from then on; the configuration's endpoints stay.
    assert!(h.remove("dyn").expect("remove"));
    assert!(!h.remove("dyn").expect("again"));
    assert!(h.remove("falco").is_err());
    assert_eq!(
        Post::new("/hooks/dyn2", ALERT).send(&i).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        Post::new("/webhooks/falco", ALERT).send(&i).await.0,
        StatusCode::ACCEPTED
    );
    // Records it accepted before are still there to process.
    assert_eq!(queued(&mut i).len(), 2);
    drop(batches);
}

#[tokio::test]
async fn a_request_in_flight_finishes_in_an_endpoint_removed_meanwhile() {
    let (mut i, _t) = falco_bearer().await;
    let h = i.handle();
    h.upsert(section("dyn", None)).await.expect("add");
    // A body that arrives only after the endpoint is removed.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(1);
    let mut post = Post::new("/webhooks/dyn", "").without("content-length");
    post.body = Body::from_stream(tokio_stream_of(rx));
    let router = i.router.clone();
    let request = {
        let mut r = Request::builder().method("POST").uri(post.path);
        for (n, v) in &post.headers {
            r = r.header(*n, v);
        }
        r.body(post.body).expect("request")
    };
    let in_flight = tokio::spawn(router.oneshot(request));
    // Let the request reach the endpoint and wait for its body.
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(h.remove("dyn").expect("remove"));
    assert_eq!(
        Post::new("/webhooks/dyn", ALERT).send(&i).await.0,
        StatusCode::NOT_FOUND
    );
    tx.send(Ok(ALERT.to_string())).await.expect("body");
    drop(tx);
    let response = in_flight.await.expect("join").expect("infallible");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let batches = queued(&mut i);
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].endpoint.name(), "dyn");
}

/// A stream of the channel's items.
fn tokio_stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn upserts_fail_once_the_server_is_gone() {
    let (i, _t) = falco_bearer().await;
    let h = i.handle();
    drop(i);
    let (_, message) = config_error(h.upsert(section("dyn", None)).await.expect_err("stopped"));
    assert!(message.contains("stopped"), "{message}");
    assert!(h.endpoints().is_empty());
}
