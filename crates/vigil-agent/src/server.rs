//! The admin server: `/health` (the process answers), `/ready` (see
//! [`Health`]) and `/metrics` (OpenMetrics). Process plumbing only.

use crate::health::Health;
use crate::metrics::Telemetry;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
    telemetry: Arc<Telemetry>,
}

pub fn router(health: Arc<Health>, telemetry: Arc<Telemetry>) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(AppState { health, telemetry })
}

async fn ready(State(s): State<AppState>) -> impl IntoResponse {
    match s.health.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(parts) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", parts.join(", ")),
        ),
    }
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.telemetry.render(),
    )
}
