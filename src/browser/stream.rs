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

use crate::browser::transport::{Connection, CLOSE_DEAD};
use crate::clock_sync::{ClockSync, RateMeter};
use crate::protocol::{Channel, ClientMsg, Epoch, Resume, ServerMsg};
use crate::ui::store::{Dashboard, Link, SPARK_STEP_SECS};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use leptos::prelude::*;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};
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
/// First background WebSocket try after falling back, and the longest gap between tries.
const PROBE_FIRST: Duration = Duration::from_secs(5);
const PROBE_MAX: Duration = Duration::from_secs(60);

/// Which connection a message came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Main,
    Probe,
}

/// Connections are numbered; a message is routed by whether its connection is the main one,
/// the probe, or neither any more (then it is dropped).
type ConnId = u64;

#[derive(Default)]
struct State {
    connection: Option<(ConnId, Connection)>,
    /// A WebSocket tried in the background while the main connection is an event stream.
    probe: Option<(ConnId, Connection)>,
    next_conn: ConnId,
    /// Failed attempts since the last successful subscribe.
    attempt: u32,
    /// WebSocket attempts in a row that ended before a welcome.
    ws_failures: u32,
    /// The current main connection has been welcomed.
    welcomed: bool,
    /// Event streams only (`?transport=sse` or the saved preference).
    forced_sse: bool,
    /// Delay before the next background WebSocket try.
    probe_delay: Duration,
    /// Local time of the last message of any kind, and of the last data.
    last_message: Option<DateTime<Utc>>,
    last_data: Option<DateTime<Utc>>,
    heartbeat: ChronoDuration,
    /// Server time minus local time.
    clock: ClockSync,
    next_id: u64,
    /// The id of the subscribe that (re)starts the stream; Live once it is answered with data.
    recovering: Option<u64>,
    /// The background WebSocket's subscribe; when answered, it takes over.
    probe_subscribe: Option<u64>,
    /// Channels being resumed after a gap, so that one gap asks only once.
    repairing: BTreeSet<Channel>,
    /// Quotes of newly listed symbols that an event stream must start with a snapshot.
    listed: Vec<Channel>,
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
    /// Every batch up to this tick of this epoch has been applied (a position for `/sse`).
    through: Option<(Epoch, u64)>,
}

/// Messages held at most while paused (each is a tick's batch).
const HOLD_LIMIT: usize = 20_000;
/// At most one announcement this often.
const ANNOUNCE_EVERY: ChronoDuration = ChronoDuration::seconds(3);

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State {
        heartbeat: ChronoDuration::seconds(1),
        probe_delay: PROBE_FIRST,
        ..State::default()
    });
}

/// Starts the saved preferences, the clock and the connection. Called once after hydration,
/// in a task of its own.
pub(crate) fn start(dash: Dashboard, page_tick: u64) {
    // The rest of a large grid first: preferences may select one of its rows, and the feed
    // resumes every row.
    load_rest(dash);
    crate::browser::prefs::restore_and_persist(dash);
    let forced = transport_forced();
    STATE.with_borrow_mut(|s| {
        s.detail = dash.detail.channels().to_vec();
        s.forced_sse = forced;
        s.through = Some((dash.epoch.get_untracked(), page_tick));
    });
    // A new selection in the detail panel: swap its channels.
    Effect::new(move |_| {
        dash.detail.symbol.track();
        dash.detail.interval.track();
        let new = dash.detail.channels().to_vec();
        let old = STATE.with_borrow_mut(|s| std::mem::replace(&mut s.detail, new.clone()));
        if old == new {
            return;
        }
        if on_sse() {
            // No way back on an event stream: open one with the new set.
            reopen_sse(dash);
            return;
        }
        let (unsub, sub) = (next_id(), next_id());
        send(
            Via::Main,
            &ClientMsg::Unsubscribe {
                id: unsub,
                channels: old,
            },
        );
        send(
            Via::Main,
            &ClientMsg::Subscribe {
                id: sub,
                channels: new,
                resume: None,
            },
        );
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

/// The main connection is an event stream.
fn on_sse() -> bool {
    STATE.with_borrow(|s| s.connection.as_ref().is_some_and(|(_, c)| c.is_sse()))
}

/// Which role connection `id` has now.
fn role(id: ConnId) -> Option<Via> {
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

fn new_conn_id() -> ConnId {
    STATE.with_borrow_mut(|s| {
        s.next_conn += 1;
        s.next_conn
    })
}

fn next_id() -> u64 {
    STATE.with_borrow_mut(|s| {
        s.next_id += 1;
        s.next_id
    })
}

/// The channels for an event stream: shorthands for the whole grid and board, and the
/// detail panel's.
fn sse_channels(dash: Dashboard) -> Vec<String> {
    let mut names = vec!["quotes:*".to_string(), "scores:*".to_string()];
    names.extend(dash.detail.channels().iter().map(|c| c.to_string()));
    names
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

fn open_ws(dash: Dashboard, id: ConnId) -> Result<Connection, String> {
    Connection::websocket(
        move |text| {
            let Some(via) = role(id) else { return };
            if via == Via::Main {
                STATE.with_borrow_mut(|s| s.last_message = Some(Utc::now()));
            }
            on_message(dash, via, text);
        },
        move |code| {
            if let Some(via) = role(id) {
                on_closed(dash, via, code);
            }
        },
    )
}

fn open_sse(dash: Dashboard, id: ConnId) -> Result<Connection, String> {
    let (position, held, listed) = STATE.with_borrow_mut(|s| {
        let held = dash.resume();
        s.listed.retain(|c| !held.from.contains_key(c));
        (s.through, held, s.listed.clone())
    });
    // Channels with no position yet (a new detail selection, a newly listed symbol) start
    // with a snapshot.
    let fresh: Vec<Channel> = dash
        .detail
        .channels()
        .into_iter()
        .chain(listed)
        .filter(|c| !held.from.contains_key(c))
        .collect();
    let position = position.filter(|(epoch, _)| *epoch == held.epoch && *epoch != 0);
    Connection::event_source(
        &sse_channels(dash),
        position,
        &fresh,
        move |text| {
            let Some(via) = role(id) else { return };
            STATE.with_borrow_mut(|s| s.last_message = Some(Utc::now()));
            on_message(dash, via, text);
        },
        move |code| {
            if let Some(via) = role(id) {
                on_closed(dash, via, code);
            }
        },
    )
}

/// Replaces the event stream with one for the current channels and position.
fn reopen_sse(dash: Dashboard) {
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

/// A connection ended. `code` is the WebSocket close code (0 for an event stream that gave
/// up).
fn on_closed(dash: Dashboard, via: Via, code: u16) {
    if via == Via::Probe {
        STATE.with_borrow_mut(|s| {
            s.probe = None;
            s.probe_subscribe = None;
        });
        schedule_probe(dash);
        return;
    }
    if code != CLOSE_DEAD {
        leptos::logging::log!("livetape: feed closed ({code})");
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

fn on_message(dash: Dashboard, via: Via, text: &str) {
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
    apply(dash, via, msg);
}

fn send(via: Via, msg: &ClientMsg) -> bool {
    STATE.with_borrow(|s| {
        let conn = match via {
            Via::Main => s.connection.as_ref(),
            Via::Probe => s.probe.as_ref(),
        };
        conn.is_some_and(|(_, c)| c.send(msg))
    })
}

fn mark_data() {
    STATE.with_borrow_mut(|s| {
        s.last_data = Some(Utc::now());
        s.attempt = 0;
    });
}

/// After a (re)connect the server has sent everything it owed: the view is live even if the
/// feed is quiet and no data follows (Stale comes later, from `on_timer`, if it stays quiet).
fn owed_nothing_more(dash: Dashboard) {
    if dash.link.get_untracked() == Link::Recovering {
        mark_data();
        dash.link.set(Link::Live);
    }
}

fn apply(dash: Dashboard, via: Via, msg: ServerMsg) {
    match msg {
        ServerMsg::Welcome {
            ts, heartbeat_ms, ..
        } => {
            let id = next_id();
            let on_sse = STATE.with_borrow_mut(|s| {
                // A first estimate; pings refine it (see `on_timer`).
                s.clock.reset(ts, precise_now());
                s.heartbeat = ChronoDuration::milliseconds(i64::from(heartbeat_ms.max(100)));
                match via {
                    Via::Main => {
                        s.recovering = Some(id);
                        s.welcomed = true;
                    }
                    Via::Probe => s.probe_subscribe = Some(id),
                }
                s.connection.as_ref().is_some_and(|(_, c)| c.is_sse()) && via == Via::Main
            });
            if via == Via::Main {
                dash.via_sse.set(on_sse);
                if !on_sse {
                    STATE.with_borrow_mut(|s| {
                        s.ws_failures = 0;
                        s.probe_delay = PROBE_FIRST;
                    });
                }
                dash.link.set(Link::Recovering);
            }
            if on_sse {
                // The stream answers its channels by itself; keep trying WebSockets.
                schedule_probe(dash);
                return;
            }
            // Resume every channel from what the page (or the last connection) applied.
            send(
                via,
                &ClientMsg::Subscribe {
                    id,
                    channels: dash.channels(),
                    resume: Some(dash.resume()),
                },
            );
        }
        ServerMsg::Ack { id, channels } => {
            let took_over = STATE.with_borrow_mut(|s| {
                if s.recovering != Some(id) {
                    for c in &channels {
                        s.repairing.remove(c);
                    }
                }
                if via == Via::Probe && s.probe_subscribe == Some(id) {
                    // The WebSocket answered: it becomes the main connection, the event
                    // stream goes. Updates both carried are applied once (seqs).
                    if let Some(probe) = s.probe.take() {
                        if let Some((_, old)) = s.connection.replace(probe) {
                            old.close();
                        }
                    }
                    s.probe_subscribe = None;
                    s.ws_failures = 0;
                    s.probe_delay = PROBE_FIRST;
                    s.welcomed = true;
                    true
                } else {
                    false
                }
            });
            if took_over {
                leptos::logging::log!("livetape: WebSockets work again; leaving the event stream");
                dash.via_sse.set(false);
            }
            // The answer to the resume after a welcome: whatever the server owes (snapshots,
            // replayed updates) follows on the same connection, in order. On a feed with
            // nothing new (a replay that has ended, a quiet market) nothing else may come.
            if via == Via::Main && STATE.with_borrow(|s| s.recovering == Some(id)) {
                owed_nothing_more(dash);
            }
        }
        ServerMsg::Snapshot(snapshot) => {
            dash.apply_snapshot(snapshot);
            mark_data();
            dash.link.set(Link::Live);
        }
        ServerMsg::Batch(batch) => {
            let (epoch, n) = (dash.epoch.get_untracked(), batch.n);
            let gaps = dash.apply_batch(batch);
            mark_data();
            dash.link.set(Link::Live);
            if gaps.is_empty() {
                STATE.with_borrow_mut(|s| match s.through {
                    Some((e, t)) if e == epoch && t >= n => {}
                    _ => s.through = Some((epoch, n)),
                });
            } else {
                repair(dash, via, gaps.into_iter().map(|g| g.channel).collect());
            }
        }
        ServerMsg::Pong { id, ts } => {
            let now = precise_now();
            STATE.with_borrow_mut(|s| s.clock.pong(id, ts, now));
        }
        ServerMsg::Listed { symbols } => {
            // New symbols: their quotes, like every other row's. On an event stream the
            // channels are fixed by the URL: reopen it with the new rows included.
            let channels: Vec<Channel> = symbols.into_iter().map(Channel::Quotes).collect();
            if on_sse() {
                STATE.with_borrow_mut(|s| s.listed.extend(channels));
                reopen_sse(dash);
            } else {
                send(
                    via,
                    &ClientMsg::Subscribe {
                        id: next_id(),
                        channels,
                        resume: None,
                    },
                );
            }
        }
        ServerMsg::Heartbeat { .. } => {
            // An event stream sends no ack: a heartbeat after its welcome means it has sent
            // everything it owed and the feed is quiet.
            if via == Via::Main {
                owed_nothing_more(dash);
            }
        }
        ServerMsg::Error(err) => {
            leptos::logging::warn!("livetape: server refused a request: {}", err.message);
        }
    }
}

/// Resumes channels that showed a gap, once per channel until the server answers. On an
/// event stream, the stream is reopened from the last tick applied without a gap.
fn repair(dash: Dashboard, via: Via, channels: BTreeSet<Channel>) {
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
    if on_sse() {
        reopen_sse(dash);
        return;
    }
    let all = dash.resume();
    let from = fresh
        .iter()
        .filter_map(|c| all.from.get(c).map(|seq| (c.clone(), *seq)))
        .collect();
    send(
        via,
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

/// Resumes every channel (after a long pause).
fn resync(dash: Dashboard) {
    if on_sse() {
        reopen_sse(dash);
        return;
    }
    send(
        Via::Main,
        &ClientMsg::Subscribe {
            id: next_id(),
            channels: dash.channels(),
            resume: Some(dash.resume()),
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
fn schedule_probe(dash: Dashboard) {
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
