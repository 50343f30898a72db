//! Server-side rendering of the dashboard page from the hub's live state.

use super::AppState;
use crate::app::shell;
use crate::protocol::{Channel, Interval, SnapshotReason};
use crate::ui::store::{PageState, CHART_CANDLES};
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
        move || provide_context(page_state(&hub)),
        move || shell(options.clone()),
    );
    handler(req).await.into_response()
}

/// The live state the page shows: every quote and game, the sparklines, and the detail panel's
/// candles and trades for the first symbol.
fn page_state(hub: &super::hub::Hub) -> PageState {
    let selected = hub.catalog().symbols().first().cloned().unwrap_or_default();
    let interval = Interval::OneSecond;
    let mut channels = hub.dashboard_channels();
    channels.push(Channel::Candles(selected.clone(), interval));
    channels.push(Channel::Trades(selected.clone()));
    let (snapshot, _) = hub.snapshot(&channels, SnapshotReason::Page, CHART_CANDLES);
    PageState {
        snapshot,
        sparks: hub.sparks(),
        selected,
        interval: Some(interval),
    }
}
