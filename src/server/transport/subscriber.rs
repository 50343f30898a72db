//! What one client is sent, whatever the transport (`/ws` or `/sse`): its channels, where it
//! stands, and the messages that keep it exactly in step with the hub.
//!
//! A subscriber's position is a tick number, not a seq per channel: every channel it holds is
//! covered through tick `synced` (sent, or included in a snapshot or replay), except channels
//! opened since, which are covered through the tick their answer was taken at (`pending`).
//! A tick after all of that is sent whole from the subscriber's channel set, one frame built
//! once for every session with the same set (the fast path: no update is looked at here). A
//! tick the pending channels already cover is filtered update by update (the careful path),
//! which lasts only until the first tick after the answer.
//!
//! When the client reads too slowly, the broadcast ring overtakes it (`Lagged`). It then
//! catches up instead of queueing: quotes, candles and scores are conflated to their latest
//! state (a `lagged` snapshot, only for channels that moved since its position); trades are
//! replayed from the history, and only if the history no longer holds them does the client
//! get a `lagged` snapshot, which tells it that prints were lost. Memory per session is
//! therefore bounded by the socket buffers, whatever the client does.

use super::channel_sets::{ChannelSet, SubSet};
use super::feed_view::FeedView;
use crate::protocol::{Channel, Epoch, ErrorCode, ItemOut, SnapshotReason};
use crate::server::feed::catalog::{Catalog, ChannelId, Kind};
use crate::server::feed::hub::{Hub, Opened, ReasonKey, Start};
use crate::server::feed::tick::{batch_frame, Encoded, Tick, TickKind, TickNo};
use crate::server::metrics;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Bytes of channel states per snapshot message, roughly: a message is closed once it holds
/// this much (one channel may be larger on its own). Small messages keep the transports'
/// buffers small for idle connections (measured with massif in scenario (c) of `make bench`:
/// 2 KiB chunks saved ~3.5 KiB per idle connection), and the byte budget also bounds the
/// channel count per message.
pub(crate) const SNAPSHOT_BYTES: usize = 2 * 1024;

/// What a message is, for transports that label them (SSE event names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutKind {
    Snapshot,
    Batch,
}

/// One message for the client.
#[derive(Clone, Debug)]
pub(crate) struct Out {
    pub(crate) kind: OutKind,
    /// The message's JSON.
    pub(crate) json: Bytes,
    /// Set when, once this message is delivered, every channel of the client is covered
    /// through this tick: a position it can resume from (SSE event ids).
    pub(crate) through: Option<(Epoch, TickNo)>,
}

/// What to do with a tick.
pub(crate) enum Forward {
    Nothing,
    Send(Out),
    /// The hub's state was replaced: send fresh snapshots ([`Subscriber::reopen`]).
    Reopen(SnapshotReason),
    /// Ticks between the position and this one never reached the subscriber: what it missed,
    /// replayed from the history (this tick included).
    CatchUp(Vec<Out>),
}

pub(crate) struct Subscriber {
    feed: Arc<FeedView>,
    set: Arc<SubSet>,
    epoch: Epoch,
    synced: TickNo,
    pending: Vec<(ChannelId, TickNo)>,
    /// Channels the last answer conflated (for metrics).
    last_conflated: usize,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        count_kinds(&self.set.channels, -1);
    }
}

/// The metrics' slot of a kind of channel (`metrics::SUBSCRIPTIONS`).
fn kind_slot(kind: Kind) -> usize {
    match kind {
        Kind::Quotes => 0,
        Kind::Trades => 1,
        Kind::Candles(_) => 2,
        Kind::Scores(_) => 3,
        Kind::Breadth => 4,
    }
}

/// Adds (or takes away) a set's subscriptions to the metrics' count by kind.
fn count_kinds(set: &ChannelSet, sign: i64) {
    if set.is_empty() {
        return;
    }
    let mut by_kind = [0i64; metrics::KINDS.len()];
    for id in set.iter() {
        by_kind[kind_slot(Catalog::kind(id).0)] += 1;
    }
    for (slot, n) in by_kind.into_iter().enumerate() {
        if n != 0 {
            metrics::SUBSCRIPTIONS[slot].fetch_add(sign * n, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Counts how resumes (client positions) were answered: replayed, or a snapshot and why.
fn count_resumes(starts: &[(ChannelId, Start)], opened: &Opened) {
    let resumes = starts
        .iter()
        .filter(|(_, s)| {
            matches!(
                s,
                Start::After { .. } | Start::AfterTick { .. } | Start::LatestAfter { .. }
            )
        })
        .count();
    if resumes == 0 {
        return;
    }
    let mut snapshots = 0;
    for (reason, states) in &opened.snapshots {
        let reason = match reason.reason() {
            SnapshotReason::HistoryExhausted => "history_exhausted",
            SnapshotReason::EpochChanged => "epoch_changed",
            SnapshotReason::Lagged => "lagged",
            _ => continue,
        };
        snapshots += states.len();
        metrics::resumed("snapshot", reason, states.len());
    }
    metrics::resumed("replayed", "", resumes.saturating_sub(snapshots));
}

impl Subscriber {
    /// A subscriber with no channels, positioned at the hub's current tick. Take the hub's
    /// receiver before creating it.
    pub(crate) fn new(feed: Arc<FeedView>) -> Self {
        let set = feed.sets.intern(ChannelSet::default());
        Subscriber {
            epoch: feed.hub.epoch(),
            synced: feed.hub.n(),
            feed,
            set,
            pending: Vec::new(),
            last_conflated: 0,
        }
    }

    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.feed.hub
    }

    pub(crate) fn feed(&self) -> &FeedView {
        &self.feed
    }

    /// The feed, to hold across a call that also borrows the subscriber.
    pub(crate) fn feed_arc(&self) -> std::sync::Arc<FeedView> {
        self.feed.clone()
    }

    pub(crate) fn channels(&self) -> &ChannelSet {
        &self.set.channels
    }

    pub(crate) fn len(&self) -> usize {
        self.set.channels.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.set.channels.is_empty()
    }

    /// The interned channel set (shared with every session holding the same channels).
    pub(crate) fn set(&self) -> &Arc<SubSet> {
        &self.set
    }

    /// The last tick fully sent.
    pub(crate) fn synced(&self) -> TickNo {
        self.synced
    }

    /// Sets the position after ticks were sent elsewhere (by the fan-out, see `outlet`).
    pub(crate) fn set_synced(&mut self, n: TickNo) {
        self.synced = n;
        self.pending.retain(|(_, k)| *k > n);
    }

    /// In sync: every channel is covered through the same tick, so the next tick is sent
    /// whole from the channel set (and the fan-out can send it).
    pub(crate) fn in_sync(&self) -> bool {
        self.pending.is_empty()
    }

    /// The ids of channel names, or the first one's error.
    pub(crate) fn resolve(
        &self,
        channels: &[Channel],
    ) -> Result<Vec<ChannelId>, (ErrorCode, String)> {
        let catalog = self.feed.hub.catalog();
        channels.iter().map(|c| catalog.id(c)).collect()
    }

    /// How far channel `id` is covered.
    fn covered(&self, id: ChannelId) -> TickNo {
        self.pending
            .iter()
            .filter(|(c, _)| *c == id)
            .map(|(_, n)| *n)
            .fold(self.synced, TickNo::max)
    }

    /// This client's part of a tick.
    pub(crate) fn forward(&mut self, tick: &Tick) -> Forward {
        if let TickKind::Reset(reason) = tick.kind {
            return Forward::Reopen(reason);
        }
        if tick.n <= self.synced {
            return Forward::Nothing;
        }
        if tick.n > self.synced + 1 {
            // A receiver taken while the fan-out was writing to this session starts after the
            // tick the fan-out then skipped for it (seen as gaps on a loaded machine when a
            // subscribe detached a session): replay from the position instead of jumping.
            return Forward::CatchUp(self.catch_up(true));
        }
        let frame = if self.pending.iter().all(|(_, n)| *n < tick.n) {
            // In sync: the set's shared frame.
            self.pending.clear();
            self.set.frame(tick)
        } else {
            // Some channels are already covered through this tick (just subscribed: their
            // snapshot was taken at or after it). The set's updates are found as for the
            // shared frame, by lookup, not by a scan of the whole tick.
            let wanted: Vec<&[u8]> = self
                .set
                .channels
                .updates_in(tick)
                .into_iter()
                .map(|i| &tick.updates[i])
                .filter(|u| {
                    !self
                        .pending
                        .iter()
                        .any(|(c, n)| *c == u.channel && *n >= tick.n)
                })
                .map(|u| &u.json[..])
                .collect();
            self.pending.retain(|(_, n)| *n > tick.n);
            (!wanted.is_empty()).then(|| batch_frame(tick.n, tick.ts, wanted.into_iter()))
        };
        self.synced = tick.n;
        match frame {
            Some(json) => Forward::Send(Out {
                kind: OutKind::Batch,
                json,
                through: Some((self.epoch, tick.n)),
            }),
            None => Forward::Nothing,
        }
    }

    /// [`Subscriber::open`] with older updates fetched from elsewhere (see `Hub::open_with`).
    pub(crate) fn open_with(
        &mut self,
        starts: &[(ChannelId, Start)],
        older: &BTreeMap<ChannelId, Vec<Encoded>>,
    ) -> Vec<Out> {
        let opened = self.feed.hub.open_with(starts, older);
        count_resumes(starts, &opened);
        let mut channels = self.set.channels.clone();
        for (id, _) in starts {
            channels.insert(*id);
            self.pending.retain(|(c, _)| c != id);
        }
        self.set_channels(channels);
        if opened.epoch != self.epoch {
            // The hub moved to a new epoch and the reset tick that says so is still ahead in
            // the ring. These channels are answered in the new epoch: skip their updates of
            // the old one until that tick, which answers every channel again.
            for (id, _) in starts {
                self.pending.push((*id, TickNo::MAX));
            }
        } else if opened.n > self.synced {
            for (id, _) in starts {
                self.pending.push((*id, opened.n));
            }
        }
        messages(opened)
    }

    /// Removes channels.
    pub(crate) fn close(&mut self, ids: &[ChannelId]) {
        let mut channels = self.set.channels.clone();
        for id in ids {
            channels.remove(*id);
        }
        self.pending.retain(|(c, _)| !ids.contains(c));
        self.set_channels(channels);
    }

    fn set_channels(&mut self, channels: ChannelSet) {
        if channels != self.set.channels {
            count_kinds(&self.set.channels, -1);
            count_kinds(&channels, 1);
            self.set = self.feed.sets.intern(channels);
        }
    }

    /// After falling behind: every channel moved on from where it stood. `exact` replays
    /// every update missed (from the history; a `lagged` snapshot where it no longer holds
    /// them), for a client a few ticks behind. Otherwise state channels are conflated to their
    /// latest value and trades replayed, for a client far behind (the broadcast ring's `Lagged`).
    pub(crate) fn catch_up(&mut self, exact: bool) -> Vec<Out> {
        let starts: Vec<(ChannelId, Start)> = self
            .set
            .channels
            .iter()
            .map(|id| {
                let n = self.covered(id);
                let start = match Catalog::kind(id).0 {
                    _ if exact => Start::AfterTick {
                        epoch: self.epoch,
                        n,
                        or_else: SnapshotReason::Lagged,
                    },
                    Kind::Trades => Start::AfterTick {
                        epoch: self.epoch,
                        n,
                        or_else: SnapshotReason::Lagged,
                    },
                    Kind::Quotes | Kind::Candles(_) | Kind::Scores(_) | Kind::Breadth => {
                        Start::LatestSince {
                            epoch: self.epoch,
                            n,
                            reason: SnapshotReason::Lagged,
                        }
                    }
                };
                (id, start)
            })
            .collect();
        let answer = self.answer_all(&starts);
        metrics::lagged(self.last_conflated);
        answer
    }

    /// After a reset tick: a snapshot of every channel for `reason`.
    pub(crate) fn reopen(&mut self, reason: SnapshotReason) -> Vec<Out> {
        let starts: Vec<(ChannelId, Start)> = self
            .set
            .channels
            .iter()
            .map(|id| (id, Start::Snapshot(reason)))
            .collect();
        self.answer_all(&starts)
    }

    /// Answers every channel at once: afterwards all are covered through the answer's tick.
    fn answer_all(&mut self, starts: &[(ChannelId, Start)]) -> Vec<Out> {
        let opened = self.feed.hub.open(starts);
        self.last_conflated = opened
            .snapshots
            .get(&ReasonKey::of(SnapshotReason::Lagged))
            .map_or(0, Vec::len);
        // Within an epoch the hub's tick only grows; in a new one it starts anew.
        self.epoch = opened.epoch;
        self.synced = opened.n;
        self.pending.clear();
        messages(opened)
    }
}

/// The messages of an answer: snapshots (about `SNAPSHOT_BYTES` each, grouped by reason),
/// then the replay as one batch per tick with that tick's time. Only the last message carries
/// the position the whole answer reaches.
fn messages(opened: Opened) -> Vec<Out> {
    let mut out = Vec::new();
    for (reason, states) in &opened.snapshots {
        let head = |buf: &mut Vec<u8>| {
            buf.extend_from_slice(br#"{"type":"snapshot","epoch":"#);
            buf.extend_from_slice(opened.epoch.to_string().as_bytes());
            buf.extend_from_slice(br#","ts":"#);
            buf.extend_from_slice(opened.ts.timestamp_micros().to_string().as_bytes());
            buf.extend_from_slice(br#","reason":"#);
            buf.extend_from_slice(
                serde_json::to_string(&reason.reason())
                    .expect("reasons serialise")
                    .as_bytes(),
            );
            buf.extend_from_slice(br#","channels":["#);
        };
        let mut buf = Vec::with_capacity(SNAPSHOT_BYTES + 512);
        let mut items = 0;
        for state in states {
            let item = ItemOut {
                channel: &state.channel,
                seq: state.seq,
                data: &state.data,
                ctx: Some(opened.ts),
            };
            if items > 0 && buf.len() >= SNAPSHOT_BYTES {
                buf.extend_from_slice(b"]}");
                out.push(snapshot_out(std::mem::take(&mut buf)));
                items = 0;
            }
            if items == 0 {
                head(&mut buf);
            } else {
                buf.push(b',');
            }
            serde_json::to_writer(&mut buf, &item).expect("items always serialise");
            items += 1;
        }
        if items > 0 {
            buf.extend_from_slice(b"]}");
            out.push(snapshot_out(buf));
        }
    }
    let mut i = 0;
    while i < opened.replay.len() {
        let n = opened.replay[i].n;
        let end = i + opened.replay[i..].iter().take_while(|e| e.n == n).count();
        let tick = &opened.replay[i..end];
        out.push(Out {
            kind: OutKind::Batch,
            json: batch_frame(n, tick[0].ts, tick.iter().map(|e| &e.json[..])),
            through: None,
        });
        i = end;
    }
    if let Some(last) = out.last_mut() {
        last.through = Some((opened.epoch, opened.n));
    }
    out
}

fn snapshot_out(json: Vec<u8>) -> Out {
    Out {
        kind: OutKind::Snapshot,
        json: Bytes::from(json),
        through: None,
    }
}
