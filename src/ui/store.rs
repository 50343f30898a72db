//! The dashboard's reactive state: one signal per cell that can change.
//!
//! The server builds it from the hub's snapshot to render the page; the browser builds the same
//! thing from the snapshot embedded in that page, then applies the feed to it. Rows are created
//! once per symbol and per board slot; an update sets only the signals whose value differs, so
//! only those cells' text nodes are touched and the table is never re-rendered.

use crate::protocol::{Batch, Epoch, Event, Game, Quote, Seq, Snapshot};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use std::collections::HashMap;
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
    /// Receiving the stream.
    Live,
    /// The socket closed; the next attempt starts at `retry_at` (in the dashboard's clock).
    Reconnecting {
        attempt: u32,
        retry_at: DateTime<Utc>,
    },
}

/// A batch that does not follow the last applied one: the client lost data and must resync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
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
    pub seq: RwSignal<Seq>,
    /// Server time of the last message applied.
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
    pub fn new(snapshot: &Snapshot) -> Self {
        let rows: Vec<QuoteRow> = snapshot.quotes.iter().map(QuoteRow::new).collect();
        let index = rows.iter().map(|r| (r.symbol.clone(), r.clone())).collect();
        Dashboard {
            rows: RwSignal::new(rows),
            index: StoredValue::new(index),
            games: RwSignal::new(snapshot.games.iter().map(game_row).collect()),
            link: RwSignal::new(Link::Connecting),
            epoch: RwSignal::new(snapshot.epoch),
            seq: RwSignal::new(snapshot.seq),
            updated: RwSignal::new(snapshot.ts),
            now: RwSignal::new(snapshot.ts),
        }
    }

    /// Replaces the whole state. Rows for symbols and slots that stay are updated in place;
    /// the row lists are only rebuilt when the set of symbols or slots differs.
    pub fn apply_snapshot(&self, snapshot: Snapshot) {
        let same_symbols = self.rows.with_untracked(|rows| {
            rows.len() == snapshot.quotes.len()
                && rows
                    .iter()
                    .zip(&snapshot.quotes)
                    .all(|(r, q)| *r.symbol == *q.symbol)
        });
        if same_symbols {
            self.index.with_value(|index| {
                for q in &snapshot.quotes {
                    if let Some(row) = index.get(q.symbol.as_str()) {
                        row.apply(q);
                    }
                }
            });
        } else {
            let rows: Vec<QuoteRow> = snapshot.quotes.iter().map(QuoteRow::new).collect();
            self.index
                .set_value(rows.iter().map(|r| (r.symbol.clone(), r.clone())).collect());
            self.rows.set(rows);
        }
        let same_slots = self
            .games
            .with_untracked(|games| games.len() == snapshot.games.len());
        if same_slots {
            for g in snapshot.games {
                self.apply_game(g);
            }
        } else {
            self.games
                .set(snapshot.games.iter().map(game_row).collect());
        }
        set_if_changed(self.epoch, snapshot.epoch);
        self.seq.set(snapshot.seq);
        self.updated.set(snapshot.ts);
    }

    /// Applies the next batch, or reports a gap and applies nothing.
    pub fn apply_batch(&self, batch: Batch) -> Result<(), Gap> {
        let expected = self.seq.get_untracked() + 1;
        if batch.seq != expected {
            return Err(Gap {
                expected,
                got: batch.seq,
            });
        }
        for event in batch.events {
            match event {
                Event::Quote(q) => self.index.with_value(|index| {
                    if let Some(row) = index.get(q.symbol.as_str()) {
                        row.apply(&q);
                    }
                }),
                Event::Game(g) => self.apply_game(g),
                // The quote that follows a trade carries its effect on the row.
                Event::Trade(_) => {}
            }
        }
        self.seq.set(batch.seq);
        self.updated.set(batch.ts);
        Ok(())
    }

    fn apply_game(&self, game: Game) {
        let slot = usize::from(game.slot);
        let existing = self.games.with_untracked(|games| games.get(slot).copied());
        match existing {
            Some(row) => set_if_changed(row.game, game),
            None => self.games.update(|games| games.push(game_row(&game))),
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
    use crate::protocol::{GameStatus, League, Team};

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

    fn snapshot(seq: Seq) -> Snapshot {
        Snapshot {
            epoch: 1,
            seq,
            ts: Utc::now(),
            quotes: vec![quote("A", 10.0), quote("B", 20.0)],
            games: vec![game(0, 1, 0)],
        }
    }

    #[test]
    fn batches_update_rows_in_place_and_gaps_are_refused() {
        let owner = Owner::new();
        owner.set();
        let dash = Dashboard::new(&snapshot(5));
        let row_a = dash.rows.get_untracked()[0].clone();
        dash.apply_batch(Batch {
            seq: 6,
            ts: Utc::now(),
            events: vec![Event::Quote(quote("A", 10.5)), Event::Game(game(0, 2, 3))],
        })
        .unwrap();
        assert_eq!(
            row_a.last.get_untracked(),
            10.5,
            "the same row object was updated"
        );
        assert_eq!(row_a.tick.get_untracked(), Tick::Up);
        assert_eq!(
            dash.games.get_untracked()[0].game.get_untracked().id,
            2,
            "new game in slot 0"
        );
        assert_eq!(dash.seq.get_untracked(), 6);

        let gap = dash
            .apply_batch(Batch {
                seq: 8,
                ts: Utc::now(),
                events: vec![Event::Quote(quote("A", 1.0))],
            })
            .unwrap_err();
        assert_eq!(
            gap,
            Gap {
                expected: 7,
                got: 8
            }
        );
        assert_eq!(
            row_a.last.get_untracked(),
            10.5,
            "nothing applied from a gapped batch"
        );

        dash.apply_snapshot(snapshot(40));
        assert_eq!(dash.seq.get_untracked(), 40);
        assert_eq!(
            row_a.last.get_untracked(),
            10.0,
            "snapshot resets the row in place"
        );
        assert_eq!(row_a.tick.get_untracked(), Tick::Down);
    }
}
