//! The HTTP/1.1 server loop: accepts connections and serves the router on each with hyper.
//!
//! Ours rather than `axum::serve` for three reasons: hyper's HTTP/1 builder exposes the
//! connection-level limits an operator needs (a deadline for reading request headers, a
//! header size limit), we see every accepted socket (peer address, per-address caps), and a
//! WebSocket upgrade hands back our own `TcpStream`, which the `/ws` transport writes to
//! directly (axum's HTTP/1+2 auto-detection wraps the stream in a type nothing outside
//! hyper-util can name). HTTP/2 is not served: browsers only speak it over TLS, and TLS is
//! the reverse proxy's job in front of livetape.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Connection-level limits.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// A client must send its whole request head within this time (slowloris).
    pub(crate) header_read_timeout: Duration,
    /// Largest request head (request line and headers) accepted; larger gets 431.
    pub(crate) max_header_bytes: usize,
    /// How long shutdown waits for requests in flight.
    pub(crate) shutdown_grace: Duration,
    /// TCP connections one peer address may hold at once (trusted proxies excepted).
    pub(crate) max_per_ip: usize,
    pub(crate) trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            shutdown_grace: Duration::from_secs(3),
            max_per_ip: usize::MAX,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets requests in flight
/// finish (up to the grace period). Upgraded connections are not waited for here: their
/// sessions are tracked by their endpoint.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    // Connections in flight, so that shutdown can wait for them (not for upgraded ones:
    // hyper hands those over and the connection task ends).
    let connections = TaskTracker::new();
    let per_ip = Arc::new(Mutex::new(HashMap::<IpAddr, usize>::new()));
    while let Some((stream, peer)) = accept(&listener, &shutdown).await {
        let _ = stream.set_nodelay(true);
        // One address holding too many connections (slow or idle ones, say) is cut off at
        // the door; its other connections go on.
        let Some(hold) = hold_for(&per_ip, &limits, peer.ip()) else {
            crate::server::metrics::refused(429, "tcp_connections_per_address");
            continue;
        };
        let router = router.clone();
        let held = hold.clone();
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.extensions_mut().insert(held.clone());
                router.clone().oneshot(req)
            },
        ));
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stop = shutdown.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                _ = stop.cancelled() => {
                    // Finish the request in flight, if any, then close.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(err) = ended {
                tracing::debug!(%err, %peer, "connection ended with an error");
            }
            drop(hold);
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(limits.shutdown_grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "some HTTP requests did not finish in {:?}",
            limits.shutdown_grace
        );
    }
    Ok(())
}

/// The next connection, or `None` once shutdown is asked for.
async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => return Some(a),
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.cancelled() => return None,
        }
    }
}

/// Counts a connection from `ip` (trusted proxies are not counted); `None` when `ip` holds
/// its share already.
fn hold_for(
    per_ip: &Arc<Mutex<HashMap<IpAddr, usize>>>,
    limits: &HttpLimits,
    ip: IpAddr,
) -> Option<TcpHold> {
    let counted = !limits.trusted_proxies.contains(&ip);
    if counted {
        let mut map = per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= limits.max_per_ip {
            return None;
        }
        *n += 1;
    }
    Some(TcpHold(Arc::new(PerIp {
        map: counted.then(|| per_ip.clone()),
        ip,
    })))
}

/// Counts a TCP connection against its address for as long as someone holds it: the HTTP
/// connection task, and after an upgrade the WebSocket session (hyper's task ends at the
/// upgrade, the socket does not).
#[derive(Clone)]
pub(crate) struct TcpHold(Arc<PerIp>);

impl std::fmt::Debug for TcpHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TcpHold({})", self.0.ip)
    }
}

struct PerIp {
    map: Option<Arc<Mutex<HashMap<IpAddr, usize>>>>,
    ip: IpAddr,
}

impl Drop for PerIp {
    fn drop(&mut self) {
        if let Some(map) = &self.map {
            let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = map.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&self.ip);
                }
            }
        }
    }
}

/// The peer of a request served by [`serve`].
pub(crate) fn peer(req: &hyper::Request<axum::body::Body>) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// The client's address: the peer's, unless the peer is a trusted proxy, then the last
/// address in `X-Forwarded-For` that is not one of ours (each proxy appends the address it
/// got the request from; anything left of a proxy we do not trust could be made up).
pub(crate) fn client_ip(
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|a| !trusted.contains(a))
        .unwrap_or(peer)
}
