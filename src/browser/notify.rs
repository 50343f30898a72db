//! Alerts beyond the page: desktop notifications (the Notification API, asked for only when
//! the user turns them on) and a short tone. Both take what the alerts' outbox holds at most
//! once every [`NOTIFY_EVERY`], as one notification and one tone, so a busy market never
//! floods the desktop. Toasts age here too (they wait while the page is hidden).
//!
//! [`flush`] runs after every message from the server as well as on the status timer (which
//! also ages the toasts, [`age`]): a
//! hidden tab's timers are throttled (to once a minute after a while in Chrome), its socket's
//! messages are not, so an alert in a hidden tab reaches the desktop when it fires.

use crate::ui::alerts::{Fired, Tone};
use crate::ui::store::Dashboard;
use chrono::{DateTime, Duration, Utc};
use leptos::prelude::*;
use std::cell::Cell;
use wasm_bindgen::prelude::*;

/// At most one notification (and one tone) this often.
const NOTIFY_EVERY: Duration = Duration::seconds(4);

thread_local! {
    static LAST: Cell<Option<DateTime<Utc>>> = const { Cell::new(None) };
    static AUDIO: std::cell::RefCell<Option<web_sys::AudioContext>> = const { std::cell::RefCell::new(None) };
}

/// Whether the page is visible (a hidden tab, a minimised window: not).
pub(crate) fn page_visible() -> bool {
    document().visibility_state() == web_sys::VisibilityState::Visible
}

/// Asks for the permission when the user turns notifications on; turns them off again (and
/// says why) when the browser has none or the user refuses.
pub(crate) fn watch_permission(dash: Dashboard) {
    let alerts = dash.alerts;
    Effect::new(move |_| {
        if !alerts.notify.get() {
            return;
        }
        let supported =
            js_sys::Reflect::has(&window(), &JsValue::from_str("Notification")).unwrap_or(false);
        if !supported {
            alerts.notify.set(false);
            alerts
                .note
                .set("This browser has no desktop notifications.".into());
            return;
        }
        match web_sys::Notification::permission() {
            web_sys::NotificationPermission::Granted => alerts.note.set(String::new()),
            web_sys::NotificationPermission::Denied => refused(dash),
            _ => {
                let Ok(promise) = web_sys::Notification::request_permission() else {
                    return refused(dash);
                };
                let answered = Closure::once(move |answer: JsValue| {
                    if answer.as_string().as_deref() == Some("granted") {
                        alerts.note.set(String::new());
                    } else {
                        refused(dash);
                    }
                });
                let _ = promise.then(&answered);
                // Called once by the promise; a permission prompt is rare enough to leak.
                answered.forget();
            }
        }
    });
}

fn refused(dash: Dashboard) {
    dash.alerts.notify.set(false);
    dash.alerts.note.set(
        "Notifications are blocked for this site: allow them in the browser's site settings."
            .into(),
    );
}

/// Ages the toasts (on the status timer: a toast lives seconds).
pub(crate) fn age(dash: Dashboard) {
    if !dash.alerts.toasts.with_untracked(Vec::is_empty) {
        dash.alerts.age_toasts(Utc::now(), page_visible());
    }
}

/// Gives what fired to the desktop and the speakers, if it is time. Runs after every message:
/// with nothing fired (nearly always) it returns at once.
pub(crate) fn flush(dash: Dashboard) {
    let alerts = dash.alerts;
    if !alerts.fired_waiting() {
        return;
    }
    let now = Utc::now();
    let due = LAST.with(|l| l.get().is_none_or(|t| now - t >= NOTIFY_EVERY));
    if !due {
        return;
    }
    let fired = alerts.take_outbox();
    let Some(last) = fired.last() else {
        return;
    };
    LAST.with(|l| l.set(Some(now)));
    if alerts.sound.get_untracked() {
        tone(last.tone);
    }
    if alerts.notify.get_untracked()
        && web_sys::Notification::permission() == web_sys::NotificationPermission::Granted
    {
        notify(&fired);
    }
}

/// One notification for everything that fired since the last: the latest in full, the rest
/// counted.
fn notify(fired: &[Fired]) {
    let last = &fired[fired.len() - 1];
    let title = if fired.len() == 1 {
        last.title.clone()
    } else {
        format!("{} alerts · {}", fired.len(), last.title)
    };
    let options = web_sys::NotificationOptions::new();
    options.set_body(&last.body);
    // One tag: a newer notification replaces the last instead of stacking up.
    options.set_tag("livetape-alert");
    if let Err(err) = web_sys::Notification::new_with_options(&title, &options) {
        leptos::logging::warn!("livetape: notification failed: {err:?}");
    }
}

/// A short tone: higher for up, lower for down, two notes for a game.
fn tone(tone: Tone) {
    let ctx = AUDIO.with_borrow_mut(|a| {
        if a.is_none() {
            *a = web_sys::AudioContext::new().ok();
        }
        a.clone()
    });
    let Some(ctx) = ctx else {
        return;
    };
    let notes: &[f32] = match tone {
        Tone::Up => &[880.0],
        Tone::Down => &[440.0],
        Tone::Game => &[660.0, 990.0],
    };
    let start = ctx.current_time();
    for (i, freq) in notes.iter().enumerate() {
        let at = start + i as f64 * 0.15;
        let (Ok(osc), Ok(gain)) = (ctx.create_oscillator(), ctx.create_gain()) else {
            return;
        };
        osc.frequency().set_value(*freq);
        let _ = gain.gain().set_value_at_time(0.15, at);
        let _ = gain
            .gain()
            .exponential_ramp_to_value_at_time(0.001, at + 0.14);
        let _ = osc
            .connect_with_audio_node(&gain)
            .and_then(|_| gain.connect_with_audio_node(&ctx.destination()));
        let _ = osc.start_with_when(at);
        let _ = osc.stop_with_when(at + 0.15);
    }
}
