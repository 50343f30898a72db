//! The accessible live region. It speaks only what the user asked for (alerts on watched
//! symbols and final scores, when alerts are on), at most one message every few seconds:
//! never the stream itself.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::ui::store::Dashboard;
use leptos::prelude::*;

#[component]
pub(crate) fn Announcer() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    view! {
        <div class="sr-only" role="status" aria-live="polite" aria-atomic="true" id="announcer">
            {move || dash.announcement.get()}
        </div>
    }
}
