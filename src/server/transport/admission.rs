//! The gate both transports go through, and the rules every session follows.
//!
//! Refusals happen here, before any feed traffic, as plain HTTP: a cross-site Origin gets 403
//! (the Origin header is the only defence against cross-site WebSocket hijacking, and
//! browsers always send it), an address over its share of connections 429, and a server at
//! its connection cap 503. `/ws` and `/sse` share the cap and the per-address counts.
//!
//! Every connection is logged once when it opens and once when it closes (address, origin,
//! transport, close code, duration, messages sent, lag events), never per message.

use crate::server::metrics;
use crate::server::net::serve::{client_ip, peer, TcpHold};
use crate::server::rfc6455::Refusal;
use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The rules of a session. Defaults come from the server's configuration.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Channels one connection may hold.
    pub max_subscriptions: usize,
    /// The longest a session stays silent; a heartbeat fills the silence.
    pub heartbeat: Duration,
    /// How often the server pings the client.
    pub ping_interval: Duration,
    /// A client that sends nothing (not even a pong) for this long is closed.
    pub client_timeout: Duration,
    /// Client messages per second allowed on average...
    pub rate_per_sec: f64,
    /// ...and in a burst.
    pub burst: f64,
    /// A send that cannot complete in this time means the client stopped reading.
    pub send_timeout: Duration,
    /// A client this many ticks behind is conflated rather than replayed.
    pub lag_ticks: u64,
    /// How often a session's views follow their rankings (the tick interval).
    pub view_refresh: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_subscriptions: 4096,
            heartbeat: Duration::from_secs(1),
            ping_interval: Duration::from_secs(5),
            client_timeout: Duration::from_secs(15),
            rate_per_sec: 20.0,
            burst: 40.0,
            send_timeout: Duration::from_secs(10),
            lag_ticks: 256,
            view_refresh: Duration::from_millis(100),
        }
    }
}

/// Largest client message accepted. Clients send small JSON requests; a small limit keeps a
/// hostile client from making us buffer megabytes. A larger one is answered with close 1009.
pub(crate) const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// Who may open a feed connection.
#[derive(Clone, Debug)]
pub(crate) struct Rules {
    /// Feed connections served at once (both transports).
    pub(crate) max_connections: usize,
    /// Feed connections one client address may hold (behind a trusted proxy, the address it
    /// forwards for).
    pub(crate) max_per_ip: usize,
    /// Extra origins allowed besides the page's own and localhost, e.g. `https://example.com`.
    pub(crate) allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub(crate) trusted_proxies: Vec<IpAddr>,
}

/// What every session shares: the admission rules and counts, the session rules, the shutdown
/// signal and the tracker that shutdown waits on.
pub(crate) struct Gate {
    pub(crate) rules: Rules,
    pub(crate) limits: Limits,
    active: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
}

/// Who is asking: the peer, the client behind it (when a trusted proxy says), the origin.
#[derive(Clone, Debug)]
pub(crate) struct Visitor {
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) client: Option<IpAddr>,
    pub(crate) origin: String,
    /// Held, never read: keeps the TCP connection counted against its address while the
    /// session lives.
    pub(crate) _hold: Option<TcpHold>,
}

impl Visitor {
    pub(crate) fn of(req: &Request<Body>, trusted: &[IpAddr]) -> Visitor {
        let peer = peer(req);
        Visitor {
            peer,
            client: peer.map(|p| client_ip(p.ip(), req.headers(), trusted)),
            origin: req
                .headers()
                .get(header::ORIGIN)
                .and_then(|o| o.to_str().ok())
                .unwrap_or("-")
                .to_string(),
            _hold: req.extensions().get::<TcpHold>().cloned(),
        }
    }
}

/// Counts a connection for as long as it lives, and logs its end.
pub(crate) struct Slot {
    gate: Arc<Gate>,
    visitor: Visitor,
    transport: &'static str,
    opened: Instant,
}

impl Slot {
    /// Logs the connection's end (and counts it, by close code).
    pub(crate) fn ended(&self, code: Option<u16>, messages: u64, lag_events: u64) {
        metrics::closed(self.transport, code);
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
        self.gate.active.fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = self.visitor.client {
            let mut per_ip = self.gate.per_ip.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }
}

impl Gate {
    pub(crate) fn new(rules: Rules, limits: Limits, shutdown: CancellationToken) -> Self {
        Gate {
            rules,
            limits,
            active: AtomicUsize::new(0),
            per_ip: Mutex::default(),
            shutdown,
            tracker: TaskTracker::new(),
        }
    }

    /// Feed connections open now (both transports).
    pub(crate) fn open(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Takes a connection slot for `visitor` on `transport`, or says why not (the response to
    /// send).
    pub(crate) fn admit(
        self: &Arc<Self>,
        headers: &HeaderMap,
        visitor: Visitor,
        transport: &'static str,
    ) -> Result<Slot, Refusal> {
        let refuse = |status, reason: String| Refusal { status, reason };
        if !origin_allowed(headers, &self.rules.allowed_origins) {
            metrics::refused(403, "origin");
            return Err(refuse(StatusCode::FORBIDDEN, "origin not allowed".into()));
        }
        if self.shutdown.is_cancelled() {
            metrics::refused(503, "shutting_down");
            return Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "server shutting down".into(),
            ));
        }
        if let Some(ip) = visitor.client {
            let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
            let n = per_ip.entry(ip).or_insert(0);
            if *n >= self.rules.max_per_ip {
                metrics::refused(429, "connections_per_address");
                return Err(refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "{ip} holds {} feed connections already",
                        self.rules.max_per_ip
                    ),
                ));
            }
            *n += 1;
        }
        let before = self.active.fetch_add(1, Ordering::AcqRel);
        let slot = Slot {
            gate: self.clone(),
            visitor: visitor.clone(),
            transport,
            opened: Instant::now(),
        };
        if before >= self.rules.max_connections {
            metrics::refused(503, "connection_cap");
            return Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("connection limit reached ({})", self.rules.max_connections),
            ));
        }
        metrics::accepted(transport);
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
pub(crate) fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;
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
