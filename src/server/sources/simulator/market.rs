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
pub(crate) const QUOTE_RATE: f64 = 3.0;
/// Expected trades per symbol per second, unless configured.
pub(crate) const TRADE_RATE: f64 = 1.2;

/// A listed symbol as a trader knows it: where it traded in 2025 (a round figure), its annual
/// volatility and its average daily volume in shares. The simulator starts each symbol within
/// a few percent of its price (the seed picks where) and moves it with its own volatility, so
/// AAPL looks like AAPL: a mega-cap moves less than a small, volatile name, and BRK.B trades
/// far fewer shares than TSLA.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Listing {
    pub(crate) ticker: &'static str,
    pub(crate) price: f64,
    pub(crate) vol: f64,
    pub(crate) adv: u64,
}

/// The listed symbols, in display order. Beyond them the simulator makes up tickers (`Q` and
/// three letters: no listed ticker starts with Q, so they never collide) with random levels.
pub(crate) const LISTINGS: &[Listing] = &[
    Listing {
        ticker: "AAPL",
        price: 230.0,
        vol: 0.26,
        adv: 55000000,
    },
    Listing {
        ticker: "MSFT",
        price: 450.0,
        vol: 0.24,
        adv: 21000000,
    },
    Listing {
        ticker: "NVDA",
        price: 160.0,
        vol: 0.48,
        adv: 190000000,
    },
    Listing {
        ticker: "AMZN",
        price: 215.0,
        vol: 0.32,
        adv: 42000000,
    },
    Listing {
        ticker: "GOOGL",
        price: 200.0,
        vol: 0.3,
        adv: 32000000,
    },
    Listing {
        ticker: "META",
        price: 650.0,
        vol: 0.36,
        adv: 13000000,
    },
    Listing {
        ticker: "TSLA",
        price: 350.0,
        vol: 0.62,
        adv: 100000000,
    },
    Listing {
        ticker: "BRK.B",
        price: 480.0,
        vol: 0.15,
        adv: 4000000,
    },
    Listing {
        ticker: "JPM",
        price: 260.0,
        vol: 0.24,
        adv: 9500000,
    },
    Listing {
        ticker: "V",
        price: 340.0,
        vol: 0.2,
        adv: 6500000,
    },
    Listing {
        ticker: "UNH",
        price: 330.0,
        vol: 0.38,
        adv: 9000000,
    },
    Listing {
        ticker: "XOM",
        price: 112.0,
        vol: 0.24,
        adv: 15000000,
    },
    Listing {
        ticker: "JNJ",
        price: 160.0,
        vol: 0.17,
        adv: 7500000,
    },
    Listing {
        ticker: "WMT",
        price: 95.0,
        vol: 0.2,
        adv: 18000000,
    },
    Listing {
        ticker: "MA",
        price: 560.0,
        vol: 0.21,
        adv: 3000000,
    },
    Listing {
        ticker: "PG",
        price: 160.0,
        vol: 0.17,
        adv: 7000000,
    },
    Listing {
        ticker: "AVGO",
        price: 290.0,
        vol: 0.5,
        adv: 22000000,
    },
    Listing {
        ticker: "HD",
        price: 380.0,
        vol: 0.23,
        adv: 3500000,
    },
    Listing {
        ticker: "CVX",
        price: 150.0,
        vol: 0.24,
        adv: 8000000,
    },
    Listing {
        ticker: "MRK",
        price: 90.0,
        vol: 0.27,
        adv: 12000000,
    },
    Listing {
        ticker: "ABBV",
        price: 200.0,
        vol: 0.26,
        adv: 6000000,
    },
    Listing {
        ticker: "COST",
        price: 950.0,
        vol: 0.22,
        adv: 2200000,
    },
    Listing {
        ticker: "PEP",
        price: 145.0,
        vol: 0.19,
        adv: 6500000,
    },
    Listing {
        ticker: "KO",
        price: 70.0,
        vol: 0.16,
        adv: 14000000,
    },
    Listing {
        ticker: "ADBE",
        price: 380.0,
        vol: 0.34,
        adv: 3200000,
    },
    Listing {
        ticker: "CRM",
        price: 270.0,
        vol: 0.36,
        adv: 6500000,
    },
    Listing {
        ticker: "NFLX",
        price: 1150.0,
        vol: 0.36,
        adv: 3500000,
    },
    Listing {
        ticker: "TMO",
        price: 480.0,
        vol: 0.27,
        adv: 2100000,
    },
    Listing {
        ticker: "BAC",
        price: 47.0,
        vol: 0.27,
        adv: 38000000,
    },
    Listing {
        ticker: "ORCL",
        price: 230.0,
        vol: 0.42,
        adv: 11000000,
    },
    Listing {
        ticker: "ACN",
        price: 300.0,
        vol: 0.27,
        adv: 3000000,
    },
    Listing {
        ticker: "MCD",
        price: 300.0,
        vol: 0.17,
        adv: 3500000,
    },
    Listing {
        ticker: "CSCO",
        price: 65.0,
        vol: 0.22,
        adv: 19000000,
    },
    Listing {
        ticker: "ABT",
        price: 130.0,
        vol: 0.2,
        adv: 6000000,
    },
    Listing {
        ticker: "LIN",
        price: 460.0,
        vol: 0.18,
        adv: 2000000,
    },
    Listing {
        ticker: "AMD",
        price: 150.0,
        vol: 0.52,
        adv: 45000000,
    },
    Listing {
        ticker: "DIS",
        price: 112.0,
        vol: 0.28,
        adv: 9000000,
    },
    Listing {
        ticker: "WFC",
        price: 78.0,
        vol: 0.28,
        adv: 16000000,
    },
    Listing {
        ticker: "INTC",
        price: 25.0,
        vol: 0.55,
        adv: 80000000,
    },
    Listing {
        ticker: "TXN",
        price: 190.0,
        vol: 0.31,
        adv: 6500000,
    },
    Listing {
        ticker: "DHR",
        price: 210.0,
        vol: 0.28,
        adv: 3500000,
    },
    Listing {
        ticker: "VZ",
        price: 42.0,
        vol: 0.19,
        adv: 18000000,
    },
    Listing {
        ticker: "PM",
        price: 160.0,
        vol: 0.24,
        adv: 6000000,
    },
    Listing {
        ticker: "NKE",
        price: 68.0,
        vol: 0.36,
        adv: 12000000,
    },
    Listing {
        ticker: "CMCSA",
        price: 35.0,
        vol: 0.26,
        adv: 22000000,
    },
    Listing {
        ticker: "NEE",
        price: 75.0,
        vol: 0.24,
        adv: 10000000,
    },
    Listing {
        ticker: "UPS",
        price: 95.0,
        vol: 0.3,
        adv: 6000000,
    },
    Listing {
        ticker: "RTX",
        price: 150.0,
        vol: 0.22,
        adv: 5000000,
    },
    Listing {
        ticker: "HON",
        price: 215.0,
        vol: 0.22,
        adv: 4000000,
    },
    Listing {
        ticker: "IBM",
        price: 260.0,
        vol: 0.28,
        adv: 4200000,
    },
    Listing {
        ticker: "AMGN",
        price: 290.0,
        vol: 0.24,
        adv: 3000000,
    },
    Listing {
        ticker: "LOW",
        price: 240.0,
        vol: 0.24,
        adv: 3000000,
    },
    Listing {
        ticker: "SPGI",
        price: 520.0,
        vol: 0.2,
        adv: 1500000,
    },
    Listing {
        ticker: "UNP",
        price: 230.0,
        vol: 0.21,
        adv: 3000000,
    },
    Listing {
        ticker: "BA",
        price: 200.0,
        vol: 0.34,
        adv: 9000000,
    },
    Listing {
        ticker: "CAT",
        price: 400.0,
        vol: 0.29,
        adv: 3000000,
    },
    Listing {
        ticker: "GS",
        price: 650.0,
        vol: 0.3,
        adv: 2500000,
    },
    Listing {
        ticker: "SBUX",
        price: 90.0,
        vol: 0.31,
        adv: 10000000,
    },
    Listing {
        ticker: "INTU",
        price: 650.0,
        vol: 0.31,
        adv: 1700000,
    },
    Listing {
        ticker: "PLD",
        price: 110.0,
        vol: 0.26,
        adv: 4000000,
    },
    Listing {
        ticker: "DE",
        price: 480.0,
        vol: 0.26,
        adv: 1500000,
    },
    Listing {
        ticker: "MS",
        price: 135.0,
        vol: 0.29,
        adv: 7000000,
    },
    Listing {
        ticker: "BLK",
        price: 1000.0,
        vol: 0.24,
        adv: 800000,
    },
    Listing {
        ticker: "GE",
        price: 250.0,
        vol: 0.31,
        adv: 5500000,
    },
    Listing {
        ticker: "ELV",
        price: 350.0,
        vol: 0.36,
        adv: 2000000,
    },
    Listing {
        ticker: "MDT",
        price: 90.0,
        vol: 0.2,
        adv: 6000000,
    },
    Listing {
        ticker: "AMT",
        price: 200.0,
        vol: 0.24,
        adv: 2500000,
    },
    Listing {
        ticker: "ISRG",
        price: 520.0,
        vol: 0.3,
        adv: 2000000,
    },
    Listing {
        ticker: "BKNG",
        price: 5200.0,
        vol: 0.27,
        adv: 250000,
    },
    Listing {
        ticker: "ADP",
        price: 300.0,
        vol: 0.19,
        adv: 2000000,
    },
    Listing {
        ticker: "GILD",
        price: 110.0,
        vol: 0.24,
        adv: 8000000,
    },
    Listing {
        ticker: "LMT",
        price: 470.0,
        vol: 0.22,
        adv: 1500000,
    },
    Listing {
        ticker: "SYK",
        price: 380.0,
        vol: 0.21,
        adv: 1500000,
    },
    Listing {
        ticker: "TJX",
        price: 125.0,
        vol: 0.19,
        adv: 6000000,
    },
    Listing {
        ticker: "MDLZ",
        price: 62.0,
        vol: 0.2,
        adv: 8000000,
    },
    Listing {
        ticker: "ADI",
        price: 230.0,
        vol: 0.32,
        adv: 4000000,
    },
    Listing {
        ticker: "CVS",
        price: 70.0,
        vol: 0.34,
        adv: 10000000,
    },
    Listing {
        ticker: "VRTX",
        price: 450.0,
        vol: 0.28,
        adv: 1500000,
    },
    Listing {
        ticker: "MMC",
        price: 210.0,
        vol: 0.18,
        adv: 2000000,
    },
    Listing {
        ticker: "C",
        price: 80.0,
        vol: 0.3,
        adv: 15000000,
    },
    Listing {
        ticker: "REGN",
        price: 600.0,
        vol: 0.36,
        adv: 1000000,
    },
    Listing {
        ticker: "AXP",
        price: 320.0,
        vol: 0.27,
        adv: 3000000,
    },
    Listing {
        ticker: "SCHW",
        price: 90.0,
        vol: 0.29,
        adv: 9000000,
    },
    Listing {
        ticker: "PGR",
        price: 250.0,
        vol: 0.25,
        adv: 3000000,
    },
    Listing {
        ticker: "ZTS",
        price: 150.0,
        vol: 0.27,
        adv: 3000000,
    },
    Listing {
        ticker: "MO",
        price: 58.0,
        vol: 0.19,
        adv: 9000000,
    },
    Listing {
        ticker: "CB",
        price: 280.0,
        vol: 0.2,
        adv: 2000000,
    },
    Listing {
        ticker: "TMUS",
        price: 240.0,
        vol: 0.22,
        adv: 4000000,
    },
    Listing {
        ticker: "SO",
        price: 90.0,
        vol: 0.17,
        adv: 5000000,
    },
    Listing {
        ticker: "CI",
        price: 300.0,
        vol: 0.28,
        adv: 1600000,
    },
    Listing {
        ticker: "BDX",
        price: 185.0,
        vol: 0.23,
        adv: 1800000,
    },
    Listing {
        ticker: "DUK",
        price: 118.0,
        vol: 0.16,
        adv: 3500000,
    },
    Listing {
        ticker: "EQIX",
        price: 850.0,
        vol: 0.26,
        adv: 600000,
    },
    Listing {
        ticker: "SLB",
        price: 36.0,
        vol: 0.35,
        adv: 14000000,
    },
    Listing {
        ticker: "PYPL",
        price: 70.0,
        vol: 0.38,
        adv: 10000000,
    },
    Listing {
        ticker: "AON",
        price: 360.0,
        vol: 0.21,
        adv: 1200000,
    },
    Listing {
        ticker: "ITW",
        price: 250.0,
        vol: 0.2,
        adv: 1200000,
    },
    Listing {
        ticker: "NOW",
        price: 950.0,
        vol: 0.38,
        adv: 1200000,
    },
    Listing {
        ticker: "UBER",
        price: 85.0,
        vol: 0.4,
        adv: 18000000,
    },
    Listing {
        ticker: "SHOP",
        price: 120.0,
        vol: 0.55,
        adv: 8000000,
    },
];

/// Shares a typical print is of a day's volume: TSLA prints ~5,000 shares, BRK.B ~200,
/// BKNG a dozen.
const PRINT_SHARE_OF_ADV: f64 = 1.0 / 20_000.0;

struct SymbolState {
    quote: Quote,
    /// The typical print in shares (a day's volume is ~20,000 prints).
    print: f64,
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
    match LISTINGS.get(i) {
        Some(l) => l.ticker.to_string(),
        None => {
            let n = i - LISTINGS.len();
            let letter = |k: usize| char::from(b'A' + (k % 26) as u8);
            format!("Q{}{}{}", letter(n / 676), letter(n / 26), letter(n))
        }
    }
}

/// The listing of symbol `i`: the table's, or a made-up one for a generated ticker.
fn listing(i: usize, rng: &mut ChaCha8Rng) -> Listing {
    match LISTINGS.get(i) {
        Some(l) => *l,
        None => {
            let price = LogNormal::<f64>::new(4.0, 0.8)
                .expect("valid lognormal parameters")
                .sample(rng)
                .clamp(2.0, 2_000.0);
            Listing {
                ticker: "",
                price,
                vol: rng.random_range(0.20..0.70),
                adv: rng.random_range(300_000..20_000_000),
            }
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
    #[cfg(any(test, feature = "test-support"))]
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
        let symbols = (0..count)
            .map(|i| {
                let l = listing(i, &mut rng);
                // Within a few percent of where it traded; the seed decides where.
                let open = l.price * rng.random_range(0.96..1.04);
                let open = (open * 100.0).round() / 100.0;
                // Liquid names trade a cent or two wide; thinner ones a few basis points.
                let spread = if l.adv >= 5_000_000 {
                    rng.random_range(0.0001..0.0003)
                } else {
                    rng.random_range(0.0003..0.0008)
                };
                let mut s = SymbolState {
                    quote: Quote {
                        symbol: ticker(i),
                        bid: open,
                        ask: open,
                        last: open,
                        open,
                        // Mid-session: some of the day's volume has traded.
                        volume: (l.adv as f64 * rng.random_range(0.3..0.6)) as u64,
                        ts: now,
                    },
                    print: (l.adv as f64 * PRINT_SHARE_OF_ADV).max(1.0),
                    mid: open,
                    vol: l.vol * (SPEED / YEAR_SECONDS).sqrt(),
                    spread,
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

    /// Continues from quotes published by another run (a producer taking over, or this one
    /// after a tick it could not publish): each symbol keeps its listing's volatility and
    /// spread (same `seed`), and starts from its published book; the random stream is `salt`ed
    /// so that the continuation is not a replay of the start.
    pub(crate) fn resume(
        seed: u64,
        salt: u64,
        quotes: &[Quote],
        now: DateTime<Utc>,
        quote_rate: f64,
        trade_rate: f64,
    ) -> Self {
        let mut m = Market::with_rates(seed, quotes.len(), now, quote_rate, trade_rate);
        for (s, q) in m.symbols.iter_mut().zip(quotes) {
            s.quote = q.clone();
            s.mid = (q.bid + q.ask) / 2.0;
            s.moved_at = now;
        }
        m.rng = ChaCha8Rng::seed_from_u64(seed ^ salt.rotate_left(17));
        m
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
                // Around the symbol's typical print (in round lots where it is a few hundred
                // shares or more), now and then a block or an odd lot.
                let typical = s.print * rng.random_range(0.2..2.0);
                let size = match rng.random_range(0..20) {
                    0 => rng.random_range(1..100),
                    1 => (typical * rng.random_range(10.0..50.0)) as u32,
                    _ if typical >= 150.0 => ((typical / 100.0).round() as u32).max(1) * 100,
                    _ => typical.round() as u32,
                }
                .max(1);
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
        assert!(ticker(LISTINGS.len()).starts_with('Q'));
        assert!(LISTINGS.iter().all(|l| !l.ticker.starts_with('Q')));
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
    fn listed_symbols_trade_at_the_levels_a_trader_knows() {
        // Where these traded in 2025, broadly: a quote outside these bands would look wrong
        // to anyone who follows them.
        let bands = [
            ("AAPL", 170.0, 290.0),
            ("MSFT", 350.0, 560.0),
            ("NVDA", 100.0, 220.0),
            ("JPM", 190.0, 330.0),
            ("WMT", 75.0, 120.0),
            ("BRK.B", 420.0, 560.0),
            ("META", 500.0, 800.0),
            ("COST", 800.0, 1_100.0),
            ("BKNG", 4_200.0, 6_000.0),
            ("KO", 58.0, 80.0),
        ];
        for seed in [1, 7, 42] {
            let m = Market::new(seed, LISTINGS.len() + 5, Utc::now());
            let quotes = m.quotes();
            for (ticker, low, high) in bands {
                let q = quotes.iter().find(|q| q.symbol == ticker).unwrap();
                assert!(
                    (low..=high).contains(&q.last)
                        && q.bid < q.ask
                        && q.ask - q.bid < q.last * 0.002,
                    "seed {seed}: {ticker} at {} ({}/{})",
                    q.last,
                    q.bid,
                    q.ask
                );
            }
            let vol = |t: &str| quotes.iter().find(|q| q.symbol == t).unwrap().volume;
            assert!(
                vol("TSLA") > 10 * vol("BRK.B"),
                "TSLA trades far more shares than BRK.B"
            );
            assert!(vol("NVDA") > vol("AAPL") && vol("AAPL") > vol("BKNG") * 50);
        }
    }

    #[test]
    fn a_mega_cap_moves_less_than_a_volatile_name() {
        // Realised volatility over a simulated stretch, several seeds pooled.
        let spread_of = |ticker: &str| {
            let mut total = 0.0;
            for seed in 0..8 {
                let start = Utc::now();
                let mut m = Market::with_rates(seed, LISTINGS.len(), start, 10.0, 0.0);
                let i = LISTINGS.iter().position(|l| l.ticker == ticker).unwrap();
                let mut events = Vec::new();
                let mut mids = Vec::new();
                for k in 1..=3_000 {
                    events.clear();
                    m.step(start + Duration::milliseconds(100 * k), &mut events);
                    mids.push(m.symbols[i].mid);
                }
                let r: Vec<f64> = mids.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
                let mean = r.iter().sum::<f64>() / r.len() as f64;
                total +=
                    (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / r.len() as f64).sqrt();
            }
            total / 8.0
        };
        let (ko, tsla) = (spread_of("KO"), spread_of("TSLA"));
        assert!(tsla > 2.5 * ko, "TSLA {tsla:e} vs KO {ko:e}");
    }

    #[test]
    fn prints_are_sized_like_the_symbol_trades() {
        let start = Utc::now();
        let mut m = Market::with_rates(3, LISTINGS.len(), start, 0.0, 10.0);
        let mut events = Vec::new();
        for k in 1..=300 {
            m.step(start + Duration::milliseconds(100 * k), &mut events);
        }
        let median = |t: &str| {
            let mut sizes: Vec<u32> = events
                .iter()
                .filter_map(|e| match e {
                    Event::Trade(tr) if tr.symbol == t => Some(tr.size),
                    _ => None,
                })
                .collect();
            sizes.sort_unstable();
            sizes[sizes.len() / 2]
        };
        assert!(median("TSLA") >= 1_000, "TSLA prints {}", median("TSLA"));
        assert!(median("BKNG") < 50, "BKNG prints {}", median("BKNG"));
        assert!(median("TSLA") > 10 * median("BRK.B"));
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
