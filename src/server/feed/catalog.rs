//! The catalog: every channel the server publishes, numbered densely.
//!
//! Channel names are strings on the wire; inside the server a channel is a [`ChannelId`], an
//! index into per-channel tables, so routing an event or checking a subscription is an array
//! access instead of a string hash. The leagues' score channels and the market's breadth come
//! first and each symbol's four channels follow, so a symbol added later (a publisher's new
//! listing) takes the next ids and no existing id moves. A catalog is immutable; growing it
//! makes a new one.

use crate::protocol::{Channel, ErrorCode, Interval, League};
use std::collections::HashMap;

/// Dense index of a channel: ids `0..4` are the leagues' scores (in `League::ALL` order), id 4
/// the market's breadth; per symbol `i`, ids `5 + 4i ..= 5 + 4i + 3` are its quotes, trades,
/// 1 s and 1 min candles.
pub(crate) type ChannelId = u32;

const PER_SYMBOL: u32 = 4;
const LEAGUES: u32 = League::ALL.len() as u32;
/// The market's breadth.
pub(crate) const BREADTH: ChannelId = LEAGUES;
/// Channels before the first symbol's.
const FIXED: u32 = LEAGUES + 1;

/// What kind of stream a channel is, which decides how a lagging client catches up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Quotes,
    Trades,
    Candles(Interval),
    Scores(League),
    Breadth,
}

#[derive(Clone, Debug)]
pub(crate) struct Catalog {
    symbols: Vec<String>,
    index: HashMap<String, u32>,
}

impl Catalog {
    pub(crate) fn new(symbols: Vec<String>) -> Self {
        let index = symbols
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        Catalog { symbols, index }
    }

    /// This catalog with `symbol` appended (its channels take the next ids).
    pub(crate) fn with_symbol(&self, symbol: String) -> Catalog {
        let mut next = self.clone();
        next.index.insert(symbol.clone(), next.symbols.len() as u32);
        next.symbols.push(symbol);
        next
    }

    pub(crate) fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// How many channels there are; ids are `0..len()`.
    pub(crate) fn len(&self) -> usize {
        (FIXED + self.symbols.len() as u32 * PER_SYMBOL) as usize
    }

    pub(crate) fn symbol_index(&self, symbol: &str) -> Option<u32> {
        self.index.get(symbol).copied()
    }

    pub(crate) fn quotes(symbol: u32) -> ChannelId {
        FIXED + symbol * PER_SYMBOL
    }

    pub(crate) fn trades(symbol: u32) -> ChannelId {
        FIXED + symbol * PER_SYMBOL + 1
    }

    pub(crate) fn candles(symbol: u32, interval: Interval) -> ChannelId {
        FIXED
            + symbol * PER_SYMBOL
            + match interval {
                Interval::OneSecond => 2,
                Interval::OneMinute => 3,
            }
    }

    pub(crate) fn scores(league: League) -> ChannelId {
        League::ALL
            .iter()
            .position(|l| *l == league)
            .expect("every league is in League::ALL") as u32
    }

    /// The id of a channel, or why the server does not publish it.
    pub(crate) fn id(&self, channel: &Channel) -> Result<ChannelId, (ErrorCode, String)> {
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
            Channel::Scores(l) => Self::scores(*l),
            Channel::Breadth => BREADTH,
        })
    }

    /// The kind of channel `id` and, for market channels, its symbol index.
    pub(crate) fn kind(id: ChannelId) -> (Kind, u32) {
        if id < LEAGUES {
            return (Kind::Scores(League::ALL[id as usize]), 0);
        }
        if id == BREADTH {
            return (Kind::Breadth, 0);
        }
        let rel = id - FIXED;
        let kind = match rel % PER_SYMBOL {
            0 => Kind::Quotes,
            1 => Kind::Trades,
            2 => Kind::Candles(Interval::OneSecond),
            _ => Kind::Candles(Interval::OneMinute),
        };
        (kind, rel / PER_SYMBOL)
    }

    /// The wire name of channel `id`, which must be below [`Catalog::len`].
    pub(crate) fn channel(&self, id: ChannelId) -> Channel {
        let (kind, symbol) = Self::kind(id);
        let name = || self.symbols[symbol as usize].clone();
        match kind {
            Kind::Quotes => Channel::Quotes(name()),
            Kind::Trades => Channel::Trades(name()),
            Kind::Candles(i) => Channel::Candles(name(), i),
            Kind::Scores(l) => Channel::Scores(l),
            Kind::Breadth => Channel::Breadth,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_map_both_ways() {
        let c = Catalog::new(vec!["AAPL".into(), "MSFT".into()]);
        assert_eq!(c.len(), 13);
        for id in 0..c.len() as ChannelId {
            assert_eq!(c.id(&c.channel(id)), Ok(id));
        }
        assert_eq!(
            c.id(&Channel::Quotes("NOPE".into())).unwrap_err().0,
            ErrorCode::UnknownSymbol
        );
        assert_eq!(Catalog::kind(Catalog::trades(1)), (Kind::Trades, 1));
        assert_eq!(
            Catalog::kind(Catalog::scores(League::Soccer)),
            (Kind::Scores(League::Soccer), 0)
        );
    }

    #[test]
    fn a_new_symbol_takes_the_next_ids_and_moves_none() {
        let c = Catalog::new(vec!["AAPL".into()]);
        let before: Vec<Channel> = (0..c.len() as ChannelId).map(|i| c.channel(i)).collect();
        let grown = c.with_symbol("ZZZ".into());
        assert_eq!(grown.len(), c.len() + 4);
        assert_eq!(Catalog::kind(BREADTH), (Kind::Breadth, 0));
        assert_eq!(c.id(&Channel::Breadth), Ok(BREADTH));
        for (i, ch) in before.iter().enumerate() {
            assert_eq!(&grown.channel(i as ChannelId), ch);
        }
        assert_eq!(
            grown.channel(Catalog::quotes(1)),
            Channel::Quotes("ZZZ".into())
        );
    }
}
