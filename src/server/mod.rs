//! Everything that only runs on the server (feature `ssr`).
//!
//! # Layout
//!
//! Arrows run one way, down this list: a folder imports from the folders below it, never from
//! one above, and nothing imports `start` (the composition root, which builds the rest).
//!
//! - `start`: builds a server from its [`Config`] (the feed, the cluster, the transports, the
//!   HTTP surface) and serves it; [`start()`] and [`Running`].
//! - `config`: the command line and environment (clap).
//! - `http`: the HTTP surface: the serve loop and its limits, the router, the page (rendered
//!   once per tick), `POST /api/publish`, `/healthz` and `/readyz`, `/metrics`.
//! - `transport`: what clients are sent and how: the admission both transports share, one
//!   client's stream (`subscriber`), WebSocket sessions and the fan-out that writes ticks to
//!   them, Server-Sent Events.
//! - `net`: the HTTP/1.1 serve loop: connection limits, per-address counts, peer and client
//!   addresses.
//! - `rfc6455`: our WebSocket codec (handshake, frames, permessage-deflate), written for shared
//!   compressed frames; Autobahn-tested.
//! - `cluster`: several nodes on one Redis: the node loop (follow or lead), the store and its
//!   scripts, checkpoints, the cluster's publish queue.
//! - `sources`: where a tick's events come from (the simulator, a replay, the publish inbox),
//!   the recorder, and the pump that commits one tick from them every interval.
//! - `feed`: the feed core, with no HTTP and no Redis in it: the catalog of channels, the hub
//!   (live state, seqs, history, the tick broadcast), numbering a tick, candles.
//! - `health`, `metrics`, `bucket`: leaves used from above: a node's health flags, the
//!   metrics recorded on hot paths, a token bucket.

pub mod config;
mod start;

pub(crate) mod bucket;
pub(crate) mod cluster;
pub(crate) mod feed;
pub(crate) mod health;
pub(crate) mod http;
pub(crate) mod metrics;
pub(crate) mod net;
pub(crate) mod rfc6455;
pub(crate) mod sources;
pub(crate) mod transport;

pub use config::Config;
pub use start::{start, Running};
