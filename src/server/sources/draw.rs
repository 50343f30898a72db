//! What one tick drew from every source.

use super::reply::Accepted;
use crate::protocol::{Event, Quote};
use chrono::{DateTime, Utc};

/// One tick's worth of events from every source.
#[derive(Default)]
pub(crate) struct Draw {
    /// The tick's time when a source sets it (a replay at `max` keeps recorded time).
    pub(crate) ts: Option<DateTime<Utc>>,
    pub(crate) events: Vec<Event>,
    /// Symbols listed in this tick, each with its first quote (also among `events`).
    pub(crate) new_symbols: Vec<Quote>,
    /// Publish requests taken into this tick, answered once it is committed.
    pub(crate) accepted: Vec<Accepted>,
}

impl Draw {
    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty() && self.new_symbols.is_empty()
    }

    /// Whether `symbol` is listed by this tick (so far).
    pub(crate) fn lists(&self, symbol: &str) -> Option<&Quote> {
        self.new_symbols.iter().find(|q| q.symbol == symbol)
    }
}
