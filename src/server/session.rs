//! One client's session on `/ws`: its subscriptions and where each stands, the stream of its
//! channels, and every rule about what the client may send.
//!
//! The session holds, per subscribed channel, the last seq it sent. A tick's update is sent
//! when its seq is the next one; one at or below is already covered by a snapshot or replay
//! sent since (see the hub's invariants) and is skipped, so the client never sees a duplicate.
//!
//! When the client reads too slowly, the broadcast ring overtakes it (`Lagged`). The session
//! then catches up instead of queueing: quotes, candles and scores are conflated to their latest
//! state (a `lagged` snapshot, only for channels that moved); trades are replayed from the
//! history, and only if the history no longer holds them does the client get a `lagged`
//! snapshot, which tells it that prints were lost. Memory per session is therefore bounded by
//! the socket buffers, whatever the client does.
//!
//! The receive loop runs until the socket's stream ends, also after a Close (ours or the
//! client's): tungstenite flushes the close reply only on a later read, so leaving the loop on
//! Close would drop the socket with the handshake unfinished.

use super::catalog::{ChannelId, Kind};
use super::hub::{batch_frame, Hub, Opened, Start, Tick};
use crate::protocol::{
    Channel, ChannelState, ClientMsg, ErrorCode, ErrorReply, Resume, Seq, ServerMsg, Snapshot,
    SnapshotReason,
};
use axum::extract::ws::{close_code, CloseFrame, Message, Utf8Bytes, WebSocket};
use chrono::Utc;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

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
        }
    }
}

/// An invalid message costs this many tokens, so a client sending garbage is cut off sooner
/// than one sending valid requests quickly.
const INVALID_COST: f64 = 5.0;
/// Bytes of channel states per snapshot message, roughly: a message is closed once it holds
/// this much (one channel may be larger on its own). tungstenite's write buffer keeps the
/// capacity of the largest frame a connection has sent (doubled when a frame is a little larger
/// than the last), so after a subscribe an idle connection would otherwise hold the whole
/// snapshot's size (~8 KiB for 50 quotes) forever. Measured with massif in scenario (c) of
/// `make bench`: 2 KiB chunks save ~3.5 KiB per idle connection.
pub const SNAPSHOT_BYTES: usize = 2 * 1024;
/// How long we wait for the client's half of a close handshake we started.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Why the loop stops sending.
enum Stop {
    /// The socket is gone or stuck: nothing more can be sent.
    Dead,
    /// We sent Close: read until the client answers or the grace period ends.
    Closing,
}

/// Token bucket for client messages.
struct Bucket {
    tokens: f64,
    at: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    fn new(rate: f64, burst: f64) -> Self {
        Bucket {
            tokens: burst,
            at: Instant::now(),
            rate,
            burst,
        }
    }

    /// Takes `cost` tokens; false if there are not enough.
    fn take(&mut self, cost: f64) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }
}

struct Session {
    socket: WebSocket,
    hub: Arc<Hub>,
    limits: Limits,
    /// Subscribed channels and the last seq sent on each.
    subs: HashMap<ChannelId, Seq>,
    bucket: Bucket,
    /// When the client last got a text message (heartbeats fill gaps longer than the limit).
    last_sent: Instant,
    last_heard: Instant,
}

/// Runs one client's session until its socket ends or the server shuts down.
pub async fn run(socket: WebSocket, hub: Arc<Hub>, limits: Limits, shutdown: CancellationToken) {
    // The receiver comes first: everything published from here on reaches this session.
    let mut rx = hub.receiver();
    let mut s = Session {
        socket,
        bucket: Bucket::new(limits.rate_per_sec, limits.burst),
        hub,
        limits,
        subs: HashMap::new(),
        last_sent: Instant::now(),
        last_heard: Instant::now(),
    };
    let welcome = ServerMsg::Welcome {
        epoch: s.hub.epoch(),
        ts: Utc::now(),
        heartbeat_ms: s.limits.heartbeat.as_millis() as u32,
        max_subscriptions: s.limits.max_subscriptions as u32,
        symbols: s.hub.catalog().symbols().to_vec(),
    };
    if s.send_msg(&welcome).await.is_err() {
        return;
    }

    let mut timer = tokio::time::interval(s.limits.heartbeat.min(s.limits.ping_interval));
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_ping = Instant::now();
    // Set once we have sent Close or the client has: from then on only read, until this.
    let mut closing: Option<Instant> = None;

    loop {
        let step = tokio::select! {
            _ = shutdown.cancelled(), if closing.is_none() => {
                s.close(close_code::AWAY, "server shutting down").await
            }
            tick = rx.recv(), if closing.is_none() => match tick {
                Ok(tick) => s.forward(&tick).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "session lagged; catching up");
                    s.catch_up().await
                }
                Err(RecvError::Closed) => s.close(close_code::AWAY, "server shutting down").await,
            },
            incoming = s.socket.recv() => match incoming {
                None => break,
                Some(Ok(msg)) => {
                    s.last_heard = Instant::now();
                    if closing.is_some() {
                        continue;
                    }
                    s.on_message(msg).await
                }
                Some(Err(err)) => {
                    if closing.is_some() {
                        break;
                    }
                    if is_too_big(err) {
                        let limit = super::ws::MAX_CLIENT_MESSAGE / 1024;
                        s.close(close_code::SIZE, &format!("message too big: the limit is {limit} KiB")).await
                    } else {
                        break;
                    }
                }
            },
            _ = timer.tick(), if closing.is_none() => s.on_timer(&mut last_ping).await,
            _ = tokio::time::sleep_until(closing.unwrap_or_else(Instant::now)), if closing.is_some() => break,
        };
        match step {
            Ok(()) => {}
            Err(Stop::Dead) => break,
            Err(Stop::Closing) => {
                closing.get_or_insert_with(|| Instant::now() + CLOSE_GRACE);
            }
        }
    }
}

/// Splits channel states into snapshot messages of about `SNAPSHOT_BYTES` of JSON each, in
/// order, none empty. (The byte budget also bounds the channel count: a state is ~100 B or more.)
fn snapshot_chunks(states: &[ChannelState]) -> Vec<&[ChannelState]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, state) in states.iter().enumerate() {
        if i > start && bytes >= SNAPSHOT_BYTES {
            chunks.push(&states[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += json_len(state);
    }
    if start < states.len() {
        chunks.push(&states[start..]);
    }
    chunks
}

/// The length of a value's JSON, counted without building it.
fn json_len(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail, and our types always serialise.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// True when the socket error is tungstenite refusing a message over the size limit.
fn is_too_big(err: axum::Error) -> bool {
    err.into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

impl Session {
    async fn send(&mut self, message: Message) -> Result<(), Stop> {
        // Only messages a script can see count against the heartbeat: browsers hide pings.
        let visible = matches!(message, Message::Text(_));
        let send = self.socket.send(message);
        tokio::pin!(send);
        // Nearly every send completes on its first poll (the kernel takes the bytes), so only
        // a send that has to wait arms the timeout: the hot path registers no timer entry
        // (a timer per send was a visible share of the fan-out's profile).
        let first = std::future::poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await;
        let sent = match first {
            Poll::Ready(result) => Ok(result),
            Poll::Pending => tokio::time::timeout(self.limits.send_timeout, send).await,
        };
        match sent {
            Ok(Ok(())) => {
                if visible {
                    self.last_sent = Instant::now();
                }
                Ok(())
            }
            Ok(Err(_)) => Err(Stop::Dead),
            Err(_) => {
                tracing::debug!("client stopped reading; dropping it");
                Err(Stop::Dead)
            }
        }
    }

    async fn send_msg(&mut self, msg: &ServerMsg) -> Result<(), Stop> {
        self.send(Message::Text(msg.encode().into())).await
    }

    /// Sends Close with `code` and `reason`, then waits (in the loop) for the client's reply.
    async fn close(&mut self, code: u16, reason: &str) -> Result<(), Stop> {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        self.send(Message::Close(Some(frame))).await?;
        Err(Stop::Closing)
    }

    /// Sends this client's part of a tick.
    async fn forward(&mut self, tick: &Tick) -> Result<(), Stop> {
        if self.subs.is_empty() {
            return Ok(());
        }
        // One lookup per update: take it if it is the channel's next, and advance the channel.
        let mut behind: Vec<(ChannelId, Seq)> = Vec::new();
        let mut wanted: Vec<&str> = Vec::with_capacity(tick.updates.len());
        for u in &tick.updates {
            if let Some(last) = self.subs.get_mut(&u.channel) {
                match u.seq.cmp(&(*last + 1)) {
                    std::cmp::Ordering::Equal => {
                        *last = u.seq;
                        wanted.push(u.json.as_str());
                    }
                    // Already covered by a snapshot or replay.
                    std::cmp::Ordering::Less => {}
                    // Cannot happen while the invariants hold; recover rather than skip.
                    std::cmp::Ordering::Greater => behind.push((u.channel, *last)),
                }
            }
        }
        if !wanted.is_empty() {
            let frame = if wanted.len() == tick.updates.len() {
                // Every update of the tick is for us: send the shared frame as is.
                tick.full_frame()
            } else {
                batch_frame(tick.ts, wanted.into_iter())
            };
            self.send(Message::Text(frame)).await?;
        }
        if !behind.is_empty() {
            tracing::warn!(channels = behind.len(), "session found a gap; replaying");
            let starts: Vec<_> = behind
                .into_iter()
                .map(|(id, seq)| {
                    (
                        id,
                        Start::After {
                            seq,
                            or_else: SnapshotReason::Lagged,
                        },
                    )
                })
                .collect();
            let opened = self.hub.open(&starts);
            self.send_opened(opened).await?;
        }
        Ok(())
    }

    /// After `Lagged`: conflate state channels to their latest value, replay trades.
    async fn catch_up(&mut self) -> Result<(), Stop> {
        let catalog = self.hub.catalog().clone();
        let starts: Vec<(ChannelId, Start)> = self
            .subs
            .iter()
            .map(|(&id, &seq)| {
                let start = match catalog.kind(id).0 {
                    Kind::Trades => Start::After {
                        seq,
                        or_else: SnapshotReason::Lagged,
                    },
                    Kind::Quotes | Kind::Candles(_) | Kind::Scores(_) => Start::Latest {
                        seq,
                        reason: SnapshotReason::Lagged,
                    },
                };
                (id, start)
            })
            .collect();
        let opened = self.hub.open(&starts);
        self.send_opened(opened).await
    }

    /// Sends snapshots, then replayed updates, and records where each channel now stands.
    async fn send_opened(&mut self, opened: Opened) -> Result<(), Stop> {
        for (id, seq) in &opened.positions {
            self.subs.insert(*id, *seq);
        }
        for (reason, channels) in opened.snapshots {
            // Large subscriptions are answered in several snapshot messages, so that no frame
            // grows with the number of channels (candle histories make states big).
            for chunk in snapshot_chunks(&channels) {
                let msg = ServerMsg::Snapshot(Snapshot {
                    epoch: self.hub.epoch(),
                    ts: Utc::now(),
                    reason: Some(reason.reason()),
                    channels: chunk.to_vec(),
                });
                self.send_msg(&msg).await?;
            }
        }
        if !opened.replay.is_empty() {
            let frame = batch_frame(Utc::now(), opened.replay.iter().map(|u| u.json.as_str()));
            self.send(Message::Text(frame)).await?;
        }
        Ok(())
    }

    async fn on_timer(&mut self, last_ping: &mut Instant) -> Result<(), Stop> {
        if self.last_heard.elapsed() > self.limits.client_timeout {
            tracing::debug!(
                "client silent for {:?}; closing",
                self.limits.client_timeout
            );
            return self
                .close(close_code::POLICY, "no answer to pings; closing")
                .await;
        }
        if last_ping.elapsed() >= self.limits.ping_interval {
            *last_ping = Instant::now();
            self.send(Message::Ping(Default::default())).await?;
        }
        if self.last_sent.elapsed() >= self.limits.heartbeat {
            self.send_msg(&ServerMsg::Heartbeat { ts: Utc::now() })
                .await?;
        }
        Ok(())
    }

    async fn on_message(&mut self, msg: Message) -> Result<(), Stop> {
        let text = match msg {
            Message::Text(text) => text,
            Message::Binary(_) => {
                return self
                    .refuse(ErrorReply {
                        id: None,
                        code: ErrorCode::Unsupported,
                        message: "binary frames are not supported; send JSON text".into(),
                    })
                    .await
            }
            // The client's Close: tungstenite queues the reply; keep reading until the end.
            Message::Close(_) => return Err(Stop::Closing),
            // tungstenite answers pings itself; a pong only proves the client is alive.
            Message::Ping(_) | Message::Pong(_) => return Ok(()),
        };
        match ClientMsg::decode(text.as_str()) {
            Err(reply) => self.refuse(reply).await,
            Ok(request) => {
                if !self.bucket.take(1.0) {
                    return self
                        .close(close_code::POLICY, "rate limit exceeded: too many requests")
                        .await;
                }
                match request {
                    ClientMsg::Ping { id } => {
                        self.send_msg(&ServerMsg::Pong { id, ts: Utc::now() }).await
                    }
                    ClientMsg::Subscribe {
                        id,
                        channels,
                        resume,
                    } => self.subscribe(id, channels, resume).await,
                    ClientMsg::Unsubscribe { id, channels } => {
                        let catalog = self.hub.catalog().clone();
                        for c in &channels {
                            if let Ok(cid) = catalog.id(c) {
                                self.subs.remove(&cid);
                            }
                        }
                        self.send_msg(&ServerMsg::Ack { id, channels }).await
                    }
                }
            }
        }
    }

    /// Answers an invalid message with its error; too many of them close the connection.
    async fn refuse(&mut self, reply: ErrorReply) -> Result<(), Stop> {
        if !self.bucket.take(INVALID_COST) {
            return self
                .close(close_code::POLICY, "too many invalid messages")
                .await;
        }
        self.send_msg(&ServerMsg::Error(reply)).await
    }

    async fn subscribe(
        &mut self,
        id: u64,
        channels: Vec<Channel>,
        resume: Option<Resume>,
    ) -> Result<(), Stop> {
        let catalog = self.hub.catalog().clone();
        let mut ids = Vec::with_capacity(channels.len());
        for c in &channels {
            match catalog.id(c) {
                Ok(cid) => ids.push(cid),
                Err((code, message)) => {
                    return self
                        .refuse(ErrorReply {
                            id: Some(id),
                            code,
                            message,
                        })
                        .await
                }
            }
        }
        let added = ids.iter().filter(|c| !self.subs.contains_key(c)).count();
        if self.subs.len() + added > self.limits.max_subscriptions {
            return self
                .refuse(ErrorReply {
                    id: Some(id),
                    code: ErrorCode::TooManySubscriptions,
                    message: format!(
                        "subscribing to {added} more channels would exceed the limit of {} per connection",
                        self.limits.max_subscriptions
                    ),
                })
                .await;
        }
        let epoch = self.hub.epoch();
        let starts: Vec<(ChannelId, Start)> = ids
            .iter()
            .zip(&channels)
            .filter_map(|(&cid, channel)| {
                let from = resume
                    .as_ref()
                    .and_then(|r| r.from.get(channel).map(|&s| (r.epoch, s)));
                let start = match from {
                    Some((e, seq)) if e == epoch => Start::After {
                        seq,
                        or_else: SnapshotReason::HistoryExhausted,
                    },
                    Some(_) => Start::Snapshot(SnapshotReason::EpochChanged),
                    // Already streaming and no position given: nothing to do.
                    None if self.subs.contains_key(&cid) => return None,
                    None => Start::Snapshot(SnapshotReason::Subscribed),
                };
                Some((cid, start))
            })
            .collect();
        self.send_msg(&ServerMsg::Ack { id, channels }).await?;
        let opened = self.hub.open(&starts);
        self.send_opened(opened).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_refills_at_its_rate_up_to_its_burst() {
        let mut b = Bucket::new(10.0, 5.0);
        for _ in 0..5 {
            assert!(b.take(1.0));
        }
        assert!(!b.take(1.0), "burst spent");
        tokio::time::advance(Duration::from_millis(300)).await;
        assert!(b.take(1.0) && b.take(1.0) && b.take(1.0));
        assert!(!b.take(1.0));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(!b.take(6.0), "never more than the burst");
        assert!(b.take(5.0));
    }

    fn quote(i: usize) -> ChannelState {
        let symbol = format!("S{i}");
        ChannelState {
            channel: Channel::Quotes(symbol.clone()),
            seq: i as Seq,
            data: crate::protocol::Data::Quote(crate::protocol::Quote {
                symbol,
                bid: 100.0,
                ask: 100.5,
                last: 100.25,
                open: 99.0,
                volume: 1_000_000,
                ts: Utc::now(),
            }),
        }
    }

    #[test]
    fn snapshots_are_chunked_by_size_in_order() {
        let states: Vec<_> = (0..1000).map(quote).collect();
        let chunks = snapshot_chunks(&states);
        assert_eq!(chunks.concat(), states, "every state once, in order");
        for (i, c) in chunks.iter().enumerate() {
            assert!(!c.is_empty());
            let sent: usize = c.iter().map(json_len).sum();
            let last = json_len(c.last().unwrap());
            assert!(
                sent - last < SNAPSHOT_BYTES,
                "closed once it held the budget"
            );
            if i + 1 < chunks.len() {
                assert!(sent >= SNAPSHOT_BYTES, "not closed before the budget");
            }
        }
        assert!(chunks.len() > 1, "the byte budget splits");
        assert_eq!(
            json_len(&states[0]),
            serde_json::to_string(&states[0]).unwrap().len()
        );
        // A state larger than the budget still goes, in a message of its own.
        let mut big = quote(1);
        if let crate::protocol::Data::Quote(q) = &mut big.data {
            q.symbol = "X".repeat(2 * SNAPSHOT_BYTES);
        }
        let mixed = [quote(0), big.clone(), quote(2)];
        let chunks = snapshot_chunks(&mixed);
        assert_eq!(chunks, vec![&mixed[..2], &mixed[2..]]);
        assert!(snapshot_chunks(&[]).is_empty());
    }
}
