//! livetape: a live market and sports dashboard.
//!
//! The server simulates a market and sports games, fans the events out over a WebSocket and
//! renders the first paint from live state; the browser hydrates that page and applies the
//! stream to fine-grained signals.
//!
//! # Layout
//!
//! - [`protocol`]: the message types on the wire, shared by server, browser and Rust clients;
//!   `protocol::wire` the short form of market data, `protocol::publish` the publish body.
//! - `server::simulator`: the seeded market (quotes, trades) and games (scores, clock).
//! - `server::sources`: the other sources of a tick: the publish inbox, the recorder, the replay.
//! - `server::feed`: the task that draws each tick from the sources and commits it to the hub.
//! - `server::hub`: live state per channel and seqs; commits ticks and answers resumes.
//! - `server::history`: one channel's recent updates for resume, stored compactly, and how far
//!   back each kind of channel keeps them.
//! - `server::fanout`: writes each tick's shared frame to every in-sync session.
//! - `server::session`: one client's subscriptions, resume, catch-up, heartbeats and limits.
//! - `server::ws` and `server::websocket`: the `/ws` upgrade and our RFC 6455 frames.
//! - `server::sse`: the same feed as Server-Sent Events. `server::publish`: `POST /api/publish`.
//! - `server::cluster`: Redis: the commit script, streams, lease, checkpoints, publish inbox.
//! - `server::page` and `server::page_cache`: the server-rendered page, once per tick.
//! - `server::metrics`, `server::health`, `server::http`: `/metrics`, `/readyz`, limits.
//! - `server::config`: command-line and environment configuration.
//! - [`ui`]: the reactive store (`ui::store`) and the components (`market`, `ticker`, `detail`,
//!   `scoreboard`, `status`, `announcer`, `sparkline`). [`app`]: the HTML shell and root.
//! - `client::feed` and `client::transport`: the browser's feed over WebSocket or SSE:
//!   subscribes, resumes, applies the stream, reconnects. `client::prefs`: saved preferences.
//! - [`clock_sync`]: server clock offset (min-RTT pings) and message rate, for the status bar.
//!
//! Server-only code is behind the `ssr` feature and browser-only code behind `hydrate`; the
//! protocol and the UI compile for both.

pub mod app;
pub mod clock_sync;
pub mod protocol;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
mod client;

/// The WASM entry point: hydrates the server-rendered page. The page's state is decoded
/// first and hydration runs in the next task, so that neither is a long task on its own (the
/// browser compiles WASM functions on their first call, so decoding also warms up code that
/// hydration would otherwise compile).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    app::load_page_state();
    leptos::prelude::set_timeout(
        || leptos::mount::hydrate_body(app::App),
        std::time::Duration::ZERO,
    );
}
