//! What clients are sent, and how: one stream per client over `/ws` or `/sse`.
//!
//! # Layout
//!
//! - `feed_view`: the feed as the transports see it (the hub, older updates, channel sets).
//! - `admission`: the gate both transports go through (origin, caps, per-address counts),
//!   and the rules every session follows (`Limits`).
//! - `channel_sets`: sets of channels, interned so that sessions with equal sets share one
//!   frame per tick.
//! - `subscriber`: one client's channels and position, whatever the transport: what to send of
//!   each tick, snapshots, resumes, and catching up a slow reader.
//! - `views`: a connection's windows of the ranked universe, kept current as prices move.
//! - `websocket`: `/ws`: the endpoint, the session, the outlet (a socket's write side) and the
//!   fan-out that writes ticks to sessions in sync without waking them.
//! - `sse`: `/sse`: the same messages as Server-Sent Events, positions in the URL.

pub(crate) mod admission;
pub(crate) mod channel_sets;
pub(crate) mod feed_view;
pub(crate) mod sse;
pub(crate) mod subscriber;
pub(crate) mod views;
pub(crate) mod websocket;
