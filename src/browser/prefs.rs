//! The user's choices (watchlist, sort, theme, alerts and their rules, followed teams and
//! leagues, spoilers, the league filter, selected symbol) kept in localStorage, restored after
//! hydration and saved on every change; and the theme applied to the document.
//!
//! Tabs of the same browser share them: another tab's change (the `storage` event, which a
//! tab never gets for its own writes, and which an unchanged value does not raise) is taken
//! in at once, so a star or an alert set in one tab is in every tab.

use crate::protocol::{Interval, SortKey};
use crate::ui::locale::Style;
use crate::ui::rows::set_if_changed;
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

/// Loads `key` into `signal` if it is saved (and differs).
fn restore<T>(key: &str, signal: RwSignal<T>)
where
    T: DeserializeOwned + PartialEq + Send + Sync + 'static,
{
    if let Some(value) = load::<T>(key) {
        set_if_changed(signal, value);
    }
}

/// Saves `signal` under `key` on every change.
fn persist<T>(key: &'static str, signal: RwSignal<T>)
where
    T: Serialize + Send + Sync + 'static,
{
    Effect::new(move |_| signal.with(|v| save(key, v)));
}

/// The choices another tab may change, each with its key: restored, saved, and synced.
fn shared(dash: Dashboard, key: &str) {
    let (p, a, f) = (dash.prefs, dash.alerts, dash.follow);
    match key {
        "livetape.watch" => restore(key, p.watch),
        "livetape.alerts" => restore(key, p.alerts_on),
        "livetape.alert_rules" => restore(key, a.rules),
        "livetape.alert_sound" => restore(key, a.sound),
        "livetape.teams" => restore(key, f.teams),
        "livetape.leagues" => restore(key, f.leagues),
        "livetape.spoilers" => restore(key, f.spoilers),
        "livetape.theme" => restore(key, p.theme),
        "livetape.utc" => restore(key, p.utc),
        "livetape.lists" | "livetape.list" => {
            restore("livetape.lists", dash.lists.lists);
            restore("livetape.list", dash.lists.current);
            dash.lists.repair();
            set_if_changed(p.watch, dash.lists.current_symbols());
        }
        _ => {}
    }
}

const SHARED: [&str; 10] = [
    "livetape.utc",
    "livetape.lists",
    "livetape.watch",
    "livetape.alerts",
    "livetape.alert_rules",
    "livetape.alert_sound",
    "livetape.teams",
    "livetape.leagues",
    "livetape.spoilers",
    "livetape.theme",
];

/// Takes in what another tab saved.
fn sync_from_other_tabs(dash: Dashboard) {
    use wasm_bindgen::prelude::*;
    let on_storage =
        Closure::<dyn FnMut(web_sys::StorageEvent)>::new(move |ev: web_sys::StorageEvent| {
            if let Some(key) = ev.key() {
                shared(dash, &key);
            }
        });
    let _ =
        window().add_event_listener_with_callback("storage", on_storage.as_ref().unchecked_ref());
    // The listener lives as long as the page.
    on_storage.forget();
}

/// The browser's number separators (`Intl.NumberFormat`'s parts of 1234567.5) and its
/// zone's offset now, or UTC.
fn browser_style(utc: bool) -> Style {
    let format = js_sys::Intl::NumberFormat::new(&js_sys::Array::new(), &js_sys::Object::new());
    let mut style = Style::default();
    for part in format.format_to_parts(1_234_567.5).iter() {
        let get = |k: &str| {
            js_sys::Reflect::get(&part, &k.into())
                .ok()
                .and_then(|v| v.as_string())
        };
        match (get("type").as_deref(), get("value")) {
            (Some("group"), Some(v)) => style.group = v,
            (Some("decimal"), Some(v)) => {
                if let Some(c) = v.chars().next() {
                    style.decimal = c;
                }
            }
            _ => {}
        }
    }
    if !utc {
        // getTimezoneOffset is UTC minus local, in minutes.
        style.offset_min = -(js_sys::Date::new_0().get_timezone_offset() as i32);
    }
    style.zone = Style::zone_for(style.offset_min);
    style
}

/// Restores saved choices into the dashboard, then keeps saving them.
pub(crate) fn restore_and_persist(dash: Dashboard) {
    let p = dash.prefs;
    // A link to a watchlist only (`?list=&watch=`, as the server rendered it): taken before
    // the saved lists replace the page's, then shown again among them.
    let linked_list = dash
        .lists
        .only
        .get_untracked()
        .then(|| untrack(|| dash.lists.current_list()));
    for key in SHARED {
        shared(dash, key);
    }
    restore("livetape.only", dash.lists.only);
    if let Some((name, symbols)) = linked_list {
        if let Some(shown) = dash.lists.adopt(&name, symbols) {
            dash.switch_list(&shown);
        }
    }
    // Not synced between open tabs: turning notifications on asks that tab's permission
    // (and every tab's notification carries one tag, so two tabs never stack them).
    restore("livetape.alert_notify", dash.alerts.notify);
    restore("livetape.league", dash.follow.league);
    // An address that names a view (a shared link, or this page reloaded: the address follows
    // the view) wins over the saved order and selection; the bare address restores them.
    let linked = crate::browser::address::names_a_view();
    if let Some((sort, desc)) = load::<(SortKey, bool)>("livetape.sort").filter(|_| !linked) {
        dash.grid.spec.update(|s| {
            s.sort = sort;
            s.desc = desc;
        });
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
    persist("livetape.watch", p.watch);
    persist("livetape.lists", dash.lists.lists);
    persist("livetape.list", dash.lists.current);
    persist("livetape.only", dash.lists.only);
    // The stars are the current list's symbols.
    Effect::new(move |_| p.watch.with(|w| dash.lists.store(w)));
    persist("livetape.utc", p.utc);
    // Numbers in the browser's locale, times in its zone (or UTC): every figure follows.
    // In a task of its own: the page's first `Intl.NumberFormat` loads the browser's locale
    // data (16-23 ms on a 2-core machine), which made the feed's start a long task.
    Effect::new(move |_| {
        let utc = p.utc.get();
        set_timeout(
            move || {
                crate::browser::timing::timed("livetape-locale", || {
                    crate::ui::locale::set(browser_style(utc))
                })
            },
            std::time::Duration::ZERO,
        );
    });
    persist("livetape.alerts", p.alerts_on);
    persist("livetape.alert_rules", dash.alerts.rules);
    persist("livetape.alert_sound", dash.alerts.sound);
    persist("livetape.alert_notify", dash.alerts.notify);
    persist("livetape.teams", dash.follow.teams);
    persist("livetape.leagues", dash.follow.leagues);
    persist("livetape.spoilers", dash.follow.spoilers);
    persist("livetape.league", dash.follow.league);
    sync_from_other_tabs(dash);
    Effect::new(move |_| {
        let (sort, desc) = dash.grid.spec.with(|s| (s.sort, s.desc));
        save("livetape.sort", &(sort, desc));
    });
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
