//! livetape: a live market and sports dashboard.
//!
//! The server simulates a market and sports games, fans the events out over a WebSocket and
//! renders the first paint from live state; the browser hydrates that page and applies the
//! stream to fine-grained signals.
//!
//! # Layout
//!
//! - [`protocol`]: the message types on the wire, shared by server, browser and Rust clients.
//! - `server::simulator`: the seeded market (random-walk quotes, trades) and games (scores, clock).
//! - `server::hub`: fan-out; applies each tick's batch to the live state, encodes it once, broadcasts it.
//! - `server::feed`: the task that steps the simulator every tick and publishes to the hub.
//! - `server::ws`: the `/ws` upgrade: origin check, connection cap, socket limits.
//! - `server::page`: server-side rendering of the page from the hub's snapshot.
//! - `server::config`: command-line and environment configuration.
//! - [`ui`]: the reactive store (`ui::store`) and the components (`market`, `ticker`, `detail`,
//!   `scoreboard`, `status`, `announcer`, `sparkline`).
//! - [`app`]: the HTML shell and the root component.
//! - `client::feed`: the browser's socket: subscribes, resumes, applies the stream, reconnects.
//! - `client::prefs`: watchlist, sort, theme and selection kept in localStorage.
//! - [`clock_sync`]: server clock offset (min-RTT pings) and message rate, for the status bar.
//! - `server::catalog`: channel names to dense ids. `server::candles`: OHLCV from trades.
//! - `server::session`: one client's subscriptions, catch-up, heartbeats and limits.
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
