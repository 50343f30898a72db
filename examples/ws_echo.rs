//! An echo server on livetape's own WebSocket code (the handshake in `websocket`, frames read
//! by `Conn`, written by `Outlet`, HTTP by `testing::serve`): what the Autobahn conformance suite
//! talks to (`make autobahn`, scripts/autobahn.sh). The feed's endpoint speaks the livetape
//! protocol rather than echoing, so the suite checks the transport here, through the same
//! code paths.
//!
//! `cargo run --release --features ssr --example ws_echo -- 127.0.0.1:9001`

use axum::body::Body;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use livetape::testing::websocket::conn::{Conn, Incoming, ReadError};
use livetape::testing::websocket::frame::{close_payload, Opcode};
use livetape::testing::websocket::Outlet;
use livetape::testing::websocket::{self, upgraded};
use livetape::testing::{serve, HttpLimits};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Autobahn sends messages up to 16 MiB (cases 9.*); the feed itself takes far smaller ones.
const MAX_MESSAGE: usize = 64 << 20;
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

async fn echo(mut req: Request<Body>) -> Response {
    let websocket::Accepted {
        response,
        on_upgrade,
        deflate,
    } = match websocket::accept(&mut req) {
        Ok(ok) => ok,
        Err(refusal) => return refusal.into_response(),
    };
    tokio::spawn(async move {
        let Some((stream, read_ahead)) = upgraded(on_upgrade).await else {
            return;
        };
        let stream = Arc::new(stream);
        let outlet = Outlet::new(stream.clone(), deflate.is_some());
        let mut conn = Conn::new(stream, read_ahead, MAX_MESSAGE, deflate.as_ref());
        loop {
            let sent = match conn.next().await {
                // Compressed back when agreed (each message on its own), so that the
                // compression cases test both directions.
                Ok(Incoming::Text(text)) => {
                    outlet
                        .send_text(Bytes::from(text), false, WRITE_TIMEOUT)
                        .await
                }
                Ok(Incoming::Binary(data)) => {
                    outlet
                        .send(Opcode::Binary, Bytes::from(data), WRITE_TIMEOUT)
                        .await
                }
                Ok(Incoming::Ping(payload)) => {
                    outlet
                        .send(Opcode::Pong, Bytes::from(payload), WRITE_TIMEOUT)
                        .await
                }
                Ok(Incoming::Pong) => Ok(()),
                Ok(Incoming::Close(code)) => {
                    let body = code.map_or_else(Vec::new, |(c, _)| close_payload(c, ""));
                    let _ = outlet
                        .send(Opcode::Close, Bytes::from(body), WRITE_TIMEOUT)
                        .await;
                    conn.shutdown();
                    return;
                }
                Err(ReadError::Violation(v)) => {
                    let body = close_payload(v.code, &v.reason);
                    let _ = outlet
                        .send(Opcode::Close, Bytes::from(body), WRITE_TIMEOUT)
                        .await;
                    conn.shutdown();
                    return;
                }
                Err(ReadError::Gone) => return,
            };
            if sent.is_err() {
                return;
            }
        }
    });
    response
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("echo on ws://{}", listener.local_addr()?);
    let app = Router::new().fallback(echo);
    serve(
        listener,
        app,
        HttpLimits::default(),
        CancellationToken::new(),
    )
    .await
}
