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
//! - `fresh=CH,..`: channels the client holds nothing of yet (a new selection): a snapshot.
//!
//! Every batch carries an `id:` of `EPOCH.TICK`: the browser sends it back as
//! `Last-Event-ID` when its `EventSource` reconnects by itself, and the stream resumes from
//! there with no gap. To change channels, a client opens a new stream with the new set and
//! its positions (documented in `docs/protocol.md`).

use super::catalog::ChannelId;
use super::hub::{Hub, Start};
use super::subscriber::{Forward, Out, OutKind, Subscriber};
use super::tick::TickNo;
use super::AppState;
use crate::protocol::{
    Channel, Epoch, ErrorCode, ErrorReply, League, Seq, ServerMsg, SnapshotReason,
};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

/// The longest URL part we read for channels and positions: a dashboard needs far less
/// (`quotes:*,scores:*` and two detail channels).
const MAX_QUERY_ITEMS: usize = 4096;
/// How long the browser's `EventSource` waits before reconnecting by itself.
const RETRY_MS: u32 = 1_000;

/// Where a stream starts, as read from the URL and `Last-Event-ID`.
#[derive(Debug, PartialEq)]
pub struct Position {
    pub epoch: Option<Epoch>,
    pub after: Option<TickNo>,
    pub from: BTreeMap<Channel, Seq>,
    pub fresh: std::collections::BTreeSet<Channel>,
}

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

/// The channels named by the `channels` parameter, shorthands expanded.
pub fn parse_channels(text: &str, symbols: &[String]) -> Result<Vec<Channel>, (ErrorCode, String)> {
    let mut out = Vec::new();
    for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match name {
            "quotes:*" => out.extend(symbols.iter().map(|s| Channel::Quotes(s.clone()))),
            "scores:*" => out.extend(League::ALL.into_iter().map(Channel::Scores)),
            _ => out.push(name.parse().map_err(|e: crate::protocol::ChannelError| {
                let code = match e {
                    crate::protocol::ChannelError::BadInterval(_) => ErrorCode::BadInterval,
                    crate::protocol::ChannelError::UnknownLeague(_) => ErrorCode::UnknownLeague,
                    crate::protocol::ChannelError::Unknown(_) => ErrorCode::UnknownChannel,
                };
                (code, e.to_string())
            })?),
        }
        if out.len() > MAX_QUERY_ITEMS {
            return Err((ErrorCode::TooManySubscriptions, "too many channels".into()));
        }
    }
    Ok(out)
}

/// The resume position from the query and the `Last-Event-ID` header (which wins: it is
/// the browser's own record of the last batch it got).
pub fn parse_position(
    query: &HashMap<String, String>,
    last_event_id: Option<&str>,
) -> Result<Position, (ErrorCode, String)> {
    let malformed = |what: &str| (ErrorCode::Malformed, format!("bad {what}"));
    let mut position = Position {
        epoch: query
            .get("epoch")
            .map(|e| e.parse().map_err(|_| malformed("epoch")))
            .transpose()?,
        after: query
            .get("after")
            .map(|n| n.parse().map_err(|_| malformed("after")))
            .transpose()?,
        from: BTreeMap::new(),
        fresh: Default::default(),
    };
    if let Some(fresh) = query.get("fresh") {
        for (i, name) in fresh.split(',').filter(|s| !s.is_empty()).enumerate() {
            if i >= MAX_QUERY_ITEMS {
                return Err(malformed("fresh: too many channels"));
            }
            position
                .fresh
                .insert(name.parse().map_err(|_| malformed("fresh: channel"))?);
        }
    }
    if let Some(from) = query.get("from") {
        for (i, item) in from.split(',').filter(|s| !s.is_empty()).enumerate() {
            if i >= MAX_QUERY_ITEMS {
                return Err(malformed("from: too many positions"));
            }
            let (channel, seq) = item
                .rsplit_once('@')
                .ok_or_else(|| malformed("from: expected CHANNEL@SEQ"))?;
            let channel: Channel = channel.parse().map_err(|_| malformed("from: channel"))?;
            let seq = seq.parse().map_err(|_| malformed("from: seq"))?;
            position.from.insert(channel, seq);
        }
    }
    if let Some(id) = last_event_id.map(str::trim).filter(|s| !s.is_empty()) {
        let (epoch, n) = id
            .split_once('.')
            .and_then(|(e, n)| Some((e.parse().ok()?, n.parse().ok()?)))
            .ok_or_else(|| malformed("Last-Event-ID: expected EPOCH.TICK"))?;
        position.epoch = Some(epoch);
        position.after = Some(n);
        position.from.clear();
    }
    Ok(position)
}

/// What each channel asks for, from the position.
fn starts(ids: &[ChannelId], channels: &[Channel], position: &Position) -> Vec<(ChannelId, Start)> {
    let mut seen = std::collections::BTreeSet::new();
    ids.iter()
        .zip(channels)
        .filter(|(id, _)| seen.insert(**id))
        .map(|(&id, channel)| {
            let start = match (position.epoch, position.from.get(channel), position.after) {
                _ if position.fresh.contains(channel) => {
                    Start::Snapshot(SnapshotReason::Subscribed)
                }
                (Some(epoch), Some(&seq), _) => Start::After {
                    epoch,
                    seq,
                    or_else: SnapshotReason::HistoryExhausted,
                },
                (Some(epoch), None, Some(n)) => Start::AfterTick {
                    epoch,
                    n,
                    or_else: SnapshotReason::HistoryExhausted,
                },
                _ => Start::Snapshot(SnapshotReason::Subscribed),
            };
            (id, start)
        })
        .collect()
}

/// One message as an event: its type, its data line, and the position it completes.
pub fn event(kind: &str, json: &[u8], through: Option<(Epoch, TickNo)>) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 48);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.push(b'\n');
    if let Some((epoch, n)) = through {
        out.extend_from_slice(format!("id: {epoch}.{n}\n").as_bytes());
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

fn out_event(out: &Out) -> Bytes {
    let kind = match out.kind {
        OutKind::Snapshot => "snapshot",
        OutKind::Batch => "batch",
    };
    event(kind, &out.json, out.through)
}

/// `GET /sse`.
pub async fn stream(
    State(state): State<AppState>,
    peer: axum::extract::ConnectInfo<std::net::SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let sessions = state.sessions.clone();
    let visitor = super::ws::Visitor {
        peer: Some(peer.0),
        client: Some(super::http::client_ip(
            peer.0.ip(),
            &headers,
            &sessions.trusted_proxies,
        )),
        origin: headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or("-")
            .to_string(),
        // The stream is the HTTP connection's own response: the connection task holds it.
        hold: None,
    };
    let hub = state.hub.clone();
    let catalog = hub.catalog();
    let channels = match parse_channels(
        query.get("channels").map(String::as_str).unwrap_or(""),
        catalog.symbols(),
    ) {
        Ok(c) => c,
        Err((code, message)) => return bad(code, message),
    };
    if channels.len() > sessions.limits.max_subscriptions {
        return bad(
            ErrorCode::TooManySubscriptions,
            format!(
                "{} channels: the limit is {} per connection",
                channels.len(),
                sessions.limits.max_subscriptions
            ),
        );
    }
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let position = match parse_position(&query, last_event_id) {
        Ok(p) => p,
        Err((code, message)) => return bad(code, message),
    };
    let ids = match channels
        .iter()
        .map(|c| catalog.id(c))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(ids) => ids,
        Err((code, message)) => return bad(code, message),
    };
    // Admitted only once the request is known to be good: a bad one gets its 400 whether or
    // not the server is full, and never holds a connection slot.
    let slot = match sessions.admit(&headers, visitor, "sse") {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    // Two events in flight at most: a reader that stops reading stops this session reading
    // the hub's ring, which then conflates it (bounded memory, as on /ws).
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    let limits = sessions.limits.clone();
    let shutdown = sessions.shutdown.clone();
    let store = sessions.store.clone();
    sessions.tracker.spawn(async move {
        let sent = run(hub, store, ids, channels, position, tx, limits, shutdown).await;
        slot.ended(None, sent.0, sent.1);
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

use tokio_stream::StreamExt as _;

/// Hands one event to the response body; false when the client is gone or not reading.
async fn emit(tx: &mpsc::Sender<Bytes>, event: Bytes, timeout: Duration) -> bool {
    let len = event.len() as u64;
    let sent = matches!(
        tokio::time::timeout(timeout, tx.send(event)).await,
        Ok(Ok(()))
    );
    if sent {
        super::metrics::SSE_EVENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        super::metrics::SSE_BYTES.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
    }
    sent
}

/// One SSE client's session: answers its channels, then forwards ticks, heartbeats in
/// silences, until the client goes or the server stops (the stream then ends, and the
/// browser reconnects with its last event id). Returns (events sent, lag events).
#[allow(clippy::too_many_arguments)]
async fn run(
    hub: Arc<Hub>,
    store: Option<Arc<super::cluster::store::Store>>,
    ids: Vec<ChannelId>,
    channels: Vec<Channel>,
    position: Position,
    tx: mpsc::Sender<Bytes>,
    limits: super::session::Limits,
    shutdown: tokio_util::sync::CancellationToken,
) -> (u64, u64) {
    // The receiver comes first: everything published from here on reaches this session.
    let mut rx = hub.receiver();
    let mut listings = hub.listings();
    listings.borrow_and_update();
    let mut sub = Subscriber::new(hub.clone());
    let (mut sent, mut lags) = (0u64, 0u64);
    let timeout = limits.send_timeout;
    let mut head = format!("retry: {RETRY_MS}\n\n").into_bytes();
    let symbols = hub.catalog().symbols().to_vec();
    let mut told = symbols.len();
    head.extend_from_slice(&event(
        "welcome",
        ServerMsg::Welcome {
            epoch: hub.epoch(),
            ts: Utc::now(),
            heartbeat_ms: limits.heartbeat.as_millis() as u32,
            max_subscriptions: limits.max_subscriptions as u32,
            symbols,
        }
        .encode()
        .as_bytes(),
        None,
    ));
    if !emit(&tx, Bytes::from(head), timeout).await {
        return (sent, lags);
    }
    sent += 1;
    let starts = starts(&ids, &channels, &position);
    let older = match &store {
        Some(store) => super::session::older_history(store, &hub, &starts).await,
        None => BTreeMap::new(),
    };
    for out in sub.open_with(&starts, &older) {
        if !emit(&tx, out_event(&out), timeout).await {
            return (sent, lags);
        }
        sent += 1;
    }
    let mut last_sent = Instant::now();
    let mut timer = tokio::time::interval(limits.heartbeat.min(Duration::from_secs(1)));
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    loop {
        let outs: Vec<Out> = tokio::select! {
            _ = &mut cancelled => return (sent, lags),
            _ = tx.closed() => return (sent, lags),
            tick = rx.recv() => match tick {
                Ok(tick) => match sub.forward(&tick) {
                    Forward::Nothing => continue,
                    Forward::Send(out) => vec![out],
                    Forward::Reopen(reason) => sub.reopen(reason),
                    Forward::CatchUp(outs) => outs,
                },
                Err(RecvError::Lagged(_)) => {
                    lags += 1;
                    sub.catch_up(false)
                }
                Err(RecvError::Closed) => return (sent, lags),
            },
            Ok(()) = listings.changed() => {
                let catalog = hub.catalog();
                let all = catalog.symbols();
                if all.len() <= told {
                    told = all.len();
                    continue;
                }
                let listed = ServerMsg::Listed { symbols: all[told..].to_vec() }.encode();
                told = all.len();
                if !emit(&tx, event("listed", listed.as_bytes(), None), timeout).await {
                    return (sent, lags);
                }
                sent += 1;
                last_sent = Instant::now();
                continue;
            }
            _ = timer.tick() => {
                if last_sent.elapsed() < limits.heartbeat {
                    continue;
                }
                let hb = ServerMsg::Heartbeat { ts: Utc::now() }.encode();
                if !emit(&tx, event("heartbeat", hb.as_bytes(), None), timeout).await {
                    return (sent, lags);
                }
                sent += 1;
                last_sent = Instant::now();
                continue;
            }
        };
        for out in outs {
            if !emit(&tx, out_event(&out), timeout).await {
                return (sent, lags);
            }
            sent += 1;
        }
        last_sent = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn channels_with_shorthands() {
        let symbols = vec!["AAPL".to_string(), "MSFT".to_string()];
        let c = parse_channels("quotes:*,scores:*,trades:AAPL", &symbols).unwrap();
        assert_eq!(c.len(), 2 + League::ALL.len() + 1);
        assert_eq!(c[0], Channel::Quotes("AAPL".into()));
        assert_eq!(c.last(), Some(&Channel::Trades("AAPL".into())));
        assert_eq!(
            parse_channels("candles:A:5m", &symbols).unwrap_err().0,
            ErrorCode::BadInterval
        );
        assert_eq!(
            parse_channels("nope", &symbols).unwrap_err().0,
            ErrorCode::UnknownChannel
        );
        assert!(parse_channels("", &symbols).unwrap().is_empty());
    }

    #[test]
    fn positions_from_the_query_and_last_event_id() {
        let p = parse_position(
            &q(&[
                ("epoch", "7"),
                ("after", "40"),
                ("from", "quotes:BRK.B@12,candles:A:1s@3"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!((p.epoch, p.after), (Some(7), Some(40)));
        assert_eq!(p.from[&Channel::Quotes("BRK.B".into())], 12);
        assert_eq!(
            p.from[&Channel::Candles("A".into(), crate::protocol::Interval::OneSecond)],
            3
        );
        let p = parse_position(&q(&[("fresh", "trades:A,candles:A:1m")]), None).unwrap();
        assert_eq!(p.fresh.len(), 2);
        let p =
            parse_position(&q(&[("epoch", "7"), ("from", "quotes:A@1")]), Some("9.120")).unwrap();
        assert_eq!(
            (p.epoch, p.after),
            (Some(9), Some(120)),
            "Last-Event-ID wins"
        );
        assert!(p.from.is_empty());
        for bad in [
            q(&[("epoch", "x")]),
            q(&[("after", "-1")]),
            q(&[("from", "quotes:A")]),
            q(&[("from", "quotes:A@x")]),
        ] {
            assert!(parse_position(&bad, None).is_err(), "{bad:?}");
        }
        assert!(parse_position(&q(&[]), Some("garbage")).is_err());
    }

    #[test]
    fn events_are_lines() {
        let e = event("batch", br#"{"type":"batch"}"#, Some((3, 14)));
        assert_eq!(
            &e[..],
            b"event: batch\nid: 3.14\ndata: {\"type\":\"batch\"}\n\n"
        );
    }
}
