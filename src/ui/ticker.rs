//! The ticker tape: the watchlist's symbols scrolling across the top with last price and
//! change, or, while the watchlist is empty, the market's movers (its most active symbols,
//! then its top gainers and losers, from the server's breadth: once a second). With reduced
//! motion it stands still and scrolls by hand.
//!
//! Not the grid's rows: the tape would follow the grid's scrolling and sorting, a different
//! dozen symbols each time the window moved (and built again each time).

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::{Breadth, Mover};
use crate::ui::format::{percent, price};
use crate::ui::market::direction;
use crate::ui::rows::{pct, QuoteRow};
use crate::ui::store::Dashboard;
use leptos::prelude::*;

/// Where an item of the tape takes its figures from.
#[derive(Clone, PartialEq)]
enum Source {
    /// A watched symbol's row: live with every quote.
    Watched(QuoteRow),
    /// One of the market's movers: as the last breadth has it.
    Mover(String),
}

impl Source {
    fn symbol(&self) -> String {
        match self {
            Source::Watched(row) => row.symbol.to_string(),
            Source::Mover(symbol) => symbol.clone(),
        }
    }
}

/// The breadth's movers in the tape's order: the most active, then the top gainers and losers.
fn in_order(b: &Breadth) -> impl Iterator<Item = &Mover> {
    b.active.iter().chain(&b.gainers).chain(&b.losers)
}

/// The movers the tape shows while the watchlist is empty, each symbol once.
fn movers(b: &Breadth) -> Vec<String> {
    let mut seen = Vec::new();
    for m in in_order(b) {
        if !seen.contains(&m.symbol) {
            seen.push(m.symbol.clone());
        }
    }
    seen
}

/// The breadth's figures for `symbol` (last, change in percent), if it is still a mover.
fn mover(b: &Breadth, symbol: &str) -> Option<(f64, f64)> {
    in_order(b)
        .find(|m| m.symbol == symbol)
        .map(|m| (m.last, m.change_pct))
}

#[component]
fn TapeItem(source: Source) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let symbol = source.symbol();
    // Last price and the day's change in percent.
    let figures: Signal<(f64, f64)> = match source {
        Source::Watched(row) => {
            Signal::derive(move || (row.last.get(), pct(row.last.get(), row.open.get())))
        }
        Source::Mover(symbol) => {
            // The figures it had when it leaves the movers, until the tape drops it.
            Memo::new(move |before: Option<&(f64, f64)>| {
                dash.breadth
                    .with(|b| mover(b, &symbol))
                    .or(before.copied())
                    .unwrap_or_default()
            })
            .into()
        }
    };
    let change = move || figures.get().1;
    view! {
        <li class="tape-item">
            <span class="tape-sym">{symbol}</span>
            <span class="tape-last">{move || price(figures.get().0)}</span>
            <span class=move || format!("tape-chg {}", direction(change()))>
                {move || match direction(change()) {
                    "up" => "▲ ",
                    "down" => "▼ ",
                    _ => "",
                }}
                {move || percent(change())}
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
            dash.breadth
                .with(movers)
                .into_iter()
                .map(Source::Mover)
                .collect()
        } else {
            watched.into_iter().map(Source::Watched).collect::<Vec<_>>()
        }
    });
    let label = move || {
        if items.with(|i| matches!(i.first(), Some(Source::Mover(_)))) {
            "Ticker: the market's most active symbols and top movers"
        } else {
            "Ticker: watchlist prices"
        }
    };
    view! {
        // Focusable: with reduced motion the tape scrolls by hand, keyboard included.
        <div class="tape" role="region" aria-label=label tabindex="0">
            <div class="tape-track">
                <ul class="tape-list">
                    <For each=move || items.get() key=Source::symbol let:source>
                        <TapeItem source/>
                    </For>
                </ul>
                // The same items again, so the scroll loops without a jump; hidden from
                // assistive technology.
                <ul class="tape-list" aria-hidden="true">
                    <For each=move || items.get() key=Source::symbol let:source>
                        <TapeItem source/>
                    </For>
                </ul>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(symbol: &str, change_pct: f64) -> Mover {
        Mover {
            symbol: symbol.into(),
            last: 10.0,
            change_pct,
            volume: 1,
        }
    }

    #[test]
    fn movers_are_the_most_active_then_gainers_then_losers_each_once() {
        let b = Breadth {
            active: vec![m("AAA", 1.0), m("BBB", -2.0)],
            gainers: vec![m("CCC", 5.0), m("AAA", 1.0)],
            losers: vec![m("DDD", -4.0), m("BBB", -2.0)],
            ..Breadth::default()
        };
        assert_eq!(movers(&b), ["AAA", "BBB", "CCC", "DDD"]);
        assert_eq!(mover(&b, "DDD"), Some((10.0, -4.0)));
        assert_eq!(mover(&b, "EEE"), None);
    }
}
