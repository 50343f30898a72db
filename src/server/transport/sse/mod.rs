//! `GET /sse`: the feed as Server-Sent Events, for clients whose WebSocket is blocked (a
//! corporate proxy, an antivirus, a mobile network). The same messages as `/ws`, one event
//! each, from the same hub with the same seqs; the same rules (origin, connection cap shared
//! with `/ws`, heartbeats, conflation of a slow reader, the stream ending on shutdown).
//!
//! There is no way back from the client on this stream, so the channels and the resume
//! position travel in the URL:
//!
//! - `channels`: comma-separated channel names; `quotes:*` is every symbol's quotes and
//!   `scores:*` every league's scores (a dashboard's URL stays short whatever the market);
//! - `epoch`, and `after=N` (resume every channel after tick N: a client that has applied
//!   every batch up to tick N, batches say their tick) and/or `from=CH@SEQ,..` (resume those
//!   channels after those seqs, as `/ws`'s `resume` does);
//! - `fresh=CH,..`: channels the client holds nothing of yet (a new selection): a snapshot;
//! - `sort`, `desc`, `filter`, `offset`, `limit`: a view of the ranked universe, as `/ws`'s
//!   `view` request opens one (its rows are sent as `rows` events, their quotes start with a
//!   snapshot unless `from` gives their seq);
//! - `symbols=1`: the list of symbols after the welcome, and `listed` events after it.
//!
//! Every batch carries an `id:` of `EPOCH.TICK`: the browser sends it back as
//! `Last-Event-ID` when its `EventSource` reconnects by itself, and the stream resumes from
//! there with no gap. To change channels, a client opens a new stream with the new set and
//! its positions (documented in `docs/protocol.md`).

//!
//! # Layout
//!
//! - `position`: the channels and the position, read from the URL and `Last-Event-ID`.
//! - `session`: one stream: the welcome, the answer, then ticks and heartbeats.
//! - this file: the endpoint: the request checked, the gate, the response.

pub(crate) mod position;
mod session;

use crate::protocol::{ErrorCode, ErrorReply, ServerMsg};
use crate::server::net::serve::client_ip;
use crate::server::transport::admission::{Gate, Visitor};
use crate::server::transport::feed_view::FeedView;
use crate::server::transport::views;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;

pub use position::{parse_channels, parse_position, parse_view};

/// Why a request cannot be served: HTTP 400 with the protocol's error as JSON.
fn bad(code: ErrorCode, message: String) -> Response {
    let body = ServerMsg::Error(ErrorReply {
        id: None,
        code,
        message,
    })
    .encode();
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The stream a request asks for, or the error it gets.
fn read_request(
    feed: &FeedView,
    limits_max: usize,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<session::Request, (ErrorCode, String)> {
    let catalog = feed.hub.catalog();
    let channels = parse_channels(
        query.get("channels").map(String::as_str).unwrap_or(""),
        catalog.symbols(),
    )?;
    if channels.len() > limits_max {
        return Err((
            ErrorCode::TooManySubscriptions,
            format!(
                "{} channels: the limit is {limits_max} per connection",
                channels.len()
            ),
        ));
    }
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let position = parse_position(query, last_event_id)?;
    let view = parse_view(query)?;
    if let Some(v) = &view {
        views::Views::default().check(1, v)?;
        if channels.len() + v.limit as usize > limits_max {
            return Err((
                ErrorCode::TooManySubscriptions,
                format!(
                    "{} channels and a view of {} rows: the limit is {limits_max} per connection",
                    channels.len(),
                    v.limit
                ),
            ));
        }
    }
    let ids = channels
        .iter()
        .map(|c| catalog.id(c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(session::Request {
        ids,
        channels,
        position,
        view,
        symbols: matches!(query.get("symbols").map(String::as_str), Some("1" | "true")),
    })
}

/// `GET /sse`.
pub(crate) async fn stream(
    State(gate): State<Arc<Gate>>,
    State(feed): State<Arc<FeedView>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let request = match read_request(&feed, gate.limits.max_subscriptions, &query, &headers) {
        Ok(r) => r,
        Err((code, message)) => return bad(code, message),
    };
    let visitor = Visitor {
        peer: Some(peer),
        client: Some(client_ip(peer.ip(), &headers, &gate.rules.trusted_proxies)),
        origin: headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or("-")
            .to_string(),
        // The stream is the HTTP connection's own response: the connection task holds it.
        _hold: None,
    };
    // Admitted only once the request is known to be good: a bad one gets its 400 whether or
    // not the server is full, and never holds a connection slot.
    let slot = match gate.admit(&headers, visitor, "sse") {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    // Two events in flight at most: a reader that stops reading stops this session reading
    // the hub's ring, which then conflates it (bounded memory, as on /ws).
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    let limits = gate.limits.clone();
    let shutdown = gate.shutdown.clone();
    gate.tracker.spawn(async move {
        let (sent, lags) = session::run(feed, request, tx, limits, shutdown).await;
        slot.ended(None, sent, lags);
        drop(slot);
    });
    let body = Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>),
    );
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    // As Centrifugo does: no cache anywhere, and no buffering in nginx-like proxies.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache, no-store, must-revalidate, max-age=0"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}
