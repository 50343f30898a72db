//! The price grid: one row per symbol, one reactive text node per changing cell, with sorting,
//! filtering, a watchlist star and a sparkline per row.

use super::format::{age, grouped, percent, price, signed};
use super::sparkline::Sparkline;
use super::store::{Dashboard, QuoteRow, SortKey, Tick};
use leptos::prelude::*;

/// CSS class for a value's direction, so colour is never the only signal: the text carries a
/// sign or an arrow as well.
pub fn direction(x: f64) -> &'static str {
    let cents = (x * 100.0).round();
    if cents > 0.0 {
        "up"
    } else if cents < 0.0 {
        "down"
    } else {
        "flat"
    }
}

/// A class that changes on every flash, so that the CSS animation restarts each time.
fn flash_class(n: u32) -> &'static str {
    match n {
        0 => "",
        n if n % 2 == 1 => " flash-a",
        _ => " flash-b",
    }
}

#[component]
fn SortHeader(
    key: SortKey,
    label: &'static str,
    #[prop(optional)] class: &'static str,
) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let sort = dash.prefs.sort;
    let aria = move || match sort.get() {
        (k, false) if k == key => "ascending",
        (k, true) if k == key => "descending",
        _ => "none",
    };
    let next = move |_| {
        sort.update(|(k, desc)| {
            if *k == key {
                *desc = !*desc;
            } else {
                *k = key;
                *desc = !matches!(key, SortKey::Symbol);
            }
        })
    };
    view! {
        <th scope="col" class=class aria-sort=aria>
            <button type="button" class="sort" on:click=next>
                {label}
                <span class="sort-mark" aria-hidden="true">
                    {move || match aria() {
                        "ascending" => "↑",
                        "descending" => "↓",
                        _ => "",
                    }}
                </span>
            </button>
        </th>
    }
}

#[component]
pub fn MarketTable() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let filter = dash.prefs.filter;
    let shown = Memo::new(move |_| dash.visible_rows());
    let count = move || {
        let shown = shown.with(Vec::len);
        let all = dash.rows.with(Vec::len);
        if shown == all {
            format!("{all} symbols")
        } else {
            format!("{shown} of {all} symbols")
        }
    };
    view! {
        <section class="panel market" aria-labelledby="market-title">
            <header class="panel-head">
                <h2 id="market-title">"Market"</h2>
                <label class="filter">
                    <span class="sr-only">"Filter symbols"</span>
                    <input
                        type="search"
                        placeholder="Filter symbols"
                        autocomplete="off"
                        spellcheck="false"
                        prop:value=move || filter.get()
                        on:input=move |ev| filter.set(event_target_value(&ev))
                    />
                </label>
                <span class="muted count">{count}</span>
            </header>
            <div class="table-wrap">
                <table class="quotes">
                    <caption class="sr-only">
                        "Live quotes. Select a symbol to chart it; star it to add it to the watchlist."
                    </caption>
                    <thead>
                        <tr>
                            <th scope="col" class="star-col"><span class="sr-only">"Watch"</span></th>
                            <SortHeader key=SortKey::Symbol label="Symbol"/>
                            <SortHeader key=SortKey::Bid label="Bid" class="num mid"/>
                            <SortHeader key=SortKey::Ask label="Ask" class="num mid"/>
                            <SortHeader key=SortKey::Last label="Last" class="num"/>
                            <SortHeader key=SortKey::Change label="Chg" class="num mid"/>
                            <SortHeader key=SortKey::ChangePct label="% Chg" class="num"/>
                            <SortHeader key=SortKey::Volume label="Volume" class="num wide"/>
                            <th scope="col" class="wide spark-col">"Trend"</th>
                            <th scope="col" class="num wide">"Age"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || shown.get() key=|row| row.symbol.clone() let:row>
                            <QuoteLine row/>
                        </For>
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn QuoteLine(row: QuoteRow) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let QuoteRow {
        symbol,
        bid,
        ask,
        last,
        open,
        volume,
        tick,
        flash,
        at,
        spark,
    } = row;
    let change = move || last.get() - open.get();
    let pct = move || super::store::pct(last.get(), open.get());
    let arrow = move || match tick.get() {
        Tick::Up => "▲",
        Tick::Down => "▼",
        Tick::Flat => "",
    };
    let name = symbol.to_string();
    let watched = {
        let name = name.clone();
        Signal::derive(move || dash.prefs.watch.with(|w| w.contains(&name)))
    };
    let toggle_watch = {
        let name = name.clone();
        move |_| {
            dash.prefs.watch.update(|w| {
                if !w.remove(&name) {
                    w.insert(name.clone());
                }
            })
        }
    };
    let selected = {
        let name = name.clone();
        Signal::derive(move || dash.detail.symbol.with(|s| *s == name))
    };
    let select = {
        let name = name.clone();
        move |_| {
            let interval = dash.detail.interval.get_untracked();
            if dash.detail.symbol.get_untracked() != name {
                dash.select(name.clone(), interval);
            }
        }
    };
    let star_label = format!("Watch {name}");
    let select_label = format!("Chart {name}");
    view! {
        <tr data-symbol=name.clone() class:selected=move || selected.get()>
            <td class="star-col">
                <button
                    type="button"
                    class="star"
                    aria-label=star_label
                    aria-pressed=move || if watched.get() { "true" } else { "false" }
                    on:click=toggle_watch
                >
                    {move || if watched.get() { "★" } else { "☆" }}
                </button>
            </td>
            <th scope="row" class="sym">
                <button
                    type="button"
                    class="pick"
                    aria-label=select_label
                    aria-current=move || if selected.get() { "true" } else { "false" }
                    on:click=select
                >
                    {name.clone()}
                </button>
            </th>
            <td class="num bid mid">{move || price(bid.get())}</td>
            <td class="num ask mid">{move || price(ask.get())}</td>
            <td class=move || {
                let dir = match tick.get() {
                    Tick::Up => " up",
                    Tick::Down => " down",
                    Tick::Flat => "",
                };
                format!("num last{dir}{}", flash_class(flash.get()))
            }>
                <span class="arrow" aria-hidden="true">{arrow}</span>
                {move || price(last.get())}
            </td>
            <td class=move || format!("num chg mid {}", direction(change()))>{move || signed(change())}</td>
            <td class=move || format!("num pct {}", direction(change()))>{move || percent(pct())}</td>
            <td class="num vol wide">{move || grouped(volume.get())}</td>
            <td class="wide spark-col">
                <Sparkline points=spark/>
            </td>
            <td class="num age wide">
                {move || age((dash.now.get() - at.get()).num_seconds())}
            </td>
        </tr>
    }
}
