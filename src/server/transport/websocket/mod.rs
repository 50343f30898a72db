//! `/ws`: the feed over our own WebSocket codec (`rfc6455`).
//!
//! # Layout
//!
//! - `endpoint`: the upgrade: handshake, the gate, then a session.
//! - `session`: one client's requests, heartbeats and pings, in one of two modes: attached
//!   (the fan-out writes its ticks) or detached (it forwards them itself while it catches up).
//! - `requests`: what a client may ask (subscribe, views, the list of symbols, ping) and how
//!   each changes what the session streams.
//! - `outlet`: a connection's write side, shared by the session and the fan-out under one small
//!   lock, so that no tick is written twice or skipped.
//! - `fanout`: the shard tasks that write each tick's shared frame to every attached socket.

pub(crate) mod endpoint;
pub(crate) mod fanout;
pub(crate) mod outlet;
pub(crate) mod requests;
pub(crate) mod session;
