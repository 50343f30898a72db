//! Numbering a tick: its events become numbered, encoded channel updates, ready to commit.
//!
//! Events (a quote, a trade, a game) come from the sources (the simulator by default). For each
//! tick they are routed to their channels (a trade also changes its symbol's candles; once a
//! second the market's breadth is recomputed from the quotes the tick leaves), each changed
//! channel gets its next seq and the tick the next tick number, and every update is encoded
//! once. The result ([`Commit`]) is applied to the local hub, and in a cluster first
//! made durable and numbered in Redis (see `cluster`), so that every node applies the same
//! thing.

use super::breadth;
use super::candles::Series;
use super::catalog::{Catalog, ChannelId, Kind, BREADTH};
use super::hub::{Commit, Hub, Numbered};
use super::state::LiveState;
use crate::protocol::{Candle, Data, Event, Interval, Quote, Trade, Update};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Numbers and encodes one tick of events on top of the hub's current state. Events for
/// symbols the catalog does not list are dropped (sources only send listed symbols, or list
/// them first through `new_symbols`, which are numbered after the catalog's).
pub(crate) fn prepare(
    hub: &Hub,
    ts: DateTime<Utc>,
    events: Vec<Event>,
    new_symbols: Vec<Quote>,
) -> Commit {
    let mut catalog = (*hub.catalog()).clone();
    for q in &new_symbols {
        catalog = catalog.with_symbol(q.symbol.clone());
    }
    let listed = hub.catalog().symbols().len();
    let (epoch, n, changed) = hub.read(|state, epoch, n, seq| {
        let mut changed = route(&catalog, events, |i, interval, prints| {
            // A symbol listed in this tick has no candles yet.
            if (i as usize) < listed {
                state.candle_changes(i, interval, prints)
            } else {
                Series::new(interval, 1).changes(prints)
            }
        });
        if state.breadth_due(ts) {
            let breadth = breadth_after(state, &new_symbols, &changed);
            if breadth != *state.breadth() {
                changed.insert(BREADTH, Data::Breadth(breadth));
            }
        }
        let numbered: Vec<(ChannelId, u64, Data)> = changed
            .into_iter()
            .map(|(id, data)| (id, seq(id) + 1, data))
            .collect();
        (epoch, n, numbered)
    });
    let updates = changed
        .into_iter()
        .map(|(channel, seq, data)| {
            let json = Update::encode_parts(&catalog.channel(channel), seq, &data, Some(ts));
            Numbered {
                channel,
                seq,
                data,
                json: Bytes::from(json),
            }
        })
        .collect();
    Commit {
        epoch,
        n: n + 1,
        ts,
        new_symbols,
        updates,
        inbox: None,
    }
}

/// Routes a tick's events to their channels: a quote to its symbol's quotes, a symbol's trades
/// (all of the tick's in one update) to its trades and, through `candles`, to its candles,
/// games to their league's scores. Events for symbols `catalog` does not list are dropped.
fn route(
    catalog: &Catalog,
    events: Vec<Event>,
    candles: impl Fn(u32, Interval, &[Trade]) -> Vec<Candle>,
) -> BTreeMap<ChannelId, Data> {
    let mut changed: BTreeMap<ChannelId, Data> = BTreeMap::new();
    let mut trades: BTreeMap<u32, Vec<Trade>> = BTreeMap::new();
    for event in events {
        match event {
            Event::Quote(q) => {
                if let Some(i) = catalog.symbol_index(&q.symbol) {
                    changed.insert(Catalog::quotes(i), Data::Quote(q));
                }
            }
            Event::Trade(t) => {
                if let Some(i) = catalog.symbol_index(&t.symbol) {
                    trades.entry(i).or_default().push(t);
                }
            }
            Event::Game(g) => {
                if let Data::Games(v) = changed
                    .entry(Catalog::scores(g.league))
                    .or_insert_with(|| Data::Games(Vec::new()))
                {
                    v.retain(|old| old.slot != g.slot);
                    v.push(g);
                }
            }
        }
    }
    for (i, prints) in trades {
        for interval in Interval::ALL {
            let changes = candles(i, interval, &prints);
            if !changes.is_empty() {
                changed.insert(Catalog::candles(i, interval), Data::Candles(changes));
            }
        }
        changed.insert(Catalog::trades(i), Data::Trades(prints));
    }
    changed
}

/// The breadth of the market as this tick leaves it: the state's quotes, with this tick's new
/// ones in their place and the symbols it lists after them.
fn breadth_after(
    state: &LiveState,
    new_symbols: &[Quote],
    changed: &BTreeMap<ChannelId, Data>,
) -> crate::protocol::Breadth {
    let mut quotes: Vec<&Quote> = state.quotes().iter().chain(new_symbols).collect();
    for (id, data) in changed {
        if let (Kind::Quotes, Data::Quote(q)) = (Catalog::kind(*id).0, data) {
            if let Some(slot) = quotes.get_mut(Catalog::kind(*id).1 as usize) {
                *slot = q;
            }
        }
    }
    breadth::of(&quotes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServerMsg;
    use crate::server::feed::fixtures::{self, publish, publish_at, quote, trade};
    use crate::server::feed::history::Windows;
    use crate::server::feed::hub::{ReasonKey, Start};
    use crate::server::feed::state::LiveState;
    use crate::server::feed::tick::TickKind;

    fn hub(depth: usize) -> Hub {
        fixtures::hub(&[("A", 10.0), ("B", 20.0)], depth)
    }

    #[test]
    fn events_are_routed_to_channels_with_their_own_gap_free_seqs() {
        let hub = hub(16);
        let mut rx = hub.receiver();
        publish(&hub, vec![Event::Quote(quote("A", 11.0))]);
        publish(
            &hub,
            vec![
                Event::Quote(quote("A", 12.0)),
                Event::Trade(trade("B", 20.5)),
                Event::Trade(trade("B", 20.6)),
            ],
        );
        let first = rx.try_recv().unwrap();
        assert_eq!((first.n, first.kind), (1, TickKind::Data));
        assert_eq!(first.updates.len(), 1);
        assert_eq!(
            (first.updates[0].channel, first.updates[0].seq),
            (Catalog::quotes(0), 1)
        );
        let second = rx.try_recv().unwrap();
        assert_eq!(second.n, 2);
        let ServerMsg::Batch(b) = serde_json::from_slice(&second.full_frame()).unwrap() else {
            panic!()
        };
        let names: Vec<(String, u64)> = b
            .updates
            .iter()
            .map(|u| (u.channel.to_string(), u.seq))
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
        let Data::Trades(prints) = &b.updates[1].data else {
            panic!()
        };
        assert_eq!(prints.len(), 2, "both prints of the tick in one update");
    }

    #[test]
    fn a_commit_that_does_not_continue_the_stream_is_refused() {
        let hub = hub(16);
        let c = prepare(
            &hub,
            Utc::now(),
            vec![Event::Quote(quote("A", 11.0))],
            vec![],
        );
        hub.commit(c.clone()).unwrap();
        assert!(hub.commit(c.clone()).is_err(), "the same tick twice");
        let mut other_epoch = prepare(
            &hub,
            Utc::now(),
            vec![Event::Quote(quote("A", 1.0))],
            vec![],
        );
        other_epoch.epoch = 2;
        assert!(hub.commit(other_epoch).is_err());
        let mut skipped = prepare(
            &hub,
            Utc::now(),
            vec![Event::Quote(quote("A", 1.0))],
            vec![],
        );
        skipped.updates[0].seq += 1;
        assert!(hub.commit(skipped).is_err(), "a seq gap");
        assert_eq!(hub.n(), 1, "nothing applied from a refused commit");
    }

    #[test]
    fn the_history_keeps_its_window_and_a_resume_from_before_it_gets_a_snapshot() {
        use crate::protocol::SnapshotReason::HistoryExhausted;
        // Quotes (states) keep 5 s; trades (events) their depth.
        let windowed = hub(1024).with_history_windows(Windows {
            states: Some(chrono::Duration::seconds(5)),
            events: None,
        });
        let a = Catalog::quotes(0);
        let b = Catalog::quotes(1);
        let a_trades = Catalog::trades(0);
        let t0 = Utc::now();
        // A moves every 500 ms for 10 s (seqs 1..=20), with a print each time; B once, at the
        // start.
        let at = |ms: i64| t0 + chrono::Duration::milliseconds(ms);
        let quote_a = |i: i64| {
            vec![
                Event::Quote(quote("A", i as f64)),
                Event::Trade(trade("A", i as f64)),
            ]
        };
        publish_at(
            &windowed,
            at(500),
            vec![
                Event::Quote(quote("A", 1.0)),
                Event::Trade(trade("A", 1.0)),
                Event::Quote(quote("B", 2.0)),
            ],
        );
        for i in 2..=20 {
            publish_at(&windowed, at(500 * i), quote_a(i));
        }
        let after = |seq| Start::After {
            epoch: 1,
            seq,
            or_else: HistoryExhausted,
        };
        // The newest tick is at 10 s: the window reaches back to 5 s. A is cut as it moves,
        // so seqs 1..=9 (0.5 s to 4.5 s) are gone and 10..=20 held.
        let replay = windowed.open(&[(a, after(9))]).replay;
        assert_eq!(
            replay.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (10..=20).collect::<Vec<_>>(),
            "a resume inside the window replays"
        );
        let o = windowed.open(&[(a, after(8))]);
        assert!(o.replay.is_empty(), "seq 9 (4.5 s) is outside the window");
        assert_eq!(o.snapshots[&ReasonKey::of(HistoryExhausted)][0].seq, 20);
        // B did not move after 0.5 s: the sweep of idle channels (every channel within ten
        // ticks) emptied its history, and its position still resumes.
        let o = windowed.open(&[(b, after(1))]);
        assert!(
            o.replay.is_empty() && o.snapshots.is_empty(),
            "B owes nothing"
        );
        let o = windowed.open(&[(b, after(0))]);
        assert_eq!(o.snapshots[&ReasonKey::of(HistoryExhausted)][0].seq, 1);
        // Every print is still there: the window is for states only.
        let o = windowed.open(&[(a_trades, after(0))]);
        assert!(o.snapshots.is_empty());
        assert_eq!(
            o.replay.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=20).collect::<Vec<_>>()
        );
        // Without a window, the depth alone bounds the history.
        let unbounded = hub(1024);
        for i in 1..=20 {
            publish_at(&unbounded, at(500 * i), quote_a(i));
        }
        assert_eq!(unbounded.open(&[(a, after(0))]).replay.len(), 20);
    }

    /// Every way an open can go, against one hub of five quotes that keeps three: kept as one
    /// function (98 lines) because the cases read as a table over that one state.
    #[test]
    fn open_replays_from_history_or_says_why_it_cannot() {
        use crate::protocol::SnapshotReason::*;
        let hub = hub(3);
        for i in 0..5 {
            publish(&hub, vec![Event::Quote(quote("A", 11.0 + i as f64))]);
        }
        let a = Catalog::quotes(0);
        let after = |seq| Start::After {
            epoch: 1,
            seq,
            or_else: HistoryExhausted,
        };
        // History holds seqs 3, 4, 5.
        let o = hub.open(&[(a, after(2))]);
        assert_eq!(
            o.replay.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert!(o.snapshots.is_empty());
        assert_eq!(o.n, 5);
        let o = hub.open(&[(a, after(5))]);
        assert!(
            o.replay.is_empty() && o.snapshots.is_empty(),
            "already up to date"
        );
        let o = hub.open(&[(a, after(1))]);
        assert!(o.replay.is_empty());
        let states = &o.snapshots[&crate::server::feed::hub::ReasonKey::of(HistoryExhausted)];
        assert_eq!(states[0].seq, 5);
        let Data::Quote(q) = &states[0].data else {
            panic!()
        };
        assert_eq!(q.last, 15.0, "the latest value");
        let o = hub.open(&[(a, after(99))]);
        assert!(o
            .snapshots
            .contains_key(&crate::server::feed::hub::ReasonKey::of(HistoryExhausted)));
        let o = hub.open(&[(
            a,
            Start::After {
                epoch: 7,
                seq: 5,
                or_else: HistoryExhausted,
            },
        )]);
        assert!(
            o.snapshots
                .contains_key(&crate::server::feed::hub::ReasonKey::of(EpochChanged)),
            "a position from another epoch"
        );
        // By tick: ticks 3, 4, 5 are held, so "after tick 2" replays and "after 1" cannot.
        let o = hub.open(&[(
            a,
            Start::AfterTick {
                epoch: 1,
                n: 2,
                or_else: Lagged,
            },
        )]);
        assert_eq!(
            o.replay.iter().map(|e| e.n).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        let o = hub.open(&[(
            a,
            Start::AfterTick {
                epoch: 1,
                n: 1,
                or_else: Lagged,
            },
        )]);
        assert!(o.replay.is_empty() && !o.snapshots.is_empty());
        let o = hub.open(&[(
            a,
            Start::LatestSince {
                epoch: 1,
                n: 5,
                reason: Lagged,
            },
        )]);
        assert!(o.snapshots.is_empty(), "nothing to conflate");
        let o = hub.open(&[(
            a,
            Start::LatestSince {
                epoch: 1,
                n: 2,
                reason: Lagged,
            },
        )]);
        assert!(
            o.replay.is_empty(),
            "conflation sends the latest state, not the updates"
        );
        assert_eq!(
            o.snapshots[&crate::server::feed::hub::ReasonKey::of(Lagged)][0].seq,
            5
        );
        // By seq, the latest only (a hidden tab back): nothing where the client stands at the
        // channel's seq; else the state now, even where the history would replay.
        let latest = |seq| Start::resume(1, seq, true, crate::server::feed::catalog::Kind::Quotes);
        assert!(matches!(latest(2), Start::LatestAfter { seq: 2, .. }));
        let o = hub.open(&[(a, latest(5))]);
        assert!(
            o.snapshots.is_empty() && o.replay.is_empty(),
            "nothing moved"
        );
        for seq in [3, 1, 99] {
            let o = hub.open(&[(a, latest(seq))]);
            assert!(o.replay.is_empty(), "no replay from {seq}");
            let states = &o.snapshots[&crate::server::feed::hub::ReasonKey::of(Lagged)];
            assert_eq!(states[0].seq, 5);
            let Data::Quote(q) = &states[0].data else {
                panic!()
            };
            assert_eq!(q.last, 15.0, "the latest value");
        }
        let o = hub.open(&[(a, Start::LatestAfter { epoch: 7, seq: 5 })]);
        assert!(o
            .snapshots
            .contains_key(&crate::server::feed::hub::ReasonKey::of(EpochChanged)));
        // Trades are events: replayed as always.
        assert!(matches!(
            Start::resume(1, 2, true, crate::server::feed::catalog::Kind::Trades),
            Start::After { seq: 2, .. }
        ));
    }

    #[test]
    fn a_lagging_receiver_is_told_not_blocked() {
        let hub = Hub::new(
            1,
            LiveState::new(Utc::now(), vec![quote("A", 1.0)], vec![]),
            4,
            8,
        );
        let mut rx = hub.receiver();
        for i in 0..10 {
            publish(&hub, vec![Event::Quote(quote("A", 2.0 + i as f64))]);
        }
        assert!(matches!(
            rx.try_recv(),
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(6))
        ));
    }

    #[test]
    fn a_new_symbol_is_listed_and_numbered_in_its_tick() {
        let hub = hub(16);
        let c = prepare(
            &hub,
            Utc::now(),
            vec![
                Event::Quote(quote("NEW", 5.0)),
                Event::Trade(trade("NEW", 5.01)),
            ],
            vec![quote("NEW", 5.0)],
        );
        hub.commit(c).unwrap();
        let catalog = hub.catalog();
        assert_eq!(catalog.symbols().last().map(String::as_str), Some("NEW"));
        let id = catalog.symbol_index("NEW").unwrap();
        let o = hub.open(&[(
            Catalog::candles(id, Interval::OneSecond),
            Start::Snapshot(crate::protocol::SnapshotReason::Subscribed),
        )]);
        let states = o.snapshots.values().next().unwrap();
        assert_eq!(states[0].seq, 1);
    }
}
