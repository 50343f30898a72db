//! The browser's connection to `/ws`: applies the stream to the dashboard and reconnects.
//!
//! One socket at a time. On a snapshot the whole state is replaced; each batch must follow the
//! last one (`seq + 1`), and a gap closes the socket so that the reconnect brings a fresh
//! snapshot: the page never shows a state it did not fully receive. A socket that goes silent
//! (the server sends a batch every tick) is treated as dead after `SILENCE`, since TCP may not
//! notice a vanished server for minutes. Reconnects back off exponentially with jitter so that a
//! restarted server is not hit by every browser at the same instant.

use crate::protocol::ServerMsg;
use crate::ui::store::{Dashboard, Link};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use leptos::prelude::*;
use std::cell::RefCell;
use std::time::Duration;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// No message for this long on an open socket means the server is gone.
const SILENCE: ChronoDuration = ChronoDuration::seconds(5);
const BACKOFF_MIN_MS: f64 = 500.0;
const BACKOFF_MAX_MS: f64 = 15_000.0;
/// Close code we use when we drop the socket ourselves (4000-4999 are for applications).
const CLOSE_RESYNC: u16 = 4000;

/// The open socket and the callbacks it calls. The closures must outlive the socket's use of
/// them, and must not be dropped while one of them runs, so the old connection is dropped only
/// when the next one replaces it, from a timer.
struct Connection {
    socket: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

#[derive(Default)]
struct State {
    connection: Option<Connection>,
    /// Failed attempts since the last snapshot.
    attempt: u32,
    /// Local time of the last message, for silence detection.
    last_message: Option<DateTime<Utc>>,
    /// Server time minus local time, from the last snapshot.
    offset: ChronoDuration,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Starts the clock and the connection. Called once, after hydration.
pub fn start(dash: Dashboard) {
    set_interval(move || on_timer(dash), Duration::from_millis(250));
    connect(dash);
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

    let on_open = Closure::<dyn FnMut()>::new(move || {
        STATE.with_borrow_mut(|s| s.last_message = Some(Utc::now()));
    });
    let reader = socket.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(text) = event.data().as_string() else {
            return;
        };
        STATE.with_borrow_mut(|s| s.last_message = Some(Utc::now()));
        on_message(dash, &reader, &text);
    });
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
        if event.code() != CLOSE_RESYNC {
            leptos::logging::log!(
                "livetape: feed closed ({}) {}",
                event.code(),
                event.reason()
            );
        }
        schedule_reconnect(dash);
    });
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));

    STATE.with_borrow_mut(|s| {
        s.last_message = None;
        // Replacing drops the previous connection's closures; we are in a timer, not in them.
        s.connection = Some(Connection {
            socket,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        });
    });
}

fn on_message(dash: Dashboard, socket: &WebSocket, text: &str) {
    match serde_json::from_str::<ServerMsg>(text) {
        Ok(ServerMsg::Snapshot(snapshot)) => {
            STATE.with_borrow_mut(|s| {
                s.attempt = 0;
                s.offset = snapshot.ts - Utc::now();
            });
            dash.apply_snapshot(snapshot);
            dash.link.set(Link::Live);
        }
        Ok(ServerMsg::Batch(batch)) => {
            if let Err(gap) = dash.apply_batch(batch) {
                leptos::logging::warn!(
                    "livetape: missed batches (expected {}, got {}); resynchronising",
                    gap.expected,
                    gap.got
                );
                let _ = socket.close_with_code_and_reason(CLOSE_RESYNC, "gap");
            }
        }
        Ok(ServerMsg::Pong { .. }) => {}
        Ok(ServerMsg::Error(err)) => {
            leptos::logging::warn!("livetape: server refused a message: {}", err.message);
        }
        // A newer server may send messages this client does not know; skip them.
        Err(err) => leptos::logging::warn!("livetape: skipped an unreadable message: {err}"),
    }
}

fn schedule_reconnect(dash: Dashboard) {
    let attempt = STATE.with_borrow_mut(|s| {
        s.attempt += 1;
        s.attempt
    });
    // Exponential backoff with full jitter between half and the whole step.
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
    let (offset, silent, socket) = STATE.with_borrow(|s| {
        let silent = s.last_message.is_some_and(|t| Utc::now() - t > SILENCE);
        (
            s.offset,
            silent,
            s.connection.as_ref().map(|c| c.socket.clone()),
        )
    });
    dash.now.set(Utc::now() + offset);
    if silent && dash.link.get_untracked() == Link::Live {
        if let Some(socket) = socket {
            leptos::logging::warn!(
                "livetape: no data for {}s; reconnecting",
                SILENCE.num_seconds()
            );
            STATE.with_borrow_mut(|s| s.last_message = None);
            let _ = socket.close_with_code_and_reason(CLOSE_RESYNC, "silent");
        }
    }
}
