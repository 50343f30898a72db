//! The top bar: the product name, the honest state of the live connection, and counters a
//! user can check: updates applied, and gaps seen (each repaired by a resume).

use super::format::grouped;
use super::store::{Dashboard, Link};
use leptos::prelude::*;

#[component]
pub fn StatusBar() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let label = move || match dash.link.get() {
        Link::Connecting => "Connecting…".to_string(),
        Link::Recovering => "Recovering…".to_string(),
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
    let updated = move || dash.updated.get().format("%H:%M:%S UTC").to_string();
    view! {
        <header class="topbar">
            <h1 class="brand">"livetape"</h1>
            <div class="status">
                <span class=move || format!("pill {}", state()) data-state=state>
                    <span class="dot" aria-hidden="true"></span>
                    <span class="pill-text">{label}</span>
                </span>
            </div>
            <dl class="feed-facts">
                <div>
                    <dt>"Updates"</dt>
                    <dd class="updates">{move || grouped(dash.updates.get())}</dd>
                </div>
                <div>
                    <dt>"Gaps"</dt>
                    <dd class="gaps">{move || dash.gaps.get()}</dd>
                </div>
                <div>
                    <dt>"Updated"</dt>
                    <dd class="updated">{updated}</dd>
                </div>
            </dl>
        </header>
    }
}
