//! Candles: trades aggregated into open/high/low/close/volume per symbol and interval.
//!
//! Each series keeps a bounded history (the newest candle is the one still forming). A trade
//! that falls into a later interval closes the forming candle and opens a new one; intervals
//! that passed without trades are filled with flat candles at the previous close, so a chart
//! drawn from the history has no holes.

use crate::protocol::{Candle, Interval, Trade};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::VecDeque;

/// One symbol's candles at one interval.
pub struct Series {
    interval: Interval,
    depth: usize,
    candles: VecDeque<Candle>,
}

fn bucket_start(ts: DateTime<Utc>, interval: Interval) -> DateTime<Utc> {
    let ms = ts.timestamp_millis();
    let start = ms - ms.rem_euclid(interval.millis());
    Utc.timestamp_millis_opt(start).single().unwrap_or(ts)
}

impl Series {
    /// A series that keeps the last `depth` candles (at least one).
    pub fn new(interval: Interval, depth: usize) -> Self {
        Series {
            interval,
            depth: depth.max(1),
            candles: VecDeque::new(),
        }
    }

    pub fn interval(&self) -> Interval {
        self.interval
    }

    /// The history, oldest first; the last candle may still be forming.
    pub fn history(&self) -> Vec<Candle> {
        self.candles.iter().cloned().collect()
    }

    /// Adds a trade; returns how many candles at the end of the history it changed or created
    /// (the forming one, plus any it closed or filled), at most the depth.
    pub fn add(&mut self, trade: &Trade) -> usize {
        let start = bucket_start(trade.ts, self.interval);
        let step = chrono::Duration::milliseconds(self.interval.millis());
        let mut touched = 0;
        match self.candles.back().map(|c| c.start) {
            Some(last) if start < last => {
                // A trade from an interval already closed (clock skew): count it in the
                // forming candle rather than rewrite history.
                let c = self.candles.back_mut().expect("non-empty");
                c.close = trade.price;
                c.high = c.high.max(trade.price);
                c.low = c.low.min(trade.price);
                c.volume += u64::from(trade.size);
                return 1;
            }
            Some(last) if start == last => {}
            Some(last) => {
                let close = self.candles.back().expect("non-empty").close;
                // Fill the quiet intervals between, but never more than the history holds.
                let missing = ((start - last).num_milliseconds() / self.interval.millis() - 1)
                    .clamp(0, self.depth as i64) as i32;
                let first_fill = start - step * missing;
                for k in 0..missing {
                    self.push(Candle {
                        start: first_fill + step * k,
                        open: close,
                        high: close,
                        low: close,
                        close,
                        volume: 0,
                    });
                    touched += 1;
                }
                self.push(Candle {
                    start,
                    open: close,
                    high: close,
                    low: close,
                    close,
                    volume: 0,
                });
            }
            None => self.push(Candle {
                start,
                open: trade.price,
                high: trade.price,
                low: trade.price,
                close: trade.price,
                volume: 0,
            }),
        }
        let c = self.candles.back_mut().expect("a forming candle");
        c.high = c.high.max(trade.price);
        c.low = c.low.min(trade.price);
        c.close = trade.price;
        c.volume += u64::from(trade.size);
        (touched + 1).min(self.depth)
    }

    /// The last `n` candles, oldest first.
    pub fn tail(&self, n: usize) -> Vec<Candle> {
        let skip = self.candles.len().saturating_sub(n);
        self.candles.iter().skip(skip).cloned().collect()
    }

    fn push(&mut self, candle: Candle) {
        if self.candles.len() == self.depth {
            self.candles.pop_front();
        }
        self.candles.push_back(candle);
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

    #[test]
    fn trades_make_ohlcv_and_quiet_seconds_are_filled_flat() {
        let mut s = Series::new(Interval::OneSecond, 10);
        assert_eq!(s.add(&trade(100, 10.0, 1)), 1);
        assert_eq!(s.add(&trade(500, 12.0, 2)), 1);
        assert_eq!(s.add(&trade(900, 9.0, 3)), 1);
        // Two quiet seconds, then a trade in the fourth.
        assert_eq!(s.add(&trade(3_200, 11.0, 4)), 3);
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
            s.add(&trade(i * 60_000, 1.0 + i as f64, 1));
        }
        assert_eq!(s.history().len(), 5);
        // A long silence fills at most the depth.
        assert_eq!(s.add(&trade(1_000 * 60_000, 5.0, 1)), 5);
        assert_eq!(s.history().len(), 5);
    }
}
