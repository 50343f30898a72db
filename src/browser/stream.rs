//! The browser's connection to the feed: subscribes, resumes, applies the stream, reconnects,
//! and falls back from WebSocket to Server-Sent Events when WebSockets are blocked.
//!
//! The page comes with a snapshot and each channel's seq (and the tick they stand at), so the
//! first subscribe already resumes from exactly what the HTML shows: the server replays what
//! happened since the render and the table never blanks. Every later reconnect resumes the
//! same way. An update that does not follow its channel's last seq is a gap: it is not
//! applied, and that channel is resumed (the server replays from its history or says why it
//! cannot with a fresh snapshot).
//!
//! Transports: the WebSocket is tried first. When it cannot open, or closes before the
//! welcome, `FALLBACK_AFTER` times in a row, the next attempt is an event stream (`/sse`);
//! when that works the status bar says "Live · SSE", and a WebSocket is tried again in the
//! background every so often: once it has been answered the stream is closed. Both carry the
//! same seqs and every update is checked against them, so the overlap while switching shows
//! nothing twice and loses nothing. `?transport=sse` (or the saved preference
//! `livetape.transport` = `"sse"`) uses the event stream only.
//!
//! The server sends something at least every heartbeat interval, so silence for
//! `SILENT_BEATS` intervals means the server or the path to it is gone even if TCP has not
//! noticed; the connection is dropped and the client reconnects. Data silence while
//! heartbeats still arrive is shown as Stale. Reconnects back off exponentially with jitter,
//! so that a restarted server is not hit by every browser at once.

use crate::browser::apply::{apply, on_message};
use crate::browser::requests::{only_changed, resync, sse_query, sync_channels, view_changed};
use crate::browser::state::{
    new_conn_id, next_id, on_sse, precise_now, role, send, ConnId, Hooks, Via, STATE,
};
use crate::browser::transport::{Connection, CLOSE_DEAD};
use crate::protocol::ClientMsg;
use crate::ui::store::{Dashboard, Link, Notice, SPARK_STEP_SECS};
use chrono::{Duration as ChronoDuration, Utc};
use leptos::prelude::*;
use std::time::Duration;

/// Heartbeat intervals of silence after which the connection is considered dead.
const SILENT_BEATS: i64 = 3;
/// No data for this long while connected shows Stale.
const STALE_AFTER: ChronoDuration = ChronoDuration::seconds(5);
const BACKOFF_MIN_MS: f64 = 1_000.0;
const BACKOFF_MAX_MS: f64 = 5_000.0;
/// WebSocket attempts failed before any welcome, in a row, before trying an event stream.
const FALLBACK_AFTER: u32 = 3;
/// Retry delay while counting those failures: a blocked WebSocket fails at once, and there
/// is no server to spare.
const EARLY_RETRY_MS: f64 = 300.0;
/// The longest gap between background WebSocket tries.
const PROBE_MAX: Duration = Duration::from_secs(60);
/// At most one announcement this often.
const ANNOUNCE_EVERY: ChronoDuration = ChronoDuration::seconds(3);

/// Starts the saved preferences, then the clock and the connection. Called once after
/// hydration, in a task of its own; the connection starts in the next (`livetape-connect` on
/// the browser's timeline): restoring the preferences runs the page's effects that read them,
/// and with the feed's own effects after them the one task took 30-40 ms on a 2-core machine.
pub(crate) fn start(dash: Dashboard, page_tick: u64) {
    crate::browser::prefs::restore_and_persist(dash);
    set_timeout(
        move || crate::browser::timing::timed("livetape-connect", || start_feed(dash, page_tick)),
        Duration::ZERO,
    );
}

/// The feed's effects, its clock and its connection.
fn start_feed(dash: Dashboard, page_tick: u64) {
    crate::browser::address::follow(dash);
    crate::browser::background::follow(dash);
    crate::browser::history::follow(dash);
    crate::browser::notify::watch_permission(dash);
    let forced = transport_forced();
    STATE.with_borrow_mut(|s| {
        s.forced_sse = forced;
        s.through = Some((dash.epoch.get_untracked(), page_tick));
        s.hooks = Some(Hooks {
            reopen_sse,
            schedule_probe,
        });
    });
    // A new selection in the detail panel, a star, an alert, a followed team: the page's own
    // channels change.
    Effect::new(move |_| {
        dash.detail.symbol.track();
        dash.detail.interval.track();
        dash.prefs.watch.track();
        dash.prefs.alerts_on.track();
        dash.alerts.rules.track();
        dash.follow.teams.track();
        sync_channels(dash);
    });
    // The grid shows the current list only, or the server's window again.
    Effect::new(move |prev: Option<bool>| {
        let only = dash.lists.only.get();
        if prev.is_some_and(|p| p != only) || (prev.is_none() && only) {
            only_changed(dash, only);
        }
        only
    });
    // In that mode, the list's rows in the grid's order, again when the list or order changes
    // (and every second on the timer, as prices move).
    Effect::new(move |_| {
        dash.prefs.watch.track();
        dash.lists.current.track();
        dash.grid.spec.track();
        if dash.lists.only.get() {
            dash.show_watched();
        }
    });
    // The grid's view changed (a sort, the filter, scrolling, the pointer holding it).
    Effect::new(move |_| {
        dash.grid.spec.track();
        view_changed(dash);
    });
    // Resume after a pause: apply what was held, in order, or resynchronise.
    Effect::new(move |_| {
        if dash.paused.get() {
            return;
        }
        let (held, overflow) = STATE.with_borrow_mut(|s| {
            (
                std::mem::take(&mut s.held),
                std::mem::replace(&mut s.held_overflow, false),
            )
        });
        dash.buffered.set(0);
        if overflow {
            // Too much to replay locally: the server resumes every channel instead.
            resync(dash);
        } else {
            for msg in held {
                apply(dash, Via::Main, msg);
            }
        }
    });
    set_interval(move || on_timer(dash), Duration::from_millis(250));
    connect(dash);
}

/// `?transport=sse` in the address, or `"sse"` saved as `livetape.transport`.
fn transport_forced() -> bool {
    let query = window().location().search().unwrap_or_default();
    if query.contains("transport=sse") {
        return true;
    }
    window()
        .local_storage()
        .ok()
        .flatten()
        .and_then(|s| s.get_item("livetape.transport").ok().flatten())
        .is_some_and(|v| v.trim_matches('"') == "sse")
}

/// Opens the main connection: an event stream if forced or after repeated WebSocket
/// failures, else a WebSocket.
fn connect(dash: Dashboard) {
    let sse = STATE.with_borrow(|s| s.forced_sse || s.ws_failures >= FALLBACK_AFTER);
    let id = new_conn_id();
    let opened = if sse {
        open_sse(dash, id)
    } else {
        open_ws(dash, id)
    };
    match opened {
        Ok(conn) => STATE.with_borrow_mut(|s| {
            s.last_message = Some(Utc::now());
            s.recovering = None;
            s.welcomed = false;
            s.repairing.clear();
            // Replacing drops the previous connection's closures; we are in a timer, not in
            // them.
            if let Some((_, old)) = s.connection.replace((id, conn)) {
                old.close();
            }
        }),
        Err(err) => {
            leptos::logging::warn!("livetape: cannot connect: {err}");
            schedule_reconnect(dash);
        }
    }
}

pub(crate) fn open_ws(dash: Dashboard, id: ConnId) -> Result<Connection, String> {
    Connection::websocket(
        move |text| {
            let Some(via) = role(id) else { return };
            if via == Via::Main {
                STATE.with_borrow_mut(|s| s.last_message = Some(Utc::now()));
            }
            on_message(dash, via, text);
        },
        move |code, reason| {
            if let Some(via) = role(id) {
                on_closed(dash, via, code, reason);
            }
        },
    )
}

fn open_sse(dash: Dashboard, id: ConnId) -> Result<Connection, String> {
    let position = STATE.with_borrow(|s| s.through);
    let epoch = dash.epoch.get_untracked();
    let position = position.filter(|(e, _)| *e == epoch && *e != 0);
    Connection::event_source(
        &sse_query(dash),
        position,
        move |text| {
            let Some(via) = role(id) else { return };
            STATE.with_borrow_mut(|s| s.last_message = Some(Utc::now()));
            on_message(dash, via, text);
        },
        move |code, reason| {
            if let Some(via) = role(id) {
                on_closed(dash, via, code, reason);
            }
        },
    )
}

/// Replaces the event stream with one for the current channels, view and positions.
pub(crate) fn reopen_sse(dash: Dashboard) {
    let id = new_conn_id();
    match open_sse(dash, id) {
        Ok(conn) => STATE.with_borrow_mut(|s| {
            if let Some((_, old)) = s.connection.replace((id, conn)) {
                old.close();
            }
        }),
        Err(err) => leptos::logging::warn!("livetape: cannot reopen the stream: {err}"),
    }
}

/// What a close code means, for a person.
fn close_meaning(code: u16) -> &'static str {
    match code {
        1000 => "closed normally",
        1001 => "the server is restarting or going away",
        1006 => "the connection was lost",
        1008 => "the server's limits were exceeded",
        1009 => "a message was too big",
        1011 => "the server hit an error",
        0 => "the event stream was refused",
        _ => "closed",
    }
}

/// A connection ended. `code` is the WebSocket close code (0 for an event stream that gave
/// up), `reason` what the server said.
fn on_closed(dash: Dashboard, via: Via, code: u16, reason: String) {
    if via == Via::Probe {
        STATE.with_borrow_mut(|s| {
            s.probe = None;
            s.probe_subscribe = None;
        });
        schedule_probe(dash);
        return;
    }
    if code != CLOSE_DEAD {
        leptos::logging::log!("livetape: feed closed ({code}) {reason}");
        // Every reconnect says why: the code's meaning, and the server's own words.
        let text = if reason.is_empty() {
            format!("Disconnected: {} ({code})", close_meaning(code))
        } else {
            format!("Disconnected: {} ({code}: {reason})", close_meaning(code))
        };
        dash.notice.set(Some(Notice {
            text,
            at: dash.now.get_untracked(),
        }));
    }
    let was_ws = STATE.with_borrow_mut(|s| {
        let was_ws = s.connection.as_ref().is_some_and(|(_, c)| !c.is_sse());
        if was_ws && !s.welcomed {
            s.ws_failures += 1;
        } else if !s.welcomed && !s.forced_sse {
            // The event stream failed too: the server is down, not the WebSocket blocked.
            s.ws_failures = 0;
        }
        was_ws
    });
    let early =
        was_ws && STATE.with_borrow(|s| s.ws_failures > 0 && s.ws_failures < FALLBACK_AFTER);
    if early {
        retry_in(dash, EARLY_RETRY_MS);
    } else {
        schedule_reconnect(dash);
    }
}

fn retry_in(dash: Dashboard, delay_ms: f64) {
    let attempt = STATE.with_borrow(|s| s.attempt.max(1));
    let retry_at = dash.now.get_untracked() + ChronoDuration::milliseconds(delay_ms as i64);
    dash.link.set(Link::Reconnecting { attempt, retry_at });
    set_timeout(
        move || connect(dash),
        Duration::from_millis(delay_ms as u64),
    );
}

fn schedule_reconnect(dash: Dashboard) {
    let attempt = STATE.with_borrow_mut(|s| {
        s.attempt += 1;
        s.attempt
    });
    // Exponential backoff from 1 s to 5 s, each delay jittered between half and all of it.
    let step = (BACKOFF_MIN_MS * 2f64.powi(attempt.min(16) as i32 - 1)).min(BACKOFF_MAX_MS);
    retry_in(dash, step * (0.5 + js_sys::Math::random() * 0.5));
}

/// While on an event stream, tries a WebSocket again after a while (doubling up to a
/// minute); if it is answered it takes over.
pub(crate) fn schedule_probe(dash: Dashboard) {
    let delay = STATE.with_borrow_mut(|s| {
        if s.forced_sse || s.probe.is_some() {
            return None;
        }
        let d = s.probe_delay;
        s.probe_delay = (s.probe_delay * 2).min(PROBE_MAX);
        Some(d)
    });
    let Some(delay) = delay else {
        return;
    };
    set_timeout(
        move || {
            if !on_sse() || STATE.with_borrow(|s| s.probe.is_some()) {
                return;
            }
            let id = new_conn_id();
            // The probe is registered before it can say anything.
            match open_ws(dash, id) {
                Ok(conn) => STATE.with_borrow_mut(|s| s.probe = Some((id, conn))),
                Err(_) => schedule_probe(dash),
            }
        },
        delay,
    );
}

fn on_timer(dash: Dashboard) {
    let now = Utc::now();
    let (offset, dead, stale, on_ws) = STATE.with_borrow(|s| {
        let dead = s
            .last_message
            .is_some_and(|t| now - t > s.heartbeat * SILENT_BEATS as i32);
        let stale = s.last_data.is_some_and(|t| now - t > STALE_AFTER);
        (
            s.clock.offset(),
            dead,
            stale,
            s.connection.as_ref().is_some_and(|(_, c)| !c.is_sse()),
        )
    });
    let server_now = now + offset;
    dash.now.set(server_now);
    let rate = STATE.with_borrow(|s| s.rate.per_second(now.timestamp()));
    if dash.rate.get_untracked() != rate {
        dash.rate.set(rate);
    }
    // Sparklines: one sample per SPARK_STEP_SECS of server time, unless paused.
    let slot = server_now.timestamp().div_euclid(SPARK_STEP_SECS);
    let new_slot = STATE.with_borrow_mut(|s| std::mem::replace(&mut s.spark_slot, slot) != slot);
    if new_slot && !dash.paused.get_untracked() {
        dash.sample_sparks();
        if dash.lists.only.get_untracked() {
            dash.show_watched();
        }
    }
    // Announcements: at most one every ANNOUNCE_EVERY.
    let due = STATE.with_borrow(|s| s.announced_at.is_none_or(|t| now - t >= ANNOUNCE_EVERY));
    if due {
        let before = dash.announcement.get_untracked();
        dash.next_announcement();
        if dash.announcement.get_untracked() != before {
            STATE.with_borrow_mut(|s| s.announced_at = Some(now));
        }
    }
    crate::browser::notify::age(dash);
    crate::browser::notify::flush(dash);
    let link = dash.link.get_untracked();
    // Re-measure the clock offset now and then, when the connection is quiet enough to give
    // a clean round trip (WebSocket only: an event stream cannot ping).
    if link == Link::Live && on_ws {
        let due = STATE.with_borrow(|s| s.clock.due(now));
        if due {
            let id = next_id();
            STATE.with_borrow_mut(|s| s.clock.sent(id, precise_now()));
            send(Via::Main, &ClientMsg::Ping { id });
        }
    }
    let connected = matches!(link, Link::Live | Link::Stale | Link::Recovering);
    if connected && dead {
        let conn = STATE.with_borrow_mut(|s| {
            s.last_message = None;
            s.connection.take()
        });
        if let Some((id, conn)) = conn {
            leptos::logging::warn!("livetape: the server went silent; reconnecting");
            // A close handshake on a dead path can take long to report: stop listening to
            // the old connection so nothing it says later is applied, and reconnect now.
            conn.close();
            // Keep its closures alive until the next connection replaces this one.
            STATE.with_borrow_mut(|s| s.connection = Some((id, conn)));
            schedule_reconnect(dash);
        }
    } else if link == Link::Live && stale && !dash.background.get_untracked() {
        dash.link.set(Link::Stale);
    }
}
