//! The feed from Rust (feature `client`): connect to a livetape server (or several, a
//! cluster's edges), subscribe, and read typed events that never lose data silently.
//!
//! ```no_run
//! use livetape::client::{Client, Event};
//! use livetape::protocol::{Channel, Data};
//!
//! #[tokio::main]
//! async fn main() {
//!     let mut client = Client::connect(["ws://127.0.0.1:3000/ws"]);
//!     client.subscribe([Channel::Quotes("AAPL".into())]);
//!     while let Some(event) = client.next().await {
//!         if let Event::Batch(batch) = event {
//!             for update in batch.updates {
//!                 if let Data::Quote(q) = update.data {
//!                     println!("{} {:.2} ({:+.2}%)", q.symbol, q.last, q.change_pct());
//!                 }
//!             }
//!         }
//!     }
//! }
//! ```
//!
//! What it does for its user, so that no program has to:
//! - **Resume**: per channel it keeps the epoch and the last seq it handed over. On every
//!   reconnect it subscribes again with those positions, and the server replays exactly what
//!   was missed, or sends a snapshot whose reason says why it could not (`epoch_changed`,
//!   `history_exhausted`, `lagged`). Updates already handed over are dropped; a gap makes the
//!   client resume that channel at once. Per channel and epoch, what the user reads is
//!   gap-free and without duplicates ([`Event`]).
//! - **Reconnects** with exponential backoff and jitter, to the next URL when one cannot be
//!   reached, and treats a connection that stays silent past a few heartbeats as dead.
//! - **Says what happened**: connection changes, refusals of the handshake or of a
//!   subscription are events with typed errors ([`Error`], [`Event::Refused`]).
//!
//! Plain `ws://` URLs (TLS is left to a proxy in front of the server).
//!
//! # Layout
//!
//! - `Client` and `Options` (this file): the user's handle and how it connects.
//! - `event`: what the client hands its user.
//! - `error`: why a connection ended or could not start.
//! - `driver`: the task that owns the connection: connects, resumes, reads, repairs,
//!   reconnects.
//! - `connection`: one WebSocket connection speaking the protocol ([`Connection`]), for the
//!   driver and for programs that must see every message as sent (load generator, soak, tests).
//! - `positions`: per channel, the epoch and the last seq handed over; what an update is.
//! - `backoff`: how long to wait before the next attempt.
//! - `tail` (in the server's build, which has clap): `livetape tail`, the feed in a terminal.

mod backoff;
mod connection;
mod driver;
mod error;
mod event;
mod positions;
#[cfg(feature = "ssr")]
pub mod tail;

pub use connection::{Connection, WebSocket, WebSocketConfig};
pub use error::Error;
pub use event::Event;

use crate::protocol::Channel;
use driver::{Command, Driver};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// How a [`Client`] connects. [`Options::new`] has the defaults; every field can be set.
#[derive(Clone, Debug)]
pub struct Options {
    /// The servers, tried in turn (e.g. a cluster's edges): `ws://HOST:PORT/ws`.
    pub urls: Vec<String>,
    /// The first wait after a failure (250 ms); each further failure doubles it.
    pub first_retry: Duration,
    /// The longest wait between attempts (10 s).
    pub max_retry: Duration,
    /// How long a connection and its handshake may take (5 s).
    pub connect_timeout: Duration,
    /// How many heartbeat intervals of silence mean the connection is dead (3).
    pub heartbeats_missed: u32,
    /// Events held for the user before the client stops reading the socket (1,024). A user
    /// who falls further behind is caught up by the server (a `lagged` snapshot).
    pub buffer: usize,
}

impl Options {
    pub fn new<I, S>(urls: I) -> Options
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Options {
            urls: urls.into_iter().map(Into::into).collect(),
            first_retry: Duration::from_millis(250),
            max_retry: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            heartbeats_missed: 3,
            buffer: 1024,
        }
    }
}

/// A connection to the feed that outlives connections: see the [module docs](self). Read it
/// as a [`Stream`](futures_util::Stream) of [`Event`]s or with [`Client::next`]. Dropping it
/// closes the connection.
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<Event>,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    /// Starts following the feed at `urls` (tried in turn) with the default [`Options`]. It
    /// returns at once; the connection's progress arrives as events. Must be called within a
    /// tokio runtime.
    ///
    /// # Panics
    /// If `urls` is empty.
    pub fn connect<I, S>(urls: I) -> Client
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Client::with_options(Options::new(urls))
    }

    /// As [`Client::connect`], with these options.
    ///
    /// # Panics
    /// If `options.urls` is empty.
    pub fn with_options(options: Options) -> Client {
        assert!(
            !options.urls.is_empty(),
            "livetape client: no URL to connect to"
        );
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::channel(options.buffer.max(1));
        let task = tokio::spawn(Driver::new(options, commands_rx, events_tx).run());
        Client {
            commands,
            events,
            task,
        }
    }

    /// Adds channels: each starts with a snapshot (reason `subscribed`), then its updates. A
    /// channel the server refuses comes back as [`Event::Refused`].
    pub fn subscribe(&self, channels: impl IntoIterator<Item = Channel>) {
        let _ = self
            .commands
            .send(Command::Subscribe(channels.into_iter().collect()));
    }

    /// Removes channels; nothing more of them is handed over.
    pub fn unsubscribe(&self, channels: impl IntoIterator<Item = Channel>) {
        let _ = self
            .commands
            .send(Command::Unsubscribe(channels.into_iter().collect()));
    }

    /// The next event; `None` only once the client's task has ended.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }
}

impl futures_util::Stream for Client {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}
