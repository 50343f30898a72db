//! The feed core: what a tick is, how it is numbered and kept, and the hub every transport
//! reads it from. Nothing here knows HTTP, WebSockets or Redis; a cluster and the transports
//! are built on top of it.
//!
//! # Layout
//!
//! - `catalog`: every channel the server publishes, numbered densely (`ChannelId`).
//! - `tick`: one committed tick as sessions receive it, each update encoded once.
//! - `numbering`: turns a tick's events into channel updates with their next seqs.
//! - `hub`: live state, seqs and histories; commits ticks, answers snapshots and resumes.
//! - `ranking`: the universe in a view's order (by % change, volume, ...), once per tick.
//! - `state`: the live state of every channel (what a snapshot and the page show).
//! - `history`: one channel's recent updates for resume, stored compactly, and their windows.
//! - `archive`: where updates older than the hub's history may be read (a cluster's Redis).
//! - `candles`: trades aggregated into OHLCV candles.
//! - `breadth`: the market at a glance (up, down, top movers), a channel of its own.
//! - `clock`: the feed's clock, to the microsecond the protocol carries.

pub(crate) mod archive;
pub(crate) mod breadth;
pub(crate) mod candles;
pub(crate) mod catalog;
pub(crate) mod clock;
pub(crate) mod history;
pub(crate) mod hub;
pub(crate) mod numbering;
pub(crate) mod ranking;
pub(crate) mod state;
pub(crate) mod tick;

#[cfg(test)]
pub(crate) mod fixtures;
