//! `/healthz` (the process is alive) and `/readyz` (it should get traffic), each with a small
//! JSON body that says why (see `health`).

use crate::server::feed::hub::Hub;
use crate::server::health::Health;
use crate::server::transport::admission::Gate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

pub(crate) async fn healthz(State(health): State<Arc<Health>>) -> Response {
    Json(serde_json::json!({
        "status": "alive",
        "role": health.role,
    }))
    .into_response()
}

pub(crate) async fn readyz(
    State(health): State<Arc<Health>>,
    State(hub): State<Arc<Hub>>,
    State(gate): State<Arc<Gate>>,
) -> Response {
    let (ready, body) = health.readiness(hub.epoch(), hub.n(), gate.open());
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
