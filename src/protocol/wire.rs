//! The lean JSON of market data: how updates and channel states look inside batches and
//! snapshots.
//!
//! A quote update is the most frequent thing on the wire (thousands a second to every client),
//! so its form is short: one-letter keys, no symbol (the channel names it), and no timestamp
//! when it equals the enclosing batch's or snapshot's `ts` (the simulator stamps every event
//! of a tick with the tick's time). A quote update is about 80 bytes:
//!
//! ```json
//! {"c":"quotes:AAPL","s":31,"q":{"b":229.64,"a":229.7,"l":229.7,"o":228.1,"v":4113800}}
//! ```
//!
//! | key | in an item | in a quote | in a trade | in a candle |
//! |---|---|---|---|---|
//! | `c` | channel | | | close |
//! | `s` | seq | | side (`b`/`s`) | |
//! | `q` | quote | | quantity | |
//! | `t` | trades | time (µs) | time (µs) | start (µs) |
//! | `k` | candles | | | |
//! | `g` | games | | | |
//! | `m` | market breadth | | | |
//! | `b` `a` `l` `o` `v` `p` `h` | | bid, ask, last, open, volume | `p` price | `o` `h` `l` `v` |
//!
//! Encoding needs the enclosing message's time (to leave out equal timestamps), so these
//! types are encoded through wrappers that carry it ([`ItemOut`]) and decoded through raw
//! forms completed by the enclosing message ([`RawItem::finish`]).

use super::channel::{Channel, Epoch, Seq};
use super::market::{Breadth, Candle, Game, Quote, Side, Trade};
use super::messages::{Batch, ChannelState, Data, Snapshot, SnapshotReason, Update};
use chrono::{DateTime, Utc};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Time as integer microseconds since the Unix epoch.
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| format!("timestamp {us} is out of range"))
}

/// One item (an update, or a channel's state) as written inside a message whose time is `ctx`.
pub struct ItemOut<'a> {
    pub channel: &'a Channel,
    pub seq: Seq,
    pub data: &'a Data,
    /// The enclosing message's time: item timestamps equal to it are left out. `None` writes
    /// every timestamp.
    pub ctx: Option<DateTime<Utc>>,
}

impl Serialize for ItemOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("c", self.channel)?;
        m.serialize_entry("s", &self.seq)?;
        match self.data {
            Data::Quote(q) => m.serialize_entry("q", &QuoteOut(q, self.ctx))?,
            Data::Trades(t) => m.serialize_entry("t", &TradesOut(t, self.ctx))?,
            Data::Candles(c) => m.serialize_entry("k", c)?,
            Data::Games(g) => m.serialize_entry("g", g)?,
            Data::Breadth(b) => m.serialize_entry("m", b)?,
        }
        m.end()
    }
}

/// A list of items inside a message whose time is `ctx`.
struct ItemsOut<'a, T>(pub &'a [T], pub DateTime<Utc>);

impl Serialize for ItemsOut<'_, Update> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for u in self.0 {
            seq.serialize_element(&ItemOut {
                channel: &u.channel,
                seq: u.seq,
                data: &u.data,
                ctx: Some(self.1),
            })?;
        }
        seq.end()
    }
}

impl Serialize for ItemsOut<'_, ChannelState> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for u in self.0 {
            seq.serialize_element(&ItemOut {
                channel: &u.channel,
                seq: u.seq,
                data: &u.data,
                ctx: Some(self.1),
            })?;
        }
        seq.end()
    }
}

struct QuoteOut<'a>(&'a Quote, Option<DateTime<Utc>>);

impl Serialize for QuoteOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let q = self.0;
        let with_ts = self.1 != Some(q.ts);
        let mut m = s.serialize_map(Some(5 + usize::from(with_ts)))?;
        m.serialize_entry("b", &q.bid)?;
        m.serialize_entry("a", &q.ask)?;
        m.serialize_entry("l", &q.last)?;
        m.serialize_entry("o", &q.open)?;
        m.serialize_entry("v", &q.volume)?;
        if with_ts {
            m.serialize_entry("t", &micros(q.ts))?;
        }
        m.end()
    }
}

struct TradesOut<'a>(&'a [Trade], Option<DateTime<Utc>>);

impl Serialize for TradesOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for t in self.0 {
            seq.serialize_element(&TradeOut(t, self.1))?;
        }
        seq.end()
    }
}

struct TradeOut<'a>(&'a Trade, Option<DateTime<Utc>>);

impl Serialize for TradeOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let with_ts = self.1 != Some(t.ts);
        let mut m = s.serialize_map(Some(3 + usize::from(with_ts)))?;
        m.serialize_entry("p", &t.price)?;
        m.serialize_entry("q", &t.size)?;
        m.serialize_entry(
            "s",
            match t.side {
                Side::Buy => "b",
                Side::Sell => "s",
            },
        )?;
        if with_ts {
            m.serialize_entry("t", &micros(t.ts))?;
        }
        m.end()
    }
}

/// A quote as read, before the enclosing message completes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuote {
    b: f64,
    a: f64,
    l: f64,
    o: f64,
    v: u64,
    #[serde(default)]
    t: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrade {
    p: f64,
    q: u32,
    s: RawSide,
    #[serde(default)]
    t: Option<i64>,
}

#[derive(Deserialize)]
enum RawSide {
    #[serde(rename = "b")]
    Buy,
    #[serde(rename = "s")]
    Sell,
}

/// An item as read: completed by [`RawItem::finish`] with the enclosing message's time.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawItem {
    c: Channel,
    s: Seq,
    #[serde(default)]
    q: Option<RawQuote>,
    #[serde(default)]
    t: Option<Vec<RawTrade>>,
    #[serde(default)]
    k: Option<Vec<Candle>>,
    #[serde(default)]
    g: Option<Vec<Game>>,
    #[serde(default)]
    m: Option<Breadth>,
}

impl RawItem {
    /// The channel, seq and data, with missing timestamps taken from `ctx` and symbols from
    /// the channel name. Exactly one kind of data must be present, and it must be the
    /// channel's kind.
    pub fn finish(self, ctx: DateTime<Utc>) -> Result<(Channel, Seq, Data), String> {
        let ts = |t: Option<i64>| t.map_or(Ok(ctx), from_micros);
        let present = [
            self.q.is_some(),
            self.t.is_some(),
            self.k.is_some(),
            self.g.is_some(),
            self.m.is_some(),
        ];
        if present.iter().filter(|p| **p).count() != 1 {
            return Err(format!(
                "item for {} must carry exactly one of q, t, k, g or m",
                self.c
            ));
        }
        if let (Channel::Breadth, Some(m)) = (&self.c, &self.m) {
            return Ok((self.c, self.s, Data::Breadth(m.clone())));
        }
        let data = match (&self.c, self.q, self.t, self.k, self.g) {
            (Channel::Quotes(sym), Some(q), ..) => Data::Quote(Quote {
                symbol: sym.clone(),
                bid: q.b,
                ask: q.a,
                last: q.l,
                open: q.o,
                volume: q.v,
                ts: ts(q.t)?,
            }),
            (Channel::Trades(sym), _, Some(trades), ..) => Data::Trades(
                trades
                    .into_iter()
                    .map(|t| {
                        Ok(Trade {
                            symbol: sym.clone(),
                            price: t.p,
                            size: t.q,
                            side: match t.s {
                                RawSide::Buy => Side::Buy,
                                RawSide::Sell => Side::Sell,
                            },
                            ts: ts(t.t)?,
                        })
                    })
                    .collect::<Result<_, String>>()?,
            ),
            (Channel::Candles(..), _, _, Some(k), _) => Data::Candles(k),
            (Channel::Scores(league), _, _, _, Some(g)) => {
                if let Some(other) = g.iter().find(|g| g.league != *league) {
                    return Err(format!("a {:?} game on {}", other.league, self.c));
                }
                Data::Games(g)
            }
            (c, ..) => return Err(format!("{c} cannot carry that kind of data")),
        };
        Ok((self.c, self.s, data))
    }
}

/// A batch as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch {
    pub n: u64,
    pub ts: i64,
    pub updates: Vec<RawItem>,
}

impl TryFrom<RawBatch> for Batch {
    type Error = String;
    fn try_from(raw: RawBatch) -> Result<Self, String> {
        let ts = from_micros(raw.ts)?;
        let updates = raw
            .updates
            .into_iter()
            .map(|item| {
                let (channel, seq, data) = item.finish(ts)?;
                Ok(Update { channel, seq, data })
            })
            .collect::<Result<_, String>>()?;
        Ok(Batch {
            n: raw.n,
            ts,
            updates,
        })
    }
}

/// A snapshot as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnapshot {
    epoch: Epoch,
    pub ts: i64,
    reason: Option<SnapshotReason>,
    pub channels: Vec<RawItem>,
}

impl TryFrom<RawSnapshot> for Snapshot {
    type Error = String;
    fn try_from(raw: RawSnapshot) -> Result<Self, String> {
        let ts = from_micros(raw.ts)?;
        let channels = raw
            .channels
            .into_iter()
            .map(|item| {
                let (channel, seq, data) = item.finish(ts)?;
                Ok(ChannelState { channel, seq, data })
            })
            .collect::<Result<_, String>>()?;
        Ok(Snapshot {
            epoch: raw.epoch,
            ts,
            reason: raw.reason,
            channels,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Messages that carry items: their serde impls, and an update's own encoding
// ---------------------------------------------------------------------------------------------

impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Snapshot", 4)?;
        st.serialize_field("epoch", &self.epoch)?;
        st.serialize_field("ts", &micros(self.ts))?;
        st.serialize_field("reason", &self.reason)?;
        st.serialize_field("channels", &ItemsOut(&self.channels, self.ts))?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for Snapshot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawSnapshot::deserialize(d)?
            .try_into()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Batch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Batch", 3)?;
        st.serialize_field("n", &self.n)?;
        st.serialize_field("ts", &micros(self.ts))?;
        st.serialize_field("updates", &ItemsOut(&self.updates, self.ts))?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawBatch::deserialize(d)?
            .try_into()
            .map_err(serde::de::Error::custom)
    }
}

impl Update {
    /// The update's JSON as an item of a batch whose `ts` is `batch_ts`.
    pub fn encode_in(&self, batch_ts: DateTime<Utc>) -> String {
        Self::encode_parts(&self.channel, self.seq, &self.data, Some(batch_ts))
    }

    /// Like [`Update::encode_in`] from the parts; `None` writes every timestamp.
    pub fn encode_parts(
        channel: &Channel,
        seq: Seq,
        data: &Data,
        batch_ts: Option<DateTime<Utc>>,
    ) -> String {
        serde_json::to_string(&ItemOut {
            channel,
            seq,
            data,
            ctx: batch_ts,
        })
        .expect("items always serialise")
    }

    /// Reads one item written by [`Update::encode_in`] for a batch whose `ts` is `batch_ts`.
    pub fn decode_in(json: &str, batch_ts: DateTime<Utc>) -> Result<Update, String> {
        let raw: RawItem = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let (channel, seq, data) = raw.finish(batch_ts)?;
        Ok(Update { channel, seq, data })
    }
}
