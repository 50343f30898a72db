//! The fan-out hub: one producer publishes ticks, any number of client sessions receive them.
//!
//! The hub owns the live state of every channel (for snapshots), each channel's sequence
//! number and a bounded history of its recent updates (for resume), and a
//! `tokio::sync::broadcast` ring of [`Tick`]s. Each update is serialised exactly once, when it
//! is published; the encoded bytes are shared by the tick, the history and every client frame
//! that carries them (`Utf8Bytes` clones are reference counts). A session builds its frame by
//! concatenating the pre-encoded updates of the channels it subscribes to, never by encoding.
//!
//! Invariants:
//! - every channel's updates are numbered `1, 2, 3, …` in publish order, within one epoch;
//! - a [`Hub::open`] answer (snapshot or replay, and the seqs it leaves the session at) is
//!   taken under the same lock that [`Hub::publish`] holds while it numbers and sends a tick,
//!   so any update after it is in a tick sent after it: a session that skips tick updates at or
//!   below its per-channel seq sees every update exactly once;
//! - the ring has a fixed capacity, so a slow session pins bounded memory; one that falls
//!   further behind gets `Lagged` and is caught up from the history or a snapshot
//!   (see `session.rs`); nobody else waits for it.

use super::candles::Series;
use super::catalog::{Catalog, ChannelId, Kind};
use crate::protocol::{
    Channel, ChannelState, Data, Epoch, Event, Game, Interval, Quote, Seq, Snapshot,
    SnapshotReason, Trade, Update,
};
use axum::extract::ws::Utf8Bytes;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::sync::broadcast;

/// Trades kept per symbol for a `trades:` snapshot.
pub const TRADE_TAPE: usize = 50;
/// Candles kept per symbol and interval for a `candles:` snapshot.
pub const CANDLE_HISTORY: usize = 300;
/// Sparkline samples kept per symbol (one every `SPARK_STEP`): the grid's last minute.
pub const SPARK_POINTS: usize = 30;
pub const SPARK_STEP: chrono::Duration = chrono::Duration::seconds(2);

/// One encoded [`Update`] of one channel.
#[derive(Clone, Debug)]
pub struct Encoded {
    pub channel: ChannelId,
    pub seq: Seq,
    /// The update as JSON, ready to be placed in a batch's `updates` array.
    pub json: Utf8Bytes,
}

/// Everything published in one tick.
#[derive(Debug)]
pub struct Tick {
    pub ts: DateTime<Utc>,
    pub updates: Vec<Encoded>,
    /// The batch frame with every update, built once by the first session that wants all of
    /// them (a session subscribed to everything sends it as is).
    full: OnceLock<Utf8Bytes>,
}

impl Tick {
    /// The whole tick as one batch frame.
    pub fn full_frame(&self) -> Utf8Bytes {
        self.full
            .get_or_init(|| batch_frame(self.ts, self.updates.iter().map(|u| u.json.as_str())))
            .clone()
    }
}

/// A `batch` message from pre-encoded updates, by concatenation.
pub fn batch_frame<'a>(ts: DateTime<Utc>, updates: impl Iterator<Item = &'a str>) -> Utf8Bytes {
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"type":"batch","ts":"#);
    out.push_str(&ts.timestamp_micros().to_string());
    out.push_str(r#","updates":["#);
    for (i, u) in updates.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(u);
    }
    out.push_str("]}");
    Utf8Bytes::from(out)
}

/// One channel's position and recent past.
#[derive(Default)]
struct ChannelLog {
    seq: Seq,
    history: VecDeque<Encoded>,
}

/// The live state behind the lock.
struct Live {
    quotes: Vec<Quote>,
    tapes: Vec<VecDeque<Trade>>,
    candles: Vec<[Series; 2]>,
    games: Vec<Game>,
    logs: Vec<ChannelLog>,
    ts: DateTime<Utc>,
    /// Per symbol, the last price sampled every `SPARK_STEP`, for the page's sparklines.
    sparks: Vec<VecDeque<f64>>,
    next_spark: DateTime<Utc>,
}

/// What a session asks for one channel.
#[derive(Clone, Copy, Debug)]
pub enum Start {
    /// A snapshot, for this reason.
    Snapshot(SnapshotReason),
    /// Every update after `seq`, replayed from the history; a snapshot for `or_else` when the
    /// history no longer holds them all.
    After { seq: Seq, or_else: SnapshotReason },
    /// Conflation: nothing if the channel is still at `seq`, else its latest state for
    /// `reason` (the updates in between are superseded by it).
    Latest { seq: Seq, reason: SnapshotReason },
}

/// The hub's answer to [`Hub::open`]: what to send, and where each channel then stands.
#[derive(Debug, Default)]
pub struct Opened {
    /// Snapshots to send, grouped by reason.
    pub snapshots: BTreeMap<ReasonKey, Vec<ChannelState>>,
    /// Updates to replay, in channel order then seq order.
    pub replay: Vec<Encoded>,
    /// The seq each requested channel stands at once the above is sent.
    pub positions: Vec<(ChannelId, Seq)>,
}

/// Orders snapshot reasons so that [`Opened::snapshots`] is deterministic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReasonKey(u8);

impl ReasonKey {
    pub fn of(reason: SnapshotReason) -> Self {
        ReasonKey(match reason {
            SnapshotReason::Subscribed => 0,
            SnapshotReason::HistoryExhausted => 1,
            SnapshotReason::EpochChanged => 2,
            SnapshotReason::Lagged => 3,
            SnapshotReason::Page => 4,
        })
    }

    pub fn reason(self) -> SnapshotReason {
        match self.0 {
            0 => SnapshotReason::Subscribed,
            1 => SnapshotReason::HistoryExhausted,
            2 => SnapshotReason::EpochChanged,
            3 => SnapshotReason::Lagged,
            _ => SnapshotReason::Page,
        }
    }
}

/// Shared by the feed task (publisher), the sessions and the page renderer.
pub struct Hub {
    epoch: Epoch,
    catalog: Arc<Catalog>,
    history_depth: usize,
    live: Mutex<Live>,
    tx: broadcast::Sender<Arc<Tick>>,
}

impl Hub {
    /// A hub starting from the simulator's initial state. `lag_capacity` is how many ticks a
    /// session may fall behind before it is caught up from history or snapshots;
    /// `history_depth` how many updates per channel are kept for resume.
    pub fn new(
        epoch: Epoch,
        ts: DateTime<Utc>,
        quotes: Vec<Quote>,
        games: Vec<Game>,
        lag_capacity: usize,
        history_depth: usize,
    ) -> Self {
        let catalog = Arc::new(Catalog::new(
            quotes.iter().map(|q| q.symbol.clone()).collect(),
        ));
        let (tx, _) = broadcast::channel(lag_capacity.max(1));
        let n = quotes.len();
        let sparks = quotes.iter().map(|q| VecDeque::from([q.last])).collect();
        Hub {
            epoch,
            history_depth: history_depth.max(1),
            live: Mutex::new(Live {
                quotes,
                tapes: (0..n).map(|_| VecDeque::new()).collect(),
                candles: (0..n)
                    .map(|_| {
                        [
                            Series::new(Interval::OneSecond, CANDLE_HISTORY),
                            Series::new(Interval::OneMinute, CANDLE_HISTORY),
                        ]
                    })
                    .collect(),
                sparks,
                next_spark: ts + SPARK_STEP,
                games,
                logs: (0..catalog.len()).map(|_| ChannelLog::default()).collect(),
                ts,
            }),
            catalog,
            tx,
        }
    }

    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    fn lock(&self) -> MutexGuard<'_, Live> {
        // Every write under this lock replaces whole values, so state behind a lock poisoned by
        // a panic elsewhere is still consistent enough to serve.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies one tick's events, routes them to their channels, numbers and encodes each
    /// channel's update once, records it in the channel's history and sends the tick to every
    /// session. Returns the number of channel updates.
    pub fn publish(&self, ts: DateTime<Utc>, events: Vec<Event>) -> usize {
        let mut live = self.lock();
        let live = &mut *live;
        live.ts = ts;
        if ts >= live.next_spark {
            live.next_spark = ts + SPARK_STEP;
            for (spark, q) in live.sparks.iter_mut().zip(&live.quotes) {
                if spark.len() == SPARK_POINTS {
                    spark.pop_front();
                }
                spark.push_back(q.last);
            }
        }
        // Per channel, what changed this tick; a BTreeMap keeps channel order stable.
        let mut changed: BTreeMap<ChannelId, Data> = BTreeMap::new();
        let mut candles_touched: BTreeMap<ChannelId, usize> = BTreeMap::new();
        for event in events {
            match event {
                Event::Quote(q) => {
                    let Some(i) = self.catalog.symbol_index(&q.symbol) else {
                        continue;
                    };
                    live.quotes[i as usize] = q.clone();
                    changed.insert(Catalog::quotes(i), Data::Quote(q));
                }
                Event::Trade(t) => {
                    let Some(i) = self.catalog.symbol_index(&t.symbol) else {
                        continue;
                    };
                    for series in &mut live.candles[i as usize] {
                        let n = series.add(&t);
                        let id = Catalog::candles(i, series.interval());
                        let entry = candles_touched.entry(id).or_default();
                        *entry = (*entry).max(n);
                    }
                    let tape = &mut live.tapes[i as usize];
                    if tape.len() == TRADE_TAPE {
                        tape.pop_front();
                    }
                    tape.push_back(t.clone());
                    match changed
                        .entry(Catalog::trades(i))
                        .or_insert_with(|| Data::Trades(Vec::new()))
                    {
                        Data::Trades(v) => v.push(t),
                        _ => unreachable!("a trades channel holds trades"),
                    }
                }
                Event::Game(g) => {
                    let id = self.catalog.scores(g.league);
                    match live.games.get_mut(usize::from(g.slot)) {
                        Some(slot) => *slot = g.clone(),
                        None => live.games.push(g.clone()),
                    }
                    match changed.entry(id).or_insert_with(|| Data::Games(Vec::new())) {
                        Data::Games(v) => {
                            v.retain(|old| old.slot != g.slot);
                            v.push(g);
                        }
                        _ => unreachable!("a scores channel holds games"),
                    }
                }
            }
        }
        for (id, n) in candles_touched {
            let (Kind::Candles(interval), symbol) = self.catalog.kind(id) else {
                unreachable!("candle ids map to candle channels")
            };
            let series = &live.candles[symbol as usize][interval_slot(interval)];
            changed.insert(id, Data::Candles(series.tail(n)));
        }

        let mut updates = Vec::with_capacity(changed.len());
        for (id, data) in changed {
            let log = &mut live.logs[id as usize];
            log.seq += 1;
            let update = Update {
                channel: self.catalog.channel(id),
                seq: log.seq,
                data,
            };
            let json = serde_json::to_string(&update).expect("updates always serialise");
            let encoded = Encoded {
                channel: id,
                seq: log.seq,
                json: Utf8Bytes::from(json),
            };
            if log.history.len() == self.history_depth {
                log.history.pop_front();
            }
            log.history.push_back(encoded.clone());
            updates.push(encoded);
        }
        let count = updates.len();
        if count > 0 {
            // No sessions is not an error: the updates are in the state and the history.
            let _ = self.tx.send(Arc::new(Tick {
                ts,
                updates,
                full: OnceLock::new(),
            }));
        }
        count
    }

    /// A receiver of every tick from now on. Sessions take one when they connect, before any
    /// [`Hub::open`], so nothing published after an `open` can be missed.
    pub fn receiver(&self) -> broadcast::Receiver<Arc<Tick>> {
        self.tx.subscribe()
    }

    /// For each requested channel, a snapshot or the replay of what the session missed, and
    /// the seq the channel then stands at; all taken at one instant (see the invariants).
    pub fn open(&self, requests: &[(ChannelId, Start)]) -> Opened {
        let live = self.lock();
        let mut opened = Opened::default();
        for &(id, start) in requests {
            let log = &live.logs[id as usize];
            let snapshot_reason = match start {
                Start::Snapshot(reason) => Some(reason),
                Start::Latest { seq, reason } => (seq != log.seq).then_some(reason),
                Start::After { seq, .. } if seq == log.seq => None,
                // A seq from the future (another run, a confused client) cannot be resumed.
                Start::After { seq, or_else } if seq > log.seq => Some(or_else),
                Start::After { seq, or_else } => {
                    // The history holds seqs first..=log.seq; the session needs seq+1.. .
                    let first = log.history.front().map_or(log.seq + 1, |e| e.seq);
                    if seq + 1 >= first {
                        opened
                            .replay
                            .extend(log.history.iter().filter(|e| e.seq > seq).cloned());
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
                        channel: self.catalog.channel(id),
                        seq: log.seq,
                        data: self.state_of(&live, id),
                    });
            }
            opened.positions.push((id, log.seq));
        }
        opened
    }

    fn state_of(&self, live: &Live, id: ChannelId) -> Data {
        let (kind, symbol) = self.catalog.kind(id);
        let symbol = symbol as usize;
        match kind {
            Kind::Quotes => Data::Quote(live.quotes[symbol].clone()),
            Kind::Trades => Data::Trades(live.tapes[symbol].iter().cloned().collect()),
            Kind::Candles(i) => Data::Candles(live.candles[symbol][interval_slot(i)].history()),
            Kind::Scores(league) => Data::Games(
                live.games
                    .iter()
                    .filter(|g| g.league == league)
                    .cloned()
                    .collect(),
            ),
        }
    }

    /// The state of the given channels, for a page render; candle histories are cut to their
    /// last `candle_limit` candles to keep the page small.
    pub fn snapshot(
        &self,
        channels: &[Channel],
        reason: SnapshotReason,
        candle_limit: usize,
    ) -> Snapshot {
        let live = self.lock();
        Snapshot {
            epoch: self.epoch,
            ts: live.ts,
            reason: Some(reason),
            channels: channels
                .iter()
                .filter_map(|c| self.catalog.id(c).ok())
                .map(|id| ChannelState {
                    channel: self.catalog.channel(id),
                    seq: live.logs[id as usize].seq,
                    data: match self.state_of(&live, id) {
                        Data::Candles(mut v) => {
                            v.drain(..v.len().saturating_sub(candle_limit));
                            Data::Candles(v)
                        }
                        other => other,
                    },
                })
                .collect(),
        }
    }

    /// Each symbol's sparkline samples, oldest first, in symbol order.
    pub fn sparks(&self) -> Vec<Vec<f64>> {
        self.lock()
            .sparks
            .iter()
            .map(|s| s.iter().copied().collect())
            .collect()
    }

    /// The channels a dashboard shows: every symbol's quotes and every league's scores.
    pub fn dashboard_channels(&self) -> Vec<Channel> {
        self.catalog
            .symbols()
            .iter()
            .map(|s| Channel::Quotes(s.clone()))
            .chain(
                crate::protocol::League::ALL
                    .into_iter()
                    .map(Channel::Scores),
            )
            .collect()
    }

    /// Sessions currently holding a receiver.
    pub fn receivers(&self) -> usize {
        self.tx.receiver_count()
    }
}

fn interval_slot(interval: Interval) -> usize {
    match interval {
        Interval::OneSecond => 0,
        Interval::OneMinute => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ServerMsg, Side};

    fn quote(symbol: &str, last: f64) -> Quote {
        Quote {
            symbol: symbol.into(),
            bid: last - 0.01,
            ask: last + 0.01,
            last,
            open: 10.0,
            volume: 1,
            ts: Utc::now(),
        }
    }

    fn trade(symbol: &str, price: f64) -> Trade {
        Trade {
            symbol: symbol.into(),
            price,
            size: 100,
            side: Side::Buy,
            ts: Utc::now(),
        }
    }

    fn hub(depth: usize) -> Hub {
        Hub::new(
            1,
            Utc::now(),
            vec![quote("A", 10.0), quote("B", 20.0)],
            vec![],
            64,
            depth,
        )
    }

    fn decode(json: &str) -> Update {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn events_are_routed_to_channels_with_their_own_gap_free_seqs() {
        let hub = hub(16);
        let mut rx = hub.receiver();
        hub.publish(Utc::now(), vec![Event::Quote(quote("A", 11.0))]);
        hub.publish(
            Utc::now(),
            vec![
                Event::Quote(quote("A", 12.0)),
                Event::Trade(trade("B", 20.5)),
                Event::Trade(trade("B", 20.6)),
            ],
        );
        let first = rx.try_recv().unwrap();
        assert_eq!(first.updates.len(), 1);
        assert_eq!(
            (first.updates[0].channel, first.updates[0].seq),
            (Catalog::quotes(0), 1)
        );
        let second = rx.try_recv().unwrap();
        let names: Vec<(String, Seq)> = second
            .updates
            .iter()
            .map(|e| {
                let u = decode(&e.json);
                (u.channel.to_string(), u.seq)
            })
            .collect();
        assert_eq!(
            names,
            vec![
                ("quotes:A".to_string(), 2),
                ("trades:B".to_string(), 1),
                ("candles:B:1s".to_string(), 1),
                ("candles:B:1m".to_string(), 1),
            ]
        );
        let Data::Trades(prints) = decode(&second.updates[1].json).data else {
            panic!()
        };
        assert_eq!(prints.len(), 2, "both prints of the tick in one update");
        // The full frame is a valid batch holding every update.
        let ServerMsg::Batch(b) = serde_json::from_str(second.full_frame().as_str()).unwrap()
        else {
            panic!()
        };
        assert_eq!(b.updates.len(), 4);
    }

    #[test]
    fn open_replays_from_history_or_says_why_it_cannot() {
        let hub = hub(3);
        for i in 0..5 {
            hub.publish(Utc::now(), vec![Event::Quote(quote("A", 11.0 + i as f64))]);
        }
        let a = Catalog::quotes(0);
        // History holds seqs 3, 4, 5.
        let o = hub.open(&[(
            a,
            Start::After {
                seq: 2,
                or_else: SnapshotReason::HistoryExhausted,
            },
        )]);
        assert_eq!(
            o.replay.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert!(o.snapshots.is_empty());
        assert_eq!(o.positions, vec![(a, 5)]);

        let o = hub.open(&[(
            a,
            Start::After {
                seq: 5,
                or_else: SnapshotReason::HistoryExhausted,
            },
        )]);
        assert!(
            o.replay.is_empty() && o.snapshots.is_empty(),
            "already up to date"
        );

        let o = hub.open(&[(
            a,
            Start::After {
                seq: 1,
                or_else: SnapshotReason::HistoryExhausted,
            },
        )]);
        assert!(o.replay.is_empty());
        let states = &o.snapshots[&ReasonKey::of(SnapshotReason::HistoryExhausted)];
        assert_eq!(states[0].seq, 5);
        assert_eq!(
            states[0].data.clone().into_quote().last,
            15.0,
            "the latest value"
        );

        let o = hub.open(&[(
            a,
            Start::After {
                seq: 99,
                or_else: SnapshotReason::HistoryExhausted,
            },
        )]);
        assert!(
            o.snapshots
                .contains_key(&ReasonKey::of(SnapshotReason::HistoryExhausted)),
            "a seq from the future cannot be resumed"
        );

        let o = hub.open(&[(
            a,
            Start::Latest {
                seq: 5,
                reason: SnapshotReason::Lagged,
            },
        )]);
        assert!(o.snapshots.is_empty(), "nothing to conflate");
        let o = hub.open(&[(
            a,
            Start::Latest {
                seq: 2,
                reason: SnapshotReason::Lagged,
            },
        )]);
        assert!(
            o.replay.is_empty(),
            "conflation sends the latest state, not the updates"
        );
        assert_eq!(
            o.snapshots[&ReasonKey::of(SnapshotReason::Lagged)][0].seq,
            5
        );

        let o = hub.open(&[(
            Catalog::trades(1),
            Start::Snapshot(SnapshotReason::Subscribed),
        )]);
        assert_eq!(o.positions, vec![(Catalog::trades(1), 0)]);
    }

    #[test]
    fn a_lagging_receiver_is_told_not_blocked() {
        let hub = Hub::new(1, Utc::now(), vec![quote("A", 1.0)], vec![], 4, 8);
        let mut rx = hub.receiver();
        for i in 0..10 {
            hub.publish(Utc::now(), vec![Event::Quote(quote("A", 2.0 + i as f64))]);
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(6))
        ));
    }

    impl Data {
        fn into_quote(self) -> Quote {
            match self {
                Data::Quote(q) => q,
                other => panic!("{other:?}"),
            }
        }
    }
}
