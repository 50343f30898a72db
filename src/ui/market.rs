//! The price grid: one row per symbol, one reactive text node per changing cell, with sorting,
//! filtering, a watchlist star and a sparkline per row.
//!
//! Large grids are windowed in the browser: past [`WINDOW_FROM`] rows, only the rows in view
//! (and [`OVERSCAN`] on each side) are in the DOM, between two spacer rows that keep the
//! scroll height. With 500 symbols moving 10 times a second, rendering every row cost the
//! browser ~240 ms of layout and ~200 ms of style work per second and held it near 31 fps
//! (`make bench`, browser row). The server renders the first [`HYDRATED_ROWS`] of a large
//! grid live (what hydration has to walk) and every row in a plain snapshot table for the page
//! without JavaScript (in `<noscript>`, so a browser running scripts never lays it out).

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::ui::format::{age, grouped, percent, price, signed};
use crate::ui::sparkline::Sparkline;
use crate::ui::store::{Dashboard, QuoteRow, SortKey, Tick};
use leptos::prelude::*;

/// CSS class for a value's direction, so colour is never the only signal: the text carries a
/// sign or an arrow as well.
pub(crate) fn direction(x: f64) -> &'static str {
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

/// Below this many rows every row is rendered.
pub(crate) const WINDOW_FROM: usize = 120;
/// Rows of a large grid rendered live on the server and hydrated; the window brings the others
/// in once it starts. Hydrating all 500 rows of the benchmark's market was one long task of
/// 223 ms before the page was live. (The page without JavaScript shows every row, in the
/// snapshot table of [`snapshot_grid`], which a browser running scripts does not even parse.)
pub(crate) const HYDRATED_ROWS: usize = 24;
/// Rows rendered beyond the visible ones, above and below.
pub(crate) const OVERSCAN: usize = 12;

/// Which rows `[start, end)` of `rows` are rendered, given where the table body's top is and
/// which part of it can be seen, in pixels from the same origin.
pub(crate) fn window_of(
    rows: usize,
    row_px: f64,
    body_top: f64,
    view_top: f64,
    view_bottom: f64,
) -> (usize, usize) {
    if rows == 0 || row_px.is_nan() || row_px <= 0.0 {
        return (0, rows);
    }
    let first = ((view_top - body_top) / row_px).floor().max(0.0) as usize;
    let last = ((view_bottom - body_top) / row_px).ceil().max(0.0) as usize;
    let end = last.saturating_add(OVERSCAN).min(rows);
    let start = first.saturating_sub(OVERSCAN).min(end);
    (start, end)
}

#[component]
pub(crate) fn MarketTable() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let filter = dash.prefs.filter;
    let shown = Memo::new(move |_| dash.visible_rows());
    // `None` renders every row: the server's render and hydration. Set after hydration.
    let window = RwSignal::new(None::<(usize, usize)>);
    let row_px = RwSignal::new(0.0_f64);
    let wrap = NodeRef::<leptos::html::Div>::new();
    let body = NodeRef::<leptos::html::Tbody>::new();
    let windowed = move || window.get().filter(|_| shown.with(Vec::len) > WINDOW_FROM);
    let rendered = move || {
        let all = shown.get();
        match windowed() {
            Some((start, end)) => {
                let end = end.min(all.len());
                all[start.min(end)..end].to_vec()
            }
            // Before the window (on the server, and while hydrating): a large grid's first
            // rows only.
            None if all.len() > WINDOW_FROM => all[..HYDRATED_ROWS].to_vec(),
            None => all,
        }
    };
    let pad_top = move || windowed().map_or(0.0, |(start, _)| start as f64 * row_px.get());
    let pad_bottom = move || {
        windowed().map_or(0.0, |(_, end)| {
            shown.with(Vec::len).saturating_sub(end) as f64 * row_px.get()
        })
    };
    // Positions for aria-rowindex: the header is row 1.
    let positions = Memo::new(move |_| {
        shown.with(|rows| {
            rows.iter()
                .enumerate()
                .map(|(i, r)| (r.symbol.clone(), i + 2))
                .collect::<std::collections::HashMap<_, _>>()
        })
    });
    provide_context(RowPositions(positions));
    let measure = move || {
        #[cfg(feature = "hydrate")]
        if let (Some(wrap), Some(body)) = (wrap.get_untracked(), body.get_untracked()) {
            let rows = shown.with_untracked(Vec::len);
            let Some(row) = body.query_selector("tr[data-symbol]").ok().flatten() else {
                return;
            };
            let px = row.get_bounding_client_rect().height();
            let view = wrap.get_bounding_client_rect();
            let screen = web_sys::window()
                .and_then(|w| w.inner_height().ok())
                .and_then(|h| h.as_f64())
                .unwrap_or(view.bottom());
            // Row 0 sits at the body's top edge: the top spacer stands for the rows above.
            let next = window_of(
                rows,
                px,
                body.get_bounding_client_rect().top(),
                view.top().max(0.0),
                view.bottom().min(screen),
            );
            if row_px.get_untracked() != px {
                row_px.set(px);
            }
            if window.get_untracked() != Some(next) {
                window.set(Some(next));
            }
        }
    };
    // After hydration: window the rows, and follow scrolling, resizing and the row count.
    // The first window is set in a task of its own: measuring lays out the whole server-
    // rendered table, which would otherwise add to hydration's task.
    let first = StoredValue::new(true);
    Effect::new(move |_| {
        shown.with(Vec::len);
        if first.get_value() {
            first.set_value(false);
            set_timeout(measure, std::time::Duration::ZERO);
        } else {
            measure();
        }
    });
    #[cfg(feature = "hydrate")]
    {
        let on_scroll = window_event_listener(leptos::ev::scroll, move |_| measure());
        let on_resize = window_event_listener(leptos::ev::resize, move |_| measure());
        on_cleanup(move || {
            on_scroll.remove();
            on_resize.remove();
        });
    }
    // The page without JavaScript: every row, plain (server only; see `snapshot_grid`).
    #[cfg(feature = "ssr")]
    let snapshot = snapshot_grid(&shown.get_untracked());
    #[cfg(not(feature = "ssr"))]
    let snapshot = String::new();
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
                <label class="filter js-only">
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
            // Hydration leaves an element's inner HTML as the server wrote it, and a browser
            // that runs scripts keeps a noscript's content as text it never lays out.
            <noscript inner_html=snapshot></noscript>
            <div class="table-wrap js-only" node_ref=wrap on:scroll=move |_| measure()>
                <table class="quotes" aria-rowcount=move || shown.with(Vec::len) + 1>
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
                    <tbody node_ref=body>
                        <tr class="spacer" aria-hidden="true" class:hidden=move || pad_top() == 0.0>
                            <td colspan="10" style:height=move || format!("{}px", pad_top())></td>
                        </tr>
                        <For each=rendered key=|row| row.symbol.clone() let:row>
                            <QuoteLine row/>
                        </For>
                        <tr class="spacer" aria-hidden="true" class:hidden=move || pad_bottom() == 0.0>
                            <td colspan="10" style:height=move || format!("{}px", pad_bottom())></td>
                        </tr>
                    </tbody>
                </table>
            </div>
        </section>
    }
}

/// The grid as a snapshot, for the page without JavaScript: every row, as the server saw it,
/// and no control that would need a script (no sorting, stars or chart buttons).
#[cfg(feature = "ssr")]
pub(crate) fn snapshot_grid(rows: &[QuoteRow]) -> String {
    let rows: Vec<QuoteRow> = rows.to_vec();
    view! {
        <div class="table-wrap snapshot">
            <table class="quotes">
                <caption class="sr-only">"Quotes when the page was made"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Symbol"</th>
                        <th scope="col" class="num mid">"Bid"</th>
                        <th scope="col" class="num mid">"Ask"</th>
                        <th scope="col" class="num">"Last"</th>
                        <th scope="col" class="num mid">"Chg"</th>
                        <th scope="col" class="num">"% Chg"</th>
                        <th scope="col" class="num wide">"Volume"</th>
                        <th scope="col" class="wide spark-col">"Trend"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|row| {
                            let (last, open) = (row.last.get_untracked(), row.open.get_untracked());
                            let change = last - open;
                            let spark = row.spark.get_untracked();
                            let trend = match (spark.first(), spark.last()) {
                                (Some(a), Some(b)) if b > a => "spark up",
                                (Some(a), Some(b)) if b < a => "spark down",
                                _ => "spark flat",
                            };
                            view! {
                                <tr data-symbol=row.symbol.to_string()>
                                    <th scope="row" class="sym">{row.symbol.to_string()}</th>
                                    <td class="num bid mid">{price(row.bid.get_untracked())}</td>
                                    <td class="num ask mid">{price(row.ask.get_untracked())}</td>
                                    <td class="num last">{price(last)}</td>
                                    <td class=format!("num chg mid {}", direction(change))>{signed(change)}</td>
                                    <td class=format!("num pct {}", direction(change))>
                                        {percent(crate::ui::store::pct(last, open))}
                                    </td>
                                    <td class="num vol wide">{grouped(row.volume.get_untracked())}</td>
                                    <td class="wide spark-col">
                                        <svg class=trend viewBox="0 0 80 22" width="80" height="22" aria-hidden="true" focusable="false">
                                            <polyline fill="none" stroke-width="1.5" points=crate::ui::sparkline::points(&spark)/>
                                        </svg>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .to_html()
}

/// Where each shown symbol sits in the grid, for `aria-rowindex` (rows out of the window are
/// not in the DOM, so assistive technology needs the position from us).
#[derive(Clone, Copy)]
struct RowPositions(Memo<std::collections::HashMap<std::sync::Arc<str>, usize>>);

#[component]
fn QuoteLine(row: QuoteRow) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let RowPositions(positions) = expect_context::<RowPositions>();
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
    let pct = move || crate::ui::store::pct(last.get(), open.get());
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
        <tr
            data-symbol=name.clone()
            class:selected=move || selected.get()
            aria-rowindex={
                let symbol = symbol.clone();
                move || positions.with(|p| p.get(&symbol).copied())
            }
        >
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_covers_the_visible_rows_and_the_overscan() {
        // 500 rows of 37 px; the body starts 100 px down; 740 px (20 rows) visible from the top.
        assert_eq!(
            window_of(500, 37.0, 100.0, 100.0, 840.0),
            (0, 20 + OVERSCAN)
        );
        // Scrolled so that row 200 is at the top of the view.
        let top = 100.0 - 200.0 * 37.0;
        assert_eq!(
            window_of(500, 37.0, top, 100.0, 840.0),
            (200 - OVERSCAN, 220 + OVERSCAN)
        );
        // At the bottom the window ends with the last row.
        let top = 100.0 - 480.0 * 37.0;
        assert_eq!(
            window_of(500, 37.0, top, 100.0, 840.0),
            (480 - OVERSCAN, 500)
        );
        // Half a row showing still counts as showing.
        assert_eq!(window_of(500, 37.0, 0.0, 18.0, 56.0).1, 2 + OVERSCAN);
    }

    #[test]
    fn without_a_row_height_every_row_is_rendered() {
        assert_eq!(window_of(500, 0.0, 0.0, 0.0, 800.0), (0, 500));
        assert_eq!(window_of(500, f64::NAN, 0.0, 0.0, 800.0), (0, 500));
        assert_eq!(window_of(0, 37.0, 0.0, 0.0, 800.0), (0, 0));
        // A body far below the view: nothing of it is visible, only the overscan from row 0.
        assert_eq!(window_of(500, 37.0, 5000.0, 0.0, 800.0), (0, OVERSCAN));
    }
}
