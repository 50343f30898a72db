//! What the server's messages do to the dashboard, one function per message type.

use crate::browser::requests::{repair, start_stream};
use crate::browser::state::{
    mark_data, next_id, precise_now, schedule_probe, Via, PROBE_FIRST, STATE,
};
use crate::protocol::{Batch, Channel, ErrorCode, ErrorReply, ServerMsg};
use crate::ui::rows::set_if_changed;
use crate::ui::store::{Dashboard, Link, Notice};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use leptos::prelude::*;

/// Messages held at most while paused (each is a tick's batch).
const HOLD_LIMIT: usize = 20_000;

/// One message from the server, as text.
pub(crate) fn on_message(dash: Dashboard, via: Via, text: &str) {
    let msg = match serde_json::from_str::<ServerMsg>(text) {
        Ok(msg) => msg,
        Err(err) => return skip_unknown(text, &err),
    };
    if let ServerMsg::Batch(batch) = &msg {
        measure_batch(dash, batch);
    }
    // Paused: the view stays frozen; data messages wait, in order.
    if dash.paused.get_untracked()
        && matches!(
            msg,
            ServerMsg::Batch(_) | ServerMsg::Snapshot(_) | ServerMsg::Rows { .. }
        )
    {
        return hold(dash, msg);
    }
    apply(dash, via, msg);
    // An alert fired by this message reaches the desktop now, even in a throttled hidden tab.
    crate::browser::notify::flush(dash);
}

/// Counts a batch's updates for the rate, and its delay for the latency figure.
fn measure_batch(dash: Dashboard, batch: &Batch) {
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

/// Keeps a data message for when the view resumes.
fn hold(dash: Dashboard, msg: ServerMsg) {
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
}

/// After a (re)connect the server has sent everything it owed: the view is live even if the
/// feed is quiet and no data follows (Stale comes later, from the timer, if it stays quiet).
fn owed_nothing_more(dash: Dashboard) {
    if dash.link.get_untracked() == Link::Recovering {
        mark_data();
        dash.link.set(Link::Live);
    }
}

/// Applies one message.
pub(crate) fn apply(dash: Dashboard, via: Via, msg: ServerMsg) {
    match msg {
        ServerMsg::Welcome {
            ts,
            heartbeat_ms,
            universe,
            ..
        } => {
            set_if_changed(dash.grid.universe, universe);
            welcome(dash, via, ts, heartbeat_ms)
        }
        ServerMsg::Ack { id, channels } => ack(dash, via, id, &channels),
        ServerMsg::Snapshot(snapshot) => {
            dash.apply_snapshot(snapshot);
            mark_data();
            dash.link.set(Link::Live);
        }
        ServerMsg::Batch(batch) => self::batch(dash, via, batch),
        ServerMsg::Rows {
            view,
            total,
            offset,
            symbols,
            sparks,
            ..
        } => dash.apply_rows(view, total, offset, symbols, sparks),
        ServerMsg::Pong { id, ts } => {
            let now = precise_now();
            STATE.with_borrow_mut(|s| s.clock.pong(id, ts, now));
        }
        // The page follows the universe through its view's `total`, not the list.
        ServerMsg::Listed { .. } | ServerMsg::Symbols { .. } => {}
        ServerMsg::Heartbeat { .. } => {
            // An event stream sends no ack: a heartbeat after its welcome means it has sent
            // everything it owed and the feed is quiet.
            if via == Via::Main {
                owed_nothing_more(dash);
            }
        }
        ServerMsg::Error(err) => refused(dash, &err),
    }
}

fn welcome(dash: Dashboard, via: Via, ts: DateTime<Utc>, heartbeat_ms: u32) {
    let sse = STATE.with_borrow_mut(|s| {
        // A first estimate; pings refine it (see the timer).
        s.clock.reset(ts, precise_now());
        s.heartbeat = ChronoDuration::milliseconds(i64::from(heartbeat_ms.max(100)));
        if via == Via::Main {
            s.welcomed = true;
        }
        s.connection.as_ref().is_some_and(|(_, c)| c.is_sse()) && via == Via::Main
    });
    if via == Via::Main {
        dash.via_sse.set(sse);
        if !sse {
            STATE.with_borrow_mut(|s| {
                s.ws_failures = 0;
                s.probe_delay = PROBE_FIRST;
            });
        }
        dash.link.set(Link::Recovering);
    }
    if sse {
        // The stream answers its channels by itself; keep trying WebSockets.
        schedule_probe(dash);
        return;
    }
    // Resume every channel from what the page (or the last connection) applied.
    let first = start_stream(dash, via).unwrap_or_else(next_id);
    STATE.with_borrow_mut(|s| match via {
        Via::Main => s.recovering = Some(first),
        Via::Probe => s.probe_subscribe = Some(first),
    });
}

fn ack(dash: Dashboard, via: Via, id: u64, channels: &[Channel]) {
    let took_over = STATE.with_borrow_mut(|s| {
        if s.recovering != Some(id) {
            for c in channels {
                s.repairing.remove(c);
            }
        }
        if via == Via::Probe && s.probe_subscribe == Some(id) {
            // The WebSocket answered: it becomes the main connection, the event stream goes.
            // Updates both carried are applied once (seqs).
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
    // The answer to the resume after a welcome: whatever the server owes (snapshots, replayed
    // updates) follows on the same connection, in order. On a feed with nothing new (a replay
    // that has ended, a quiet market) nothing else may come.
    if via == Via::Main && STATE.with_borrow(|s| s.recovering == Some(id)) {
        owed_nothing_more(dash);
    }
}

fn batch(dash: Dashboard, via: Via, batch: Batch) {
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

/// The server turned a request down: said in the status bar (and the console), never
/// retried in a loop. A symbol it does not list (a saved selection, an old star) is let go
/// of, so that the page asks for what exists.
fn refused(dash: Dashboard, err: &ErrorReply) {
    leptos::logging::warn!("livetape: server refused a request: {}", err.message);
    let mut text = format!("The server refused a request: {}", err.message);
    if err.code == ErrorCode::UnknownSymbol {
        // The message names it: `unknown symbol "X" in channel ...`.
        let symbol = err
            .message
            .split('"')
            .nth(1)
            .unwrap_or_default()
            .to_string();
        if !symbol.is_empty() && dash.prefs.watch.with_untracked(|w| w.contains(&symbol)) {
            dash.prefs.watch.update(|w| {
                w.remove(&symbol);
            });
            text = format!("{symbol} is not listed on this server: removed from the watchlist");
        } else if dash.detail.symbol.with_untracked(|s| *s == symbol) {
            let first = dash
                .grid
                .order
                .with_untracked(|o| o.first().map(|r| r.symbol.to_string()));
            if let Some(first) = first {
                dash.select(first, dash.detail.interval.get_untracked());
            }
            text = format!("{symbol} is not listed on this server");
        }
    }
    dash.notice.set(Some(Notice {
        text,
        at: dash.now.get_untracked(),
    }));
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
