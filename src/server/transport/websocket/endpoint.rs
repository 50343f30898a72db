//! The `/ws` endpoint: the handshake, the gate, then a session on the socket.

use super::fanout::FanOut;
use super::outlet::Outlet;
use super::session;
use crate::server::rfc6455::{self, conn::Conn};
use crate::server::transport::admission::{Gate, Visitor, MAX_CLIENT_MESSAGE};
use crate::server::transport::feed_view::FeedView;
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Checks the request, then upgrades it and runs a session on the socket.
pub(crate) async fn upgrade(
    State(gate): State<Arc<Gate>>,
    State(feed): State<Arc<FeedView>>,
    State(fanout): State<Arc<FanOut>>,
    mut req: Request<Body>,
) -> Response {
    // The handshake first: a request that is not an upgrade takes no slot.
    let rfc6455::Accepted {
        response,
        on_upgrade,
        deflate,
    } = match rfc6455::accept(&mut req) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into_response(),
    };
    let visitor = Visitor::of(&req, &gate.rules.trusted_proxies);
    let slot = match gate.admit(req.headers(), visitor, "ws") {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    let limits = gate.limits.clone();
    let shutdown = gate.shutdown.clone();
    // Tracked so that shutdown can wait for every session's close handshake: axum's graceful
    // shutdown does not wait for upgraded connections. Boxed: the session's state machine
    // would otherwise be laid out inside this task next to the upgrade's own state.
    gate.tracker.spawn(async move {
        let Some((stream, read_ahead)) = rfc6455::upgraded(on_upgrade).await else {
            slot.ended(None, 0, 0);
            return;
        };
        let stream = Arc::new(stream);
        let outlet = Arc::new(Outlet::new(stream.clone(), deflate.is_some()));
        let conn = Conn::new(stream, read_ahead, MAX_CLIENT_MESSAGE, deflate.as_ref());
        let ended = Box::pin(session::run(conn, outlet, feed, fanout, limits, shutdown)).await;
        slot.ended(ended.code, ended.messages_sent, ended.lag_events);
        drop(slot);
        #[cfg(feature = "soak-leak")]
        std::mem::forget(std::hint::black_box(vec![0x5a_u8; 4096]));
    });
    response
}
