//! The reactive rows the views read: a symbol's quote row and a scoreboard slot. Each changing
//! value is a signal of its own, so an update touches only the cells whose value changed.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::{Game, Quote};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use std::sync::Arc;

/// Direction of a symbol's last price change, for colouring and the arrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tick {
    Up,
    Down,
    Flat,
}

/// One symbol's row. Equality is identity (the same symbol's signals).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct QuoteRow {
    pub(crate) symbol: Arc<str>,
    /// False until the row's quote has arrived (a row that just scrolled into a window shows
    /// its place, not numbers it does not have).
    pub(crate) loaded: RwSignal<bool>,
    pub(crate) bid: RwSignal<f64>,
    pub(crate) ask: RwSignal<f64>,
    pub(crate) last: RwSignal<f64>,
    pub(crate) open: RwSignal<f64>,
    pub(crate) volume: RwSignal<u64>,
    pub(crate) tick: RwSignal<Tick>,
    /// Counts changes of `last`, so the view can restart the flash animation on each.
    pub(crate) flash: RwSignal<u32>,
    /// Server time of the row's last update.
    pub(crate) at: RwSignal<DateTime<Utc>>,
    /// Recent prices, oldest first.
    pub(crate) spark: RwSignal<Vec<f64>>,
}

/// One place on the scoreboard; the game in it changes when a game ends and another starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GameRow {
    pub(crate) slot: u16,
    pub(crate) game: RwSignal<Game>,
    /// Counts score changes, so the view can highlight each.
    pub(crate) scored: RwSignal<u32>,
}

/// Sets `signal` only when `value` differs, so that nothing reading it runs for nothing.
pub(crate) fn set_if_changed<T>(signal: RwSignal<T>, value: T)
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

/// The day's change of `last` from `open`, in percent (0 without an open).
pub(crate) fn pct(last: f64, open: f64) -> f64 {
    if open == 0.0 {
        0.0
    } else {
        (last - open) / open * 100.0
    }
}

impl QuoteRow {
    /// A row with its quote and its sparkline so far.
    pub(crate) fn new(q: &Quote, spark: Vec<f64>) -> Self {
        QuoteRow {
            symbol: q.symbol.as_str().into(),
            loaded: RwSignal::new(true),
            bid: RwSignal::new(q.bid),
            ask: RwSignal::new(q.ask),
            last: RwSignal::new(q.last),
            open: RwSignal::new(q.open),
            volume: RwSignal::new(q.volume),
            tick: RwSignal::new(Tick::Flat),
            flash: RwSignal::new(0),
            at: RwSignal::new(q.ts),
            spark: RwSignal::new(if spark.is_empty() {
                vec![q.last]
            } else {
                spark
            }),
        }
    }

    /// A row whose quote has not arrived yet.
    pub(crate) fn pending(symbol: &str) -> Self {
        let row = QuoteRow::new(
            &Quote {
                symbol: symbol.to_string(),
                bid: 0.0,
                ask: 0.0,
                last: 0.0,
                open: 0.0,
                volume: 0,
                ts: DateTime::<Utc>::default(),
            },
            Vec::new(),
        );
        row.loaded.set(false);
        row.spark.set(Vec::new());
        row
    }

    /// Applies a quote: each cell whose value changed, the direction and the flash.
    pub(crate) fn apply(&self, q: &Quote) {
        if !self.loaded.get_untracked() {
            // The first quote: no direction, no flash; a sparkline from here unless the
            // window brought the symbol's with its row.
            if self.spark.with_untracked(Vec::is_empty) {
                self.spark.set(vec![q.last]);
            }
            self.loaded.set(true);
        } else {
            let before = self.last.get_untracked();
            if q.last != before {
                set_if_changed(
                    self.tick,
                    if q.last > before {
                        Tick::Up
                    } else {
                        Tick::Down
                    },
                );
                self.flash.update(|n| *n = n.wrapping_add(1));
            }
        }
        set_if_changed(self.bid, q.bid);
        set_if_changed(self.ask, q.ask);
        set_if_changed(self.last, q.last);
        set_if_changed(self.open, q.open);
        set_if_changed(self.volume, q.volume);
        set_if_changed(self.at, q.ts);
    }
}

impl GameRow {
    pub(crate) fn new(g: &Game) -> Self {
        GameRow {
            slot: g.slot,
            game: RwSignal::new(g.clone()),
            scored: RwSignal::new(0),
        }
    }
}
