//! The browser's connection to `/ws`: subscribes, resumes, applies the stream, reconnects.
//!
//! The page comes with a snapshot and each channel's seq, so the first subscribe already
//! resumes from exactly what the HTML shows: the server replays what happened since the render
//! and the table never blanks. Every later reconnect resumes the same way from the last seq
//! applied. An update that does not follow its channel's last seq is a gap: it is not applied,
//! and that channel is resumed on the open socket (the server replays from its history or says
//! why it cannot with a fresh snapshot).
//!
//! The server sends something at least every heartbeat interval, so silence for
//! `SILENT_BEATS` intervals means the server or the path to it is gone even if TCP has not
//! noticed; the socket is dropped and the client reconnects. Data silence while heartbeats
//! still arrive is shown as Stale. Reconnects back off exponentially with jitter, so that a
//! restarted server is not hit by every browser at once.

use crate::clock_sync::{ClockSync, RateMeter};
use crate::protocol::{Channel, ClientMsg, Resume, ServerMsg};
use crate::ui::store::{Dashboard, Link, SPARK_STEP_SECS};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use leptos::prelude::*;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// Heartbeat intervals of silence after which the connection is considered dead.
const SILENT_BEATS: i64 = 3;
/// No data for this long while connected shows Stale.
const STALE_AFTER: ChronoDuration = ChronoDuration::seconds(5);
const BACKOFF_MIN_MS: f64 = 1_000.0;
const BACKOFF_MAX_MS: f64 = 5_000.0;
/// Close code we use when we drop the socket ourselves (4000-4999 are for applications).
const CLOSE_DEAD: u16 = 4000;

/// The open socket and the callbacks it calls. The closures must live as long as the socket
/// may call them and must not be dropped while one runs, so a connection is dropped only when
/// the next one replaces it, from a timer.
struct Connection {
    socket: WebSocket,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

#[derive(Default)]
struct State {
    connection: Option<Connection>,
    /// Failed attempts since the last successful subscribe.
    attempt: u32,
    /// Local time of the last message of any kind, and of the last data.
    last_message: Option<DateTime<Utc>>,
    last_data: Option<DateTime<Utc>>,
    heartbeat: ChronoDuration,
    /// Server time minus local time.
    clock: ClockSync,
    next_id: u64,
    /// The id of the subscribe that (re)starts the stream; Live once it is answered with data.
    recovering: Option<u64>,
    /// Channels being resumed after a gap, so that one gap asks only once.
    repairing: BTreeSet<Channel>,
    /// Unknown message types already reported, so each is logged once.
    unknown: HashSet<String>,
    /// Messages held while the view is paused, applied in order on resume.
    held: Vec<ServerMsg>,
    /// Held more than `HOLD_LIMIT`: on resume, resynchronise instead of replaying.
    held_overflow: bool,
    /// Updates per second.
    rate: RateMeter,
    /// The detail channels currently subscribed.
    detail: Vec<Channel>,
    /// When the last announcement was made, for throttling.
    announced_at: Option<DateTime<Utc>>,
    /// The last sparkline sample's slot of server time.
    spark_slot: i64,
}

/// Messages held at most while paused (each is a tick's batch).
const HOLD_LIMIT: usize = 20_000;
/// At most one announcement this often.
const ANNOUNCE_EVERY: ChronoDuration = ChronoDuration::seconds(3);

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State {
        heartbeat: ChronoDuration::seconds(1),
        ..State::default()
    });
}

/// Starts the clock, the saved preferences and the connection. Called once, after hydration.
pub fn start(dash: Dashboard) {
    super::prefs::restore_and_persist(dash);
    STATE.with_borrow_mut(|s| s.detail = dash.detail.channels().to_vec());
    // A new selection in the detail panel: swap its channels on the open socket.
    Effect::new(move |_| {
        dash.detail.symbol.track();
        dash.detail.interval.track();
        let new = dash.detail.channels().to_vec();
        let (old, socket) = STATE.with_borrow_mut(|s| {
            (
                std::mem::replace(&mut s.detail, new.clone()),
                s.connection.as_ref().map(|c| c.socket.clone()),
            )
        });
        if old == new {
            return;
        }
        if let Some(socket) = socket.filter(|s| s.ready_state() == WebSocket::OPEN) {
            send(
                &socket,
                &ClientMsg::Unsubscribe {
                    id: next_id(),
                    channels: old,
                },
            );
            send(
                &socket,
                &ClientMsg::Subscribe {
                    id: next_id(),
                    channels: new,
                    resume: None,
                },
            );
        }
    });
    // Resume after a pause: apply what was held, in order, or resynchronise.
    Effect::new(move |_| {
        if dash.paused.get() {
            return;
        }
        let (held, overflow, socket) = STATE.with_borrow_mut(|s| {
            (
                std::mem::take(&mut s.held),
                std::mem::replace(&mut s.held_overflow, false),
                s.connection.as_ref().map(|c| c.socket.clone()),
            )
        });
        dash.buffered.set(0);
        if overflow {
            // Too much to replay locally: the server resumes every channel instead.
            if let Some(socket) = socket {
                send(
                    &socket,
                    &ClientMsg::Subscribe {
                        id: next_id(),
                        channels: dash.channels(),
                        resume: Some(dash.resume()),
                    },
                );
            }
        } else if let Some(socket) = socket {
            for msg in held {
                apply(dash, &socket, msg);
            }
        }
    });
    set_interval(move || on_timer(dash), Duration::from_millis(250));
    // In a task of its own: the rest of a large grid, then the feed (which resumes every row,
    // so the rows must all be there first).
    set_timeout(
        move || {
            load_rest(dash);
            connect(dash);
        },
        Duration::ZERO,
    );
}

/// The page's quotes past the hydrated rows of a large grid, embedded as JSON.
fn load_rest(dash: Dashboard) {
    let Some(el) = document().get_element_by_id("page-rest") else {
        return;
    };
    let text = el.text_content().unwrap_or_default();
    if text.is_empty() {
        return;
    }
    match serde_json::from_str::<crate::ui::store::PageRest>(&text) {
        Ok(rest) => dash.add_rows(rest),
        Err(err) => leptos::logging::error!("livetape: unreadable page data: {err}"),
    }
    el.set_text_content(None);
}

fn socket_url() -> Option<String> {
    let location = window().location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}/ws", location.host().ok()?))
}

fn connect(dash: Dashboard) {
    let Some(url) = socket_url() else {
        leptos::logging::error!("livetape: cannot tell the page's host; not connecting");
        return;
    };
    let socket = match WebSocket::new(&url) {
        Ok(s) => s,
        Err(err) => {
            leptos::logging::warn!("livetape: cannot open {url}: {err:?}");
            schedule_reconnect(dash);
            return;
        }
    };
    let sender = socket.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(text) = event.data().as_string() else {
            return;
        };
        STATE.with_borrow_mut(|s| s.last_message = Some(Utc::now()));
        on_message(dash, &sender, &text);
    });
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
        if event.code() != CLOSE_DEAD {
            leptos::logging::log!(
                "livetape: feed closed ({}) {}",
                event.code(),
                event.reason()
            );
        }
        schedule_reconnect(dash);
    });
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    STATE.with_borrow_mut(|s| {
        s.last_message = Some(Utc::now());
        s.recovering = None;
        s.repairing.clear();
        // Replacing drops the previous connection's closures; we are in a timer, not in them.
        s.connection = Some(Connection {
            socket,
            _on_message: on_message,
            _on_close: on_close,
        });
    });
}

fn send(socket: &WebSocket, msg: &ClientMsg) {
    match serde_json::to_string(msg) {
        Ok(text) => {
            if let Err(err) = socket.send_with_str(&text) {
                leptos::logging::warn!("livetape: send failed: {err:?}");
            }
        }
        Err(err) => leptos::logging::error!("livetape: cannot encode a request: {err}"),
    }
}

fn next_id() -> u64 {
    STATE.with_borrow_mut(|s| {
        s.next_id += 1;
        s.next_id
    })
}

fn mark_data() {
    STATE.with_borrow_mut(|s| {
        s.last_data = Some(Utc::now());
        s.attempt = 0;
    });
}

fn on_message(dash: Dashboard, socket: &WebSocket, text: &str) {
    let msg = match serde_json::from_str::<ServerMsg>(text) {
        Ok(msg) => msg,
        Err(err) => return skip_unknown(text, &err),
    };
    if let ServerMsg::Batch(batch) = &msg {
        let n = batch.updates.len() as u64;
        let now = precise_now();
        let (offset, measured) = STATE.with_borrow_mut(|s| {
            s.rate.add(now.timestamp(), n);
            (s.clock.offset(), s.clock.measured())
        });
        // Only once a ping has measured the clock offset: before that the figure is a guess.
        if measured {
            let delay = (now + offset - batch.ts).num_microseconds().unwrap_or(0) as f64 / 1000.0;
            dash.latency_ms.set(Some(delay.max(0.0)));
        }
    }
    // Paused: the view stays frozen; data messages wait, in order.
    if dash.paused.get_untracked() && matches!(msg, ServerMsg::Batch(_) | ServerMsg::Snapshot(_)) {
        let updates = match &msg {
            ServerMsg::Batch(b) => b.updates.len() as u64,
            _ => 0,
        };
        STATE.with_borrow_mut(|s| {
            if s.held.len() < HOLD_LIMIT {
                s.held.push(msg);
            } else {
                s.held_overflow = true;
            }
            s.last_data = Some(Utc::now());
        });
        dash.buffered.update(|b| *b += updates);
        return;
    }
    apply(dash, socket, msg);
}

fn apply(dash: Dashboard, socket: &WebSocket, msg: ServerMsg) {
    match msg {
        ServerMsg::Welcome {
            ts, heartbeat_ms, ..
        } => {
            let id = next_id();
            STATE.with_borrow_mut(|s| {
                // A first estimate; pings refine it (see `on_timer`).
                s.clock.reset(ts, precise_now());
                s.heartbeat = ChronoDuration::milliseconds(i64::from(heartbeat_ms.max(100)));
                s.recovering = Some(id);
            });
            dash.link.set(Link::Recovering);
            // Resume every channel from what the page (or the last connection) applied.
            send(
                socket,
                &ClientMsg::Subscribe {
                    id,
                    channels: dash.channels(),
                    resume: Some(dash.resume()),
                },
            );
        }
        ServerMsg::Ack { id, channels } => {
            STATE.with_borrow_mut(|s| {
                if s.recovering != Some(id) {
                    for c in &channels {
                        s.repairing.remove(c);
                    }
                }
            });
        }
        ServerMsg::Snapshot(snapshot) => {
            dash.apply_snapshot(snapshot);
            mark_data();
            dash.link.set(Link::Live);
        }
        ServerMsg::Batch(batch) => {
            let gaps = dash.apply_batch(batch);
            mark_data();
            dash.link.set(Link::Live);
            if !gaps.is_empty() {
                repair(dash, socket, gaps.into_iter().map(|g| g.channel).collect());
            }
        }
        ServerMsg::Pong { id, ts } => {
            let now = precise_now();
            STATE.with_borrow_mut(|s| s.clock.pong(id, ts, now));
        }
        ServerMsg::Heartbeat { .. } => {}
        ServerMsg::Error(err) => {
            leptos::logging::warn!("livetape: server refused a request: {}", err.message);
        }
    }
}

/// Resumes channels that showed a gap, once per channel until the server answers.
fn repair(dash: Dashboard, socket: &WebSocket, channels: BTreeSet<Channel>) {
    let fresh: Vec<Channel> = STATE.with_borrow_mut(|s| {
        channels
            .into_iter()
            .filter(|c| s.repairing.insert(c.clone()))
            .collect()
    });
    if fresh.is_empty() {
        return;
    }
    leptos::logging::warn!("livetape: gap on {} channel(s); resuming them", fresh.len());
    let all = dash.resume();
    let from = fresh
        .iter()
        .filter_map(|c| all.from.get(c).map(|seq| (c.clone(), *seq)))
        .collect();
    send(
        socket,
        &ClientMsg::Subscribe {
            id: next_id(),
            channels: fresh,
            resume: Some(Resume {
                epoch: all.epoch,
                from,
            }),
        },
    );
}

/// A message this client does not understand, e.g. a new type from a newer server: skipped,
/// and reported once per type.
fn skip_unknown(text: &str, err: &serde_json::Error) {
    #[derive(serde::Deserialize)]
    struct Tagged {
        #[serde(rename = "type")]
        kind: String,
    }
    let kind = serde_json::from_str::<Tagged>(text)
        .map(|t| t.kind)
        .unwrap_or_else(|_| "<not a message>".into());
    let first = STATE.with_borrow_mut(|s| s.unknown.insert(kind.clone()));
    if first {
        leptos::logging::warn!("livetape: skipping messages of type {kind:?} ({err})");
    }
}

fn schedule_reconnect(dash: Dashboard) {
    let attempt = STATE.with_borrow_mut(|s| {
        s.attempt += 1;
        s.attempt
    });
    // Exponential backoff from 1 s to 5 s, each delay jittered between half and all of it.
    let step = (BACKOFF_MIN_MS * 2f64.powi(attempt.min(16) as i32 - 1)).min(BACKOFF_MAX_MS);
    let delay_ms = step * (0.5 + js_sys::Math::random() * 0.5);
    let retry_at = dash.now.get_untracked() + ChronoDuration::milliseconds(delay_ms as i64);
    dash.link.set(Link::Reconnecting { attempt, retry_at });
    set_timeout(
        move || connect(dash),
        Duration::from_millis(delay_ms as u64),
    );
}

fn on_timer(dash: Dashboard) {
    let now = Utc::now();
    let (offset, dead, stale, socket) = STATE.with_borrow(|s| {
        let dead = s
            .last_message
            .is_some_and(|t| now - t > s.heartbeat * SILENT_BEATS as i32);
        let stale = s.last_data.is_some_and(|t| now - t > STALE_AFTER);
        (
            s.clock.offset(),
            dead,
            stale,
            s.connection.as_ref().map(|c| c.socket.clone()),
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
    let link = dash.link.get_untracked();
    // Re-measure the clock offset now and then, when the connection is quiet enough to give
    // a clean round trip.
    if link == Link::Live {
        let due = STATE.with_borrow(|s| s.clock.due(now));
        if let (true, Some(socket)) = (due, socket.clone()) {
            let id = next_id();
            STATE.with_borrow_mut(|s| s.clock.sent(id, precise_now()));
            send(&socket, &ClientMsg::Ping { id });
        }
    }
    let connected = matches!(link, Link::Live | Link::Stale | Link::Recovering);
    if connected && dead {
        if let Some(socket) = socket {
            leptos::logging::warn!("livetape: the server went silent; reconnecting");
            STATE.with_borrow_mut(|s| s.last_message = None);
            // A close handshake on a dead path can take long to report: detach the old socket
            // so nothing it says later is applied, and reconnect now.
            socket.set_onmessage(None);
            socket.set_onclose(None);
            let _ = socket.close_with_code_and_reason(CLOSE_DEAD, "server silent");
            schedule_reconnect(dash);
        }
    } else if link == Link::Live && stale {
        dash.link.set(Link::Stale);
    }
}

/// The current time with sub-millisecond precision where the browser allows it
/// (`performance.timeOrigin + performance.now()`); `Date.now()` has whole milliseconds, too
/// coarse for latency on a fast network.
fn precise_now() -> DateTime<Utc> {
    match window().performance() {
        Some(p) => {
            let ms = p.time_origin() + p.now();
            DateTime::from_timestamp_micros((ms * 1000.0) as i64).unwrap_or_else(Utc::now)
        }
        None => Utc::now(),
    }
}
