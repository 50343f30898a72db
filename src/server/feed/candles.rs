//! Candles: trades aggregated into open/high/low/close/volume per symbol and interval.
//!
//! Each series keeps a bounded history (the newest candle is the one still forming). A trade
//! that falls into a later interval closes the forming candle and opens a new one; intervals
//! that passed without trades are filled with flat candles at the previous close, so a chart
//! drawn from the history has no holes.
//!
//! Aggregating is split in two so that every node applies exactly what was published:
//! [`Series::changes`] computes, without changing anything, the candles a tick's trades create
//! or change (that list is the channel's update); [`Series::apply`] upserts such a list. The
//! producer does both; a node that only receives the feed applies the published list.

use crate::protocol::{Candle, Interval, Trade};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// One symbol's candles at one interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Series {
    interval: Interval,
    depth: usize,
    candles: VecDeque<Candle>,
}

fn bucket_start(ts: DateTime<Utc>, interval: Interval) -> DateTime<Utc> {
    let ms = ts.timestamp_millis();
    let start = ms - ms.rem_euclid(interval.millis());
    Utc.timestamp_millis_opt(start).single().unwrap_or(ts)
}

fn flat(start: DateTime<Utc>, price: f64) -> Candle {
    Candle {
        start,
        open: price,
        high: price,
        low: price,
        close: price,
        volume: 0,
    }
}

impl Series {
    /// A series that keeps the last `depth` candles (at least one).
    pub(crate) fn new(interval: Interval, depth: usize) -> Self {
        Series {
            interval,
            depth: depth.max(1),
            candles: VecDeque::new(),
        }
    }

    /// The history, oldest first; the last candle may still be forming.
    pub(crate) fn history(&self) -> Vec<Candle> {
        self.candles.iter().cloned().collect()
    }

    /// The candles that `trades` (in time order) create or change, oldest first: the forming
    /// one, plus any they close or fill; at most the depth. Changes nothing.
    pub(crate) fn changes(&self, trades: &[Trade]) -> Vec<Candle> {
        let step = chrono::Duration::milliseconds(self.interval.millis());
        let mut out: Vec<Candle> = Vec::new();
        let mut forming = self.candles.back().cloned();
        for trade in trades {
            let start = bucket_start(trade.ts, self.interval);
            let current = match forming.take() {
                None => flat(start, trade.price),
                // A trade from an interval already closed (clock skew): count it in the
                // forming candle rather than rewrite history.
                Some(c) if start <= c.start => c,
                Some(c) => {
                    // The forming candle closes as it is (already in `out` if this tick
                    // changed it); fill the quiet intervals between, but never more than the
                    // history holds.
                    let close = c.close;
                    let missing = ((start - c.start).num_milliseconds() / self.interval.millis()
                        - 1)
                    .clamp(0, self.depth as i64) as i32;
                    let first_fill = start - step * missing;
                    for k in 0..missing {
                        push_change(&mut out, flat(first_fill + step * k, close));
                    }
                    flat(start, close)
                }
            };
            let mut c = current;
            c.high = c.high.max(trade.price);
            c.low = c.low.min(trade.price);
            c.close = trade.price;
            c.volume += u64::from(trade.size);
            push_change(&mut out, c.clone());
            forming = Some(c);
        }
        let extra = out.len().saturating_sub(self.depth);
        out.drain(..extra);
        out
    }

    /// Upserts candles by start: the forming one is replaced, later ones are appended (the
    /// oldest dropped beyond the depth), an older one still held is replaced.
    pub(crate) fn apply(&mut self, candles: &[Candle]) {
        for c in candles {
            match self.candles.back().map(|last| last.start) {
                Some(last) if c.start == last => {
                    *self.candles.back_mut().expect("non-empty") = c.clone();
                }
                Some(last) if c.start < last => {
                    if let Some(old) = self.candles.iter_mut().rev().find(|o| o.start == c.start) {
                        *old = c.clone();
                    }
                }
                _ => {
                    if self.candles.len() == self.depth {
                        self.candles.pop_front();
                    }
                    self.candles.push_back(c.clone());
                }
            }
        }
    }

    /// The last `n` candles, oldest first.
    #[cfg(test)]
    pub(crate) fn tail(&self, n: usize) -> Vec<Candle> {
        let skip = self.candles.len().saturating_sub(n);
        self.candles.iter().skip(skip).cloned().collect()
    }
}

/// Records `c` as changed: replaces the last change if it is the same candle.
fn push_change(out: &mut Vec<Candle>, c: Candle) {
    match out.last_mut() {
        Some(last) if last.start == c.start => *last = c,
        _ => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Side;

    fn trade(ms: i64, price: f64, size: u32) -> Trade {
        Trade {
            symbol: "X".into(),
            price,
            size,
            side: Side::Buy,
            ts: Utc.timestamp_millis_opt(1_790_000_000_000 + ms).unwrap(),
        }
    }

    /// Adds trades the way the producer does: compute the changes, then apply them; returns
    /// how many candles changed.
    fn add(s: &mut Series, trades: &[Trade]) -> usize {
        let changes = s.changes(trades);
        s.apply(&changes);
        changes.len()
    }

    #[test]
    fn trades_make_ohlcv_and_quiet_seconds_are_filled_flat() {
        let mut s = Series::new(Interval::OneSecond, 10);
        assert_eq!(add(&mut s, &[trade(100, 10.0, 1)]), 1);
        assert_eq!(add(&mut s, &[trade(500, 12.0, 2)]), 1);
        assert_eq!(add(&mut s, &[trade(900, 9.0, 3)]), 1);
        // Two quiet seconds, then a trade in the fourth: the two flat fills and the new one.
        assert_eq!(add(&mut s, &[trade(3_200, 11.0, 4)]), 3);
        let h = s.history();
        assert_eq!(h.len(), 4);
        assert_eq!(
            (h[0].open, h[0].high, h[0].low, h[0].close, h[0].volume),
            (10.0, 12.0, 9.0, 9.0, 6)
        );
        for flat in &h[1..3] {
            assert_eq!(
                (flat.open, flat.high, flat.low, flat.close, flat.volume),
                (9.0, 9.0, 9.0, 9.0, 0)
            );
        }
        assert_eq!(
            (h[3].open, h[3].high, h[3].low, h[3].close, h[3].volume),
            (9.0, 11.0, 9.0, 11.0, 4)
        );
        for w in h.windows(2) {
            assert_eq!(
                (w[1].start - w[0].start).num_milliseconds(),
                1_000,
                "no holes"
            );
        }
        assert_eq!(s.tail(2), h[2..].to_vec());
    }

    #[test]
    fn history_is_bounded() {
        let mut s = Series::new(Interval::OneMinute, 5);
        for i in 0..100 {
            add(&mut s, &[trade(i * 60_000, 1.0 + i as f64, 1)]);
        }
        assert_eq!(s.history().len(), 5);
        // A long silence fills at most the depth.
        assert_eq!(add(&mut s, &[trade(1_000 * 60_000, 5.0, 1)]), 5);
        assert_eq!(s.history().len(), 5);
    }

    #[test]
    fn applying_published_changes_gives_the_same_series() {
        // A node that only receives the feed applies the producer's changes and must end up
        // with the producer's series, whatever the trades did (gaps, skew, several a tick).
        let mut producer = Series::new(Interval::OneSecond, 8);
        let mut follower = Series::new(Interval::OneSecond, 8);
        let ticks: Vec<Vec<Trade>> = vec![
            vec![trade(100, 10.0, 1), trade(150, 10.5, 2)],
            vec![trade(1_100, 9.0, 1)],
            vec![trade(900, 9.5, 1)],
            vec![trade(5_000, 12.0, 3), trade(6_100, 11.0, 1)],
            vec![trade(60_000, 13.0, 1)],
        ];
        for tick in &ticks {
            let changes = producer.changes(tick);
            producer.apply(&changes);
            follower.apply(&changes);
            assert_eq!(producer, follower);
        }
        assert_eq!(producer.history().len(), 8);
        assert!(producer.changes(&[]).is_empty(), "no trades, no change");
    }
}
