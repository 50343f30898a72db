//! The accessible live region. It speaks only what the user asked for (alerts on watched
//! symbols and final scores, when alerts are on), at most one message every few seconds:
//! never the stream itself.

use super::store::Dashboard;
use leptos::prelude::*;

#[component]
pub fn Announcer() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    view! {
        <div class="sr-only" role="status" aria-live="polite" aria-atomic="true" id="announcer">
            {move || dash.announcement.get()}
        </div>
    }
}
