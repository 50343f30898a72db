//! Data from outside: the body of `POST /api/publish`, and the lines of a recording.
//!
//! A publisher sends a [`PublishBatch`]: events in the protocol's own terms (a quote, a trade,
//! a game), applied together in one tick or not at all. The same object, one per line, is
//! the NDJSON a long-lived publisher streams and what `--record` writes (with the tick's
//! time), so a recording can be replayed by the server or posted back to another one.
//!
//! Timestamps are integer microseconds since the Unix epoch, as everywhere in the protocol;
//! publishers may also send an RFC 3339 string (`"2026-11-26T14:30:00.250Z"`). A missing
//! timestamp means "now" (the server's clock when the tick is made).
//!
//! [`PublishEvent::check`] holds the rules that need no server state (finite positive prices,
//! bid not above ask, sizes, names); the server adds the ones that do (known symbols, the
//! time window) and answers every rejection with the event's index and the reason.

use super::market::{Game, GameStatus, League, Quote, Side, Team, Trade};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One publish request, or one line of a recording.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishBatch {
    /// In a recording: the tick's time. In a request it is ignored (the server stamps ticks).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "flex_ts")]
    pub ts: Option<DateTime<Utc>>,
    /// In a recording: this line lists the whole market (every quote and game) rather than
    /// changes, so that replay can start from it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub listing: bool,
    pub events: Vec<PublishEvent>,
}

/// One change, in the protocol's terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PublishEvent {
    /// The whole quote row of a symbol. `open` and `volume` default to the symbol's current
    /// ones (for a new symbol: `last` and 0).
    Quote {
        symbol: String,
        bid: f64,
        ask: f64,
        last: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        open: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        volume: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none", with = "flex_ts")]
        ts: Option<DateTime<Utc>>,
    },
    /// A trade print: it goes on the symbol's tape and into its candles.
    Trade {
        symbol: String,
        price: f64,
        size: u32,
        side: Side,
        #[serde(default, skip_serializing_if = "Option::is_none", with = "flex_ts")]
        ts: Option<DateTime<Utc>>,
    },
    /// The whole state of one game, which takes its `slot` on its league's board.
    Game {
        id: u32,
        slot: u16,
        league: League,
        home: Team,
        away: Team,
        home_score: u16,
        away_score: u16,
        period: u8,
        clock_ms: u32,
        status: GameStatus,
        #[serde(default, skip_serializing_if = "Option::is_none", with = "flex_ts")]
        ts: Option<DateTime<Utc>>,
        /// When a scheduled game starts.
        #[serde(default, skip_serializing_if = "Option::is_none", with = "flex_ts")]
        starts: Option<DateTime<Utc>>,
    },
}

/// Games a league's board has room for.
pub const MAX_SLOTS: u16 = 64;
/// Longest symbol accepted.
pub const MAX_SYMBOL: usize = 12;

impl PublishEvent {
    /// The symbol a quote or trade is for.
    pub fn symbol(&self) -> Option<&str> {
        match self {
            PublishEvent::Quote { symbol, .. } | PublishEvent::Trade { symbol, .. } => Some(symbol),
            PublishEvent::Game { .. } => None,
        }
    }

    pub fn ts(&self) -> Option<DateTime<Utc>> {
        match self {
            PublishEvent::Quote { ts, .. }
            | PublishEvent::Trade { ts, .. }
            | PublishEvent::Game { ts, .. } => *ts,
        }
    }

    /// The rules that need no server state. `Err` says what is wrong, for a person to read.
    pub fn check(&self) -> Result<(), String> {
        let price = |what: &str, v: f64| {
            if !v.is_finite() {
                Err(format!("{what} is not a finite number"))
            } else if v <= 0.0 {
                Err(format!("{what} must be above zero, got {v}"))
            } else if v > 1e9 {
                Err(format!("{what} is implausibly large: {v}"))
            } else {
                Ok(())
            }
        };
        if let Some(symbol) = self.symbol() {
            check_symbol(symbol)?;
        }
        match self {
            PublishEvent::Quote {
                bid,
                ask,
                last,
                open,
                ..
            } => {
                price("bid", *bid)?;
                price("ask", *ask)?;
                price("last", *last)?;
                if let Some(open) = open {
                    price("open", *open)?;
                }
                if bid > ask {
                    return Err(format!("bid {bid} is above ask {ask}"));
                }
                Ok(())
            }
            PublishEvent::Trade { price: p, size, .. } => {
                price("price", *p)?;
                if *size == 0 {
                    return Err("size must be at least 1".into());
                }
                Ok(())
            }
            PublishEvent::Game {
                slot,
                home,
                away,
                period,
                ..
            } => {
                if *slot >= MAX_SLOTS {
                    return Err(format!("slot {slot} is past the board's {MAX_SLOTS}"));
                }
                if *period == 0 {
                    return Err("period starts at 1".into());
                }
                for team in [home, away] {
                    if team.code.is_empty() || team.code.len() > 4 || team.name.len() > 40 {
                        return Err(format!(
                            "team {:?}: a code of 1 to 4 characters and a name of at most 40",
                            team.code
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// The event with its timestamp filled in, as the server's types.
    pub fn into_parts(self, now: DateTime<Utc>) -> Published {
        match self {
            PublishEvent::Quote {
                symbol,
                bid,
                ask,
                last,
                open,
                volume,
                ts,
            } => Published::Quote {
                quote: Quote {
                    symbol,
                    bid,
                    ask,
                    last,
                    open: open.unwrap_or(last),
                    volume: volume.unwrap_or(0),
                    ts: ts.unwrap_or(now),
                },
                open_given: open.is_some(),
                volume_given: volume.is_some(),
            },
            PublishEvent::Trade {
                symbol,
                price,
                size,
                side,
                ts,
            } => Published::Trade(Trade {
                symbol,
                price,
                size,
                side,
                ts: ts.unwrap_or(now),
            }),
            PublishEvent::Game {
                id,
                slot,
                league,
                home,
                away,
                home_score,
                away_score,
                period,
                clock_ms,
                status,
                ts,
                starts,
            } => Published::Game(Game {
                id,
                slot,
                league,
                home,
                away,
                home_score,
                away_score,
                period,
                clock_ms,
                status,
                ts: ts.unwrap_or(now),
                starts,
            }),
        }
    }

    /// The publish form of a quote (every field given).
    pub fn quote(q: &Quote) -> Self {
        PublishEvent::Quote {
            symbol: q.symbol.clone(),
            bid: q.bid,
            ask: q.ask,
            last: q.last,
            open: Some(q.open),
            volume: Some(q.volume),
            ts: Some(q.ts),
        }
    }

    pub fn trade(t: &Trade) -> Self {
        PublishEvent::Trade {
            symbol: t.symbol.clone(),
            price: t.price,
            size: t.size,
            side: t.side,
            ts: Some(t.ts),
        }
    }

    pub fn game(g: &Game) -> Self {
        let g = g.clone();
        PublishEvent::Game {
            id: g.id,
            slot: g.slot,
            league: g.league,
            home: g.home,
            away: g.away,
            home_score: g.home_score,
            away_score: g.away_score,
            period: g.period,
            clock_ms: g.clock_ms,
            status: g.status,
            ts: Some(g.ts),
            starts: g.starts,
        }
    }
}

/// A published event in the server's types. A quote whose `open` or `volume` was not given
/// says so (the server keeps the symbol's current ones; a new symbol opens at `last` with 0).
#[derive(Clone, Debug, PartialEq)]
pub enum Published {
    Quote {
        quote: Quote,
        open_given: bool,
        volume_given: bool,
    },
    Trade(Trade),
    Game(Game),
}

/// Symbols are 1 to 12 of `A-Z 0-9 . - _` (e.g. `BRK.B`, `BTC-USD`).
pub fn check_symbol(symbol: &str) -> Result<(), String> {
    let ok = !symbol.is_empty()
        && symbol.len() <= MAX_SYMBOL
        && symbol
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "symbol {symbol:?}: 1 to {MAX_SYMBOL} of A-Z, 0-9, '.', '-' and '_'"
        ))
    }
}

/// Optional timestamps as integer microseconds, read from microseconds or RFC 3339.
mod flex_ts {
    use super::*;

    pub fn serialize<S: Serializer>(ts: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match ts {
            Some(t) => s.serialize_i64(t.timestamp_micros()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Flex {
            Micros(i64),
            Text(String),
        }
        match Option::<Flex>::deserialize(d)? {
            None => Ok(None),
            Some(Flex::Micros(us)) => micros(us).map(Some),
            Some(Flex::Text(text)) => parse_timestamp(&text).map(Some),
        }
        .map_err(serde::de::Error::custom)
    }
}

fn micros(us: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| format!("timestamp {us} is out of range"))
}

/// A timestamp as publishers write it: integer microseconds since the epoch, or RFC 3339.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    match text.parse::<i64>() {
        Ok(us) => micros(us),
        Err(_) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("timestamp {text:?}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reads_from_what_a_person_would_write() {
        let body = r#"{"events":[
            {"type":"quote","symbol":"AAPL","bid":189.5,"ask":189.52,"last":189.51},
            {"type":"trade","symbol":"AAPL","price":189.51,"size":100,"side":"buy","ts":"2026-11-26T14:30:00.250Z"},
            {"type":"quote","symbol":"MSFT","bid":1,"ask":2,"last":1.5,"open":1.4,"volume":10,"ts":1795000000000000}
        ]}"#;
        let batch: PublishBatch = serde_json::from_str(body).unwrap();
        assert_eq!(batch.events.len(), 3);
        for e in &batch.events {
            e.check().unwrap();
        }
        let PublishEvent::Trade { ts: Some(ts), .. } = &batch.events[1] else {
            panic!()
        };
        assert_eq!(ts.timestamp_micros(), 1_795_703_400_250_000);
        // Written back, timestamps are microseconds, and it reads again the same.
        let again: PublishBatch =
            serde_json::from_str(&serde_json::to_string(&batch).unwrap()).unwrap();
        assert_eq!(again, batch);
    }

    #[test]
    fn bad_values_are_named() {
        let q = |bid: f64, ask: f64, last: f64| PublishEvent::Quote {
            symbol: "AAPL".into(),
            bid,
            ask,
            last,
            open: None,
            volume: None,
            ts: None,
        };
        assert!(q(2.0, 1.0, 1.5).check().unwrap_err().contains("above ask"));
        assert!(q(-1.0, 1.0, 1.5)
            .check()
            .unwrap_err()
            .contains("above zero"));
        assert!(q(f64::NAN, 1.0, 1.5)
            .check()
            .unwrap_err()
            .contains("finite"));
        assert!(q(1.0, 2.0, f64::INFINITY)
            .check()
            .unwrap_err()
            .contains("finite"));
        let bad = PublishEvent::Trade {
            symbol: "aapl; drop".into(),
            price: 1.0,
            size: 1,
            side: Side::Buy,
            ts: None,
        };
        assert!(bad.check().unwrap_err().contains("symbol"));
        let zero = PublishEvent::Trade {
            symbol: "AAPL".into(),
            price: 1.0,
            size: 0,
            side: Side::Sell,
            ts: None,
        };
        assert!(zero.check().unwrap_err().contains("size"));
    }

    #[test]
    fn unknown_fields_and_types_are_refused() {
        assert!(serde_json::from_str::<PublishBatch>(r#"{"events":[],"x":1}"#).is_err());
        assert!(serde_json::from_str::<PublishBatch>(r#"{"events":[{"type":"bond"}]}"#).is_err());
        assert!(serde_json::from_str::<PublishBatch>(
            r#"{"events":[{"type":"game","id":1,"slot":0,"league":"curling"}]}"#
        )
        .is_err());
    }
}
