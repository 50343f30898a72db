//! Everything that only runs in the browser (feature `hydrate`).
//!
//! # Layout
//!
//! - `stream`: the dashboard's stream of the feed: subscribes, resumes, applies what arrives,
//!   repairs gaps, reconnects, and falls back from WebSocket to Server-Sent Events.
//! - `transport`: one connection (a `WebSocket` or an `EventSource`) behind one interface.
//! - `prefs`: the preferences saved in the browser.

mod prefs;
mod stream;
mod transport;

pub(crate) use stream::start;
