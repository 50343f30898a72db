//! The dashboard's reactive state: one signal per cell that can change.
//!
//! The server builds it from the hub's snapshot to render the page; the browser builds the same
//! thing from the snapshot embedded in that page, then applies the feed to it. Rows are created
//! once per symbol and per board slot; an update sets only the signals whose value differs, so
//! only those cells' text nodes are touched and the table is never re-rendered.

use crate::protocol::{Batch, Channel, Data, Epoch, Game, League, Quote, Resume, Seq, Snapshot};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Direction of a symbol's last price change, for colouring and the arrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tick {
    Up,
    Down,
    Flat,
}

/// One symbol's row.
#[derive(Clone, Debug)]
pub struct QuoteRow {
    pub symbol: Arc<str>,
    pub bid: RwSignal<f64>,
    pub ask: RwSignal<f64>,
    pub last: RwSignal<f64>,
    pub open: RwSignal<f64>,
    pub volume: RwSignal<u64>,
    pub tick: RwSignal<Tick>,
}

/// One place on the scoreboard; the game in it changes when a game ends and another starts.
#[derive(Clone, Copy, Debug)]
pub struct GameRow {
    pub slot: u16,
    pub game: RwSignal<Game>,
}

/// The state of the connection to the feed, as the status pill shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Link {
    /// Page rendered, socket not yet open (also the server-rendered state).
    Connecting,
    /// Connected; resuming or loading snapshots, not yet streaming every channel.
    Recovering,
    /// Receiving the stream.
    Live,
    /// Connected and the server answers, but no data has arrived for a while.
    Stale,
    /// The socket closed; the next attempt starts at `retry_at` (in the dashboard's clock).
    Reconnecting {
        attempt: u32,
        retry_at: DateTime<Utc>,
    },
}

/// An update that does not follow the last one applied on its channel: data was lost, and the
/// channel must be resumed from `expected - 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    pub channel: Channel,
    pub expected: Seq,
    pub got: Seq,
}

/// Everything the view reads. `Copy`: it is a bundle of signal handles.
#[derive(Clone, Copy)]
pub struct Dashboard {
    pub rows: RwSignal<Vec<QuoteRow>>,
    index: StoredValue<HashMap<Arc<str>, QuoteRow>>,
    pub games: RwSignal<Vec<GameRow>>,
    pub link: RwSignal<Link>,
    pub epoch: RwSignal<Epoch>,
    /// The last seq applied on each channel: where to resume after a reconnect.
    positions: StoredValue<BTreeMap<Channel, Seq>>,
    /// Updates applied since the page loaded.
    pub updates: RwSignal<u64>,
    /// Gaps seen (each one is repaired by resuming the channel).
    pub gaps: RwSignal<u64>,
    /// Server time of the last data applied.
    pub updated: RwSignal<DateTime<Utc>>,
    /// The browser's running estimate of server time (ticks locally between messages).
    pub now: RwSignal<DateTime<Utc>>,
}

fn set_if_changed<T>(signal: RwSignal<T>, value: T)
where
    T: PartialEq + Send + Sync + 'static,
{
    signal.maybe_update(|old| {
        if *old == value {
            false
        } else {
            *old = value;
            true
        }
    });
}

impl QuoteRow {
    fn new(q: &Quote) -> Self {
        QuoteRow {
            symbol: q.symbol.as_str().into(),
            bid: RwSignal::new(q.bid),
            ask: RwSignal::new(q.ask),
            last: RwSignal::new(q.last),
            open: RwSignal::new(q.open),
            volume: RwSignal::new(q.volume),
            tick: RwSignal::new(Tick::Flat),
        }
    }

    fn apply(&self, q: &Quote) {
        let before = self.last.get_untracked();
        if q.last > before {
            set_if_changed(self.tick, Tick::Up);
        } else if q.last < before {
            set_if_changed(self.tick, Tick::Down);
        }
        set_if_changed(self.bid, q.bid);
        set_if_changed(self.ask, q.ask);
        set_if_changed(self.last, q.last);
        set_if_changed(self.open, q.open);
        set_if_changed(self.volume, q.volume);
    }
}

impl Dashboard {
    /// The dashboard for a snapshot (the page's, on both server and browser).
    pub fn new(snapshot: &Snapshot) -> Self {
        let dash = Dashboard {
            rows: RwSignal::new(Vec::new()),
            index: StoredValue::new(HashMap::new()),
            games: RwSignal::new(Vec::new()),
            link: RwSignal::new(Link::Connecting),
            epoch: RwSignal::new(snapshot.epoch),
            positions: StoredValue::new(BTreeMap::new()),
            updates: RwSignal::new(0),
            gaps: RwSignal::new(0),
            updated: RwSignal::new(snapshot.ts),
            now: RwSignal::new(snapshot.ts),
        };
        dash.apply_snapshot(snapshot.clone());
        dash
    }

    /// The channels this dashboard shows: every symbol's quotes and every league's scores.
    pub fn channels(&self) -> Vec<Channel> {
        self.rows
            .with_untracked(|rows| {
                rows.iter()
                    .map(|r| Channel::Quotes(r.symbol.to_string()))
                    .collect::<Vec<_>>()
            })
            .into_iter()
            .chain(League::ALL.into_iter().map(Channel::Scores))
            .collect()
    }

    /// Where to resume: the epoch and the last seq applied on every channel.
    pub fn resume(&self) -> Resume {
        Resume {
            epoch: self.epoch.get_untracked(),
            from: self.positions.get_value(),
        }
    }

    /// Replaces the state of every channel the snapshot lists and continues from its seqs.
    pub fn apply_snapshot(&self, snapshot: Snapshot) {
        set_if_changed(self.epoch, snapshot.epoch);
        for state in snapshot.channels {
            self.apply_data(state.data);
            self.positions.update_value(|p| {
                p.insert(state.channel, state.seq);
            });
        }
        self.updated.set(snapshot.ts);
    }

    /// Applies every update that follows the last one applied on its channel; returns the
    /// gaps (updates that do not follow), which are not applied.
    pub fn apply_batch(&self, batch: Batch) -> Vec<Gap> {
        let mut gaps = Vec::new();
        let mut applied = 0;
        for update in batch.updates {
            let last = self
                .positions
                .with_value(|p| p.get(&update.channel).copied());
            let Some(last) = last else {
                // Not a channel we hold (e.g. just unsubscribed): ignore.
                continue;
            };
            if update.seq == last + 1 {
                self.apply_data(update.data);
                self.positions.update_value(|p| {
                    p.insert(update.channel, update.seq);
                });
                applied += 1;
            } else if update.seq > last + 1 {
                gaps.push(Gap {
                    channel: update.channel,
                    expected: last + 1,
                    got: update.seq,
                });
            }
            // update.seq <= last: already applied (from a snapshot or replay); skip.
        }
        if applied > 0 {
            self.updates.update(|n| *n += applied);
            self.updated.set(batch.ts);
        }
        if !gaps.is_empty() {
            self.gaps.update(|n| *n += gaps.len() as u64);
        }
        gaps
    }

    fn apply_data(&self, data: Data) {
        match data {
            Data::Quote(q) => self.apply_quote(q),
            Data::Games(games) => {
                for g in games {
                    self.apply_game(g);
                }
            }
            // The dashboard does not show trades or candles yet.
            Data::Trades(_) | Data::Candles(_) => {}
        }
    }

    fn apply_quote(&self, q: Quote) {
        let row = self.index.with_value(|i| i.get(q.symbol.as_str()).cloned());
        match row {
            Some(row) => row.apply(&q),
            None => {
                let row = QuoteRow::new(&q);
                self.index.update_value(|i| {
                    i.insert(row.symbol.clone(), row.clone());
                });
                self.rows.update(|rows| rows.push(row));
            }
        }
    }

    fn apply_game(&self, game: Game) {
        let existing = self
            .games
            .with_untracked(|games| games.iter().find(|g| g.slot == game.slot).copied());
        match existing {
            Some(row) => set_if_changed(row.game, game),
            None => self.games.update(|games| {
                games.push(game_row(&game));
                games.sort_by_key(|g| g.slot);
            }),
        }
    }
}

fn game_row(g: &Game) -> GameRow {
    GameRow {
        slot: g.slot,
        game: RwSignal::new(g.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ChannelState, GameStatus, SnapshotReason, Team, Update};

    fn quote(symbol: &str, last: f64) -> Quote {
        Quote {
            symbol: symbol.into(),
            bid: last - 0.01,
            ask: last + 0.01,
            last,
            open: 10.0,
            volume: 5,
            ts: Utc::now(),
        }
    }

    fn game(slot: u16, id: u32, home_score: u16) -> Game {
        let team = |c: &str| Team {
            code: c.into(),
            name: c.into(),
        };
        Game {
            id,
            slot,
            league: League::Hockey,
            home: team("AAA"),
            away: team("BBB"),
            home_score,
            away_score: 0,
            period: 1,
            clock_ms: 1000,
            status: GameStatus::Live,
            ts: Utc::now(),
        }
    }

    fn q(symbol: &str) -> Channel {
        Channel::Quotes(symbol.into())
    }

    fn snapshot(seq: Seq) -> Snapshot {
        Snapshot {
            epoch: 1,
            ts: Utc::now(),
            reason: Some(SnapshotReason::Page),
            channels: vec![
                ChannelState {
                    channel: q("A"),
                    seq,
                    data: Data::Quote(quote("A", 10.0)),
                },
                ChannelState {
                    channel: q("B"),
                    seq: 3,
                    data: Data::Quote(quote("B", 20.0)),
                },
                ChannelState {
                    channel: Channel::Scores(League::Hockey),
                    seq: 1,
                    data: Data::Games(vec![game(0, 1, 0)]),
                },
            ],
        }
    }

    fn update(channel: Channel, seq: Seq, data: Data) -> Update {
        Update { channel, seq, data }
    }

    #[test]
    fn updates_apply_in_place_per_channel_and_gaps_are_refused() {
        let owner = Owner::new();
        owner.set();
        let dash = Dashboard::new(&snapshot(5));
        assert_eq!(dash.rows.get_untracked().len(), 2);
        let row_a = dash.rows.get_untracked()[0].clone();
        let gaps = dash.apply_batch(Batch {
            ts: Utc::now(),
            updates: vec![
                update(q("A"), 6, Data::Quote(quote("A", 10.5))),
                update(q("B"), 4, Data::Quote(quote("B", 19.0))),
                update(
                    Channel::Scores(League::Hockey),
                    2,
                    Data::Games(vec![game(0, 2, 3)]),
                ),
                // Already applied: skipped, not a gap.
                update(q("B"), 3, Data::Quote(quote("B", 1.0))),
            ],
        });
        assert!(gaps.is_empty());
        assert_eq!(
            row_a.last.get_untracked(),
            10.5,
            "the same row object was updated"
        );
        assert_eq!(row_a.tick.get_untracked(), Tick::Up);
        assert_eq!(dash.rows.get_untracked()[1].last.get_untracked(), 19.0);
        assert_eq!(
            dash.games.get_untracked()[0].game.get_untracked().id,
            2,
            "new game in slot 0"
        );
        assert_eq!(dash.updates.get_untracked(), 3);

        let gaps = dash.apply_batch(Batch {
            ts: Utc::now(),
            updates: vec![update(q("A"), 8, Data::Quote(quote("A", 1.0)))],
        });
        assert_eq!(
            gaps,
            vec![Gap {
                channel: q("A"),
                expected: 7,
                got: 8
            }]
        );
        assert_eq!(
            row_a.last.get_untracked(),
            10.5,
            "nothing applied from a gap"
        );
        assert_eq!(dash.gaps.get_untracked(), 1);
        assert_eq!(
            dash.resume().from[&q("A")],
            6,
            "resume from the last applied"
        );

        dash.apply_snapshot(snapshot(40));
        assert_eq!(dash.resume().from[&q("A")], 40);
        assert_eq!(
            row_a.last.get_untracked(),
            10.0,
            "snapshot resets the row in place"
        );
        assert_eq!(row_a.tick.get_untracked(), Tick::Down);
        assert_eq!(dash.channels().len(), 2 + League::ALL.len());
    }
}
