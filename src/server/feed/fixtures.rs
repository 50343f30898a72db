//! Values the feed's unit tests (and their neighbours') build again and again.

use super::hub::Hub;
use super::numbering::prepare;
use super::state::LiveState;
use crate::protocol::{Event, Quote, Side, Trade};
use chrono::{DateTime, Utc};

/// `now` to the microsecond, as the protocol carries it (values read back compare equal).
pub(crate) fn now() -> DateTime<Utc> {
    super::clock::micros_now()
}

/// A quote at `last`, a cent either side, opened at 10.
pub(crate) fn quote(symbol: &str, last: f64) -> Quote {
    Quote {
        symbol: symbol.into(),
        bid: last - 0.01,
        ask: last + 0.01,
        last,
        open: 10.0,
        volume: 1,
        ts: now(),
    }
}

/// A buy of 100 at `price`.
pub(crate) fn trade(symbol: &str, price: f64) -> Trade {
    Trade {
        symbol: symbol.into(),
        price,
        size: 100,
        side: Side::Buy,
        ts: now(),
    }
}

/// A hub in epoch 1 listing `symbols` (each quoted at its price), with a lag ring of 64 ticks
/// and `depth` updates of history per channel.
pub(crate) fn hub(symbols: &[(&str, f64)], depth: usize) -> Hub {
    let quotes = symbols.iter().map(|(s, last)| quote(s, *last)).collect();
    Hub::new(1, LiveState::new(now(), quotes, Vec::new()), 64, depth)
}

/// Commits `events` as the next tick at `ts`; returns the number of updates.
pub(crate) fn publish_at(hub: &Hub, ts: DateTime<Utc>, events: Vec<Event>) -> usize {
    hub.commit(prepare(hub, ts, events, vec![])).unwrap()
}

/// Commits `events` as the next tick, now.
pub(crate) fn publish(hub: &Hub, events: Vec<Event>) -> usize {
    publish_at(hub, now(), events)
}
