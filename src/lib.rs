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
//! - `server::ws`: the `/ws` endpoint: snapshot, then the stream; answers client messages.
//! - `server::page`: server-side rendering of the page from the hub's snapshot.
//! - `server::config`: command-line and environment configuration.
//! - [`ui`]: the reactive store (`ui::store`) and the components (`market`, `scoreboard`, `status`).
//! - [`app`]: the HTML shell and the root component.
//! - `client::feed`: the browser's socket: applies the stream, detects gaps and silence, reconnects.
//!
//! Server-only code is behind the `ssr` feature and browser-only code behind `hydrate`; the
//! protocol and the UI compile for both.

pub mod app;
pub mod protocol;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
mod client;

/// The WASM entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
