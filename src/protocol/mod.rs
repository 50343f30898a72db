//! The wire protocol: every message that crosses the `/ws` socket, in one place.
//!
//! The server, the hydrated browser client and the Rust test/bench clients all use these
//! types, so nobody builds or parses JSON by hand. Messages are JSON objects with a `type` tag
//! (`snake_case`); timestamps are chrono UTC instants encoded as integer microseconds since the
//! Unix epoch, which is compact, exact and cheap to parse (latency numbers need sub-ms
//! precision). `docs/protocol.md` walks through a session with an example of every message.
//!
//! # Channels and sequence numbers
//!
//! Data flows on [`Channel`]s (`quotes:AAPL`, `trades:AAPL`, `candles:AAPL:1m`,
//! `scores:hockey`). Every channel numbers its updates `1, 2, 3, …` without gaps within an
//! [`Epoch`]; the epoch changes when the server restarts. A client applies a [`ChannelState`]
//! (from a [`Snapshot`]) and then every [`Update`] whose `seq` is exactly one more than the last
//! it applied on that channel. Anything else is a gap the client can see, and it asks to
//! resume from its last `seq`: the server replays exactly the missing updates from its history,
//! or, when its history no longer holds them, says so with a fresh snapshot.
//!
//! This module depends only on serde and chrono so that it compiles unchanged to WASM.

pub mod publish;
mod wire;

pub use wire::{ItemOut, RawItem};

use chrono::{DateTime, Utc};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Position in one channel's stream within one epoch. Gap-free: update `n + 1` follows `n`;
/// `0` means "nothing yet".
pub type Seq = u64;

/// Identifies one run of the server. Sequence numbers are only comparable within an epoch.
pub type Epoch = u64;

// ---------------------------------------------------------------------------------------------
// Market and sports data
// ---------------------------------------------------------------------------------------------

/// The latest state of one symbol's market: best bid and ask, last trade, day open and volume.
///
/// A quote is always the whole row, never a delta, so applying it is a replace-by-symbol.
/// On the wire it is the short form of [`wire`](self::wire): the symbol is the channel's.
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

/// One trade print. On the wire: `{"p":price,"q":size,"s":"b"|"s"}` (see [`wire`](self::wire)).
#[derive(Clone, Debug, PartialEq)]
pub struct Trade {
    pub symbol: String,
    pub price: f64,
    pub size: u32,
    pub side: Side,
    pub ts: DateTime<Utc>,
}

/// Candle widths the server aggregates trades into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Interval {
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

// ---------------------------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------------------------

/// A stream a client can subscribe to. On the wire it is a string such as `quotes:AAPL`,
/// `trades:AAPL`, `candles:AAPL:1s`, `candles:AAPL:1m` or `scores:basketball`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Quotes(String),
    Trades(String),
    Candles(String, Interval),
    Scores(League),
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
                "unknown channel {s:?}: expected quotes:SYM, trades:SYM, candles:SYM:1s|1m or scores:LEAGUE"
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

// ---------------------------------------------------------------------------------------------
// Server -> client
// ---------------------------------------------------------------------------------------------

/// What a channel carries: in a [`ChannelState`] it is the whole state (replace); in an
/// [`Update`] it is what changed (apply). Quotes replace the row either way; trades append;
/// candles and games are upserted by `start` and by `slot`.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    Quote(Quote),
    /// In a state: the most recent prints, oldest first. In an update: the new prints.
    Trades(Vec<Trade>),
    /// In a state: the recent history, oldest first. In an update: the candles that changed.
    Candles(Vec<Candle>),
    /// In a state: every game of the league on the board. In an update: the games that changed.
    Games(Vec<Game>),
}

/// One channel's whole state at `seq`. Encoded only inside a [`Snapshot`].
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelState {
    pub channel: Channel,
    pub seq: Seq,
    pub data: Data,
}

/// Why a snapshot was sent instead of (or before) updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotReason {
    /// A new subscription without a resume position.
    Subscribed,
    /// The client asked to resume, but the history no longer holds every missing update.
    HistoryExhausted,
    /// The client asked to resume from another epoch (the server restarted).
    EpochChanged,
    /// The client fell too far behind the live stream; the latest state replaces what it
    /// missed (quotes and scores conflated to their latest value; trades it missed beyond the
    /// history are lost, and this says so).
    Lagged,
    /// The state embedded in a server-rendered page.
    Page,
}

/// The state of some channels. Clients replace what they hold for each listed channel and
/// continue from its `seq`. Timestamps inside that equal the snapshot's `ts` are left out.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(try_from = "wire::RawSnapshot")]
pub struct Snapshot {
    pub epoch: Epoch,
    pub ts: DateTime<Utc>,
    pub reason: Option<SnapshotReason>,
    pub channels: Vec<ChannelState>,
}

impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Snapshot", 4)?;
        st.serialize_field("epoch", &self.epoch)?;
        st.serialize_field("ts", &wire::micros(self.ts))?;
        st.serialize_field("reason", &self.reason)?;
        st.serialize_field("channels", &wire::ItemsOut(&self.channels, self.ts))?;
        st.end()
    }
}

/// One channel's update number `seq`. Encoded only inside a [`Batch`] (or, on the server, with
/// the time of the batch it will travel in: [`Update::encode_in`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    pub channel: Channel,
    pub seq: Seq,
    pub data: Data,
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

/// Every update of one tick for this client's channels, in one frame. Timestamps inside that
/// equal the batch's `ts` are left out.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "wire::RawBatch")]
pub struct Batch {
    /// The tick these updates were published in (numbered `1, 2, 3, …` within the epoch, on
    /// every node). A client that has applied every batch up to tick `n` can resume all its
    /// channels "after tick n" (`/sse`'s `after`), whatever their seqs.
    pub n: u64,
    /// When the server produced these updates (the start of publish-to-screen latency).
    pub ts: DateTime<Utc>,
    pub updates: Vec<Update>,
}

impl Serialize for Batch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Batch", 3)?;
        st.serialize_field("n", &self.n)?;
        st.serialize_field("ts", &wire::micros(self.ts))?;
        st.serialize_field("updates", &wire::ItemsOut(&self.updates, self.ts))?;
        st.end()
    }
}

/// What went wrong with a client's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or JSON that is not a known client message.
    Malformed,
    /// A channel name of no known form.
    UnknownChannel,
    /// A well-formed channel for a symbol the server does not list.
    UnknownSymbol,
    /// A candle interval the server does not aggregate.
    BadInterval,
    /// A league the server does not simulate.
    UnknownLeague,
    /// The subscription would exceed the per-connection limit.
    TooManySubscriptions,
    /// A binary frame: the protocol is text only.
    Unsupported,
}

/// The server's answer to a client message it could not act on. Nothing of that request was
/// applied; the connection stays open.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// The request's `id`, when the server could read one.
    pub id: Option<u64>,
    pub code: ErrorCode,
    /// A human-readable reason.
    pub message: String,
}

/// Messages from the server to a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First message on every connection.
    Welcome {
        epoch: Epoch,
        #[serde(with = "chrono::serde::ts_microseconds")]
        ts: DateTime<Utc>,
        /// The server sends at least one message (a heartbeat if nothing else) this often; a
        /// client that hears nothing for a few intervals should treat the server as gone.
        heartbeat_ms: u32,
        /// Channels one connection may hold at once.
        max_subscriptions: u32,
        /// Every symbol the server publishes, in display order.
        symbols: Vec<String>,
    },
    /// A subscribe or unsubscribe request succeeded; its snapshot and replay follow.
    Ack {
        id: u64,
        channels: Vec<Channel>,
    },
    Snapshot(Snapshot),
    Batch(Batch),
    /// Symbols listed since the welcome (a publisher added them), in display order after
    /// those already known. Their channels can be subscribed from now on.
    Listed {
        symbols: Vec<String>,
    },
    /// Sent when nothing else was sent for `heartbeat_ms`.
    Heartbeat {
        #[serde(with = "chrono::serde::ts_microseconds")]
        ts: DateTime<Utc>,
    },
    /// Answer to [`ClientMsg::Ping`].
    Pong {
        id: u64,
        #[serde(with = "chrono::serde::ts_microseconds")]
        ts: DateTime<Utc>,
    },
    Error(ErrorReply),
}

// ---------------------------------------------------------------------------------------------
// Client -> server
// ---------------------------------------------------------------------------------------------

/// Where a reconnecting client left off: the epoch it was in and, per channel, the last `seq`
/// it applied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    pub epoch: Epoch,
    pub from: BTreeMap<Channel, Seq>,
}

/// Messages from a client to the server. Every request carries an `id` that the answer echoes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Adds channels. Channels named in `resume.from` (same epoch) continue after the given seq;
    /// the others start with a snapshot. All or nothing: one bad channel refuses the request.
    Subscribe {
        id: u64,
        channels: Vec<Channel>,
        #[serde(default)]
        resume: Option<Resume>,
    },
    /// Removes channels; unknown or unsubscribed ones are ignored.
    Unsubscribe { id: u64, channels: Vec<Channel> },
    /// Asks for a [`ServerMsg::Pong`] with the same id.
    Ping { id: u64 },
}

impl ClientMsg {
    /// Parses one text frame from a client. A frame that is not a valid message becomes an
    /// [`ErrorReply`] that names the problem (with the right code for a bad channel name) and,
    /// when the frame had a numeric `id`, echoes it.
    pub fn decode(text: &str) -> Result<ClientMsg, ErrorReply> {
        serde_json::from_str(text).map_err(|err| {
            #[derive(Deserialize)]
            struct JustId {
                id: Option<u64>,
            }
            let id = serde_json::from_str::<JustId>(text).ok().and_then(|j| j.id);
            let message = err.to_string();
            let code = if message.contains("bad candle interval") {
                ErrorCode::BadInterval
            } else if message.contains("unknown league") {
                ErrorCode::UnknownLeague
            } else if message.contains("unknown channel") {
                ErrorCode::UnknownChannel
            } else {
                ErrorCode::Malformed
            };
            ErrorReply {
                id,
                code,
                message: format!("invalid client message: {message}"),
            }
        })
    }
}

impl ServerMsg {
    /// Encodes for the wire. Serialising these types cannot fail: there are no maps with
    /// non-string keys, and serde_json writes a non-finite float as `null` rather than erring.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_790_000_000_000 + ms).unwrap()
    }

    fn quote() -> Quote {
        Quote {
            symbol: "AAPL".into(),
            bid: 189.12,
            ask: 189.14,
            last: 189.13,
            open: 187.5,
            volume: 1_234_500,
            ts: t(1),
        }
    }

    fn trade() -> Trade {
        Trade {
            symbol: "AAPL".into(),
            price: 189.14,
            size: 300,
            side: Side::Buy,
            ts: t(5),
        }
    }

    fn candle() -> Candle {
        Candle {
            start: t(0),
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 900,
        }
    }

    fn game() -> Game {
        Game {
            id: 7,
            slot: 0,
            league: League::Basketball,
            home: Team {
                code: "BOS".into(),
                name: "Boston Harbor".into(),
            },
            away: Team {
                code: "DEN".into(),
                name: "Denver Peaks".into(),
            },
            home_score: 88,
            away_score: 91,
            period: 4,
            clock_ms: 95_000,
            status: GameStatus::Live,
            ts: t(2),
        }
    }

    fn round_trip(msg: ServerMsg) {
        let text = msg.encode();
        let back: ServerMsg = serde_json::from_str(&text).expect(&text);
        assert_eq!(back, msg, "{text}");
    }

    fn sym(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn every_server_message_round_trips() {
        round_trip(ServerMsg::Welcome {
            epoch: 1,
            ts: t(0),
            heartbeat_ms: 1000,
            max_subscriptions: 512,
            symbols: vec![sym("AAPL"), sym("MSFT")],
        });
        round_trip(ServerMsg::Ack {
            id: 4,
            channels: vec![Channel::Quotes(sym("AAPL"))],
        });
        round_trip(ServerMsg::Snapshot(Snapshot {
            epoch: 42,
            ts: t(3),
            reason: Some(SnapshotReason::Subscribed),
            channels: vec![
                ChannelState {
                    channel: Channel::Quotes(sym("AAPL")),
                    seq: 9,
                    data: Data::Quote(quote()),
                },
                ChannelState {
                    channel: Channel::Trades(sym("AAPL")),
                    seq: 3,
                    data: Data::Trades(vec![trade()]),
                },
                ChannelState {
                    channel: Channel::Candles(sym("AAPL"), Interval::OneMinute),
                    seq: 2,
                    data: Data::Candles(vec![candle()]),
                },
                ChannelState {
                    channel: Channel::Scores(League::Basketball),
                    seq: 0,
                    data: Data::Games(vec![game()]),
                },
            ],
        }));
        round_trip(ServerMsg::Batch(Batch {
            n: 12,
            ts: t(4),
            updates: vec![
                Update {
                    channel: Channel::Quotes(sym("AAPL")),
                    seq: 10,
                    data: Data::Quote(quote()),
                },
                Update {
                    channel: Channel::Candles(sym("AAPL"), Interval::OneSecond),
                    seq: 11,
                    data: Data::Candles(vec![candle()]),
                },
            ],
        }));
        round_trip(ServerMsg::Heartbeat { ts: t(6) });
        round_trip(ServerMsg::Pong { id: 3, ts: t(6) });
        round_trip(ServerMsg::Error(ErrorReply {
            id: Some(5),
            code: ErrorCode::TooManySubscriptions,
            message: "nope".into(),
        }));
    }

    #[test]
    fn every_client_message_round_trips() {
        let mut from = BTreeMap::new();
        from.insert(Channel::Quotes(sym("AAPL")), 17);
        for msg in [
            ClientMsg::Ping { id: 77 },
            ClientMsg::Subscribe {
                id: 1,
                channels: vec![
                    Channel::Quotes(sym("AAPL")),
                    Channel::Scores(League::Soccer),
                ],
                resume: Some(Resume { epoch: 9, from }),
            },
            ClientMsg::Subscribe {
                id: 2,
                channels: vec![],
                resume: None,
            },
            ClientMsg::Unsubscribe {
                id: 3,
                channels: vec![Channel::Trades(sym("MSFT"))],
            },
        ] {
            let text = serde_json::to_string(&msg).unwrap();
            assert_eq!(ClientMsg::decode(&text), Ok(msg), "{text}");
        }
        assert_eq!(
            serde_json::to_string(&ClientMsg::Ping { id: 77 }).unwrap(),
            r#"{"type":"ping","id":77}"#
        );
        // `resume` may be left out.
        assert!(
            ClientMsg::decode(r#"{"type":"subscribe","id":1,"channels":["quotes:A"]}"#).is_ok()
        );
    }

    #[test]
    fn channel_names() {
        for name in [
            "quotes:AAPL",
            "trades:BRK.B",
            "candles:MSFT:1s",
            "candles:MSFT:1m",
            "scores:hockey",
        ] {
            let c: Channel = name.parse().unwrap();
            assert_eq!(c.to_string(), name);
        }
        assert_eq!(
            "candles:AAPL:5m".parse::<Channel>(),
            Err(ChannelError::BadInterval("5m".into()))
        );
        assert_eq!(
            "scores:cricket".parse::<Channel>(),
            Err(ChannelError::UnknownLeague("cricket".into()))
        );
        for bad in [
            "",
            "quotes",
            "quotes:",
            "books:AAPL",
            "candles:AAPL",
            "quotes:A:B",
        ] {
            assert!(
                matches!(bad.parse::<Channel>(), Err(ChannelError::Unknown(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn wire_shape_is_tagged_and_uses_microsecond_timestamps() {
        let text = ServerMsg::Pong { id: 1, ts: t(0) }.encode();
        assert_eq!(text, r#"{"type":"pong","id":1,"ts":1790000000000000}"#);
        let mut q = quote();
        q.ts = t(0);
        let batch = ServerMsg::Batch(Batch {
            n: 3,
            ts: t(0),
            updates: vec![Update {
                channel: Channel::Quotes(sym("AAPL")),
                seq: 1,
                data: Data::Quote(q),
            }],
        })
        .encode();
        assert_eq!(
            batch,
            r#"{"type":"batch","n":3,"ts":1790000000000000,"updates":[{"c":"quotes:AAPL","s":1,"q":{"b":189.12,"a":189.14,"l":189.13,"o":187.5,"v":1234500}}]}"#,
            "the symbol is the channel's and the quote's time is the batch's"
        );
        let trade = Update {
            channel: Channel::Trades(sym("AAPL")),
            seq: 2,
            data: Data::Trades(vec![trade()]),
        };
        assert_eq!(
            trade.encode_in(t(0)),
            r#"{"c":"trades:AAPL","s":2,"t":[{"p":189.14,"q":300,"s":"b","t":1790000000005000}]}"#,
            "a time that differs from the batch's is written"
        );
        assert_eq!(Update::decode_in(&trade.encode_in(t(0)), t(0)), Ok(trade));
    }

    #[test]
    fn a_quote_update_is_at_most_100_bytes() {
        // A long symbol, a price above a thousand dollars, a seq and volume from a long day.
        let q = Quote {
            symbol: "GOOGL".into(),
            bid: 1234.56,
            ask: 1234.61,
            last: 1234.59,
            open: 1219.87,
            volume: 123_456_789,
            ts: t(0),
        };
        let json = Update {
            channel: Channel::Quotes("BRK.B".into()),
            seq: 9_876_543,
            data: Data::Quote(q),
        }
        .encode_in(t(0));
        assert!(json.len() <= 100, "{} bytes: {json}", json.len());
    }

    #[test]
    fn items_are_checked_against_their_channel() {
        let ctx = t(0);
        for (bad, why) in [
            (
                r#"{"c":"quotes:A","s":1,"t":[]}"#,
                "trades on a quotes channel",
            ),
            (r#"{"c":"quotes:A","s":1}"#, "no data"),
            (
                r#"{"c":"quotes:A","s":1,"q":{"b":1,"a":2,"l":1,"o":1,"v":1},"k":[]}"#,
                "two kinds",
            ),
            (
                r#"{"c":"quotes:A","s":1,"q":{"b":1,"a":2,"l":1,"o":1,"v":1,"x":0}}"#,
                "unknown key",
            ),
            (
                r#"{"c":"quotes:A","s":1,"q":{"b":1,"a":2,"l":1,"o":1,"v":1,"t":9223372036854775807}}"#,
                "time out of range",
            ),
        ] {
            assert!(Update::decode_in(bad, ctx).is_err(), "{why}: {bad}");
        }
    }

    #[test]
    fn bad_client_messages_become_typed_errors() {
        let err = ClientMsg::decode("not json").unwrap_err();
        assert_eq!((err.code, err.id), (ErrorCode::Malformed, None));
        assert!(
            err.message.contains("invalid client message"),
            "{}",
            err.message
        );

        let err = ClientMsg::decode(r#"{"type":"launch","id":12}"#).unwrap_err();
        assert_eq!((err.code, err.id), (ErrorCode::Malformed, Some(12)));
        assert!(err.message.contains("launch"), "{}", err.message);

        let err = ClientMsg::decode(r#"{"type":"subscribe","id":3,"channels":["candles:A:5m"]}"#)
            .unwrap_err();
        assert_eq!((err.code, err.id), (ErrorCode::BadInterval, Some(3)));
        let err = ClientMsg::decode(r#"{"type":"subscribe","id":4,"channels":["scores:chess"]}"#)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownLeague);
        let err =
            ClientMsg::decode(r#"{"type":"subscribe","id":5,"channels":["nope"]}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownChannel);

        assert!(ClientMsg::decode(r#"{"type":"ping"}"#).is_err());
        assert!(ClientMsg::decode(r#"{"type":"ping","id":-1}"#).is_err());
        assert!(ClientMsg::decode("").is_err());
    }

    #[test]
    fn clock_runs_from_its_anchor_only_while_live() {
        let mut g = game();
        assert_eq!(
            g.clock_at(t(2) + chrono::Duration::milliseconds(5_000)),
            90_000
        );
        assert_eq!(g.clock_at(t(2) + chrono::Duration::hours(1)), 0);
        assert_eq!(
            g.clock_at(t(0)),
            95_000,
            "a reading before the anchor does not run back"
        );
        g.status = GameStatus::Break;
        assert_eq!(
            g.clock_at(t(2) + chrono::Duration::milliseconds(5_000)),
            95_000
        );
        g.status = GameStatus::Live;
        g.league = League::Soccer;
        g.clock_ms = 44 * 60_000;
        assert_eq!(
            g.clock_at(t(2) + chrono::Duration::minutes(5)),
            45 * 60_000,
            "soccer counts up and stops at the end of the half"
        );
    }

    #[test]
    fn period_labels() {
        assert_eq!(League::Basketball.period_label(3), "Q3");
        assert_eq!(League::Basketball.period_label(5), "OT");
        assert_eq!(League::Hockey.period_label(6), "3OT");
        assert_eq!(League::Soccer.period_label(2), "2H");
    }

    #[test]
    fn change_is_relative_to_the_open() {
        let q = quote();
        assert!((q.change() - 1.63).abs() < 1e-9);
        assert!((q.change_pct() - 1.63 / 187.5 * 100.0).abs() < 1e-9);
    }
}
