//! Market and sports data: quotes, trades, candles, games, and the events the simulator and
//! publishers produce.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The latest state of one symbol's market: best bid and ask, last trade, day open and volume.
///
/// A quote is always the whole row, never a delta, so applying it is a replace-by-symbol.
/// On the wire it is the short form of `protocol::wire`: the symbol is the channel's.
#[derive(Clone, Debug, PartialEq)]
pub struct Quote {
    pub symbol: String,
    pub bid: f64,
    pub ask: f64,
    /// Price of the last trade (the day open before the first trade).
    pub last: f64,
    /// The day's opening price: `last - open` is the day's change.
    pub open: f64,
    /// Shares traded today.
    pub volume: u64,
    pub ts: DateTime<Utc>,
}

impl Quote {
    /// The day's change in price.
    pub fn change(&self) -> f64 {
        self.last - self.open
    }

    /// The day's change in percent of the open.
    pub fn change_pct(&self) -> f64 {
        if self.open == 0.0 {
            0.0
        } else {
            (self.last - self.open) / self.open * 100.0
        }
    }
}

/// Which side of the book a trade took: a buyer lifting the ask or a seller hitting the bid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

/// One trade print. On the wire: `{"p":price,"q":size,"s":"b"|"s"}` (see `protocol::wire`).
#[derive(Clone, Debug, PartialEq)]
pub struct Trade {
    pub symbol: String,
    pub price: f64,
    pub size: u32,
    pub side: Side,
    pub ts: DateTime<Utc>,
}

/// Candle widths the server aggregates trades into.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Interval {
    #[default]
    #[serde(rename = "1s")]
    OneSecond,
    #[serde(rename = "1m")]
    OneMinute,
}

impl Interval {
    pub const ALL: [Interval; 2] = [Interval::OneSecond, Interval::OneMinute];

    pub fn millis(self) -> i64 {
        match self {
            Interval::OneSecond => 1_000,
            Interval::OneMinute => 60_000,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::OneSecond => "1s",
            Interval::OneMinute => "1m",
        }
    }
}

impl FromStr for Interval {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "1s" => Ok(Interval::OneSecond),
            "1m" => Ok(Interval::OneMinute),
            _ => Err(()),
        }
    }
}

/// Open, high, low, close and volume of the trades in one interval starting at `start`.
/// An interval without trades is a flat candle at the previous close with zero volume, so a
/// chart has no holes. On the wire: `{"t":start,"o":..,"h":..,"l":..,"c":..,"v":..}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candle {
    #[serde(rename = "t", with = "chrono::serde::ts_microseconds")]
    pub start: DateTime<Utc>,
    #[serde(rename = "o")]
    pub open: f64,
    #[serde(rename = "h")]
    pub high: f64,
    #[serde(rename = "l")]
    pub low: f64,
    #[serde(rename = "c")]
    pub close: f64,
    #[serde(rename = "v")]
    pub volume: u64,
}

/// The sport a game is played in; it fixes the number and length of periods and the way the
/// clock runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum League {
    Basketball,
    Hockey,
    Soccer,
    Football,
}

impl League {
    pub const ALL: [League; 4] = [
        League::Basketball,
        League::Hockey,
        League::Soccer,
        League::Football,
    ];

    /// Regulation periods in a game.
    pub fn periods(self) -> u8 {
        match self {
            League::Basketball | League::Football => 4,
            League::Hockey => 3,
            League::Soccer => 2,
        }
    }

    /// Length of one regulation period in milliseconds (overtime uses the same length).
    pub fn period_ms(self) -> u32 {
        match self {
            League::Basketball => 12 * 60_000,
            League::Hockey => 20 * 60_000,
            League::Soccer => 45 * 60_000,
            League::Football => 15 * 60_000,
        }
    }

    /// Soccer's clock counts up; the others count down to zero.
    pub fn clock_counts_up(self) -> bool {
        matches!(self, League::Soccer)
    }

    /// Short name for the period, e.g. "Q3", "P2", "2H", "OT".
    pub fn period_label(self, period: u8) -> String {
        if period > self.periods() {
            let n = period - self.periods();
            return if n == 1 {
                "OT".into()
            } else {
                format!("{n}OT")
            };
        }
        match self {
            League::Basketball | League::Football => format!("Q{period}"),
            League::Hockey => format!("P{period}"),
            League::Soccer => format!("{period}H"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            League::Basketball => "Basketball",
            League::Hockey => "Hockey",
            League::Soccer => "Soccer",
            League::Football => "Football",
        }
    }

    /// The name used in channel names: `scores:<slug>`.
    pub fn slug(self) -> &'static str {
        match self {
            League::Basketball => "basketball",
            League::Hockey => "hockey",
            League::Soccer => "soccer",
            League::Football => "football",
        }
    }
}

/// Where a game stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GameStatus {
    /// Not started; `clock_ms` is the full first period.
    Scheduled,
    /// Being played; the clock runs.
    Live,
    /// Between periods; the clock is stopped.
    Break,
    /// Over; the score is final.
    Final,
}

/// One team in a game.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// Three-letter code shown in tight spaces, e.g. "BOS".
    pub code: String,
    pub name: String,
}

/// The whole state of one game. Like [`Quote`], always sent whole.
///
/// The clock is anchored to server time: `clock_ms` was the reading at `ts`. While the game is
/// [`GameStatus::Live`] the reading moves on by the time elapsed since `ts` (down to zero, or up
/// for soccer), so a client can run the clock between updates and correct it on each one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Game {
    pub id: u32,
    /// Position on the board. When a game ends and leaves the board, the next game takes its
    /// slot, so clients key games by slot and replace whatever was there.
    pub slot: u16,
    pub league: League,
    pub home: Team,
    pub away: Team,
    pub home_score: u16,
    pub away_score: u16,
    /// 1-based; above `league.periods()` means overtime.
    pub period: u8,
    /// Clock reading at `ts` in milliseconds: time left in the period, or for soccer the time
    /// played in the period.
    pub clock_ms: u32,
    pub status: GameStatus,
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub ts: DateTime<Utc>,
    /// When a scheduled game starts, if known (pages show it in the reader's time zone).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "chrono::serde::ts_microseconds_option"
    )]
    pub starts: Option<DateTime<Utc>>,
}

impl Game {
    /// The clock reading at `now`, extrapolated from the anchor while the game is live.
    pub fn clock_at(&self, now: DateTime<Utc>) -> u32 {
        if self.status != GameStatus::Live {
            return self.clock_ms;
        }
        let elapsed = (now - self.ts).num_milliseconds().clamp(0, u32::MAX as i64) as u32;
        if self.league.clock_counts_up() {
            self.clock_ms
                .saturating_add(elapsed)
                .min(self.league.period_ms())
        } else {
            self.clock_ms.saturating_sub(elapsed)
        }
    }
}

/// One change produced by the simulator, before it is routed to its channels.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Quote(Quote),
    Trade(Trade),
    Game(Game),
}

/// One symbol in a breadth list: where it trades and how far it moved today.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mover {
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "l")]
    pub last: f64,
    /// The day's change in percent of the open.
    #[serde(rename = "p")]
    pub change_pct: f64,
    #[serde(rename = "v")]
    pub volume: u64,
}

/// The whole market at a glance: how many symbols are up, down and unchanged on the day, and
/// its top gainers, top losers and most active (by volume), best first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breadth {
    pub up: u32,
    pub down: u32,
    pub flat: u32,
    pub gainers: Vec<Mover>,
    pub losers: Vec<Mover>,
    pub active: Vec<Mover>,
}

/// A column the market grid is ranked by, over the whole universe (see `ClientMsg::View`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// The order symbols were listed in.
    #[default]
    #[serde(alias = "default")]
    Listing,
    Symbol,
    Bid,
    Ask,
    Last,
    /// The day's change, in dollars.
    Change,
    /// The day's change, in percent of the open.
    ChangePct,
    Volume,
}
