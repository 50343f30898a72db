//! The `/ws` endpoint: checks a connection may be opened, then hands the socket to a session.
//!
//! Refusals happen here, before any WebSocket traffic, as plain HTTP: a cross-site Origin gets
//! 403 (the Origin header is the only defence against cross-site WebSocket hijacking, and
//! browsers always send it), and a server at its connection cap answers 503.

use super::fanout::FanOut;
use super::outlet::Outlet;
use super::session::{self, Limits, MAX_CLIENT_MESSAGE};
use super::websocket::{self, conn::Conn, Refusal};
use super::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What every session shares: its rules, the connection count and the shutdown signal.
pub struct Sessions {
    pub limits: Limits,
    /// Writes ticks to sessions in sync.
    pub fanout: Arc<FanOut>,
    /// The cluster's Redis, for resumes older than this node's history.
    pub store: Option<Arc<super::cluster::store::Store>>,
    pub max_connections: usize,
    /// Extra origins allowed besides the page's own and localhost, e.g. `https://example.com`.
    pub allowed_origins: Vec<String>,
    pub active: AtomicUsize,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
}

/// Counts a connection for as long as it lives.
pub struct Slot(Arc<Sessions>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Sessions {
    /// WebSocket connections open now.
    pub fn open(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Takes a connection slot, or says why not (the response to send).
    pub fn admit(self: &Arc<Self>, headers: &HeaderMap) -> Result<Slot, Refusal> {
        let refuse = |status, reason: String| Refusal { status, reason };
        if !origin_allowed(headers, &self.allowed_origins) {
            return Err(refuse(StatusCode::FORBIDDEN, "origin not allowed".into()));
        }
        if self.shutdown.is_cancelled() {
            return Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "server shutting down".into(),
            ));
        }
        let before = self.active.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(self.clone());
        if before >= self.max_connections {
            return Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("connection limit reached ({})", self.max_connections),
            ));
        }
        Ok(slot)
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
pub async fn upgrade(State(state): State<AppState>, mut req: Request<Body>) -> Response {
    let sessions = state.sessions.clone();
    let slot = match sessions.admit(req.headers()) {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    let (response, on_upgrade) = match websocket::accept(&mut req) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into_response(),
    };
    let hub = state.hub.clone();
    let limits = sessions.limits.clone();
    let shutdown = sessions.shutdown.clone();
    let fanout = sessions.fanout.clone();
    let store = sessions.store.clone();
    // Tracked so that shutdown can wait for every session's close handshake: axum's graceful
    // shutdown does not wait for upgraded connections. Boxed: the session's state machine
    // would otherwise be laid out inside this task next to the upgrade's own state.
    sessions.tracker.spawn(async move {
        let Some((stream, read_ahead)) = websocket::upgraded(on_upgrade).await else {
            return;
        };
        let stream = Arc::new(stream);
        let outlet = Arc::new(Outlet::new(stream.clone()));
        let conn = Conn::new(stream, read_ahead, MAX_CLIENT_MESSAGE);
        Box::pin(session::run(
            conn, outlet, hub, fanout, store, limits, shutdown,
        ))
        .await;
        drop(slot);
    });
    response
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
