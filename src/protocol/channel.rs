//! Channels (`quotes:AAPL`, `scores:hockey`, ...) and the positions in them.

use super::market::{Interval, League};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Position in one channel's stream within one epoch. Gap-free: update `n + 1` follows `n`;
/// `0` means "nothing yet".
pub type Seq = u64;

/// Identifies one run of the server. Sequence numbers are only comparable within an epoch.
pub type Epoch = u64;

/// A stream a client can subscribe to. On the wire it is a string such as `quotes:AAPL`,
/// `trades:AAPL`, `candles:AAPL:1s`, `candles:AAPL:1m`, `scores:basketball` or `breadth`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Quotes(String),
    Trades(String),
    Candles(String, Interval),
    Scores(League),
    /// The whole market at a glance (see [`Breadth`](super::market::Breadth)).
    Breadth,
}

/// Why a channel name was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelError {
    /// Not of any known form.
    Unknown(String),
    /// `candles:SYM:<interval>` with an interval the server does not aggregate.
    BadInterval(String),
    /// `scores:<league>` with a league the server does not simulate.
    UnknownLeague(String),
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelError::Unknown(s) => write!(
                f,
                "unknown channel {s:?}: expected quotes:SYM, trades:SYM, candles:SYM:1s|1m, scores:LEAGUE or breadth"
            ),
            ChannelError::BadInterval(s) => {
                write!(f, "bad candle interval {s:?}: expected 1s or 1m")
            }
            ChannelError::UnknownLeague(s) => write!(
                f,
                "unknown league {s:?}: expected basketball, hockey, soccer or football"
            ),
        }
    }
}

impl FromStr for Channel {
    type Err = ChannelError;

    fn from_str(s: &str) -> Result<Self, ChannelError> {
        let unknown = || ChannelError::Unknown(s.to_string());
        if s == "breadth" {
            return Ok(Channel::Breadth);
        }
        let (kind, rest) = s.split_once(':').ok_or_else(unknown)?;
        let symbol = |sym: &str| {
            if sym.is_empty() || sym.len() > 16 || sym.contains(':') {
                Err(unknown())
            } else {
                Ok(sym.to_string())
            }
        };
        match kind {
            "quotes" => Ok(Channel::Quotes(symbol(rest)?)),
            "trades" => Ok(Channel::Trades(symbol(rest)?)),
            "candles" => {
                let (sym, interval) = rest.rsplit_once(':').ok_or_else(unknown)?;
                let interval = interval
                    .parse()
                    .map_err(|()| ChannelError::BadInterval(interval.to_string()))?;
                Ok(Channel::Candles(symbol(sym)?, interval))
            }
            "scores" => League::ALL
                .into_iter()
                .find(|l| l.slug() == rest)
                .map(Channel::Scores)
                .ok_or_else(|| ChannelError::UnknownLeague(rest.to_string())),
            _ => Err(unknown()),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Channel::Quotes(s) => write!(f, "quotes:{s}"),
            Channel::Trades(s) => write!(f, "trades:{s}"),
            Channel::Candles(s, i) => write!(f, "candles:{s}:{}", i.as_str()),
            Channel::Scores(l) => write!(f, "scores:{}", l.slug()),
            Channel::Breadth => f.write_str("breadth"),
        }
    }
}

impl Serialize for Channel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Channel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
