//! The user's choices (watchlist, sort, theme, alerts, selected symbol) kept in localStorage,
//! restored after hydration and saved on every change; and the theme applied to the document.

use crate::protocol::Interval;
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
    if let Some(s) = load("livetape.sort") {
        p.sort.set(s);
    }
    if let Some(t) = load("livetape.theme") {
        p.theme.set(t);
    }
    if let Some(a) = load("livetape.alerts") {
        p.alerts.set(a);
    }
    if let Some((symbol, interval)) = load::<(String, Interval)>("livetape.detail") {
        let known = dash
            .rows
            .with_untracked(|r| r.iter().any(|r| *r.symbol == *symbol));
        if known {
            dash.select(symbol, interval);
        }
    }
    Effect::new(move |_| save("livetape.watch", &p.watch.get()));
    Effect::new(move |_| save("livetape.sort", &p.sort.get()));
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
