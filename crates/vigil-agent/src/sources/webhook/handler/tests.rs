//! One HTTP exchange at a time through the router (no socket): the status
//! code, headers and body of each check, and what reached the queue.

use super::super::auth::{sign, Auth};
use super::super::config::{EndpointKind, WebhookEndpoint, WebhookSettings};
use super::super::{intake, Batch, Intake};
use crate::metrics::Telemetry;
use axum::body::Body;
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
        max_body_bytes: 4096,
        queue_capacity: 3,
        max_in_flight_bytes: 16384,
        requests_per_second: 1000.0,
        burst: 1000,
        audit_stages: vec![AuditStage::ResponseComplete],
        audit_verbs: Vec::new(),
    }
}

fn build(endpoints: Vec<WebhookEndpoint>) -> (Intake, Telemetry) {
    let telemetry = Telemetry::new();
    let settings = WebhookSettings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        shutdown_timeout: Duration::from_secs(1),
        tls: None,
        endpoints,
    };
    (intake(&settings, &telemetry.metrics), telemetry)
}

fn falco_bearer() -> (Intake, Telemetry) {
    build(vec![endpoint(
        "falco",
        EndpointKind::Falco,
        Auth::bearer(b"tok").expect("token"),
    )])
}

struct Post<'a> {
    path: &'a str,
    method: &'a str,
    headers: Vec<(&'a str, String)>,
    body: Body,
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
    let (mut i, t) = falco_bearer();
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
    let (mut i, t) = falco_bearer();
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
    let (mut i, _t) = falco_bearer();
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
        .set("content-encoding", "gzip")
        .send(&i)
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{text}");
    assert!(text.contains("compress_uploads"), "{text}");
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
    let (mut i, _t) = falco_bearer();
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
    let (mut i, t) = falco_bearer();
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
    let (mut i, t) = falco_bearer();
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
    let (i, t) = build(vec![e]);
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
    let (mut i, _t) = build(vec![endpoint("signed", EndpointKind::Falco, auth)]);
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
    let (mut i, _t) = build(vec![endpoint("audit", EndpointKind::Audit, Auth::None)]);
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
