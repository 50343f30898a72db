//! livetape: a live market and sports dashboard.
//!
//! The server simulates a market and sports games, fans the events out over a WebSocket and
//! renders the first paint from live state; the browser hydrates that page and applies the
//! stream to fine-grained signals.
//!
//! # Layout
//!
//! - [`protocol`]: the message types on the wire, shared by the server, the browser and Rust
//!   clients; `protocol::wire` the short form of market data, `protocol::publish` the publish
//!   body.
//! - `server` (feature `ssr`): the server; its own Layout names every part (the feed core, its
//!   sources, the cluster, the transports, the HTTP surface). Public: `server::start` and
//!   `server::config`.
//! - `ui`: the reactive store and the components, compiled for both the server's render and
//!   the browser; `app`: the HTML shell and the root component.
//! - [`client`] (feature `client`, and in the server's build): the feed from Rust, on
//!   tokio-tungstenite: subscribe, resume, reconnect, typed events; `livetape tail` uses it.
//! - `browser` (feature `hydrate`): the browser's side of the feed (WebSocket or SSE, resume,
//!   gaps, reconnects) and its saved preferences.
//! - `clock_sync`: the server's clock offset (min-RTT pings) and the message rate, for the
//!   status bar.
//! - `testing` (feature `test-support`): the internals the integration tests, the fuzz targets
//!   and the benchmark tools drive directly.
//!
//! Server-only code is behind the `ssr` feature and browser-only code behind `hydrate`; the
//! protocol and the UI compile for both.

pub mod protocol;

// The page: rendered by the server, hydrated by the browser (neither is in a client-only build).
#[cfg(any(feature = "ssr", feature = "hydrate"))]
pub(crate) mod app;
#[cfg(any(feature = "hydrate", test))]
pub(crate) mod clock_sync;

#[cfg(feature = "client")]
pub mod client;
#[cfg(any(feature = "ssr", feature = "hydrate"))]
pub(crate) mod ui;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
mod browser;

#[cfg(all(feature = "ssr", feature = "test-support"))]
pub mod testing;

/// The WASM entry point: hydrates the server-rendered page. The page's state is decoded
/// first and hydration runs in the next task, so that neither is a long task on its own (the
/// browser compiles WASM functions on their first call, so decoding also warms up code that
/// hydration would otherwise compile); the grid's column and the side column then hydrate in
/// tasks of their own (`app::hydrated_later`).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Where the page's own script starts (see `browser::timing`).
    browser::timing::mark("livetape-script");
    app::load_page_state();
    leptos::prelude::set_timeout(
        || browser::timing::timed("livetape-hydrate", || leptos::mount::hydrate_body(app::App)),
        std::time::Duration::ZERO,
    );
}
