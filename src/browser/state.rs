//! The browser feed's own state (one page, one thread: a `thread_local`), and the few helpers
//! every part of it uses.

use crate::browser::transport::Connection;
use crate::clock_sync::{ClockSync, RateMeter};
use crate::protocol::{Channel, ClientMsg, Epoch, ServerMsg, ViewSpec};
use crate::ui::store::Dashboard;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use leptos::prelude::window;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

/// First background WebSocket try after falling back to an event stream.
pub(crate) const PROBE_FIRST: Duration = Duration::from_secs(5);

/// Which connection a message came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    Main,
    Probe,
}

/// Connections are numbered; a message is routed by whether its connection is the main one,
/// the probe, or neither any more (then it is dropped).
pub(crate) type ConnId = u64;

#[derive(Default)]
pub(crate) struct State {
    pub(crate) connection: Option<(ConnId, Connection)>,
    /// A WebSocket tried in the background while the main connection is an event stream.
    pub(crate) probe: Option<(ConnId, Connection)>,
    pub(crate) next_conn: ConnId,
    /// Failed attempts since the last successful subscribe.
    pub(crate) attempt: u32,
    /// WebSocket attempts in a row that ended before a welcome.
    pub(crate) ws_failures: u32,
    /// The current main connection has been welcomed.
    pub(crate) welcomed: bool,
    /// Event streams only (`?transport=sse` or the saved preference).
    pub(crate) forced_sse: bool,
    /// Delay before the next background WebSocket try.
    pub(crate) probe_delay: Duration,
    /// Local time of the last message of any kind, and of the last data.
    pub(crate) last_message: Option<DateTime<Utc>>,
    pub(crate) last_data: Option<DateTime<Utc>>,
    pub(crate) heartbeat: ChronoDuration,
    /// Server time minus local time.
    pub(crate) clock: ClockSync,
    pub(crate) next_id: u64,
    /// The id of the subscribe that (re)starts the stream; Live once it is answered with data.
    pub(crate) recovering: Option<u64>,
    /// The background WebSocket's subscribe; when answered, it takes over.
    pub(crate) probe_subscribe: Option<u64>,
    /// Channels being resumed after a gap, so that one gap asks only once.
    pub(crate) repairing: BTreeSet<Channel>,
    /// Unknown message types already reported, so each is logged once.
    pub(crate) unknown: HashSet<String>,
    /// Messages held while the view is paused, applied in order on resume.
    pub(crate) held: Vec<ServerMsg>,
    /// Held more than `HOLD_LIMIT`: on resume, resynchronise instead of replaying.
    pub(crate) held_overflow: bool,
    /// Updates per second.
    pub(crate) rate: RateMeter,
    /// The channels the page subscribed to itself, as the server has them.
    pub(crate) explicit: BTreeSet<Channel>,
    /// The grid's view as last sent, and whether a send is waiting (at most one view request
    /// every `VIEW_EVERY`: fast scrolling stays under the server's request rate).
    pub(crate) view_sent: Option<ViewSpec>,
    pub(crate) view_due: bool,
    /// When the last announcement was made, for throttling.
    pub(crate) announced_at: Option<DateTime<Utc>>,
    /// The last sparkline sample's slot of server time.
    pub(crate) spark_slot: i64,
    /// Every batch up to this tick of this epoch has been applied (a position for `/sse`).
    pub(crate) through: Option<(Epoch, u64)>,
    /// The page is coming back from the background: resumes ask for the latest state only.
    pub(crate) latest: bool,
    /// What the stream does when a part below it asks (set by `stream::start`).
    pub(crate) hooks: Option<Hooks>,
}

/// The stream owns the connections; the message handlers (`apply`) and the requests
/// (`requests`) ask it for a new event stream or a background WebSocket through these,
/// so that they never import it and the arrows run one way: stream, apply, requests, state.
#[derive(Clone, Copy)]
pub(crate) struct Hooks {
    /// Replaces the event stream with one for the current channels, view and positions.
    pub(crate) reopen_sse: fn(Dashboard),
    /// While on an event stream, tries a WebSocket again after a while.
    pub(crate) schedule_probe: fn(Dashboard),
}

/// Asks the stream for a new event stream (nothing before the stream started).
pub(crate) fn reopen_sse(dash: Dashboard) {
    if let Some(hooks) = STATE.with_borrow(|s| s.hooks) {
        (hooks.reopen_sse)(dash);
    }
}

/// Asks the stream to try a WebSocket in the background.
pub(crate) fn schedule_probe(dash: Dashboard) {
    if let Some(hooks) = STATE.with_borrow(|s| s.hooks) {
        (hooks.schedule_probe)(dash);
    }
}

/// The current time with sub-millisecond precision where the browser allows it
/// (`performance.timeOrigin + performance.now()`); `Date.now()` has whole milliseconds, too
/// coarse for latency on a fast network.
pub(crate) fn precise_now() -> DateTime<Utc> {
    match window().performance() {
        Some(p) => {
            let ms = p.time_origin() + p.now();
            DateTime::from_timestamp_micros((ms * 1000.0) as i64).unwrap_or_else(Utc::now)
        }
        None => Utc::now(),
    }
}

thread_local! {
    pub(crate) static STATE: RefCell<State> = RefCell::new(State {
        heartbeat: ChronoDuration::seconds(1),
        probe_delay: PROBE_FIRST,
        ..State::default()
    });
}

/// Which role connection `id` has now.
pub(crate) fn role(id: ConnId) -> Option<Via> {
    STATE.with_borrow(|s| {
        if s.connection.as_ref().is_some_and(|(c, _)| *c == id) {
            Some(Via::Main)
        } else if s.probe.as_ref().is_some_and(|(c, _)| *c == id) {
            Some(Via::Probe)
        } else {
            None
        }
    })
}

pub(crate) fn new_conn_id() -> ConnId {
    STATE.with_borrow_mut(|s| {
        s.next_conn += 1;
        s.next_conn
    })
}

/// The next request id.
pub(crate) fn next_id() -> u64 {
    STATE.with_borrow_mut(|s| {
        s.next_id += 1;
        s.next_id
    })
}

/// The main connection is an event stream.
pub(crate) fn on_sse() -> bool {
    STATE.with_borrow(|s| s.connection.as_ref().is_some_and(|(_, c)| c.is_sse()))
}

/// Sends a request on the main connection or the probe (WebSocket only).
pub(crate) fn send(via: Via, msg: &ClientMsg) -> bool {
    STATE.with_borrow(|s| {
        let conn = match via {
            Via::Main => s.connection.as_ref(),
            Via::Probe => s.probe.as_ref(),
        };
        conn.is_some_and(|(_, c)| c.send(msg))
    })
}

/// Data arrived: the connection works.
pub(crate) fn mark_data() {
    STATE.with_borrow_mut(|s| {
        s.last_data = Some(Utc::now());
        s.attempt = 0;
    });
}
