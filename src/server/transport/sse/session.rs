//! One event stream's session: answers its channels, then forwards ticks, heartbeats in
//! silences, until the client goes or the server stops (the stream then ends, and the browser
//! reconnects with its last event id).

use super::position::{starts, Position};
use crate::protocol::{Channel, Epoch, Resume, ServerMsg, ViewSpec};
use crate::server::feed::archive::older_updates;
use crate::server::feed::catalog::ChannelId;
use crate::server::feed::hub::Start;
use crate::server::feed::tick::{Tick, TickNo};
use crate::server::metrics;
use crate::server::transport::admission::Limits;
use crate::server::transport::channel_sets::ChannelSet;
use crate::server::transport::feed_view::FeedView;
use crate::server::transport::subscriber::{Forward, Out, OutKind, Subscriber};
use crate::server::transport::views::{Change, Views, MAX_VIEW_ROWS};
use bytes::Bytes;
use chrono::Utc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// How long the browser's `EventSource` waits before reconnecting by itself.
const RETRY_MS: u32 = 1_000;

/// What a stream asks for, read from its request.
pub(crate) struct Request {
    pub(crate) ids: Vec<ChannelId>,
    pub(crate) channels: Vec<Channel>,
    pub(crate) position: Position,
    /// A window of the ranked universe (view 1), kept current as on `/ws`.
    pub(crate) view: Option<ViewSpec>,
    /// The client follows the list of symbols: a `symbols` event after the welcome, then
    /// `listed` events.
    pub(crate) symbols: bool,
}

/// The number of the one view a stream may hold.
const VIEW: u32 = 1;

/// One message as an event: its type, its data line, and the position it completes.
pub(crate) fn event(kind: &str, json: &[u8], through: Option<(Epoch, TickNo)>) -> Bytes {
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

/// Why the stream ends.
struct Gone;

struct Session {
    sub: Subscriber,
    /// The channels the URL names (the view holds the others).
    explicit: ChannelSet,
    views: Views,
    /// How many symbols the client knows of, when it follows the list.
    told: Option<usize>,
    tx: mpsc::Sender<Bytes>,
    limits: Limits,
    /// Events sent, lag events.
    sent: u64,
    lags: u64,
    last_sent: Instant,
}

impl Session {
    /// Hands one event to the response body; `Gone` when the client is gone or not reading.
    async fn emit(&mut self, event: Bytes) -> Result<(), Gone> {
        let len = event.len() as u64;
        match tokio::time::timeout(self.limits.send_timeout, self.tx.send(event)).await {
            Ok(Ok(())) => {
                metrics::SSE_EVENTS.fetch_add(1, Ordering::Relaxed);
                metrics::SSE_BYTES.fetch_add(len, Ordering::Relaxed);
                self.sent += 1;
                self.last_sent = Instant::now();
                Ok(())
            }
            _ => Err(Gone),
        }
    }

    async fn emit_outs(&mut self, outs: Vec<Out>) -> Result<(), Gone> {
        for out in &outs {
            self.emit(out_event(out)).await?;
        }
        Ok(())
    }

    /// `retry:` and the welcome, in one write, and the list of symbols if the client follows
    /// it.
    async fn greet(&mut self, symbols: bool) -> Result<(), Gone> {
        let hub = self.sub.hub().clone();
        let catalog = hub.catalog();
        let welcome = ServerMsg::Welcome {
            epoch: hub.epoch(),
            ts: Utc::now(),
            heartbeat_ms: self.limits.heartbeat.as_millis() as u32,
            max_subscriptions: self.limits.max_subscriptions as u32,
            universe: catalog.symbols().len() as u32,
            max_view_rows: MAX_VIEW_ROWS as u32,
            max_views: 1,
        };
        let mut head = format!("retry: {RETRY_MS}\n\n").into_bytes();
        head.extend_from_slice(&event("welcome", welcome.encode().as_bytes(), None));
        if symbols {
            let list = ServerMsg::Symbols {
                id: 0,
                total: catalog.symbols().len() as u32,
                offset: 0,
                symbols: catalog.symbols().to_vec(),
            };
            head.extend_from_slice(&event("symbols", list.encode().as_bytes(), None));
            self.told = Some(catalog.symbols().len());
        }
        self.emit(Bytes::from(head)).await
    }

    /// The stream's channels, answered from its position, then its view.
    async fn open(&mut self, request: &Request) -> Result<(), Gone> {
        let starts = starts(&request.ids, &request.channels, &request.position);
        for &(id, _) in &starts {
            self.explicit.insert(id);
        }
        self.open_starts(&starts).await?;
        if let Some(spec) = request.view.clone() {
            let feed = self.sub.feed_arc();
            let change = self.views.set(VIEW, spec, &feed.rankings, &feed.hub);
            let resume = request.position.epoch.map(|epoch| Resume {
                epoch,
                from: request.position.from.clone(),
                latest: request.position.latest,
            });
            self.apply(change, resume.as_ref()).await?;
        }
        Ok(())
    }

    async fn open_starts(&mut self, starts: &[(ChannelId, Start)]) -> Result<(), Gone> {
        let older = older_updates(self.sub.feed().archive(), self.sub.hub(), starts).await;
        let outs = self.sub.open_with(starts, &older);
        self.emit_outs(outs).await
    }

    /// Follows the ranking of the stream's view (every tick).
    async fn refresh_views(&mut self) -> Result<(), Gone> {
        let feed = self.sub.feed_arc();
        let change = self.views.refresh(&feed.rankings, &feed.hub);
        self.apply(change, None).await
    }

    /// Carries out a change of the view: leavers closed, the `rows` event, joiners opened.
    async fn apply(&mut self, change: Change, resume: Option<&Resume>) -> Result<(), Gone> {
        if change.is_empty() {
            return Ok(());
        }
        let catalog = self.sub.hub().catalog();
        let plan = change.plan(&self.explicit, self.sub.channels(), resume, &catalog);
        self.sub.close(&plan.close);
        for msg in &plan.rows {
            self.emit(event("rows", msg.encode().as_bytes(), None))
                .await?;
        }
        self.open_starts(&plan.open).await
    }

    /// What a tick (or a lag) means for this stream.
    fn on_tick(&mut self, tick: Result<Arc<Tick>, RecvError>) -> Result<Vec<Out>, Gone> {
        Ok(match tick {
            Ok(tick) => match self.sub.forward(&tick) {
                Forward::Nothing => Vec::new(),
                Forward::Send(out) => vec![out],
                Forward::Reopen(reason) => self.sub.reopen(reason),
                Forward::CatchUp(outs) => outs,
            },
            Err(RecvError::Lagged(_)) => {
                self.lags += 1;
                self.sub.catch_up(false)
            }
            Err(RecvError::Closed) => return Err(Gone),
        })
    }

    /// Symbols listed since the client last heard of the list, if it follows it.
    async fn tell_listed(&mut self) -> Result<(), Gone> {
        let Some(told) = self.told else {
            return Ok(());
        };
        let catalog = self.sub.hub().catalog();
        let all = catalog.symbols();
        self.told = Some(all.len());
        if all.len() <= told {
            return Ok(());
        }
        let listed = ServerMsg::Listed {
            symbols: all[told..].to_vec(),
        }
        .encode();
        self.emit(event("listed", listed.as_bytes(), None)).await
    }

    /// A heartbeat after a silence of `limits.heartbeat`.
    async fn beat(&mut self) -> Result<(), Gone> {
        if self.last_sent.elapsed() < self.limits.heartbeat {
            return Ok(());
        }
        let hb = ServerMsg::Heartbeat { ts: Utc::now() }.encode();
        self.emit(event("heartbeat", hb.as_bytes(), None)).await
    }
}

/// Runs one stream until the client goes or the server stops. Returns (events sent, lag
/// events).
pub(crate) async fn run(
    feed: Arc<FeedView>,
    request: Request,
    tx: mpsc::Sender<Bytes>,
    limits: Limits,
    shutdown: CancellationToken,
) -> (u64, u64) {
    // The receiver comes first: everything published from here on reaches this session.
    let mut rx = feed.hub.receiver();
    let mut listings = feed.hub.listings();
    listings.borrow_and_update();
    let mut s = Session {
        sub: Subscriber::new(feed),
        explicit: ChannelSet::default(),
        views: Views::default(),
        told: None,
        tx,
        limits,
        sent: 0,
        lags: 0,
        last_sent: Instant::now(),
    };
    let _ = stream(&mut s, &request, &mut rx, &mut listings, shutdown).await;
    (s.sent, s.lags)
}

async fn stream(
    s: &mut Session,
    request: &Request,
    rx: &mut tokio::sync::broadcast::Receiver<Arc<Tick>>,
    listings: &mut tokio::sync::watch::Receiver<usize>,
    shutdown: CancellationToken,
) -> Result<(), Gone> {
    s.greet(request.symbols).await?;
    s.open(request).await?;
    let mut timer = tokio::time::interval(s.limits.heartbeat.min(Duration::from_secs(1)));
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut view_timer = tokio::time::interval(s.limits.view_refresh);
    view_timer.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    loop {
        tokio::select! {
            _ = &mut cancelled => return Ok(()),
            _ = s.tx.closed() => return Err(Gone),
            tick = rx.recv() => {
                let outs = s.on_tick(tick)?;
                s.emit_outs(outs).await?;
            }
            Ok(()) = listings.changed() => s.tell_listed().await?,
            _ = timer.tick() => s.beat().await?,
            _ = view_timer.tick(), if !s.views.is_empty() => s.refresh_views().await?,
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_lines() {
        let e = event("batch", br#"{"type":"batch"}"#, Some((3, 14)));
        assert_eq!(
            &e[..],
            b"event: batch\nid: 3.14\ndata: {\"type\":\"batch\"}\n\n"
        );
    }
}
