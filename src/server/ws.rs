//! The `/ws` endpoint: checks a connection may be opened, then hands the socket to a session.
//!
//! Refusals happen here, before any WebSocket traffic, as plain HTTP: a cross-site Origin gets
//! 403 (the Origin header is the only defence against cross-site WebSocket hijacking, and
//! browsers always send it), and a server at its connection cap answers 503.

use super::session::{self, Limits};
use super::AppState;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Largest client message accepted. Clients send small JSON requests; a small limit keeps a
/// hostile client from making us buffer megabytes. A larger one is answered with close 1009.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// Per-connection socket buffers. The library defaults (128 KiB each way) would cost a quarter
/// of a megabyte per idle client; our frames are a few KiB. Clients send small requests, so
/// the read buffer is small too (a rare large request is read in more calls): with the boxed
/// session and size-bounded snapshots it keeps an idle client near 14 KiB (`make bench`, c).
const READ_BUFFER: usize = 512;
const WRITE_BUFFER: usize = 8 * 1024;
/// Bound on bytes queued in tungstenite for one client. Sessions await every send, so at most
/// one frame waits here; the bound only has to exceed the largest frame: a replay batch after
/// a lag, or one channel's state (snapshot messages close at `SNAPSHOT_BYTES`, but a single
/// candle history or trade tape goes whole).
const MAX_WRITE_BUFFER: usize = 8 * 1024 * 1024;

/// What every session shares: its rules, the connection count and the shutdown signal.
pub struct Sessions {
    pub limits: Limits,
    pub max_connections: usize,
    /// Extra origins allowed besides the page's own and localhost, e.g. `https://example.com`.
    pub allowed_origins: Vec<String>,
    pub active: AtomicUsize,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
}

/// Counts a connection for as long as it lives.
struct Slot(Arc<Sessions>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// True for requests a browser would only send from a page we serve: no Origin (not a
/// browser), the same host as the request, a loopback host, or a configured origin.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    if scheme != "http" && scheme != "https" {
        return false;
    }
    if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        if authority.eq_ignore_ascii_case(host) {
            return true;
        }
    }
    let hostname = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if matches!(hostname, "localhost" | "127.0.0.1" | "::1") {
        return true;
    }
    allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
}

/// Checks the request, then upgrades it and runs a session on the socket.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let sessions = state.sessions.clone();
    if !origin_allowed(&headers, &sessions.allowed_origins) {
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    if sessions.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "server shutting down\n").into_response();
    }
    let before = sessions.active.fetch_add(1, Ordering::AcqRel);
    let slot = Slot(sessions.clone());
    if before >= sessions.max_connections {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("connection limit reached ({})\n", sessions.max_connections),
        )
            .into_response();
    }
    let hub = state.hub.clone();
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| {
            let limits = sessions.limits.clone();
            let shutdown = sessions.shutdown.clone();
            // Tracked so that shutdown can wait for every session's close handshake: axum's
            // graceful shutdown does not wait for upgraded connections.
            // Boxed: the session's state machine (~2.5 KiB) would otherwise be laid out
            // inside axum's upgrade future next to the upgrade's own state, which costs
            // another ~2.5 KiB per idle connection (measured with massif; scenario c).
            let session = Box::pin(session::run(socket, hub, limits, shutdown));
            sessions.tracker.track_future(async move {
                session.await;
                drop(slot);
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn origins() {
        let extra = vec!["https://dash.example.com".to_string()];
        let ok = |o: Option<&str>, host: &str| origin_allowed(&headers(o, host), &extra);
        assert!(ok(None, "x:1"), "non-browser clients send no Origin");
        assert!(
            ok(
                Some("http://feed.example.org:8080"),
                "feed.example.org:8080"
            ),
            "same origin"
        );
        assert!(ok(Some("http://localhost:3000"), "10.0.0.1:3000"));
        assert!(ok(Some("http://127.0.0.1:5173"), "10.0.0.1:3000"));
        assert!(ok(Some("http://[::1]:3000"), "10.0.0.1:3000"));
        assert!(
            ok(Some("https://dash.example.com"), "10.0.0.1:3000"),
            "configured"
        );
        assert!(!ok(Some("https://evil.example.net"), "feed.example.org"));
        assert!(!ok(Some("http://localhost.evil.net"), "feed.example.org"));
        assert!(!ok(Some("null"), "feed.example.org"));
        assert!(!ok(Some("file://x"), "feed.example.org"));
    }
}
