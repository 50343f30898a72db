//! The page's address follows the view it shows (the grid's order and filter, the selected
//! symbol and interval; `ui::address`), replaced in place rather than pushed: a copied link
//! reopens the same view, rendered by the server from it, and Back still leaves the page.

use crate::ui::address::Address;
use crate::ui::store::Dashboard;
use leptos::prelude::*;
use wasm_bindgen::JsValue;

/// Whether the address the page was opened with names a view (any of its parameters).
pub(crate) fn names_a_view() -> bool {
    const VIEW: [&str; 7] = [
        "sort", "desc", "filter", "offset", "symbol", "interval", "list",
    ];
    window().location().search().is_ok_and(|q| {
        q.trim_start_matches('?')
            .split('&')
            .any(|p| VIEW.contains(&p.split('=').next().unwrap_or("")))
    })
}

/// Keeps the address on the view from now on. Parameters that are not the view's (the
/// `transport=sse` an operator forces) stay as they were.
pub(crate) fn follow(dash: Dashboard) {
    let kept: String = window()
        .location()
        .search()
        .unwrap_or_default()
        .trim_start_matches('?')
        .split('&')
        .filter(|p| p.starts_with("transport="))
        .collect::<Vec<_>>()
        .join("&");
    // Scrolling changes the spec's window too; the memo's query does not change with it.
    let view = Memo::new(move |_| {
        let symbol = dash.detail.symbol.get();
        let interval = dash.detail.interval.get();
        // While the grid shows a list only, the list is part of the view.
        let list = dash.lists.only.get().then(|| dash.lists.current_list());
        dash.grid.spec.with(|spec| {
            Address {
                symbol: Some(&symbol),
                interval,
                list: list.as_ref().map(|(n, s)| (n.as_str(), s.as_slice())),
                ..Address::of(spec)
            }
            .query()
        })
    });
    Effect::new(move |_| {
        view.with(|query| {
            let parts: Vec<&str> = [query.trim_start_matches('?'), &kept]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect();
            let joined = parts.join("&");
            replace(&if joined.is_empty() {
                joined
            } else {
                format!("?{joined}")
            })
        })
    });
}

/// Replaces the address's query with `query` if it differs.
fn replace(query: &str) {
    let location = window().location();
    if location.search().is_ok_and(|now| now == query) {
        return;
    }
    let path = location.pathname().unwrap_or_else(|_| "/".into());
    if let Ok(history) = window().history() {
        // A browser that refuses (e.g. too many replacements a second) keeps the old address.
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&format!("{path}{query}")));
    }
}
