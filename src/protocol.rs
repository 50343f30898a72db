//! The wire protocol: every message that crosses the `/ws` socket, in one place.
//!
//! The server, the hydrated browser client and the Rust test/bench clients all use these
//! types, so nobody builds or parses JSON by hand. Messages are JSON objects with a `type` tag
//! (`snake_case`); timestamps are chrono UTC instants encoded as integer microseconds since the
//! Unix epoch, which is compact, exact and cheap to parse (the latency numbers need sub-ms
//! precision). `docs/protocol.md` shows a JSON example of each message.
//!
//! Invariants a client may rely on:
//! - the first message on a connection is a [`Snapshot`];
//! - every [`Batch`] after it has `seq` exactly one more than the message before it, so a client
//!   that sees a hole knows it lost data;
//! - a new [`Snapshot`] may arrive at any time (for example after the server could not keep up
//!   with this client); it replaces the client's whole state and restarts the sequence from its
//!   `seq`;
//! - `epoch` changes whenever the server restarts: sequence numbers from different epochs are not
//!   comparable.
//!
//! This module depends only on serde and chrono so that it compiles unchanged to WASM.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Position in the event stream of one server epoch. Gap-free: batch `n + 1` follows batch `n`.
pub type Seq = u64;

/// Identifies one run of the server. Sequence numbers are only comparable within an epoch.
pub type Epoch = u64;

/// The latest state of one symbol's market: best bid and ask, last trade, day open and volume.
///
/// A quote is always the whole row, never a delta, so applying it is a replace-by-symbol and a
/// client that missed an older quote of the same symbol loses nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    #[serde(with = "chrono::serde::ts_microseconds")]
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

/// One trade print.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    pub symbol: String,
    pub price: f64,
    pub size: u32,
    pub side: Side,
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub ts: DateTime<Utc>,
}

/// The sport a game is played in; it fixes the number and length of periods and the way the
/// clock runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum League {
    Basketball,
    Hockey,
    Soccer,
    Football,
}

impl League {
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

/// One change in the live state. Each carries the whole new row for its key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Quote(Quote),
    Trade(Trade),
    Game(Game),
}

/// The whole live state at one point of the stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub epoch: Epoch,
    /// The last batch included in this state; the next batch the client sees is `seq + 1`.
    pub seq: Seq,
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub ts: DateTime<Utc>,
    /// One quote per symbol, in display order.
    pub quotes: Vec<Quote>,
    pub games: Vec<Game>,
}

/// Every event the server produced in one tick, in one frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub seq: Seq,
    /// When the server produced these events (the start of publish-to-screen latency).
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub ts: DateTime<Utc>,
    pub events: Vec<Event>,
}

/// What went wrong with a client's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or JSON that is not a known client message.
    Malformed,
    /// A binary frame: the protocol is text only.
    Unsupported,
}

/// The server's answer to a client message it could not act on. The connection stays open.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// The request's `id`, when the server could read one.
    pub id: Option<u64>,
    pub code: ErrorCode,
    /// A human-readable reason, e.g. the parser's complaint with line and column.
    pub message: String,
}

/// Messages from the server to a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Snapshot(Snapshot),
    Batch(Batch),
    /// Answer to [`ClientMsg::Ping`]: an application-level heartbeat, since browsers cannot see
    /// WebSocket pings.
    Pong {
        id: u64,
        #[serde(with = "chrono::serde::ts_microseconds")]
        ts: DateTime<Utc>,
    },
    Error(ErrorReply),
}

/// Messages from a client to the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Asks for a [`ServerMsg::Pong`] with the same id.
    Ping { id: u64 },
}

impl ClientMsg {
    /// Parses one text frame from a client. A frame that is not a valid message becomes an
    /// [`ErrorReply`] that names the problem and, when the frame had a numeric `id`, echoes it.
    pub fn decode(text: &str) -> Result<ClientMsg, ErrorReply> {
        serde_json::from_str(text).map_err(|err| {
            #[derive(Deserialize)]
            struct JustId {
                id: Option<u64>,
            }
            let id = serde_json::from_str::<JustId>(text).ok().and_then(|j| j.id);
            ErrorReply {
                id,
                code: ErrorCode::Malformed,
                message: format!("invalid client message: {err}"),
            }
        })
    }
}

impl ServerMsg {
    /// Encodes for the wire. Serialising these types cannot fail (no maps with non-string keys,
    /// no non-finite floats are produced by the simulator), but a NaN would be written as `null`
    /// by serde_json rather than panic, so this returns the text unconditionally.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|err| {
            // Unreachable with our types; keep the connection alive and say what happened.
            format!(r#"{{"type":"error","id":null,"code":"malformed","message":"encode: {err}"}}"#)
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::Unsupported => "unsupported",
        })
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

    #[test]
    fn every_server_message_round_trips() {
        round_trip(ServerMsg::Snapshot(Snapshot {
            epoch: 42,
            seq: 9,
            ts: t(3),
            quotes: vec![quote()],
            games: vec![game()],
        }));
        round_trip(ServerMsg::Batch(Batch {
            seq: 10,
            ts: t(4),
            events: vec![
                Event::Quote(quote()),
                Event::Trade(Trade {
                    symbol: "AAPL".into(),
                    price: 189.14,
                    size: 300,
                    side: Side::Buy,
                    ts: t(5),
                }),
                Event::Game(game()),
            ],
        }));
        round_trip(ServerMsg::Pong { id: 3, ts: t(6) });
        round_trip(ServerMsg::Error(ErrorReply {
            id: Some(5),
            code: ErrorCode::Malformed,
            message: "nope".into(),
        }));
        round_trip(ServerMsg::Error(ErrorReply {
            id: None,
            code: ErrorCode::Unsupported,
            message: "binary".into(),
        }));
    }

    #[test]
    fn every_client_message_round_trips() {
        let msg = ClientMsg::Ping { id: 77 };
        let text = serde_json::to_string(&msg).unwrap();
        assert_eq!(text, r#"{"type":"ping","id":77}"#);
        assert_eq!(ClientMsg::decode(&text), Ok(msg));
    }

    #[test]
    fn wire_shape_is_tagged_and_uses_microsecond_timestamps() {
        let text = ServerMsg::Pong { id: 1, ts: t(0) }.encode();
        assert_eq!(text, r#"{"type":"pong","id":1,"ts":1790000000000000}"#);
        let batch = ServerMsg::Batch(Batch {
            seq: 1,
            ts: t(0),
            events: vec![Event::Quote(quote())],
        })
        .encode();
        assert!(batch.starts_with(r#"{"type":"batch","seq":1,"#), "{batch}");
        assert!(
            batch.contains(r#"{"kind":"quote","symbol":"AAPL","#),
            "{batch}"
        );
    }

    #[test]
    fn bad_client_messages_become_typed_errors() {
        let err = ClientMsg::decode("not json").unwrap_err();
        assert_eq!(err.code, ErrorCode::Malformed);
        assert_eq!(err.id, None);
        assert!(
            err.message.contains("invalid client message"),
            "{}",
            err.message
        );

        let err = ClientMsg::decode(r#"{"type":"launch","id":12}"#).unwrap_err();
        assert_eq!(err.id, Some(12), "the id is echoed when it can be read");
        assert!(err.message.contains("launch"), "{}", err.message);

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
