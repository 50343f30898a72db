//! The WebSocket transport, written for this server's traffic: one shared frame per tick to
//! many clients, small requests back.
//!
//! Why not tungstenite (through axum's `ws`)? It copies every outgoing message into a
//! per-connection write buffer and keeps that buffer's capacity: at 1,000 clients and frames
//! of 90 KB that was 90 MB of copies held, and the copy itself was a visible share of the
//! fan-out's profile. Here the payload goes from the hub's shared bytes to the socket in one
//! `writev`, and an idle connection holds only its socket and a few words. The protocol is
//! RFC 6455 with permessage-deflate (RFC 7692) arranged so that a tick is compressed once for
//! all clients; `make autobahn` runs the Autobahn conformance suite against it, compression
//! cases included.
//!
//! - `frame`: headers we write, frames we parse, close codes.
//! - `deflate`: the compression extension: negotiation, shared compressed frames, inflation.
//! - `conn`: one connection: cancel-safe reads, vectored writes with a deadline.
//! - this file: the HTTP upgrade handshake.

pub(crate) mod conn;
pub(crate) mod deflate;
pub(crate) mod frame;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use base64::Engine;
use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::net::TcpStream;

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a request's `Sec-WebSocket-Key`.
pub(crate) fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

/// Why a request was not upgraded: an HTTP status and a reason for the body.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: String,
}

impl axum::response::IntoResponse for Refusal {
    fn into_response(self) -> axum::response::Response {
        let mut res = Response::new(Body::from(format!("{}\n", self.reason)));
        *res.status_mut() = self.status;
        if self.status == StatusCode::UPGRADE_REQUIRED {
            res.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        res
    }
}

fn refuse(status: StatusCode, why: &str) -> Refusal {
    Refusal {
        status,
        reason: why.to_string(),
    }
}

/// An upgrade we accept: the 101 response to return, the upgrade to await once it has been
/// sent, and the compression agreed (if the client offered one we take).
pub struct Accepted {
    pub response: Response<Body>,
    pub on_upgrade: OnUpgrade,
    pub deflate: Option<deflate::Agreed>,
}

/// Checks that `req` is a WebSocket upgrade we can accept; otherwise the refusal to return.
pub fn accept(req: &mut Request<Body>) -> Result<Accepted, Refusal> {
    let headers = req.headers();
    if req.method() != Method::GET {
        return Err(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET to open the feed",
        ));
    }
    if !has_token(headers, header::CONNECTION, "upgrade")
        || !has_token(headers, header::UPGRADE, "websocket")
    {
        return Err(refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this is a WebSocket endpoint: send Upgrade: websocket",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes())
        != Some(b"13")
    {
        return Err(refuse(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported WebSocket version: 13 only",
        ));
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return Err(refuse(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key"));
    };
    let valid_key = base64::engine::general_purpose::STANDARD
        .decode(key.as_bytes())
        .is_ok_and(|k| k.len() == 16);
    if !valid_key {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "malformed Sec-WebSocket-Key",
        ));
    }
    let accept = accept_key(key.as_bytes());
    let deflate = deflate::negotiate(
        headers
            .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let Some(on_upgrade) = req.extensions_mut().remove::<OnUpgrade>() else {
        return Err(refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded (HTTP/1.1 only)",
        ));
    };
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64 is a valid header value"),
    );
    if let Some(agreed) = &deflate {
        h.insert(
            header::SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_str(&agreed.response).expect("built from ASCII tokens"),
        );
    }
    Ok(Accepted {
        response: res,
        on_upgrade,
        deflate,
    })
}

/// The socket once the 101 has been sent, with any bytes the client sent after its request.
pub async fn upgraded(on_upgrade: OnUpgrade) -> Option<(TcpStream, Bytes)> {
    let upgraded = on_upgrade.await.ok()?;
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => {
            let stream = parts.io.into_inner();
            // Frames are written whole in one call; do not hold the last segment back.
            let _ = stream.set_nodelay(true);
            Some((stream, parts.read_buf))
        }
        Err(_) => {
            tracing::error!("upgraded connection is not a TCP stream; dropping it");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_example_key() {
        // RFC 6455, section 1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
