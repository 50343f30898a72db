//! The `/ws` endpoint: a snapshot on connect, then every batch in order.
//!
//! One task per client runs [`serve_client`]. It forwards the hub's pre-encoded frames as they
//! come (no per-client encoding) and answers the client's messages; it never blocks the
//! producer or other clients, because the broadcast ring drops what a slow client has not read
//! and tells it `Lagged`, upon which this client alone is resynchronised with a fresh snapshot.
//!
//! The receive loop runs until the socket's stream ends, including after the client's Close:
//! tungstenite queues the close reply and only flushes it on a later read, so breaking out on
//! Close would drop the socket with the reply unsent (an unclean close for the client).

use super::hub::Hub;
use crate::protocol::{ClientMsg, ErrorCode, ErrorReply, ServerMsg};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// Largest client message accepted. Clients send small JSON requests; anything near this is
/// abuse, and a small limit keeps a hostile client from making us buffer megabytes.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// Per-connection socket buffers. The library defaults (128 KiB each way) would cost a quarter
/// of a megabyte per idle client; our frames are a few KiB.
const READ_BUFFER: usize = 8 * 1024;
const WRITE_BUFFER: usize = 8 * 1024;
/// Bound on bytes queued for one client when its TCP window is full; a frame that does not fit
/// fails the send and ends that client's connection instead of growing memory.
const MAX_WRITE_BUFFER: usize = 4 * 1024 * 1024;

/// Upgrades the request and hands the socket to [`serve_client`].
pub async fn upgrade(ws: WebSocketUpgrade, State(hub): State<Arc<Hub>>) -> Response {
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve_client(socket, hub))
}

/// Runs one client's connection to the end.
pub async fn serve_client(mut socket: WebSocket, hub: Arc<Hub>) {
    let (snapshot, mut rx) = hub.subscribe();
    let mut seq = snapshot.seq;
    if send(&mut socket, ServerMsg::Snapshot(snapshot))
        .await
        .is_err()
    {
        return;
    }
    // Set once the client has sent Close: from then on we only read until the stream ends.
    let mut closing = false;
    loop {
        tokio::select! {
            frame = rx.recv(), if !closing => match frame {
                Ok(frame) => {
                    seq += 1;
                    if socket.send(Message::Text(frame)).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    // Too far behind to catch up from the ring: start again from the present.
                    let (snapshot, fresh) = hub.subscribe();
                    tracing::debug!(missed, from = seq, to = snapshot.seq, "client lagged; resync");
                    rx = fresh;
                    seq = snapshot.seq;
                    if send(&mut socket, ServerMsg::Snapshot(snapshot)).await.is_err() {
                        break;
                    }
                }
                // The hub is gone: the server is shutting down.
                Err(RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                None => break,
                Some(Err(err)) => {
                    tracing::debug!(%err, "client socket error");
                    break;
                }
                Some(Ok(Message::Text(text))) => {
                    let reply = match ClientMsg::decode(text.as_str()) {
                        Ok(ClientMsg::Ping { id }) => ServerMsg::Pong { id, ts: Utc::now() },
                        Err(err) => ServerMsg::Error(err),
                    };
                    if send(&mut socket, reply).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let reply = ServerMsg::Error(ErrorReply {
                        id: None,
                        code: ErrorCode::Unsupported,
                        message: "binary frames are not supported; send JSON text".into(),
                    });
                    if send(&mut socket, reply).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) => closing = true,
                // tungstenite answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            },
        }
    }
}

async fn send(socket: &mut WebSocket, msg: ServerMsg) -> Result<(), axum::Error> {
    socket.send(Message::Text(msg.encode().into())).await
}
