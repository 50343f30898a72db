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

/// The WASM entry point: hydrates the server-rendered page in tasks short enough to keep the
/// page responsive, each timed on the browser's timeline (`browser::timing`): the page's state
/// is decoded (`livetape-decode`), the dashboard built from it (`livetape-prepare`), the page
/// hydrated (`livetape-hydrate`), then its parts, the tape, the grid's column and each side
/// panel, in tasks of their own (`app::hydrated_later`). None runs in this task: it follows
/// the WASM module's compilation. The browser compiles WASM functions on their first call, so
/// each task also warms up code that the next would otherwise compile.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    use browser::timing::timed;
    use leptos::prelude::set_timeout;
    use std::time::Duration;
    console_error_panic_hook::set_once();
    // Where the page's own script starts (see `browser::timing`).
    browser::timing::mark("livetape-script");
    set_timeout(
        || timed("livetape-decode", app::load_page_state),
        Duration::ZERO,
    );
    set_timeout(
        || timed("livetape-prepare", app::prepare_dashboard),
        Duration::ZERO,
    );
    set_timeout(
        || timed("livetape-hydrate", || leptos::mount::hydrate_body(app::App)),
        Duration::ZERO,
    );
}
