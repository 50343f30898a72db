//! A hidden tab costs little: [`HIDE_AFTER`] after the page is hidden it lets go of
//! everything but what its alerts need (the grid's view, the detail panel, the breadth and the
//! scores of leagues nobody follows go; see `Dashboard::channel_groups`), keeping every
//! position it holds. When shown again it takes the rest back with `"latest": true`
//! (`docs/protocol.md`): each channel that moved comes back as one snapshot of its state now,
//! one that did not costs nothing, so an hour in the background is not an hour of replay.
//!
//! A short glance away (under [`HIDE_AFTER`]) changes nothing.

use crate::browser::requests::{come_back, go_to_background};
use leptos::prelude::*;
use std::time::Duration;
use wasm_bindgen::prelude::*;

use crate::browser::notify::page_visible;
use crate::ui::store::Dashboard;

/// How long the page stays hidden before it slims down.
pub(crate) const HIDE_AFTER: Duration = Duration::from_secs(5);

/// Follows the page's visibility for as long as the page lives.
pub(crate) fn follow(dash: Dashboard) {
    let on_change = Closure::<dyn FnMut()>::new(move || {
        if page_visible() {
            if dash.background.get_untracked() {
                come_back(dash);
            }
            return;
        }
        set_timeout(
            move || {
                if !page_visible() && !dash.background.get_untracked() {
                    go_to_background(dash);
                }
            },
            HIDE_AFTER,
        );
    });
    let _ = document()
        .add_event_listener_with_callback("visibilitychange", on_change.as_ref().unchecked_ref());
    // The listener lives as long as the page.
    on_change.forget();
}
