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
//!
//! # Layout
//!
//! - `market`: quotes, trades, candles, games, and events.
//! - `channel`: channel names, seqs and epochs.
//! - `messages`: what the server sends and what a client asks.
//! - `wire`: the short JSON of market data inside batches and snapshots.
//! - `publish`: the body of `POST /api/publish` (and of a recording's lines).
//! - `sparkline`: a row's recent prices, compactly.

mod channel;
mod market;
mod messages;
pub mod publish;
pub mod sparkline;
mod wire;

pub use channel::{Channel, ChannelError, Epoch, Seq};
pub use market::{
    Breadth, Candle, Event, Game, GameStatus, Interval, League, Mover, Quote, Side, SortKey, Team,
    Trade,
};
pub use messages::{
    Batch, ChannelState, ClientMsg, Data, ErrorCode, ErrorReply, Resume, ServerMsg, Snapshot,
    SnapshotReason, Update, ViewSpec,
};
pub use sparkline::Sparkline;
pub use wire::{ItemOut, RawItem};

#[cfg(test)]
mod tests;
