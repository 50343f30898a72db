//! What the page asks the server for, and keeps asking as the user acts: the channels it
//! subscribes to itself (scores, breadth, the selected symbol, the watchlist), the grid's
//! view (its order, filter and window), and the repair of a channel that showed a gap.
//!
//! Every request stays small whatever the user does: subscriptions go in chunks of
//! [`CHUNK`] channels (a request is at most 64 KiB on the server), and the view is sent at
//! most once every [`VIEW_EVERY`], so scrolling through ten thousand rows never trips the
//! server's request rate. On an event stream there is no way back: a change reopens it.

use crate::browser::state::{next_id, on_sse, reopen_sse, send, Via, STATE};
use crate::protocol::{Channel, ClientMsg, Resume};
use crate::ui::store::{Dashboard, GRID_VIEW};
use leptos::prelude::*;
use std::collections::BTreeSet;
use std::time::Duration;

/// Channels per subscribe request.
pub(crate) const CHUNK: usize = 512;
/// The shortest time between two view requests.
pub(crate) const VIEW_EVERY: Duration = Duration::from_millis(120);
/// How long an event stream waits after a change before it is reopened (scrolling reopens it
/// once it stops, not on every row).
const SSE_SETTLE: Duration = Duration::from_millis(300);

/// Where the page stands: `Dashboard::resume`, asking for the latest state only while the
/// page comes back from the background (see `background`).
fn resume_of(dash: Dashboard) -> Resume {
    let mut resume = dash.resume();
    resume.latest = STATE.with_borrow(|s| s.latest);
    resume
}

/// `resume`'s positions for `channels` only.
fn positions_of(resume: &Resume, channels: &[Channel]) -> Resume {
    Resume {
        epoch: resume.epoch,
        from: channels
            .iter()
            .filter_map(|c| resume.from.get(c).map(|seq| (c.clone(), *seq)))
            .collect(),
        latest: resume.latest,
    }
}

/// Subscribes to `channels` in requests of at most `CHUNK`, each resuming from the page's
/// positions. Returns the first request's id.
fn subscribe(via: Via, channels: Vec<Channel>, resume: &Resume) -> Option<u64> {
    let mut first = None;
    for chunk in channels.chunks(CHUNK) {
        let id = next_id();
        first.get_or_insert(id);
        send(
            via,
            &ClientMsg::Subscribe {
                id,
                channels: chunk.to_vec(),
                resume: Some(positions_of(resume, chunk)),
            },
        );
    }
    first
}

fn unsubscribe(via: Via, channels: Vec<Channel>) {
    for chunk in channels.chunks(CHUNK) {
        send(
            via,
            &ClientMsg::Unsubscribe {
                id: next_id(),
                channels: chunk.to_vec(),
            },
        );
    }
}

/// After a welcome: every channel the page subscribes to itself, and the grid's view, each
/// resumed from what the page (or the last connection) applied. Returns the id of the first
/// subscribe, whose answer says the server is streaming again.
pub(crate) fn start_stream(dash: Dashboard, via: Via) -> Option<u64> {
    let resume = resume_of(dash);
    if via == Via::Main {
        STATE.with_borrow_mut(|s| {
            s.explicit = dash.channels().into_iter().collect();
            s.view_sent = None;
        });
    }
    let [board, detail, watch, alerts] = dash.channel_groups();
    let first = subscribe(via, board, &resume);
    subscribe(via, detail, &resume);
    subscribe(via, watch, &resume);
    subscribe(via, alerts, &resume);
    send_view(dash, via);
    first
}

/// Brings the server's list of the page's own channels to what the page shows now (after a
/// new selection, or a star): unsubscribes what went, subscribes what came.
pub(crate) fn sync_channels(dash: Dashboard) {
    let wanted: BTreeSet<Channel> = dash.channels().into_iter().collect();
    let (gone, came) = STATE.with_borrow_mut(|s| {
        let gone: Vec<Channel> = s.explicit.difference(&wanted).cloned().collect();
        let came: Vec<Channel> = wanted.difference(&s.explicit).cloned().collect();
        s.explicit = wanted;
        (gone, came)
    });
    if gone.is_empty() && came.is_empty() {
        return;
    }
    // In the background the page keeps what it holds, and its positions, for the way back.
    if !dash.background.get_untracked() {
        dash.release(&gone);
    }
    if on_sse() {
        reopen_sse_soon(dash);
        return;
    }
    unsubscribe(Via::Main, gone);
    // One request per symbol's group (see `channel_groups`): a refused one refuses no other.
    let resume = resume_of(dash);
    for group in dash.channel_groups() {
        let mine: Vec<Channel> = group.into_iter().filter(|c| came.contains(c)).collect();
        subscribe(Via::Main, mine, &resume);
    }
}

/// The grid's view changed: sent now if the last one went long enough ago, else once that
/// time is up (the latest view then).
pub(crate) fn view_changed(dash: Dashboard) {
    if on_sse() {
        reopen_sse_soon(dash);
        return;
    }
    let due = STATE.with_borrow_mut(|s| std::mem::replace(&mut s.view_due, true));
    if due {
        return;
    }
    send_view(dash, Via::Main);
    set_timeout(
        move || {
            STATE.with_borrow_mut(|s| s.view_due = false);
            let current = dash.grid.spec.get_untracked();
            if STATE.with_borrow(|s| s.view_sent.as_ref() != Some(&current)) {
                view_changed(dash);
            }
        },
        VIEW_EVERY,
    );
}

/// The page was hidden for a while: it closes the grid's view and lets go of every channel
/// its alerts do not need (see `background`).
pub(crate) fn go_to_background(dash: Dashboard) {
    dash.background.set(true);
    if on_sse() {
        reopen_sse(dash);
        return;
    }
    close_grid_view();
    sync_channels(dash);
}

/// The page is shown again: everything it let go of comes back, each channel that moved as
/// its latest state.
pub(crate) fn come_back(dash: Dashboard) {
    dash.background.set(false);
    STATE.with_borrow_mut(|s| s.latest = true);
    if on_sse() {
        // The event stream's query takes the flag (and clears it).
        reopen_sse(dash);
        return;
    }
    sync_channels(dash);
    send_view(dash, Via::Main);
    STATE.with_borrow_mut(|s| s.latest = false);
}

/// The grid switched to the current list only (the server's window is closed: the list's
/// quotes stream anyway), or back to the server's window.
pub(crate) fn only_changed(dash: Dashboard, only: bool) {
    STATE.with_borrow_mut(|s| s.view_sent = None);
    if on_sse() {
        reopen_sse_soon(dash);
        return;
    }
    if only {
        close_grid_view();
    } else {
        send_view(dash, Via::Main);
    }
}

/// Closes the grid's view on the server (its rows stop unless subscribed otherwise); the
/// next `send_view` opens it again.
fn close_grid_view() {
    send(
        Via::Main,
        &ClientMsg::CloseView {
            id: next_id(),
            view: GRID_VIEW,
        },
    );
    STATE.with_borrow_mut(|s| s.view_sent = None);
}

/// Sends the grid's view as it is, with the positions of the rows the page holds. Nothing
/// in the background (the grid is not on screen) or while the grid shows a watchlist.
fn send_view(dash: Dashboard, via: Via) {
    if dash.background.get_untracked() || dash.lists.only.get_untracked() {
        return;
    }
    let spec = dash.grid.spec.get_untracked();
    let resume = resume_of(dash);
    if via == Via::Main {
        let same = STATE.with_borrow(|s| s.view_sent.as_ref() == Some(&spec));
        if same {
            return;
        }
        STATE.with_borrow_mut(|s| s.view_sent = Some(spec.clone()));
    }
    send(
        via,
        &ClientMsg::View {
            id: next_id(),
            view: GRID_VIEW,
            spec,
            resume: Some(resume),
        },
    );
}

/// Resumes channels that showed a gap, once per channel until the server answers. On an
/// event stream, the stream is reopened from the last tick applied without a gap. A channel
/// the grid's view holds is resumed the same way and then let go of again (the view keeps
/// it).
pub(crate) fn repair(dash: Dashboard, via: Via, channels: BTreeSet<Channel>) {
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
    let viewed: Vec<Channel> = STATE.with_borrow(|s| {
        fresh
            .iter()
            .filter(|c| !s.explicit.contains(c))
            .cloned()
            .collect()
    });
    subscribe(via, fresh, &dash.resume());
    unsubscribe(via, viewed);
}

/// Resumes every channel (after a long pause).
pub(crate) fn resync(dash: Dashboard) {
    if on_sse() {
        reopen_sse(dash);
        return;
    }
    start_stream(dash, Via::Main);
}

/// Reopens the event stream once changes stop coming for `SSE_SETTLE`.
fn reopen_sse_soon(dash: Dashboard) {
    let due = STATE.with_borrow_mut(|s| std::mem::replace(&mut s.view_due, true));
    if due {
        return;
    }
    set_timeout(
        move || {
            STATE.with_borrow_mut(|s| s.view_due = false);
            if on_sse() {
                reopen_sse(dash);
            }
        },
        SSE_SETTLE,
    );
}

/// The event stream's URL parameters for the page: its own channels (with the positions it
/// holds, a snapshot for those it holds nothing of), and the grid's view.
pub(crate) fn sse_query(dash: Dashboard) -> String {
    let enc = |s: &str| String::from(js_sys::encode_uri_component(s));
    let channels = dash.channels();
    let resume = dash.resume();
    let latest = STATE.with_borrow_mut(|s| std::mem::replace(&mut s.latest, false));
    let names: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
    let mut query = format!("channels={}", enc(&names.join(",")));
    let from: Vec<String> = resume
        .from
        .iter()
        .map(|(c, seq)| format!("{c}@{seq}"))
        .collect();
    if resume.epoch != 0 && !from.is_empty() {
        query.push_str(&format!(
            "&epoch={}&from={}",
            resume.epoch,
            enc(&from.join(","))
        ));
        if latest {
            query.push_str("&latest=1");
        }
    }
    let fresh: Vec<String> = channels
        .iter()
        .filter(|c| !resume.from.contains_key(c))
        .map(|c| c.to_string())
        .collect();
    if !fresh.is_empty() {
        query.push_str(&format!("&fresh={}", enc(&fresh.join(","))));
    }
    if dash.background.get_untracked() || dash.lists.only.get_untracked() {
        // No server window on screen: no view.
        return query;
    }
    let spec = dash.grid.spec.get_untracked();
    let sort = serde_json::to_value(spec.sort)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    query.push_str(&format!(
        "&sort={sort}&desc={}&filter={}&offset={}&limit={}",
        u8::from(spec.desc),
        enc(&spec.filter),
        spec.offset,
        spec.limit
    ));
    STATE.with_borrow_mut(|s| s.view_sent = Some(spec));
    query
}
