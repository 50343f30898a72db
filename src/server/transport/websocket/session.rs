//! One client's session on `/ws`: its requests, the stream of its channels (see `subscriber`),
//! heartbeats and pings, and every rule about what the client may send.
//!
//! A session is in one of two modes. **Attached**: it is in sync, and the fan-out writes each
//! tick to its socket without waking it (see `outlet`); the session only handles requests,
//! timers and the outlet's calls (a partly written frame to finish, or a detach). **Detached**:
//! it holds a receiver of the hub's ticks and forwards them itself: after connecting, while a
//! subscribe's answer is being caught up with, after the fan-out detached it (it fell behind
//! or the hub was reset). As soon as it is in sync again it attaches.
//!
//! After a Close (ours or the client's) it only reads, until the client answers or a grace
//! period ends.

use super::fanout::FanOut;
use super::outlet::Outlet;
use crate::protocol::{ClientMsg, ErrorCode, ErrorReply, ServerMsg};
use crate::server::bucket::Bucket;
use crate::server::feed::tick::{Tick, TickKind};
use crate::server::rfc6455::conn::{Conn, Incoming, ReadError};
use crate::server::rfc6455::frame::{close_code, close_payload, Opcode};
use crate::server::transport::admission::Limits;
use crate::server::transport::channel_sets::ChannelSet;
use crate::server::transport::feed_view::FeedView;
use crate::server::transport::subscriber::{Forward, Out, OutKind, Subscriber};
use crate::server::transport::views::{Views, MAX_VIEWS, MAX_VIEW_ROWS};
use bytes::Bytes;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// An invalid message costs this many tokens, so a client sending garbage is cut off sooner
/// than one sending valid requests quickly.
const INVALID_COST: f64 = 5.0;
/// How long we wait for the client's half of a close handshake we started.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Why the loop stops sending.
pub(super) enum Stop {
    /// The socket is gone or stuck: nothing more can be sent.
    Dead,
    /// We sent Close: read until the client answers or the grace period ends.
    Closing,
}

/// How a session ended, for the connection log.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ended {
    /// The close code sent or received, if any.
    pub(crate) code: Option<u16>,
    pub(crate) messages_sent: u64,
    pub(crate) lag_events: u64,
}

pub(super) struct Session {
    conn: Conn,
    outlet: Arc<Outlet>,
    fanout: Arc<FanOut>,
    pub(super) sub: Subscriber,
    /// Channels the client subscribed to itself (its views hold the others).
    pub(super) explicit: ChannelSet,
    pub(super) views: Views,
    /// How many symbols the client knows of, once it asked for the list (then it is told of
    /// new listings).
    pub(super) told: Option<usize>,
    /// The hub's ticks while detached; `None` while attached.
    rx: Option<broadcast::Receiver<Arc<Tick>>>,
    pub(super) limits: Limits,
    bucket: Bucket,
    last_heard: Instant,
    ended: Ended,
}

async fn recv(rx: &mut Option<broadcast::Receiver<Arc<Tick>>>) -> Result<Arc<Tick>, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    fn new(
        conn: Conn,
        outlet: Arc<Outlet>,
        feed: Arc<FeedView>,
        fanout: Arc<FanOut>,
        limits: Limits,
    ) -> Session {
        // The receiver comes first: everything published from here on reaches this session.
        let rx = Some(feed.hub.receiver());
        Session {
            conn,
            outlet,
            fanout,
            sub: Subscriber::new(feed),
            explicit: ChannelSet::default(),
            views: Views::default(),
            told: None,
            rx,
            bucket: Bucket::new(limits.rate_per_sec, limits.burst),
            limits,
            last_heard: Instant::now(),
            ended: Ended::default(),
        }
    }
}

/// Runs one client's session until its socket ends or the server shuts down.
pub(crate) async fn run(
    conn: Conn,
    outlet: Arc<Outlet>,
    feed: Arc<FeedView>,
    fanout: Arc<FanOut>,
    limits: Limits,
    shutdown: CancellationToken,
) -> Ended {
    let mut s = Session::new(conn, outlet, feed, fanout, limits);
    // Taken before the catalog is read for the welcome: a listing in between is not missed.
    let mut listings = s.sub.hub().listings();
    listings.borrow_and_update();
    if s.greet().await.is_err() {
        return s.finish();
    }

    let mut timer = tokio::time::interval(s.limits.heartbeat.min(s.limits.ping_interval));
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Views follow their rankings at most once a tick.
    let mut view_timer = tokio::time::interval(s.limits.view_refresh);
    view_timer.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut last_ping = Instant::now();
    // Pinned once: a fresh `cancelled()` per wake would register with the token's shared
    // waiter list on every loop of every session.
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    // Set once we have sent Close or the client has: from then on only read, until this.
    let mut closing: Option<Instant> = None;

    loop {
        let step = tokio::select! {
            _ = &mut cancelled, if closing.is_none() => {
                s.close(close_code::AWAY, "server shutting down").await
            }
            tick = recv(&mut s.rx), if closing.is_none() && s.rx.is_some() => match tick {
                Ok(tick) => s.forward(&tick).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "session lagged; catching up");
                    s.ended.lag_events += 1;
                    let outs = s.sub.catch_up(false);
                    s.send_outs(outs).await
                }
                Err(RecvError::Closed) => s.close(close_code::AWAY, "server shutting down").await,
            },
            _ = s.outlet.wake.notified(), if closing.is_none() => s.on_wake().await,
            incoming = s.conn.next() => match incoming {
                Ok(msg) => {
                    s.last_heard = Instant::now();
                    s.on_message(msg, closing.is_some()).await
                }
                Err(ReadError::Gone) => break,
                Err(ReadError::Violation(v)) => {
                    if closing.is_some() {
                        break;
                    }
                    s.close(v.code, &v.reason).await
                }
            },
            _ = timer.tick(), if closing.is_none() => s.on_timer(&mut last_ping).await,
            Ok(()) = listings.changed(), if closing.is_none() => s.tell_listed().await,
            _ = view_timer.tick(), if closing.is_none() && !s.views.is_empty() => s.refresh_views().await,
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
    s.finish()
}

/// A write that failed ends the session: the client is gone or not reading.
fn sent(result: std::io::Result<()>) -> Result<(), Stop> {
    result.map_err(|err| {
        tracing::debug!(%err, "cannot send; dropping the client");
        Stop::Dead
    })
}

impl Session {
    /// The welcome.
    async fn greet(&mut self) -> Result<(), Stop> {
        let welcome = ServerMsg::Welcome {
            epoch: self.sub.hub().epoch(),
            ts: Utc::now(),
            heartbeat_ms: self.limits.heartbeat.as_millis() as u32,
            max_subscriptions: self.limits.max_subscriptions as u32,
            universe: self.sub.hub().catalog().symbols().len() as u32,
            max_view_rows: MAX_VIEW_ROWS as u32,
            max_views: MAX_VIEWS as u32,
        };
        self.send_msg(&welcome).await
    }

    fn finish(self) -> Ended {
        self.outlet.detach();
        self.conn.shutdown();
        Ended {
            messages_sent: self
                .outlet
                .messages
                .load(std::sync::atomic::Ordering::Relaxed),
            ..self.ended
        }
    }

    async fn send_frame(&mut self, opcode: Opcode, body: Bytes) -> Result<(), Stop> {
        sent(
            self.outlet
                .send(opcode, body, self.limits.send_timeout)
                .await,
        )
    }

    /// A text message, compressed if the client agreed to it. `shared`: the bytes are a tick
    /// frame other clients get too, compressed once for all.
    async fn send_text(&mut self, body: Bytes, shared: bool) -> Result<(), Stop> {
        sent(
            self.outlet
                .send_text(body, shared, self.limits.send_timeout)
                .await,
        )
    }

    async fn send_out(&mut self, out: &Out) -> Result<(), Stop> {
        let shared = matches!(out.kind, OutKind::Batch);
        self.send_text(out.json.clone(), shared).await
    }

    pub(super) async fn send_outs(&mut self, outs: Vec<Out>) -> Result<(), Stop> {
        for out in &outs {
            self.send_out(out).await?;
        }
        Ok(())
    }

    /// Tells a client that follows the list of symbols of those listed since it last heard.
    async fn tell_listed(&mut self) -> Result<(), Stop> {
        let Some(told) = self.told else {
            return Ok(());
        };
        let catalog = self.sub.hub().catalog();
        let symbols = catalog.symbols();
        self.told = Some(symbols.len());
        if symbols.len() <= told {
            return Ok(());
        }
        let added = symbols[told..].to_vec();
        self.send_msg(&ServerMsg::Listed { symbols: added }).await
    }

    pub(super) async fn send_msg(&mut self, msg: &ServerMsg) -> Result<(), Stop> {
        self.send_text(Bytes::from(msg.encode()), false).await
    }

    /// Takes tick delivery back from the fan-out (before anything that changes what or where
    /// the session streams). The receiver is taken first, so that no tick falls in between.
    pub(super) fn detach(&mut self) {
        if self.rx.is_none() {
            self.rx = Some(self.sub.hub().receiver());
            let synced = self.outlet.detach();
            self.sub.set_synced(synced);
        }
    }

    /// Hands tick delivery to the fan-out once the session is in sync; ticks still in the
    /// receiver are written here (or were already, by the fan-out).
    pub(super) async fn attach_if_in_sync(&mut self) -> Result<(), Stop> {
        if self.rx.is_none()
            || !self.sub.in_sync()
            || self.sub.is_empty()
            || self.outlet.has_pending()
        {
            return Ok(());
        }
        let generation = self.outlet.attach(self.sub.synced());
        self.fanout
            .attach(self.outlet.clone(), generation, self.sub.set().clone());
        loop {
            let Some(rx) = self.rx.as_mut() else {
                return Ok(());
            };
            match rx.try_recv() {
                Ok(tick) => {
                    if tick.n <= self.sub.synced() && matches!(tick.kind, TickKind::Data) {
                        continue;
                    }
                    if let TickKind::Reset(reason) = tick.kind {
                        // A reset: back to forwarding ourselves; attach again at a later tick.
                        self.detach_now();
                        let outs = self.sub.reopen(reason);
                        return self.send_outs(outs).await;
                    }
                    let frame = self.sub.set().frame(&tick);
                    self.outlet
                        .deliver_from_session(tick.n, frame, self.limits.send_timeout)
                        .await
                        .map_err(|_| Stop::Dead)?;
                    self.sub.set_synced(tick.n);
                    if self.outlet.attachment() != Some(generation) {
                        // The fan-out detached us meanwhile; the wake-up handles it.
                        return Ok(());
                    }
                }
                Err(TryRecvError::Empty) => {
                    self.rx = None;
                    return Ok(());
                }
                Err(TryRecvError::Lagged(_)) => {
                    self.detach_now();
                    self.ended.lag_events += 1;
                    let outs = self.sub.catch_up(false);
                    return self.send_outs(outs).await;
                }
                Err(TryRecvError::Closed) => return Ok(()),
            }
        }
    }

    /// Detach while still holding the receiver.
    fn detach_now(&mut self) {
        let synced = self.outlet.detach();
        self.sub.set_synced(synced.max(self.sub.synced()));
    }

    /// A tick from the receiver (detached mode).
    async fn forward(&mut self, tick: &Tick) -> Result<(), Stop> {
        match self.sub.forward(tick) {
            Forward::Nothing => {}
            Forward::Send(out) => self.send_out(&out).await?,
            Forward::Reopen(reason) => {
                let outs = self.sub.reopen(reason);
                self.send_outs(outs).await?;
            }
            Forward::CatchUp(outs) => self.send_outs(outs).await?,
        }
        self.attach_if_in_sync().await
    }

    /// The outlet called: finish a partly written frame; if the fan-out detached us, catch up.
    async fn on_wake(&mut self) -> Result<(), Stop> {
        if let Err(err) = self.outlet.flush(self.limits.send_timeout).await {
            tracing::debug!(%err, "cannot finish a frame; dropping the client");
            return Err(Stop::Dead);
        }
        if self.outlet.is_dead() {
            return Err(Stop::Dead);
        }
        if self.rx.is_none() && self.outlet.attachment().is_none() {
            self.detach();
            let behind = self.sub.hub().n().saturating_sub(self.sub.synced());
            self.ended.lag_events += 1;
            let outs = self.sub.catch_up(behind <= self.limits.lag_ticks);
            self.send_outs(outs).await?;
            return self.attach_if_in_sync().await;
        }
        Ok(())
    }

    /// Sends Close with `code` and `reason`, then waits (in the loop) for the client's reply.
    async fn close(&mut self, code: u16, reason: &str) -> Result<(), Stop> {
        self.ended.code.get_or_insert(code);
        // No tick may follow the Close.
        self.outlet.detach();
        self.rx = None;
        self.send_frame(Opcode::Close, Bytes::from(close_payload(code, reason)))
            .await?;
        Err(Stop::Closing)
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
            self.send_frame(Opcode::Ping, Bytes::new()).await?;
        }
        // Only messages a script can see count against the heartbeat: browsers hide pings.
        if self.outlet.since_text() >= self.limits.heartbeat {
            self.send_msg(&ServerMsg::Heartbeat { ts: Utc::now() })
                .await?;
        }
        Ok(())
    }

    async fn on_message(&mut self, msg: Incoming, closing: bool) -> Result<(), Stop> {
        let text = match msg {
            // The client's answer to our Close: the handshake is complete.
            Incoming::Close(_) if closing => return Err(Stop::Dead),
            // The client's Close: echo its code, then end the connection.
            Incoming::Close(frame) => {
                let code = frame.map_or(close_code::NORMAL, |(code, _)| code);
                self.ended.code.get_or_insert(code);
                self.outlet.detach();
                let _ = self
                    .send_frame(Opcode::Close, Bytes::copy_from_slice(&code.to_be_bytes()))
                    .await;
                return Err(Stop::Dead);
            }
            _ if closing => return Ok(()),
            Incoming::Ping(payload) => {
                return self.send_frame(Opcode::Pong, Bytes::from(payload)).await
            }
            Incoming::Pong => return Ok(()),
            Incoming::Binary(_) => {
                return self
                    .refuse(ErrorReply {
                        id: None,
                        code: ErrorCode::Unsupported,
                        message: "binary frames are not supported; send JSON text".into(),
                    })
                    .await
            }
            Incoming::Text(text) => text,
        };
        match ClientMsg::decode(&text) {
            Err(reply) => self.refuse(reply).await,
            Ok(request) => {
                if !self.bucket.take(1.0) {
                    return self
                        .close(close_code::POLICY, "rate limit exceeded: too many requests")
                        .await;
                }
                self.request(request).await
            }
        }
    }

    /// Answers an invalid message with its error; too many of them close the connection.
    pub(super) async fn refuse(&mut self, reply: ErrorReply) -> Result<(), Stop> {
        crate::server::metrics::error_sent(reply.code);
        if !self.bucket.take(INVALID_COST) {
            return self
                .close(close_code::POLICY, "too many invalid messages")
                .await;
        }
        self.send_msg(&ServerMsg::Error(reply)).await
    }
}
