//! The live state of every channel: what a snapshot shows and what the page renders.
//!
//! The state changes only by applying published updates ([`LiveState::apply`]), the same on
//! the node that produced them and on every node that receives them, so all nodes of a
//! cluster hold the same market. A quote replaces the symbol's row, trades are appended to a
//! bounded tape, candles are upserted (see `candles`), games are replaced by slot.

use crate::protocol::{Breadth, Data, Game, Interval, Quote, Trade};
use crate::server::feed::candles::Series;
use crate::server::feed::catalog::{Catalog, ChannelId, Kind};
use chrono::{DateTime, Utc};
use std::collections::VecDeque;

/// Trades kept per symbol for a `trades:` snapshot.
pub(crate) const TRADE_TAPE: usize = 50;
/// Candles kept per symbol and interval for a `candles:` snapshot.
pub(crate) const CANDLE_HISTORY: usize = 300;
/// Sparkline samples kept per symbol (one every `SPARK_STEP`): the grid's last minute.
pub(crate) const SPARK_POINTS: usize = 30;
pub(crate) const SPARK_STEP: chrono::Duration = chrono::Duration::seconds(2);

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LiveState {
    /// Time of the last tick applied.
    pub(crate) ts: DateTime<Utc>,
    quotes: Vec<Quote>,
    tapes: Vec<VecDeque<Trade>>,
    candles: Vec<[Series; 2]>,
    /// By slot.
    games: Vec<Game>,
    /// Per symbol, the last price sampled every `SPARK_STEP`, for the page's sparklines.
    sparks: Vec<VecDeque<f64>>,
    next_spark: DateTime<Utc>,
    /// The market's breadth, and the tick time it was last computed at.
    breadth: Breadth,
    breadth_at: DateTime<Utc>,
}

fn interval_slot(interval: Interval) -> usize {
    match interval {
        Interval::OneSecond => 0,
        Interval::OneMinute => 1,
    }
}

fn series_pair() -> [Series; 2] {
    [
        Series::new(Interval::OneSecond, CANDLE_HISTORY),
        Series::new(Interval::OneMinute, CANDLE_HISTORY),
    ]
}

impl LiveState {
    /// The state at `ts` with these quotes (in catalog order) and games (in slot order).
    pub(crate) fn new(ts: DateTime<Utc>, quotes: Vec<Quote>, mut games: Vec<Game>) -> Self {
        let n = quotes.len();
        games.sort_by_key(|g| g.slot);
        LiveState {
            ts,
            sparks: quotes.iter().map(|q| VecDeque::from([q.last])).collect(),
            quotes,
            tapes: (0..n).map(|_| VecDeque::new()).collect(),
            candles: (0..n).map(|_| series_pair()).collect(),
            games,
            next_spark: ts + SPARK_STEP,
            breadth: Breadth::default(),
            breadth_at: ts,
        }
        .with_breadth()
    }

    /// This state with its breadth computed from its quotes.
    fn with_breadth(mut self) -> Self {
        self.breadth = super::breadth::of(&self.quotes.iter().collect::<Vec<_>>());
        self
    }

    /// The market's breadth as last published.
    pub(crate) fn breadth(&self) -> &Breadth {
        &self.breadth
    }

    /// Whether a tick at `ts` should recompute the breadth (once a second of tick time).
    pub(crate) fn breadth_due(&self, ts: DateTime<Utc>) -> bool {
        ts - self.breadth_at >= super::breadth::EVERY
    }

    /// Adds a symbol (the catalog's next) with its first quote.
    pub(crate) fn add_symbol(&mut self, quote: Quote) {
        self.sparks.push(VecDeque::from([quote.last]));
        self.quotes.push(quote);
        self.tapes.push(VecDeque::new());
        self.candles.push(series_pair());
    }

    /// Starts applying a tick at `ts`: moves the clock and samples the sparklines when due
    /// (before the tick's quotes, as the page has always shown them).
    pub(crate) fn begin_tick(&mut self, ts: DateTime<Utc>) {
        self.ts = ts;
        if ts >= self.next_spark {
            self.next_spark = ts + SPARK_STEP;
            for (spark, q) in self.sparks.iter_mut().zip(&self.quotes) {
                if spark.len() == SPARK_POINTS {
                    spark.pop_front();
                }
                spark.push_back(q.last);
            }
        }
    }

    /// Applies one channel's update (or whole state, for a channel that is replaced).
    pub(crate) fn apply(&mut self, id: ChannelId, data: &Data) {
        let (kind, symbol) = Catalog::kind(id);
        let i = symbol as usize;
        match (kind, data) {
            (Kind::Quotes, Data::Quote(q)) => {
                if let Some(slot) = self.quotes.get_mut(i) {
                    *slot = q.clone();
                }
            }
            (Kind::Trades, Data::Trades(trades)) => {
                if let Some(tape) = self.tapes.get_mut(i) {
                    for t in trades {
                        if tape.len() == TRADE_TAPE {
                            tape.pop_front();
                        }
                        tape.push_back(t.clone());
                    }
                }
            }
            (Kind::Candles(interval), Data::Candles(candles)) => {
                if let Some(pair) = self.candles.get_mut(i) {
                    pair[interval_slot(interval)].apply(candles);
                }
            }
            (Kind::Breadth, Data::Breadth(b)) => {
                self.breadth = b.clone();
                self.breadth_at = self.ts;
            }
            (Kind::Scores(_), Data::Games(games)) => {
                for g in games {
                    match self.games.iter_mut().find(|old| old.slot == g.slot) {
                        Some(old) => *old = g.clone(),
                        None => {
                            self.games.push(g.clone());
                            self.games.sort_by_key(|g| g.slot);
                        }
                    }
                }
            }
            // The producer routes by kind and the protocol checks items against their
            // channel, so a mismatch cannot arrive here; ignoring it is the safe answer.
            _ => {}
        }
    }

    /// The whole state of channel `id`.
    pub(crate) fn state_of(&self, id: ChannelId) -> Data {
        let (kind, symbol) = Catalog::kind(id);
        let i = symbol as usize;
        match kind {
            Kind::Quotes => Data::Quote(self.quotes[i].clone()),
            Kind::Trades => Data::Trades(self.tapes[i].iter().cloned().collect()),
            Kind::Candles(interval) => {
                Data::Candles(self.candles[i][interval_slot(interval)].history())
            }
            Kind::Breadth => Data::Breadth(self.breadth.clone()),
            Kind::Scores(league) => Data::Games(
                self.games
                    .iter()
                    .filter(|g| g.league == league)
                    .cloned()
                    .collect(),
            ),
        }
    }

    /// The candles that `trades` would create or change in a symbol's series.
    pub(crate) fn candle_changes(
        &self,
        symbol: u32,
        interval: Interval,
        trades: &[Trade],
    ) -> Vec<crate::protocol::Candle> {
        self.candles[symbol as usize][interval_slot(interval)].changes(trades)
    }

    pub(crate) fn quotes(&self) -> &[Quote] {
        &self.quotes
    }

    pub(crate) fn games(&self) -> &[Game] {
        &self.games
    }

    /// Each symbol's sparkline samples, oldest first, in symbol order.
    pub(crate) fn sparks(&self) -> Vec<Vec<f64>> {
        self.sparks
            .iter()
            .map(|s| s.iter().copied().collect())
            .collect()
    }

    /// Symbol `i`'s sparkline samples, oldest first.
    pub(crate) fn spark_of(&self, i: usize) -> Vec<f64> {
        self.sparks
            .get(i)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// When the next sparkline sample is due.
    pub(crate) fn next_spark(&self) -> DateTime<Utc> {
        self.next_spark
    }

    /// Restores what a checkpoint carries besides channel states.
    pub(crate) fn set_sparks(&mut self, sparks: Vec<Vec<f64>>, next_spark: DateTime<Utc>) {
        for (mine, theirs) in self.sparks.iter_mut().zip(sparks) {
            *mine = theirs.into();
        }
        self.next_spark = next_spark;
    }
}
