//! `GET /metrics`: reads what lives elsewhere as state (connections, the tick, the page
//! cache, Redis, the fan-out's counters) into the recorder, then renders it in Prometheus's
//! text format. What is recorded as it happens is in `server::metrics`.

use crate::server::feed::hub::Hub;
use crate::server::health::Health;
use crate::server::http::page_cache::PageCache;
use crate::server::metrics::{
    handle, KINDS, OPEN_SSE, OPEN_WS, SSE_BYTES, SSE_EVENTS, SUBSCRIPTIONS, WS_BYTES, WS_FRAMES,
};
use crate::server::transport::admission::Gate;
use crate::server::transport::websocket::fanout::FanOut;
use ::metrics::{counter, gauge};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Everything a scrape reads besides the recorder.
struct Parts<'a> {
    hub: &'a Hub,
    gate: &'a Gate,
    fanout: &'a FanOut,
    pages: &'a PageCache,
    health: &'a Health,
}

fn render(p: Parts<'_>) -> String {
    let handle = handle();
    gauge!("livetape_connections", "transport" => "ws").set(OPEN_WS.load(Ordering::Relaxed) as f64);
    gauge!("livetape_connections", "transport" => "sse")
        .set(OPEN_SSE.load(Ordering::Relaxed) as f64);
    for (slot, kind) in KINDS.iter().enumerate() {
        gauge!("livetape_subscriptions", "kind" => *kind)
            .set(SUBSCRIPTIONS[slot].load(Ordering::Relaxed) as f64);
    }
    let fanout = &p.fanout.counters;
    let ws_frames =
        fanout.frames.load(Ordering::Relaxed) as u64 + WS_FRAMES.load(Ordering::Relaxed);
    let ws_bytes = fanout.bytes.load(Ordering::Relaxed) as u64 + WS_BYTES.load(Ordering::Relaxed);
    counter!("livetape_frames_sent_total", "transport" => "ws").absolute(ws_frames);
    counter!("livetape_bytes_sent_total", "transport" => "ws").absolute(ws_bytes);
    counter!("livetape_frames_sent_total", "transport" => "sse")
        .absolute(SSE_EVENTS.load(Ordering::Relaxed));
    counter!("livetape_bytes_sent_total", "transport" => "sse")
        .absolute(SSE_BYTES.load(Ordering::Relaxed));
    let pages = &p.pages.stats;
    counter!("livetape_pages_rendered_total").absolute(pages.renders.load(Ordering::Relaxed));
    counter!("livetape_pages_served_total").absolute(pages.hits.load(Ordering::Relaxed));
    counter!("livetape_pages_shed_total").absolute(pages.shed.load(Ordering::Relaxed));
    gauge!("livetape_connection_limit").set(p.gate.rules.max_connections as f64);
    gauge!("livetape_epoch").set(p.hub.epoch() as f64);
    gauge!("livetape_tick").set(p.hub.n() as f64);
    gauge!("livetape_history_updates").set(p.hub.history_len() as f64);
    let (ready, _) = p.health.readiness(p.hub.epoch(), p.hub.n(), p.gate.open());
    gauge!("livetape_ready").set(if ready { 1.0 } else { 0.0 });
    gauge!("livetape_feed_age_seconds").set(p.health.feed_age_ms().max(0) as f64 / 1000.0);
    if p.health.clustered {
        gauge!("livetape_redis_up").set(if p.health.redis_up() { 1.0 } else { 0.0 });
        gauge!("livetape_leading").set(if p.health.leading() { 1.0 } else { 0.0 });
    }
    handle.run_upkeep();
    handle.render()
}

/// `GET /metrics`.
pub(crate) async fn scrape(
    State(hub): State<Arc<Hub>>,
    State(gate): State<Arc<Gate>>,
    State(fanout): State<Arc<FanOut>>,
    State(pages): State<Arc<PageCache>>,
    State(health): State<Arc<Health>>,
) -> Response {
    let text = render(Parts {
        hub: &hub,
        gate: &gate,
        fanout: &fanout,
        pages: &pages,
        health: &health,
    });
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
