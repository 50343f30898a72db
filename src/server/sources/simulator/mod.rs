//! The simulated world: a market and a set of sports games that move on every tick.
//!
//! The simulator is a pure state machine: [`Simulator::step`] takes the current time and
//! returns the events of that tick. It reads no clock and spawns nothing, so the same seed and
//! the same sequence of instants give the same events (the determinism test relies on this), and
//! benchmarks can drive it as fast as they like.

mod market;
mod sports;

pub use market::Market;
pub(crate) use sports::Sports;

use crate::protocol::{Event, Game, Quote};
use chrono::{DateTime, Utc};

/// What the simulator is asked to simulate.
#[derive(Clone, Debug)]
pub(crate) struct SimConfig {
    pub(crate) seed: u64,
    pub(crate) symbols: usize,
    pub(crate) games: usize,
    /// Quote moves per symbol per second (at most one per tick).
    pub(crate) quote_rate: f64,
    /// Trades per symbol per second (at most one per tick).
    pub(crate) trade_rate: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 7,
            symbols: 60,
            games: 6,
            quote_rate: market::QUOTE_RATE,
            trade_rate: market::TRADE_RATE,
        }
    }
}

/// The market and the games, advanced together.
pub(crate) struct Simulator {
    market: Market,
    sports: Sports,
}

impl Simulator {
    pub(crate) fn new(config: &SimConfig, now: DateTime<Utc>) -> Self {
        // Each part has its own random stream, so that a change to one does not reshuffle the
        // other's events for the same seed.
        Simulator {
            market: Market::with_rates(
                config.seed,
                config.symbols,
                now,
                config.quote_rate,
                config.trade_rate,
            ),
            sports: Sports::new(config.seed ^ 0x5EED_5B0E, config.games, now),
        }
    }

    /// Continues the world from published state (see `Market::resume`): the same listings and
    /// board, from the published quotes, scores and clocks.
    pub(crate) fn resume(
        config: &SimConfig,
        salt: u64,
        quotes: &[Quote],
        games: &[Game],
        now: DateTime<Utc>,
    ) -> Self {
        Simulator {
            market: Market::resume(
                config.seed,
                salt,
                quotes,
                now,
                config.quote_rate,
                config.trade_rate,
            ),
            sports: Sports::resume(config.seed ^ 0x5EED_5B0E ^ salt, games, now),
        }
    }

    /// The current state of every symbol, in display order.
    pub(crate) fn quotes(&self) -> Vec<Quote> {
        self.market.quotes()
    }

    /// The current state of every game.
    pub(crate) fn games(&self) -> Vec<Game> {
        self.sports.games()
    }

    /// Advances the world to `now` and returns what changed, market events first.
    pub(crate) fn step(&mut self, now: DateTime<Utc>) -> Vec<Event> {
        let mut events = Vec::new();
        self.market.step(now, &mut events);
        self.sports.step(now, &mut events);
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn run(seed: u64, ticks: usize) -> Vec<Event> {
        let start = Utc.timestamp_millis_opt(1_790_000_000_000).unwrap();
        let config = SimConfig {
            seed,
            ..SimConfig::default()
        };
        let mut sim = Simulator::new(&config, start);
        (1..=ticks)
            .flat_map(|i| sim.step(start + Duration::milliseconds(100 * i as i64)))
            .collect()
    }

    #[test]
    fn same_seed_same_events() {
        let a = run(11, 3_000);
        let b = run(11, 3_000);
        assert!(a.len() > 10_000, "a lively market: {} events", a.len());
        assert_eq!(a, b);
    }

    #[test]
    fn different_seed_different_events() {
        assert_ne!(run(11, 200), run(12, 200));
    }

    #[test]
    fn a_resumed_world_continues_from_what_was_published() {
        let start = Utc.timestamp_millis_opt(1_790_000_000_000).unwrap();
        let config = SimConfig::default();
        let mut sim = Simulator::new(&config, start);
        for i in 1..=50 {
            sim.step(start + Duration::milliseconds(100 * i));
        }
        let now = start + Duration::milliseconds(5_000);
        let (quotes, games) = (sim.quotes(), sim.games());
        let mut resumed = Simulator::resume(&config, 5, &quotes, &games, now);
        assert_eq!(resumed.quotes(), quotes, "the same books to start from");
        assert_eq!(resumed.games(), games, "the same board");
        let events = resumed.step(now + Duration::milliseconds(100));
        for e in events {
            if let Event::Quote(q) = e {
                let before = quotes.iter().find(|b| b.symbol == q.symbol).unwrap();
                let moved = (q.last / before.last - 1.0).abs();
                assert!(moved < 0.01, "{}: {} -> {}", q.symbol, before.last, q.last);
                assert_eq!(q.open, before.open, "the day's open carries over");
            }
        }
    }

    #[test]
    fn the_world_has_the_requested_size() {
        let now = Utc::now();
        let sim = Simulator::new(
            &SimConfig {
                seed: 1,
                symbols: 500,
                games: 9,
                ..SimConfig::default()
            },
            now,
        );
        let quotes = sim.quotes();
        assert_eq!(quotes.len(), 500);
        let mut names: Vec<_> = quotes.iter().map(|q| q.symbol.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 500, "symbols are unique");
        assert_eq!(sim.games().len(), 9);
    }
}
