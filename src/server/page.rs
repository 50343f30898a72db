//! Server-side rendering of the dashboard page from the hub's live state.

use super::AppState;
use crate::app::shell;
use crate::protocol::SnapshotReason;
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use leptos::prelude::provide_context;

/// Renders the whole page (not streamed out of order), so that it is a complete, readable
/// snapshot even with JavaScript disabled. The snapshot (with each channel's seq) is handed to
/// the app as context; the app embeds it for hydration, so the client resumes the feed from
/// exactly what the HTML shows.
pub async fn render(State(state): State<AppState>, req: Request<Body>) -> Response {
    let hub = state.hub.clone();
    let options = state.leptos_options.clone();
    let handler = leptos_axum::render_app_async_with_context(
        move || provide_context(hub.snapshot(&hub.dashboard_channels(), SnapshotReason::Page)),
        move || shell(options.clone()),
    );
    handler(req).await.into_response()
}
