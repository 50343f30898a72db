//! The routes, and the state they are served from.

use super::page_cache::{self, PageCache};
use super::publish::{self, Publish};
use super::{candles, metrics, probes};
use crate::server::feed::hub::Hub;
use crate::server::health::Health;
use crate::server::transport::admission::Gate;
use crate::server::transport::feed_view::FeedView;
use crate::server::transport::websocket::fanout::FanOut;
use crate::server::transport::{sse, websocket};
use axum::extract::FromRef;
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;

/// Everything a handler may take a part of.
#[derive(Clone, FromRef)]
pub(crate) struct AppState {
    pub(crate) leptos_options: LeptosOptions,
    pub(crate) hub: Arc<Hub>,
    pub(crate) feed: Arc<FeedView>,
    pub(crate) gate: Arc<Gate>,
    pub(crate) fanout: Arc<FanOut>,
    pub health: Arc<Health>,
    pub(crate) pages: Arc<PageCache>,
    /// The publish API (None: no token configured, the API is off).
    pub(crate) publish: Option<Arc<Publish>>,
}

/// The HTTP routes: the page, `/ws` and `/sse`, health, metrics (unless they have an address
/// of their own), and the static site (bundle, CSS, favicon).
pub(crate) fn router(state: AppState, with_metrics: bool) -> Router {
    // The bundle's brotli and gzip forms are written at build time (scripts/precompress.sh);
    // where they are missing (a dev build) the compression layer below compresses instead.
    let site = ServeDir::new(state.leptos_options.site_root.as_ref())
        .precompressed_br()
        .precompressed_gzip();
    let router = Router::new()
        .route("/", get(page_cache::page))
        .route("/api/candles", get(candles::older))
        .fallback_service(site)
        // Compress the page and the bundle; the feed's routes are added after the layer: the
        // upgrade response is left alone, and an event stream must not wait in a compressor.
        .layer(CompressionLayer::new())
        .route("/ws", get(websocket::endpoint::upgrade))
        .route("/sse", get(sse::stream))
        .route("/api/publish", post(publish::publish))
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz));
    let router = if with_metrics {
        router.route("/metrics", get(metrics::scrape))
    } else {
        router
    };
    router.with_state(state)
}
