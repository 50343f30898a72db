//! The hub: one writer commits ticks, any number of sessions receive them.
//!
//! The hub owns the live state of every channel (for snapshots and the page), each channel's
//! sequence number and a bounded history of its recent updates (for resume), the tick counter,
//! and a `tokio::sync::broadcast` ring of [`Tick`]s. The writer is the producer on the node
//! that runs the feed, or the cluster consumer on a node that receives it from Redis; either
//! way a tick arrives here already numbered and encoded ([`Commit`]), and the hub checks that
//! it continues exactly where the last one ended before applying it.
//!
//! Invariants:
//! - every channel's updates are numbered `1, 2, 3, …` in publish order within one epoch, and
//!   ticks `1, 2, 3, …` likewise; [`Hub::commit`] refuses anything else;
//! - a [`Hub::open`] answer (snapshot or replay) is taken under the same lock that
//!   [`Hub::commit`] holds while it applies and sends a tick, and says which tick it stands
//!   at (`n`): ticks up to `n` are covered by the answer, every later tick reaches the session
//!   through its receiver (taken before the `open`). A session therefore needs one number per
//!   channel group, not a seq per channel, to send every update exactly once;
//! - the ring has a fixed capacity, so a slow session pins bounded memory; one that falls
//!   further behind gets `Lagged` and is caught up from the history or a snapshot
//!   (see `subscriber`); nobody else waits for it.

use crate::protocol::{Channel, ChannelState, Data, Epoch, Quote, Seq, Snapshot, SnapshotReason};
use crate::server::feed::catalog::{Catalog, ChannelId, Kind};
use crate::server::feed::history::{ChannelLog, Windows};
use crate::server::feed::state::LiveState;
use crate::server::feed::tick::{Encoded, Tick, TickKind, TickNo};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use tokio::sync::broadcast;

/// In a cluster, what a tick did with the publish queue in Redis: every request up to stream
/// id `to` is settled, taken into the tick unless listed in `rejected` (id, reason). The hub
/// only carries it to the node that applies the tick, which answers its waiting publishers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct InboxMark {
    pub(crate) to: String,
    pub(crate) rejected: Vec<(String, String)>,
}

/// One channel's update, numbered and encoded, ready to commit.
#[derive(Clone, Debug)]
pub(crate) struct Numbered {
    pub(crate) channel: ChannelId,
    pub(crate) seq: Seq,
    pub(crate) data: Data,
    /// `data` as an item of a batch at the tick's time.
    pub(crate) json: Bytes,
}

/// A tick ready to be applied: numbered by whoever produces the feed.
#[derive(Clone, Debug)]
pub struct Commit {
    pub(crate) epoch: Epoch,
    pub(crate) n: TickNo,
    pub(crate) ts: DateTime<Utc>,
    /// Symbols listed from this tick on (appended to the catalog in this order, before the
    /// updates are applied), each with its first quote.
    pub(crate) new_symbols: Vec<Quote>,
    pub(crate) updates: Vec<Numbered>,
    /// In a cluster: the publish requests from Redis's inbox this tick settled (taken or
    /// refused), so that the edges that queued them can answer their publishers.
    pub(crate) inbox: Option<InboxMark>,
}

/// Why a commit was refused: it does not continue the hub's stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Discontinuity(pub String);

impl std::fmt::Display for Discontinuity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a session asks for one channel. Positions (`seq`, `n`) are only meaningful in their
/// `epoch`: from another epoch the answer is an `epoch_changed` snapshot.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Start {
    /// A snapshot, for this reason.
    Snapshot(SnapshotReason),
    /// Every update after `seq`, replayed from the history; a snapshot for `or_else` when the
    /// history no longer holds them all.
    After {
        epoch: Epoch,
        seq: Seq,
        or_else: SnapshotReason,
    },
    /// Every update published after tick `n` (replayed), or a snapshot for `or_else`.
    AfterTick {
        epoch: Epoch,
        n: TickNo,
        or_else: SnapshotReason,
    },
    /// Conflation: nothing if the channel has not changed since tick `n`, else its latest
    /// state for `reason` (the updates in between are superseded by it).
    LatestSince {
        epoch: Epoch,
        n: TickNo,
        reason: SnapshotReason,
    },
    /// Conflation by seq: nothing if the channel still stands at `seq`, else its latest state
    /// (a `lagged` snapshot).
    LatestAfter { epoch: Epoch, seq: Seq },
}

impl Start {
    fn epoch(&self) -> Option<Epoch> {
        match *self {
            Start::Snapshot(_) => None,
            Start::After { epoch, .. }
            | Start::AfterTick { epoch, .. }
            | Start::LatestSince { epoch, .. }
            | Start::LatestAfter { epoch, .. } => Some(epoch),
        }
    }

    /// Where a client's position on a channel of `kind` resumes: after `seq`, every update
    /// (from the history; a snapshot when it no longer holds them all); with `latest`
    /// ([`crate::protocol::Resume::latest`]) a state channel gets only its latest state, if it
    /// moved. Trades are a list of events, not a state: they are always replayed.
    pub(crate) fn resume(epoch: Epoch, seq: Seq, latest: bool, kind: Kind) -> Start {
        if latest && kind != Kind::Trades {
            Start::LatestAfter { epoch, seq }
        } else {
            Start::After {
                epoch,
                seq,
                or_else: SnapshotReason::HistoryExhausted,
            }
        }
    }
}

/// The hub's answer to [`Hub::open`].
#[derive(Debug, Default)]
pub(crate) struct Opened {
    pub(crate) epoch: Epoch,
    /// The tick every requested channel stands at once the answer is sent.
    pub(crate) n: TickNo,
    /// The state's time at `n`.
    pub(crate) ts: DateTime<Utc>,
    /// Snapshots to send, grouped by reason.
    pub(crate) snapshots: BTreeMap<ReasonKey, Vec<ChannelState>>,
    /// Updates to replay, in tick order (then channel order), each with its tick's time.
    pub(crate) replay: Vec<Encoded>,
}

/// Orders snapshot reasons so that [`Opened::snapshots`] is deterministic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ReasonKey(u8);

impl ReasonKey {
    pub(crate) fn of(reason: SnapshotReason) -> Self {
        ReasonKey(match reason {
            SnapshotReason::Subscribed => 0,
            SnapshotReason::HistoryExhausted => 1,
            SnapshotReason::EpochChanged => 2,
            SnapshotReason::Lagged => 3,
            SnapshotReason::Page => 4,
        })
    }

    pub(crate) fn reason(self) -> SnapshotReason {
        match self.0 {
            0 => SnapshotReason::Subscribed,
            1 => SnapshotReason::HistoryExhausted,
            2 => SnapshotReason::EpochChanged,
            3 => SnapshotReason::Lagged,
            _ => SnapshotReason::Page,
        }
    }
}

/// Everything behind the lock.
struct Inner {
    epoch: Epoch,
    n: TickNo,
    state: LiveState,
    logs: Vec<ChannelLog>,
    /// Where the next tick's sweep of idle channels starts (see [`Inner::expire_idle`]).
    sweep_from: usize,
}

/// A tick's sweep visits this share of the channels (1/10): all of them every ten ticks.
const SWEEP_SHARE: usize = 10;

impl Inner {
    /// Drops history entries older than their channel's window in the next tenth of the
    /// channels. A channel that moves is cut when it moves (in [`Hub::commit`]); this finds the
    /// idle ones. Visiting every channel at once (a cache miss each) and freeing a second's
    /// worth of entries in one go delayed the tick it ran in: p99 at 10,000 quotes/s went from
    /// 31-33 to 39-45 ms. Spread over ten ticks, an idle channel's entries outlive the window
    /// by ten ticks at most.
    fn expire_idle(&mut self, now: DateTime<Utc>, windows: &Windows) {
        let len = self.logs.len();
        if len == 0 {
            return;
        }
        let share = len.div_ceil(SWEEP_SHARE);
        for i in 0..share {
            let id = (self.sweep_from + i) % len;
            if let Some(window) = windows.of(id as ChannelId) {
                self.logs[id].expire(now - window);
            }
        }
        self.sweep_from = (self.sweep_from + share) % len;
    }
}

/// A consistent copy of the whole hub, for a cluster checkpoint.
#[derive(Clone, Debug)]
pub(crate) struct HubImage {
    pub(crate) epoch: Epoch,
    pub(crate) n: TickNo,
    pub(crate) state: LiveState,
    pub(crate) symbols: Vec<String>,
    /// Every channel's seq, by id.
    pub(crate) seqs: Vec<Seq>,
}

/// Shared by the writer, the sessions and the page renderer.
pub(crate) struct Hub {
    catalog: RwLock<Arc<Catalog>>,
    history_depth: usize,
    /// How far back in tick time the histories reach, by kind of channel.
    history_windows: Windows,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Tick>>,
    /// Mirrors of `inner.epoch` and `inner.n`, readable without the lock (health checks,
    /// metrics).
    epoch: AtomicU64,
    n: AtomicU64,
    /// How many symbols the catalog lists; sessions watch it to tell clients of new ones.
    listed: tokio::sync::watch::Sender<usize>,
}

impl Hub {
    /// A hub at tick 0 of `epoch` with this state. `lag_capacity` is how many ticks a session
    /// may fall behind before it is caught up from history or snapshots; `history_depth` how
    /// many updates per channel are kept for resume.
    pub(crate) fn new(
        epoch: Epoch,
        state: LiveState,
        lag_capacity: usize,
        history_depth: usize,
    ) -> Self {
        let catalog = Catalog::new(state.quotes().iter().map(|q| q.symbol.clone()).collect());
        let (tx, _) = broadcast::channel(lag_capacity.max(1));
        Hub {
            history_depth: history_depth.max(1),
            history_windows: Windows::default(),
            inner: Mutex::new(Inner {
                epoch,
                n: 0,
                logs: (0..catalog.len()).map(|_| ChannelLog::default()).collect(),
                state,
                sweep_from: 0,
            }),
            tx,
            epoch: AtomicU64::new(epoch),
            n: AtomicU64::new(0),
            listed: tokio::sync::watch::channel(catalog.symbols().len()).0,
            catalog: RwLock::new(Arc::new(catalog)),
        }
    }

    /// Keeps no update in a channel's history that is older than its kind's window in tick
    /// time (the newest tick's time minus the update's), on top of the per-channel depth. A
    /// client that resumes from further back gets a snapshot, as it would past the depth. The
    /// memory held is then bounded by the feed's rate times the window, not by the number of
    /// channels.
    pub(crate) fn with_history_windows(mut self, windows: Windows) -> Self {
        self.history_windows = windows;
        self
    }

    /// Changes when symbols are listed (the count of symbols listed). Take it before reading
    /// the catalog, so that no listing falls in between.
    pub(crate) fn listings(&self) -> tokio::sync::watch::Receiver<usize> {
        self.listed.subscribe()
    }

    pub(crate) fn epoch(&self) -> Epoch {
        self.epoch.load(Ordering::Acquire)
    }

    /// The last tick committed.
    pub(crate) fn n(&self) -> TickNo {
        self.n.load(Ordering::Acquire)
    }

    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every write under this lock replaces whole values, so state behind a lock poisoned by
        // a panic elsewhere is still consistent enough to serve.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the state, the epoch, the last tick and each channel's seq at one instant.
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&LiveState, Epoch, TickNo, &dyn Fn(ChannelId) -> Seq) -> R,
    ) -> R {
        let inner = self.lock();
        let seq = |id: ChannelId| inner.logs.get(id as usize).map_or(0, |l| l.seq);
        f(&inner.state, inner.epoch, inner.n, &seq)
    }

    /// Applies a tick that continues the stream: the next tick number of the same epoch, and
    /// for each channel its next seq. Records every update in its channel's history and sends
    /// the tick to every session. Returns the number of updates.
    pub(crate) fn commit(&self, tick: Commit) -> Result<usize, Discontinuity> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if tick.epoch != inner.epoch {
            return Err(Discontinuity(format!(
                "tick of epoch {} on a hub in epoch {}",
                tick.epoch, inner.epoch
            )));
        }
        if tick.n != inner.n + 1 {
            return Err(Discontinuity(format!(
                "tick {} after tick {}",
                tick.n, inner.n
            )));
        }
        let mut catalog = self.catalog();
        if !tick.new_symbols.is_empty() {
            let mut grown = (*catalog).clone();
            for q in &tick.new_symbols {
                if grown.symbol_index(&q.symbol).is_some() {
                    return Err(Discontinuity(format!("{} is listed already", q.symbol)));
                }
                grown = grown.with_symbol(q.symbol.clone());
            }
            catalog = Arc::new(grown);
        }
        for u in &tick.updates {
            let seq = inner.logs.get(u.channel as usize).map_or(0, |l| l.seq);
            if u.channel as usize >= catalog.len() || u.seq != seq + 1 {
                return Err(Discontinuity(format!(
                    "{} seq {} after {seq}",
                    u.channel, u.seq
                )));
            }
        }
        // Checked: apply.
        if !tick.new_symbols.is_empty() {
            for q in tick.new_symbols {
                inner.state.add_symbol(q);
            }
            inner.logs.resize_with(catalog.len(), ChannelLog::default);
            let symbols = catalog.symbols().len();
            *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = catalog;
            self.listed.send_replace(symbols);
        }
        inner.state.begin_tick(tick.ts);
        let mut encoded = Vec::with_capacity(tick.updates.len());
        for u in tick.updates {
            inner.state.apply(u.channel, &u.data);
            let e = Encoded {
                channel: u.channel,
                seq: u.seq,
                n: tick.n,
                ts: tick.ts,
                json: u.json,
            };
            let log = &mut inner.logs[u.channel as usize];
            if let Some(window) = self.history_windows.of(u.channel) {
                log.expire(tick.ts - window);
            }
            log.push(&e, self.history_depth);
            encoded.push(e);
        }
        if !self.history_windows.is_none() {
            inner.expire_idle(tick.ts, &self.history_windows);
        }
        inner.n = tick.n;
        let count = encoded.len();
        self.n.store(tick.n, Ordering::Release);
        // No sessions is not an error: the updates are in the state and the history.
        let _ = self.tx.send(Arc::new(Tick::new(
            tick.n,
            tick.ts,
            TickKind::Data,
            encoded,
        )));
        Ok(count)
    }

    /// Replaces the whole hub: a new epoch (seqs restart from the image's, usually 0), or the
    /// same epoch reloaded after the stream's continuity was lost. Histories are cleared.
    /// Every session is told to send fresh snapshots for `reason`.
    pub(crate) fn reset(&self, image: HubImage, reason: SnapshotReason) {
        let mut inner = self.lock();
        let catalog = Catalog::new(image.symbols);
        inner.logs = (0..catalog.len())
            .map(|id| ChannelLog::starting_at(image.seqs.get(id).copied().unwrap_or(0), image.n))
            .collect();
        let symbols = catalog.symbols().len();
        *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog);
        self.listed.send_replace(symbols);
        inner.epoch = image.epoch;
        inner.n = image.n;
        let ts = image.state.ts;
        inner.state = image.state;
        self.epoch.store(image.epoch, Ordering::Release);
        self.n.store(image.n, Ordering::Release);
        let _ = self.tx.send(Arc::new(Tick::new(
            image.n,
            ts,
            TickKind::Reset(reason),
            Vec::new(),
        )));
    }

    /// A consistent copy of everything a node needs to continue the stream from here.
    pub(crate) fn image(&self) -> HubImage {
        let inner = self.lock();
        HubImage {
            epoch: inner.epoch,
            n: inner.n,
            state: inner.state.clone(),
            symbols: self.catalog().symbols().to_vec(),
            seqs: inner.logs.iter().map(|l| l.seq).collect(),
        }
    }

    /// How many updates the histories hold (for `/metrics`; counted on demand, a scrape is
    /// rare next to a tick).
    pub(crate) fn history_len(&self) -> usize {
        self.lock().logs.iter().map(ChannelLog::len).sum()
    }

    /// A receiver of every tick from now on. Sessions take one when they connect, before any
    /// [`Hub::open`], so nothing published after an `open` can be missed.
    pub(crate) fn receiver(&self) -> broadcast::Receiver<Arc<Tick>> {
        self.tx.subscribe()
    }

    /// For each requested channel, a snapshot or the replay of what the session missed, all
    /// taken at one instant (see the invariants). `older` supplies updates the history no
    /// longer holds (a cluster node reads them from Redis): for a channel, the updates after
    /// the requested seq, in order, as far as it has them.
    pub(crate) fn open(&self, requests: &[(ChannelId, Start)]) -> Opened {
        self.open_with(requests, &BTreeMap::new())
    }

    /// The resumes among `requests` that this hub's history cannot answer but an older
    /// history might: (channel, the seq to resume after, the first seq the history lacks
    /// before its own start). Positions from another epoch or from the future are not here.
    pub(crate) fn missing_history(
        &self,
        requests: &[(ChannelId, Start)],
    ) -> Vec<(ChannelId, Seq, Seq)> {
        let inner = self.lock();
        requests
            .iter()
            .filter_map(|&(id, start)| match start {
                Start::After { epoch, seq, .. } if epoch == inner.epoch => {
                    let log = inner.logs.get(id as usize)?;
                    (seq < log.base()).then_some((id, seq, log.base()))
                }
                _ => None,
            })
            .collect()
    }

    /// [`Hub::open`] with updates fetched from elsewhere for channels whose history here does
    /// not reach back far enough.
    pub(crate) fn open_with(
        &self,
        requests: &[(ChannelId, Start)],
        older: &BTreeMap<ChannelId, Vec<Encoded>>,
    ) -> Opened {
        let inner = self.lock();
        let catalog = self.catalog();
        let mut opened = Opened {
            epoch: inner.epoch,
            n: inner.n,
            ts: inner.state.ts,
            ..Opened::default()
        };
        for &(id, start) in requests {
            let Some(log) = inner.logs.get(id as usize) else {
                continue;
            };
            let snapshot_reason = match start {
                _ if start.epoch().is_some_and(|e| e != inner.epoch) => {
                    Some(SnapshotReason::EpochChanged)
                }
                Start::Snapshot(reason) => Some(reason),
                Start::LatestSince { n, reason, .. } => (log.last_n() > n).then_some(reason),
                Start::After { seq, .. } | Start::LatestAfter { seq, .. } if seq == log.seq => None,
                Start::LatestAfter { .. } => Some(SnapshotReason::Lagged),
                // A seq from the future (another run, a confused client) cannot be resumed.
                Start::After { seq, or_else, .. } if seq > log.seq => Some(or_else),
                Start::After { seq, or_else, .. } => {
                    if seq >= log.base() {
                        log.after_seq(seq, id, &mut opened.replay);
                        None
                    } else if let Some(fetched) =
                        older.get(&id).filter(|f| joins(f, seq, log.base()))
                    {
                        // seq+1 ..= base from elsewhere, the rest from the history.
                        opened.replay.extend(
                            fetched
                                .iter()
                                .filter(|e| e.seq > seq && e.seq <= log.base())
                                .cloned(),
                        );
                        log.all(id, &mut opened.replay);
                        None
                    } else {
                        Some(or_else)
                    }
                }
                // A tick from the future cannot be resumed either.
                Start::AfterTick { n, or_else, .. } if n > inner.n => Some(or_else),
                Start::AfterTick { n, or_else, .. } => {
                    if log.base_n() <= n {
                        log.after_tick(n, id, &mut opened.replay);
                        None
                    } else {
                        Some(or_else)
                    }
                }
            };
            if let Some(reason) = snapshot_reason {
                opened
                    .snapshots
                    .entry(ReasonKey::of(reason))
                    .or_default()
                    .push(ChannelState {
                        channel: catalog.channel(id),
                        seq: log.seq,
                        data: inner.state.state_of(id),
                    });
            }
        }
        opened.replay.sort_by_key(|e| (e.n, e.channel));
        opened
    }

    /// The state of the given channels, for a page render, and the tick it stands at; candle
    /// histories are cut to their last `candle_limit` candles to keep the page small.
    pub(crate) fn snapshot(
        &self,
        channels: &[Channel],
        reason: SnapshotReason,
        candle_limit: usize,
    ) -> (Snapshot, TickNo) {
        let (snapshot, _, n) = self.snapshot_with_sparks(channels, reason, candle_limit);
        (snapshot, n)
    }

    /// [`Hub::snapshot`] and the sparkline samples (oldest first) of each quote in it, in
    /// its order, taken at the same tick.
    pub(crate) fn snapshot_with_sparks(
        &self,
        channels: &[Channel],
        reason: SnapshotReason,
        candle_limit: usize,
    ) -> (Snapshot, Vec<Vec<f64>>, TickNo) {
        let inner = self.lock();
        let catalog = self.catalog();
        let snapshot = Snapshot {
            epoch: inner.epoch,
            ts: inner.state.ts,
            reason: Some(reason),
            channels: channels
                .iter()
                .filter_map(|c| catalog.id(c).ok())
                .map(|id| ChannelState {
                    channel: catalog.channel(id),
                    seq: inner.logs[id as usize].seq,
                    data: match inner.state.state_of(id) {
                        Data::Candles(mut v) => {
                            v.drain(..v.len().saturating_sub(candle_limit));
                            Data::Candles(v)
                        }
                        other => other,
                    },
                })
                .collect(),
        };
        // The sparklines of the snapshot's quotes, in its order.
        let sparks = snapshot
            .channels
            .iter()
            .filter_map(|c| match &c.channel {
                Channel::Quotes(symbol) => catalog.symbol_index(symbol),
                _ => None,
            })
            .map(|i| inner.state.spark_of(i as usize))
            .collect();
        (snapshot, sparks, inner.n)
    }

    /// The sparkline samples (oldest first) of symbols `symbols` (catalog indices).
    pub(crate) fn sparks_of(&self, symbols: &[u32]) -> Vec<Vec<f64>> {
        let inner = self.lock();
        symbols
            .iter()
            .map(|&i| inner.state.spark_of(i as usize))
            .collect()
    }

    /// The channels a dashboard shows: every league's scores and every symbol's quotes.
    pub(crate) fn dashboard_channels(&self) -> Vec<Channel> {
        crate::protocol::League::ALL
            .into_iter()
            .map(Channel::Scores)
            .chain(
                self.catalog()
                    .symbols()
                    .iter()
                    .map(|s| Channel::Quotes(s.clone())),
            )
            .collect()
    }
}

/// True when `fetched` holds every update from `seq + 1` to `base` without a hole.
fn joins(fetched: &[Encoded], seq: Seq, base: Seq) -> bool {
    let mut want = seq + 1;
    for e in fetched {
        if e.seq < want {
            continue;
        }
        if e.seq > want {
            return false;
        }
        if want == base {
            return true;
        }
        want += 1;
    }
    want > base
}
