//! The `/ws` endpoint: checks a connection may be opened, then hands the socket to a session.
//!
//! Refusals happen here, before any WebSocket traffic, as plain HTTP: a cross-site Origin gets
//! 403 (the Origin header is the only defence against cross-site WebSocket hijacking, and
//! browsers always send it), an address over its share of connections 429, and a server at
//! its connection cap 503. The same admission serves `/sse`: the cap counts both transports.
//!
//! Every connection is logged once when it opens and once when it closes (address, origin,
//! transport, close code, duration, messages sent, lag events), never per message.

use super::fanout::FanOut;
use super::outlet::Outlet;
use super::session::{self, Limits, MAX_CLIENT_MESSAGE};
use super::websocket::{self, conn::Conn, Refusal};
use super::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
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
    /// Feed connections one client address may hold (behind a trusted proxy, the address
    /// it forwards for).
    pub max_per_ip: usize,
    pub per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
}

/// Who is asking: the peer, the client behind it (when a trusted proxy says), the origin.
#[derive(Clone, Debug)]
pub struct Visitor {
    pub peer: Option<SocketAddr>,
    pub client: Option<IpAddr>,
    pub origin: String,
    /// Keeps the TCP connection counted against its address while the session lives.
    pub hold: Option<super::http::TcpHold>,
}

impl Visitor {
    pub fn of(req: &Request<Body>, trusted: &[IpAddr]) -> Visitor {
        let peer = super::http::peer(req);
        Visitor {
            peer,
            client: peer.map(|p| super::http::client_ip(p.ip(), req.headers(), trusted)),
            origin: req
                .headers()
                .get(header::ORIGIN)
                .and_then(|o| o.to_str().ok())
                .unwrap_or("-")
                .to_string(),
            hold: req.extensions().get::<super::http::TcpHold>().cloned(),
        }
    }
}

/// Counts a connection for as long as it lives, and logs its end.
pub struct Slot {
    sessions: Arc<Sessions>,
    visitor: Visitor,
    transport: &'static str,
    opened: Instant,
}

impl Slot {
    /// Logs the connection's end (and counts it, by close code).
    pub fn ended(&self, code: Option<u16>, messages: u64, lag_events: u64) {
        super::metrics::closed(self.transport, code);
        tracing::info!(
            transport = self.transport,
            peer = %self.visitor.peer.map_or("-".to_string(), |p| p.to_string()),
            client = %self.visitor.client.map_or("-".to_string(), |c| c.to_string()),
            origin = %self.visitor.origin,
            code = code.map_or("none".to_string(), |c| c.to_string()),
            duration_ms = self.opened.elapsed().as_millis() as u64,
            messages,
            lag_events,
            "connection closed"
        );
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.sessions.active.fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = self.visitor.client {
            let mut per_ip = self
                .sessions
                .per_ip
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(n) = per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }
}

impl Sessions {
    /// WebSocket connections open now.
    pub fn open(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Takes a connection slot for `visitor` on `transport`, or says why not (the response to
    /// send).
    pub fn admit(
        self: &Arc<Self>,
        headers: &HeaderMap,
        visitor: Visitor,
        transport: &'static str,
    ) -> Result<Slot, Refusal> {
        let refuse = |status, reason: String| Refusal { status, reason };
        if !origin_allowed(headers, &self.allowed_origins) {
            super::metrics::refused(403, "origin");
            return Err(refuse(StatusCode::FORBIDDEN, "origin not allowed".into()));
        }
        if self.shutdown.is_cancelled() {
            super::metrics::refused(503, "shutting_down");
            return Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "server shutting down".into(),
            ));
        }
        if let Some(ip) = visitor.client {
            let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
            let n = per_ip.entry(ip).or_insert(0);
            if *n >= self.max_per_ip {
                super::metrics::refused(429, "connections_per_address");
                return Err(refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("{ip} holds {} feed connections already", self.max_per_ip),
                ));
            }
            *n += 1;
        }
        let before = self.active.fetch_add(1, Ordering::AcqRel);
        let slot = Slot {
            sessions: self.clone(),
            visitor: visitor.clone(),
            transport,
            opened: Instant::now(),
        };
        if before >= self.max_connections {
            super::metrics::refused(503, "connection_cap");
            return Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("connection limit reached ({})", self.max_connections),
            ));
        }
        super::metrics::accepted(transport);
        tracing::info!(
            transport,
            peer = %visitor.peer.map_or("-".to_string(), |p| p.to_string()),
            client = %visitor.client.map_or("-".to_string(), |c| c.to_string()),
            origin = %visitor.origin,
            "connection open"
        );
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
    // The handshake first: a request that is not an upgrade takes no slot.
    let websocket::Accepted {
        response,
        on_upgrade,
        deflate,
    } = match websocket::accept(&mut req) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into_response(),
    };
    let visitor = Visitor::of(&req, &sessions.trusted_proxies);
    let slot = match sessions.admit(req.headers(), visitor, "ws") {
        Ok(slot) => slot,
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
            slot.ended(None, 0, 0);
            return;
        };
        let stream = Arc::new(stream);
        let outlet = Arc::new(Outlet::new(stream.clone(), deflate.is_some()));
        let conn = Conn::new(stream, read_ahead, MAX_CLIENT_MESSAGE, deflate.as_ref());
        let ended = Box::pin(session::run(
            conn, outlet, hub, fanout, store, limits, shutdown,
        ))
        .await;
        slot.ended(ended.code, ended.messages_sent, ended.lag_events);
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
