//! Everything that only runs in the browser (feature `hydrate`).
//!
//! # Layout
//!
//! Arrows run one way, down this list (`scripts/module_graph.py` checks it in `make lint`).
//!
//! - `stream`: the connection's life: connect, fall back from WebSocket to Server-Sent Events
//!   and back, notice a silent server, reconnect with backoff; the status bar's timer.
//! - `apply`: what each of the server's messages does to the dashboard.
//! - `requests`: what the page asks for as the user acts (its channels, the grid's view, the
//!   repair of a gap), in small, paced requests.
//! - `state`: the feed's own state, the helpers every part uses, and the hooks through which
//!   the parts above it ask the stream for a new connection without importing it.
//! - `transport`: one connection (a `WebSocket` or an `EventSource`) behind one interface.
//! - `background`: a hidden page lets go of all but what its alerts need, and comes back.
//! - `history`: older candles fetched as the chart is panned into the past.
//! - `notify`: alerts as desktop notifications and tones, paced; toasts aged.
//! - `prefs`: the preferences saved in the browser (and synced across its tabs).
//! - `address`: the page's address, kept on the view it shows (a link reopens it).
//! - `timing`: the page's own work marked on the browser's timeline (User Timing).

mod address;
mod apply;
mod background;
mod history;
mod notify;
mod prefs;
mod requests;
mod state;
mod stream;
pub(crate) mod timing;
mod transport;

pub(crate) use stream::start;
