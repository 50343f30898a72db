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
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Connection-level limits.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// A client must send its whole request head within this time (slowloris).
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers) accepted; larger gets 431.
    pub max_header_bytes: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            shutdown_grace: Duration::from_secs(3),
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
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
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

/// The peer of a request served by [`serve`].
pub fn peer(req: &hyper::Request<axum::body::Body>) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}
