//! The status bar: the honest state of the live connection, what is flowing (updates per
//! second, publish-to-screen latency, gaps), and the controls: pause, alerts, theme.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::ui::format::{grouped, time_of_day, zone};
use crate::ui::store::{Dashboard, Link, Theme};
use leptos::prelude::*;

/// The top bar: the brand, the connection's state and why it is not live, what flows, and
/// the controls.
#[component]
pub(crate) fn StatusBar() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    // Why the server refused something or the connection went: shown while reconnecting
    // (every reconnect says why) and for a while after a refusal.
    let notice = move || {
        let notice = dash.notice.get()?;
        let reconnecting = matches!(dash.link.get(), Link::Reconnecting { .. } | Link::Stale);
        let recent = dash.now.get() - notice.at < chrono::Duration::seconds(15);
        (reconnecting || recent).then_some(notice.text)
    };
    // Without JavaScript the page is a snapshot and says so; nothing live is shown.
    let snapshot_note = format!(
        r#"<p class="no-js-note">Snapshot of {} UTC. Live prices and scores need JavaScript.</p>"#,
        time_of_day(dash.updated.get_untracked())
    );
    view! {
        <header class="topbar">
            <h1 class="brand">"livetape"</h1>
            <noscript inner_html=snapshot_note></noscript>
            <LinkPill/>
            <p class="notice js-only" role="status" class:hidden=move || notice().is_none()>
                {move || notice().unwrap_or_default()}
            </p>
            <FeedFacts/>
            <Controls/>
        </header>
    }
}

/// The connection's state in a word (and the seconds to the next try), and its transport.
#[component]
fn LinkPill() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let label = move || match dash.link.get() {
        Link::Connecting => "Connecting…".to_string(),
        Link::Recovering => "Recovering…".to_string(),
        Link::Live if dash.via_sse.get() => "Live · SSE".to_string(),
        Link::Live => "Live".to_string(),
        Link::Stale => "Stale: no data".to_string(),
        Link::Reconnecting { retry_at, .. } => {
            let secs = (retry_at - dash.now.get()).num_milliseconds().max(0) as f64 / 1000.0;
            format!("Reconnecting in {}s", secs.ceil() as i64)
        }
    };
    let state = move || match dash.link.get() {
        Link::Connecting => "connecting",
        Link::Recovering => "recovering",
        Link::Live => "live",
        Link::Stale => "stale",
        Link::Reconnecting { .. } => "reconnecting",
    };
    view! {
        <span
            class=move || format!("pill js-only {}", state())
            data-state=state
            data-transport=move || if dash.via_sse.get() { "sse" } else { "ws" }
            title=move || {
                if dash.via_sse.get() {
                    "Over Server-Sent Events: WebSockets seem blocked on the way; trying them again now and then"
                } else {
                    "Over a WebSocket"
                }
            }
        >
            <span class="dot" aria-hidden="true"></span>
            <span class="pill-text">{label}</span>
        </span>
    }
}

/// What flows: messages per second, publish-to-screen latency, updates, gaps, the last update.
#[component]
fn FeedFacts() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let latency = move || match dash.latency_ms.get() {
        Some(ms) if ms < 10.0 => format!("{ms:.1} ms"),
        Some(ms) => format!("{ms:.0} ms"),
        None => "–".into(),
    };
    view! {
        <dl class="feed-facts">
            <div class="js-only">
                <dt>"Msgs/s"</dt>
                <dd class="rate">{move || grouped(dash.rate.get())}</dd>
            </div>
            <div class="js-only">
                <dt>"Latency"</dt>
                <dd class="latency">{latency}</dd>
            </div>
            <div class="wide js-only">
                <dt>"Updates"</dt>
                <dd class="updates">{move || grouped(dash.updates.get())}</dd>
            </div>
            <div class="js-only">
                <dt>"Gaps"</dt>
                <dd class="gaps">{move || dash.gaps.get()}</dd>
            </div>
            <div class="wide">
                <dt>"Updated"</dt>
                <dd class="updated">{move || format!("{} {}", time_of_day(dash.updated.get()), zone())}</dd>
            </div>
        </dl>
    }
}

/// Pause (and what waits meanwhile), alerts, theme.
#[component]
fn Controls() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let paused = dash.paused;
    let toggle_pause = move |_| paused.update(|p| *p = !*p);
    let theme = dash.prefs.theme;
    let next_theme = move |_| {
        theme.update(|t| {
            *t = match t {
                Theme::System => Theme::Dark,
                Theme::Dark => Theme::Light,
                Theme::Light => Theme::System,
            }
        })
    };
    let theme_label = move || match theme.get() {
        Theme::System => "Theme: system",
        Theme::Dark => "Theme: dark",
        Theme::Light => "Theme: light",
    };
    let alerts_on = dash.prefs.alerts_on;
    let utc = dash.prefs.utc;
    let panel = dash.alerts.panel;
    view! {
        <div class="controls js-only">
            <button
                type="button"
                class="pause"
                aria-pressed=move || if paused.get() { "true" } else { "false" }
                on:click=toggle_pause
            >
                {move || if paused.get() { "Resume" } else { "Pause" }}
            </button>
            <span class="buffered" class:hidden=move || !paused.get()>
                {move || format!("{} buffered", grouped(dash.buffered.get()))}
            </span>
            <button
                type="button"
                class="alerts"
                title="Price alerts, watched symbols' moves and followed teams' games"
                aria-expanded=move || if panel.get() { "true" } else { "false" }
                aria-controls="alerts-panel"
                on:click=move |_| panel.update(|p| *p = !*p)
            >
                "Alerts"
                <span class="alerts-state">{move || if alerts_on.get() { " on" } else { " off" }}</span>
            </button>
            <button
                type="button"
                class="zone"
                title="Show times in UTC or in this browser's time zone"
                aria-pressed=move || if utc.get() { "true" } else { "false" }
                on:click=move |_| utc.update(|u| *u = !*u)
            >
                "Times in UTC"
            </button>
            <button type="button" class="theme" on:click=next_theme>
                {theme_label}
            </button>
        </div>
    }
}
