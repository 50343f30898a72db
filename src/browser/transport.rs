//! The two ways to the feed: a WebSocket (`/ws`), or Server-Sent Events (`/sse`) where a
//! proxy or antivirus blocks WebSockets. Each connection hands every message's text to one
//! callback and reports its end to another; what the messages mean is `stream`'s business.

use crate::protocol::{ClientMsg, Epoch};
use leptos::prelude::window;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, Event, EventSource, MessageEvent, WebSocket};

/// Close code we use when we drop a socket ourselves (4000-4999 are for applications).
pub(crate) const CLOSE_DEAD: u16 = 4000;

/// Event types the server sends on `/sse` (one per message type).
const SSE_EVENTS: [&str; 8] = [
    "welcome",
    "snapshot",
    "batch",
    "rows",
    "listed",
    "symbols",
    "heartbeat",
    "error",
];

/// An open (or opening) connection and the callbacks it calls. The closures must live as
/// long as the connection may call them and must not be dropped while one runs, so a
/// connection is dropped only when another replaces it, from a timer.
pub(crate) enum Connection {
    Ws {
        socket: WebSocket,
        _on_message: Closure<dyn FnMut(MessageEvent)>,
        _on_close: Closure<dyn FnMut(CloseEvent)>,
    },
    Sse {
        source: EventSource,
        _on_message: Closure<dyn FnMut(MessageEvent)>,
        _on_error: Closure<dyn FnMut(Event)>,
    },
}

/// Where the page came from: `ws[s]://host` and `http[s]://host`.
fn origin() -> Option<(String, String)> {
    let location = window().location();
    let host = location.host().ok()?;
    let secure = location.protocol().ok()? == "https:";
    Some((
        format!("{}://{host}", if secure { "wss" } else { "ws" }),
        format!("{}://{host}", if secure { "https" } else { "http" }),
    ))
}

impl Connection {
    /// Opens `/ws`. `on_text` gets every text message; `on_end` the close code and reason.
    pub(crate) fn websocket(
        on_text: impl FnMut(&str) + 'static,
        on_end: impl FnMut(u16, String) + 'static,
    ) -> Result<Connection, String> {
        let (ws, _) = origin().ok_or("cannot tell the page's host")?;
        let socket = WebSocket::new(&format!("{ws}/ws")).map_err(|e| format!("{e:?}"))?;
        let mut on_text = on_text;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(text) = event.data().as_string() {
                on_text(&text);
            }
        });
        let mut on_end = on_end;
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            on_end(event.code(), event.reason());
        });
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Connection::Ws {
            socket,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Opens `/sse?QUERY` (the page's channels, positions and view: `requests::sse_query`),
    /// resuming its channels after tick `after` of `epoch` where given. The browser
    /// reconnects an event stream by itself (sending the last event id); `on_end` is called
    /// only when it gives up (the server refused the stream).
    pub(crate) fn event_source(
        query: &str,
        position: Option<(Epoch, u64)>,
        on_text: impl FnMut(&str) + 'static,
        on_end: impl FnMut(u16, String) + 'static,
    ) -> Result<Connection, String> {
        let (_, http) = origin().ok_or("cannot tell the page's host")?;
        let mut url = format!("{http}/sse?{query}");
        if let Some((epoch, n)) = position {
            if !query.contains("&epoch=") {
                url.push_str(&format!("&epoch={epoch}"));
            }
            url.push_str(&format!("&after={n}"));
        }
        let source = EventSource::new(&url).map_err(|e| format!("{e:?}"))?;
        let mut on_text = on_text;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(text) = event.data().as_string() {
                on_text(&text);
            }
        });
        for kind in SSE_EVENTS {
            let _ =
                source.add_event_listener_with_callback(kind, on_message.as_ref().unchecked_ref());
        }
        let probe = source.clone();
        let mut on_end = on_end;
        let on_error = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            // CONNECTING: the browser is reconnecting by itself. CLOSED: it gave up.
            if probe.ready_state() == EventSource::CLOSED {
                on_end(0, String::new());
            }
        });
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Connection::Sse {
            source,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    pub(crate) fn is_sse(&self) -> bool {
        matches!(self, Connection::Sse { .. })
    }

    /// Sends a request (WebSocket only: an event stream has no way back).
    pub(crate) fn send(&self, msg: &ClientMsg) -> bool {
        let Connection::Ws { socket, .. } = self else {
            return false;
        };
        if socket.ready_state() != WebSocket::OPEN {
            return false;
        }
        match serde_json::to_string(msg) {
            Ok(text) => socket.send_with_str(&text).is_ok(),
            Err(_) => false,
        }
    }

    /// Stops listening and closes: nothing it says later is applied.
    pub(crate) fn close(&self) {
        match self {
            Connection::Ws { socket, .. } => {
                socket.set_onmessage(None);
                socket.set_onclose(None);
                let _ = socket.close_with_code_and_reason(CLOSE_DEAD, "client closing");
            }
            Connection::Sse { source, .. } => {
                source.set_onerror(None);
                source.close();
            }
        }
    }
}
