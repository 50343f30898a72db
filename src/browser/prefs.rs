//! The user's choices (watchlist, sort, theme, alerts, selected symbol) kept in localStorage,
//! restored after hydration and saved on every change; and the theme applied to the document.

use crate::protocol::{Interval, SortKey};
use crate::ui::store::{Dashboard, Theme};
use leptos::prelude::*;
use serde::{de::DeserializeOwned, Serialize};

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

fn load<T: DeserializeOwned>(key: &str) -> Option<T> {
    let text = storage()?.get_item(key).ok().flatten()?;
    serde_json::from_str(&text).ok()
}

fn save<T: Serialize>(key: &str, value: &T) {
    if let (Some(s), Ok(text)) = (storage(), serde_json::to_string(value)) {
        // Full or disabled storage only costs persistence.
        let _ = s.set_item(key, &text);
    }
}

/// Restores saved choices into the dashboard, then keeps saving them.
pub(crate) fn restore_and_persist(dash: Dashboard) {
    let p = dash.prefs;
    if let Some(w) = load("livetape.watch") {
        p.watch.set(w);
    }
    // An address that names a view (a shared link, or this page reloaded: the address follows
    // the view) wins over the saved order and selection; the bare address restores them.
    let linked = crate::browser::address::names_a_view();
    if let Some((sort, desc)) = load::<(SortKey, bool)>("livetape.sort").filter(|_| !linked) {
        dash.grid.spec.update(|s| {
            s.sort = sort;
            s.desc = desc;
        });
    }
    if let Some(t) = load("livetape.theme") {
        p.theme.set(t);
    }
    if let Some(a) = load("livetape.alerts") {
        p.alerts.set(a);
    }
    if let Some((symbol, interval)) =
        load::<(String, Interval)>("livetape.detail").filter(|_| !linked)
    {
        // A symbol the market no longer lists is refused by the server and the panel stays
        // empty; a valid one streams as soon as it is subscribed.
        if !symbol.is_empty() {
            dash.select(symbol, interval);
        }
    }
    Effect::new(move |_| save("livetape.watch", &p.watch.get()));
    Effect::new(move |_| {
        let (sort, desc) = dash.grid.spec.with(|s| (s.sort, s.desc));
        save("livetape.sort", &(sort, desc));
    });
    Effect::new(move |_| save("livetape.alerts", &p.alerts.get()));
    Effect::new(move |_| {
        save(
            "livetape.detail",
            &(dash.detail.symbol.get(), dash.detail.interval.get()),
        )
    });
    Effect::new(move |_| {
        let theme = p.theme.get();
        save("livetape.theme", &theme);
        if let Some(root) = document().document_element() {
            let _ = match theme {
                Theme::System => root.remove_attribute("data-theme"),
                Theme::Dark => root.set_attribute("data-theme", "dark"),
                Theme::Light => root.set_attribute("data-theme", "light"),
            };
        }
    });
}
