//! The messages of a session: what the server sends (`ServerMsg`) and what a client asks
//! (`ClientMsg`). Market data inside them travels in the short form of `wire`.

use super::channel::{Channel, Epoch, Seq};
use super::market::{Breadth, Candle, Game, Quote, SortKey, Trade};
use super::sparkline::Sparkline;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// The market's breadth, whole (replaced on every update).
    Breadth(Breadth),
}

/// One channel's whole state at `seq`. Encoded only inside a [`Snapshot`] (`wire` has its
/// short form, and the serde impls of [`Snapshot`] and [`Batch`]).
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
    /// The client fell too far behind the live stream, or resumed asking for the latest
    /// state only ([`Resume::latest`]); the latest state replaces what it missed (quotes and
    /// scores conflated to their latest value; trades it missed beyond the history are lost,
    /// and this says so).
    Lagged,
    /// The state embedded in a server-rendered page.
    Page,
}

/// The state of some channels. Clients replace what they hold for each listed channel and
/// continue from its `seq`. Timestamps inside that equal the snapshot's `ts` are left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub epoch: Epoch,
    pub ts: DateTime<Utc>,
    pub reason: Option<SnapshotReason>,
    pub channels: Vec<ChannelState>,
}

/// One channel's update number `seq`. Encoded only inside a [`Batch`] (or, on the server, with
/// the time of the batch it will travel in: [`Update::encode_in`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    pub channel: Channel,
    pub seq: Seq,
    pub data: Data,
}

/// Every update of one tick for this client's channels, in one frame. Timestamps inside that
/// equal the batch's `ts` are left out.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// The tick these updates were published in (numbered `1, 2, 3, …` within the epoch, on
    /// every node). A client that has applied every batch up to tick `n` can resume all its
    /// channels "after tick n" (`/sse`'s `after`), whatever their seqs.
    pub n: u64,
    /// When the server produced these updates (the start of publish-to-screen latency).
    pub ts: DateTime<Utc>,
    pub updates: Vec<Update>,
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
    /// A view the server will not serve as asked (a window over `max_view_rows`, too many views
    /// on one connection, a filter over 16 characters); the message says which limit.
    BadView,
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
        /// How many symbols the server publishes (the universe a view ranks). Their names come
        /// with a [`ClientMsg::Symbols`] request, or through a view.
        universe: u32,
        /// The most rows one view may hold, and views one connection may hold.
        max_view_rows: u32,
        max_views: u32,
    },
    /// A subscribe or unsubscribe request succeeded; its snapshot and replay follow.
    Ack {
        id: u64,
        channels: Vec<Channel>,
    },
    Snapshot(Snapshot),
    Batch(Batch),
    /// Symbols listed since the client last heard of the list (a publisher added them), in
    /// display order after those already known. Their channels can be subscribed from now on.
    /// Sent only to clients that asked for the list ([`ClientMsg::Symbols`]); a view's
    /// `total` tells the others.
    Listed {
        symbols: Vec<String>,
    },
    /// Answer to [`ClientMsg::Symbols`]: symbols `offset ..` in display order, of `total`.
    Symbols {
        id: u64,
        total: u32,
        offset: u32,
        symbols: Vec<String>,
    },
    /// A view's window, in order: row `offset + i` of the ranking is `symbols[i]`, and `total`
    /// symbols match the view's filter. Sent after a view request's `ack`, and again whenever
    /// the window's rows or their order change (at most once per tick, never while the view is
    /// held). The quotes of rows that join the window come in a snapshot right after it (or
    /// are replayed, when the request gave their positions); rows that leave it are no longer
    /// sent.
    Rows {
        view: u32,
        /// The tick the ranking was taken at.
        n: u64,
        total: u32,
        offset: u32,
        symbols: Vec<String>,
        /// The recent prices of the rows new to the window (not in the view's last `rows`),
        /// so that they draw their trend at once.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        sparks: BTreeMap<String, Sparkline>,
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

/// Where a reconnecting client left off: the epoch it was in and, per channel, the last `seq`
/// it applied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    pub epoch: Epoch,
    pub from: BTreeMap<Channel, Seq>,
    /// Only the latest state of what changed since `from`, not every update missed: a state
    /// channel (quotes, candles, scores, breadth) that has not moved since its seq gets
    /// nothing, one that has moved gets a `lagged` snapshot of its state now; trades are
    /// replayed as always. For a client that was away on purpose (a hidden tab coming back):
    /// exact, and as cheap as the channels that moved, however long it was away.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub latest: bool,
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
    /// Opens view `view` (a number the client picks), or changes it: a window of the universe
    /// ranked by `spec`. The server subscribes the connection to the quotes of the window's
    /// rows and keeps the window current as the ranking moves (see [`ServerMsg::Rows`]).
    /// Positions in `resume` (same epoch) continue those rows' quotes by seq instead of a
    /// snapshot.
    View {
        id: u64,
        view: u32,
        #[serde(flatten)]
        spec: ViewSpec,
        #[serde(default)]
        resume: Option<Resume>,
    },
    /// Closes a view: its rows are no longer sent (unless subscribed otherwise).
    CloseView { id: u64, view: u32 },
    /// Asks for the names of symbols `offset ..` (at most `limit`), in display order. From then
    /// on the connection is told of new listings ([`ServerMsg::Listed`]).
    Symbols {
        id: u64,
        #[serde(default)]
        offset: u32,
        limit: u32,
    },
}

/// Which part of the ranked universe a view shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ViewSpec {
    #[serde(default)]
    pub sort: SortKey,
    /// Largest first (for `symbol`: Z to A).
    #[serde(default)]
    pub desc: bool,
    /// Only symbols that contain this text (any case); empty: every symbol.
    #[serde(default)]
    pub filter: String,
    /// The window: rows `offset .. offset + limit` of the ranking.
    #[serde(default)]
    pub offset: u32,
    pub limit: u32,
    /// Keep the window's rows and order as they are (the user points at them); its quotes
    /// stay live. Unheld, the window follows the ranking again.
    #[serde(default)]
    pub hold: bool,
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
