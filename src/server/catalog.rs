//! The catalog: every channel the server publishes, numbered densely.
//!
//! Channel names are strings on the wire; inside the server a channel is a [`ChannelId`], an
//! index into per-channel tables, so routing an event or checking a subscription is an array
//! access instead of a string hash. The catalog is fixed when the server starts (the symbol
//! list does not change), so it is shared without a lock.

use crate::protocol::{Channel, ErrorCode, Interval, League};
use std::collections::HashMap;

/// Dense index of a channel: per symbol `i`, ids `4i..4i+4` are its quotes, trades, 1 s and
/// 1 min candles; the leagues' score channels follow the symbols.
pub type ChannelId = u32;

const PER_SYMBOL: u32 = 4;

/// What kind of stream a channel is, which decides how a lagging client catches up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Quotes,
    Trades,
    Candles(Interval),
    Scores(League),
}

pub struct Catalog {
    symbols: Vec<String>,
    index: HashMap<String, u32>,
}

impl Catalog {
    pub fn new(symbols: Vec<String>) -> Self {
        let index = symbols
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        Catalog { symbols, index }
    }

    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// How many channels there are; ids are `0..len()`.
    pub fn len(&self) -> usize {
        self.symbols.len() * PER_SYMBOL as usize + League::ALL.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn symbol_index(&self, symbol: &str) -> Option<u32> {
        self.index.get(symbol).copied()
    }

    pub fn quotes(symbol: u32) -> ChannelId {
        symbol * PER_SYMBOL
    }

    pub fn trades(symbol: u32) -> ChannelId {
        symbol * PER_SYMBOL + 1
    }

    pub fn candles(symbol: u32, interval: Interval) -> ChannelId {
        symbol * PER_SYMBOL
            + match interval {
                Interval::OneSecond => 2,
                Interval::OneMinute => 3,
            }
    }

    pub fn scores(&self, league: League) -> ChannelId {
        let i = League::ALL
            .iter()
            .position(|l| *l == league)
            .expect("every league is in League::ALL") as u32;
        self.symbols.len() as u32 * PER_SYMBOL + i
    }

    /// The id of a channel, or why the server does not publish it.
    pub fn id(&self, channel: &Channel) -> Result<ChannelId, (ErrorCode, String)> {
        let symbol = |s: &str| {
            self.symbol_index(s).ok_or_else(|| {
                (
                    ErrorCode::UnknownSymbol,
                    format!("unknown symbol {s:?} in channel {channel}"),
                )
            })
        };
        Ok(match channel {
            Channel::Quotes(s) => Self::quotes(symbol(s)?),
            Channel::Trades(s) => Self::trades(symbol(s)?),
            Channel::Candles(s, i) => Self::candles(symbol(s)?, *i),
            Channel::Scores(l) => self.scores(*l),
        })
    }

    /// The kind of channel `id` and, for market channels, its symbol index.
    pub fn kind(&self, id: ChannelId) -> (Kind, u32) {
        let symbols = self.symbols.len() as u32;
        if id >= symbols * PER_SYMBOL {
            let league = League::ALL[(id - symbols * PER_SYMBOL) as usize];
            return (Kind::Scores(league), 0);
        }
        let kind = match id % PER_SYMBOL {
            0 => Kind::Quotes,
            1 => Kind::Trades,
            2 => Kind::Candles(Interval::OneSecond),
            _ => Kind::Candles(Interval::OneMinute),
        };
        (kind, id / PER_SYMBOL)
    }

    /// The wire name of channel `id`.
    pub fn channel(&self, id: ChannelId) -> Channel {
        let (kind, symbol) = self.kind(id);
        let name = || self.symbols[symbol as usize].clone();
        match kind {
            Kind::Quotes => Channel::Quotes(name()),
            Kind::Trades => Channel::Trades(name()),
            Kind::Candles(i) => Channel::Candles(name(), i),
            Kind::Scores(l) => Channel::Scores(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_map_both_ways() {
        let c = Catalog::new(vec!["AAPL".into(), "MSFT".into()]);
        assert_eq!(c.len(), 12);
        for id in 0..c.len() as ChannelId {
            assert_eq!(c.id(&c.channel(id)), Ok(id));
        }
        assert_eq!(
            c.id(&Channel::Quotes("NOPE".into())).unwrap_err().0,
            ErrorCode::UnknownSymbol
        );
        assert_eq!(c.kind(Catalog::trades(1)), (Kind::Trades, 1));
        assert_eq!(
            c.kind(c.scores(League::Soccer)),
            (Kind::Scores(League::Soccer), 0)
        );
    }
}
