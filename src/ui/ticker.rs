//! The ticker tape: the watchlist's symbols (or the grid's first few when it is empty) scrolling
//! across the top with last price and change. With reduced motion it stands still and scrolls
//! by hand.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::ui::format::{percent, price};
use crate::ui::market::direction;
use crate::ui::rows::{pct, QuoteRow};
use crate::ui::store::Dashboard;
use leptos::prelude::*;

/// Symbols shown when nothing is starred.
const DEFAULT_COUNT: usize = 12;

#[component]
fn TapeItem(row: QuoteRow) -> impl IntoView {
    let QuoteRow {
        symbol, last, open, ..
    } = row;
    let change = move || last.get() - open.get();
    let pct = move || pct(last.get(), open.get());
    view! {
        <li class="tape-item">
            <span class="tape-sym">{symbol.to_string()}</span>
            <span class="tape-last">{move || price(last.get())}</span>
            <span class=move || format!("tape-chg {}", direction(change()))>
                {move || match direction(change()) {
                    "up" => "▲ ",
                    "down" => "▼ ",
                    _ => "",
                }}
                {move || percent(pct())}
            </span>
        </li>
    }
}

#[component]
pub(crate) fn TickerTape() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let items = Memo::new(move |_| {
        let watched = dash.watched_rows();
        if watched.is_empty() {
            dash.grid
                .order
                .with(|rows| rows.iter().take(DEFAULT_COUNT).cloned().collect())
        } else {
            watched
        }
    });
    view! {
        // Focusable: with reduced motion the tape scrolls by hand, keyboard included.
        <div class="tape" role="region" aria-label="Ticker: watchlist prices" tabindex="0">
            <div class="tape-track">
                <ul class="tape-list">
                    <For each=move || items.get() key=|r| r.symbol.clone() let:row>
                        <TapeItem row/>
                    </For>
                </ul>
                // The same items again, so the scroll loops without a jump; hidden from
                // assistive technology.
                <ul class="tape-list" aria-hidden="true">
                    <For each=move || items.get() key=|r| r.symbol.clone() let:row>
                        <TapeItem row/>
                    </For>
                </ul>
            </div>
        </div>
    }
}
