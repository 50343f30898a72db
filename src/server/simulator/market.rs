//! The simulated market: quotes and trades for many symbols.
//!
//! Each symbol's mid price follows geometric Brownian motion (zero drift, its own volatility),
//! sampled whenever the symbol's quote moves; the quote moves and trades arrive as Poisson
//! processes. Bid and ask straddle the mid by a per-symbol spread, rounded out to the cent, and a
//! trade prints at the ask (a buyer) or the bid (a seller). Time runs `SPEED` times faster than
//! the wall clock for volatility, so a minute of watching shows an hour of typical movement.

use crate::protocol::{Event, Quote, Side, Trade};
use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, StandardNormal};

/// Market seconds per wall-clock second, for volatility only.
const SPEED: f64 = 60.0;
/// Trading seconds in a year, to turn annual volatility into per-second volatility.
const YEAR_SECONDS: f64 = 252.0 * 6.5 * 3600.0;
/// Expected quote moves per symbol per second, unless configured.
pub const QUOTE_RATE: f64 = 3.0;
/// Expected trades per symbol per second, unless configured.
pub const TRADE_RATE: f64 = 1.2;

/// Real-looking tickers first; beyond them, generated ones (`Q` and three letters; no listed
/// ticker starts with Q, so they never collide).
const TICKERS: &[&str] = &[
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "BRK.B", "JPM", "V", "UNH", "XOM",
    "JNJ", "WMT", "MA", "PG", "AVGO", "HD", "CVX", "MRK", "ABBV", "COST", "PEP", "KO", "ADBE",
    "CRM", "NFLX", "TMO", "BAC", "ORCL", "ACN", "MCD", "CSCO", "ABT", "LIN", "AMD", "DIS", "WFC",
    "INTC", "TXN", "DHR", "VZ", "PM", "NKE", "CMCSA", "NEE", "UPS", "RTX", "HON", "IBM", "AMGN",
    "LOW", "SPGI", "UNP", "BA", "CAT", "GS", "SBUX", "INTU", "PLD", "DE", "MS", "BLK", "GE", "ELV",
    "MDT", "AMT", "ISRG", "BKNG", "ADP", "GILD", "LMT", "SYK", "TJX", "MDLZ", "ADI", "CVS", "VRTX",
    "MMC", "C", "REGN", "AXP", "SCHW", "PGR", "ZTS", "MO", "CB", "TMUS", "SO", "CI", "BDX", "DUK",
    "EQIX", "SLB", "PYPL", "AON", "ITW", "NOW", "UBER", "SHOP",
];

struct SymbolState {
    quote: Quote,
    mid: f64,
    /// Volatility per square root of wall-clock second.
    vol: f64,
    /// Full bid/ask spread as a fraction of the mid.
    spread: f64,
    /// When the mid was last sampled.
    moved_at: DateTime<Utc>,
}

/// All symbols of the market and the random stream that moves them.
pub struct Market {
    rng: ChaCha8Rng,
    quote_rate: f64,
    trade_rate: f64,
    symbols: Vec<SymbolState>,
    last_step: DateTime<Utc>,
}

fn ticker(i: usize) -> String {
    match TICKERS.get(i) {
        Some(t) => (*t).to_string(),
        None => {
            let n = i - TICKERS.len();
            let letter = |k: usize| char::from(b'A' + (k % 26) as u8);
            format!("Q{}{}{}", letter(n / 676), letter(n / 26), letter(n))
        }
    }
}

fn round_cents_down(x: f64) -> f64 {
    (x * 100.0).floor() / 100.0
}

fn round_cents_up(x: f64) -> f64 {
    (x * 100.0).ceil() / 100.0
}

/// Probability of an event in a step of `dt` seconds for `rate` events per second. Each symbol
/// moves at most once per tick (its quote is conflated within a tick anyway), so the mean is
/// exact up to one event per tick: a rate of 10/s at a 100 ms tick moves every tick.
fn chance(rate: f64, dt: f64) -> f64 {
    (rate * dt).clamp(0.0, 1.0)
}

impl SymbolState {
    fn set_book(&mut self) {
        let half = (self.mid * self.spread / 2.0).max(0.005);
        let bid = round_cents_down(self.mid - half).max(0.01);
        let ask = round_cents_up(self.mid + half).max(bid + 0.01);
        self.quote.bid = bid;
        // Cents arithmetic in f64 leaves dust like 10.010000000000002; keep prices clean.
        self.quote.ask = (ask * 100.0).round() / 100.0;
    }
}

impl Market {
    /// Creates `count` symbols with random opens, volatilities and spreads. Tickers stay unique
    /// up to 17,576 generated ones past the listed ones; the server caps `count` well below.
    pub fn new(seed: u64, count: usize, now: DateTime<Utc>) -> Self {
        Self::with_rates(seed, count, now, QUOTE_RATE, TRADE_RATE)
    }

    /// Like [`Market::new`], with quote moves and trades per symbol per second.
    pub fn with_rates(
        seed: u64,
        count: usize,
        now: DateTime<Utc>,
        quote_rate: f64,
        trade_rate: f64,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let price = LogNormal::<f64>::new(4.3, 0.9).expect("valid lognormal parameters");
        let symbols = (0..count)
            .map(|i| {
                let open = price.sample(&mut rng).clamp(2.0, 4_000.0);
                let open = (open * 100.0).round() / 100.0;
                let annual_vol = rng.random_range(0.15..0.75);
                let mut s = SymbolState {
                    quote: Quote {
                        symbol: ticker(i),
                        bid: open,
                        ask: open,
                        last: open,
                        open,
                        volume: rng.random_range(10_000..2_000_000),
                        ts: now,
                    },
                    mid: open,
                    vol: annual_vol * (SPEED / YEAR_SECONDS).sqrt(),
                    spread: rng.random_range(0.0002..0.0015),
                    moved_at: now,
                };
                s.set_book();
                s
            })
            .collect();
        Market {
            rng,
            quote_rate,
            trade_rate,
            symbols,
            last_step: now,
        }
    }

    pub fn quotes(&self) -> Vec<Quote> {
        self.symbols.iter().map(|s| s.quote.clone()).collect()
    }

    /// Moves quotes and prints trades for the time since the last step; pushes a `Trade` for
    /// each print and the symbol's whole new `Quote` for each symbol that changed.
    pub fn step(&mut self, now: DateTime<Utc>, events: &mut Vec<Event>) {
        // A stalled caller must not make every symbol trade at once: cap the interval.
        let dt =
            ((now - self.last_step).num_microseconds().unwrap_or(0) as f64 / 1e6).clamp(0.0, 1.0);
        self.last_step = now;
        if dt == 0.0 {
            return;
        }
        let rng = &mut self.rng;
        let (quote_chance, trade_chance) =
            (chance(self.quote_rate, dt), chance(self.trade_rate, dt));
        for s in &mut self.symbols {
            let mut changed = false;
            if rng.random_bool(quote_chance) {
                let since = ((now - s.moved_at).num_microseconds().unwrap_or(0) as f64 / 1e6)
                    .clamp(0.0, 10.0);
                let z: f64 = rng.sample(StandardNormal);
                s.mid *= (-0.5 * s.vol * s.vol * since + s.vol * since.sqrt() * z).exp();
                s.mid = s.mid.max(0.05);
                s.moved_at = now;
                s.set_book();
                changed = true;
            }
            if rng.random_bool(trade_chance) {
                let side = if rng.random_bool(0.5) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let price = match side {
                    Side::Buy => s.quote.ask,
                    Side::Sell => s.quote.bid,
                };
                // Mostly round lots, now and then a block or an odd lot.
                let size = match rng.random_range(0..20) {
                    0 => rng.random_range(1..100),
                    1 => rng.random_range(50..500) * 100,
                    _ => rng.random_range(1..20) * 100,
                };
                s.quote.last = price;
                s.quote.volume += u64::from(size);
                events.push(Event::Trade(Trade {
                    symbol: s.quote.symbol.clone(),
                    price,
                    size,
                    side,
                    ts: now,
                }));
                changed = true;
            }
            if changed {
                s.quote.ts = now;
                events.push(Event::Quote(s.quote.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn books_are_sane_and_trades_print_at_the_touch() {
        let start = Utc::now();
        let mut m = Market::new(3, 120, start);
        let mut events = Vec::new();
        for i in 1..=600 {
            m.step(start + Duration::milliseconds(100 * i), &mut events);
        }
        let mut last_quote = std::collections::HashMap::new();
        for q in m.quotes() {
            last_quote.insert(q.symbol.clone(), q);
        }
        let mut trades = 0;
        for e in &events {
            match e {
                Event::Quote(q) => {
                    assert!(q.bid > 0.0 && q.ask > q.bid, "{q:?}");
                    assert!((q.ask - q.bid) / q.ask < 0.01, "spread too wide: {q:?}");
                    assert!(q.last > 0.0);
                }
                Event::Trade(t) => {
                    trades += 1;
                    assert!(t.size > 0);
                }
                Event::Game(_) => unreachable!("the market emits no games"),
            }
        }
        assert!(trades > 1_000, "{trades} trades");
        let buys = events
            .iter()
            .filter(|e| matches!(e, Event::Trade(t) if t.side == Side::Buy))
            .count();
        let share = buys as f64 / trades as f64;
        assert!(
            (0.45..0.55).contains(&share),
            "buyers took {share:.2} of {trades} trades"
        );
        assert!(ticker(TICKERS.len()).starts_with('Q'));
        assert!(TICKERS.iter().all(|t| !t.starts_with('Q')));
    }

    #[test]
    fn the_configured_rate_is_the_rate() {
        let start = Utc::now();
        let mut m = Market::with_rates(1, 100, start, 10.0, 0.0);
        let mut events = Vec::new();
        for i in 1..=100 {
            m.step(start + Duration::milliseconds(100 * i), &mut events);
        }
        // 100 symbols, 10 moves a second each, for 10 s, and no trades.
        assert_eq!(events.len(), 100 * 10 * 10);
        let mut m = Market::with_rates(1, 100, start, 3.0, 1.2);
        let mut events = Vec::new();
        for i in 1..=600 {
            m.step(start + Duration::milliseconds(100 * i), &mut events);
        }
        let trades = events
            .iter()
            .filter(|e| matches!(e, Event::Trade(_)))
            .count() as f64;
        assert!(
            (trades / (100.0 * 60.0) - 1.2).abs() < 0.1,
            "{trades} trades in 60 s"
        );
    }

    #[test]
    fn prices_move_but_stay_plausible() {
        let start = Utc::now();
        let mut m = Market::new(5, 50, start);
        let before = m.quotes();
        let mut events = Vec::new();
        // Ten simulated minutes.
        for i in 1..=6_000 {
            m.step(start + Duration::milliseconds(100 * i), &mut events);
        }
        let after = m.quotes();
        let moved = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| a.last != b.last)
            .count();
        assert!(moved >= 45, "only {moved} of 50 symbols moved");
        for (a, b) in before.iter().zip(&after) {
            let r = b.last / a.last;
            assert!(
                (0.5..2.0).contains(&r),
                "{} went {} -> {}",
                a.symbol,
                a.last,
                b.last
            );
        }
    }
}
