//! The top bar: the product name and the honest state of the live connection.

use super::store::{Dashboard, Link};
use leptos::prelude::*;

#[component]
pub fn StatusBar() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let label = move || match dash.link.get() {
        Link::Connecting => "Connecting…".to_string(),
        Link::Live => "Live".to_string(),
        Link::Reconnecting { retry_at, .. } => {
            let secs = (retry_at - dash.now.get()).num_milliseconds().max(0) as f64 / 1000.0;
            format!("Reconnecting in {}s", secs.ceil() as i64)
        }
    };
    let state = move || match dash.link.get() {
        Link::Connecting => "connecting",
        Link::Live => "live",
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
                    <dt>"Seq"</dt>
                    <dd class="seq">{move || dash.seq.get()}</dd>
                </div>
                <div>
                    <dt>"Updated"</dt>
                    <dd class="updated">{updated}</dd>
                </div>
            </dl>
        </header>
    }
}
