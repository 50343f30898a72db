//! The price grid: a window of the ranked universe, one reactive text node per changing cell,
//! with sorting and filtering done by the server over every symbol, a watchlist star and a
//! sparkline per row.
//!
//! The table is as tall as the ranking (two spacer rows stand for the rows not rendered), so
//! the scrollbar is the universe's and PgUp/PgDn/Home/End scroll it as any page; only the
//! rows in view and a few either side are in the DOM, whatever the universe (see
//! `grid`). Sorting by a column or typing in the filter changes the view the server ranks;
//! while the pointer is over the rows (or a control in them has the focus), the view is held,
//! so rows never move under the pointer; they stay live. The page without JavaScript shows
//! the server's window as a plain table (in `<noscript>`, so a browser running scripts never
//! lays it out).

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::SortKey;
#[cfg(feature = "ssr")]
use crate::protocol::ViewSpec;
use crate::ui::format::{age, grouped, percent, price, signed};
#[cfg(feature = "hydrate")]
use crate::ui::grid::window_of;
use crate::ui::grid::{rows_to_build, Grid, NEW_ROWS_PER_FRAME, OVERSCAN};
use crate::ui::list_panel::ListBar;
use crate::ui::rows::{pct, QuoteRow, Tick};
use crate::ui::sparkline::Sparkline;
use crate::ui::store::Dashboard;
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
    let spec = dash.grid.spec;
    let aria = move || {
        spec.with(|s| match (s.sort == key, s.desc) {
            (true, false) => "ascending",
            (true, true) => "descending",
            _ => "none",
        })
    };
    view! {
        <th scope="col" class=class aria-sort=aria>
            <button type="button" class="sort" on:click=move |_| dash.sort_by(key)>
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

/// The panel's title, the filter over the whole universe and the count of what it matches.
#[component]
fn MarketHead() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let grid = dash.grid;
    let count = move || {
        let total = grid.total.get();
        if dash.lists.only.get() {
            return format!(
                "{} in {}",
                grouped(u64::from(total)),
                dash.lists.current.get()
            );
        }
        let filtered = grid.spec.with(|s| !s.filter.trim().is_empty());
        let universe = grid.universe.get();
        if filtered && universe > 0 {
            format!(
                "{} of {} symbols",
                grouped(u64::from(total)),
                grouped(u64::from(universe))
            )
        } else if filtered {
            format!("{} matching", grouped(u64::from(total)))
        } else {
            format!("{} symbols", grouped(u64::from(total)))
        }
    };
    view! {
        <header class="panel-head">
            <h2 id="market-title">"Market"</h2>
            <label class="filter js-only">
                <span class="sr-only">"Filter symbols"</span>
                <input
                    type="search"
                    placeholder="Filter symbols"
                    autocomplete="off"
                    spellcheck="false"
                    prop:value=move || grid.spec.with(|s| s.filter.clone())
                    on:input=move |ev| dash.filter_by(event_target_value(&ev))
                />
            </label>
            <span class="muted count">{count}</span>
        </header>
        <ListBar/>
    }
}

/// The grid's column headers; each sortable one asks the server for the ranking by it.
#[component]
fn GridHead() -> impl IntoView {
    view! {
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
    }
}

#[component]
pub(crate) fn MarketTable() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let grid = dash.grid;
    // Rows `[start, end)` of the ranking are rendered. Until the browser measures (on the
    // server, and while hydrating) they are the server's window.
    let range = RwSignal::new((
        grid.offset.get_untracked() as usize,
        grid.offset.get_untracked() as usize + grid.order.with_untracked(Vec::len),
    ));
    let row_px = RwSignal::new(0.0_f64);
    let wrap = NodeRef::<leptos::html::Div>::new();
    let body = NodeRef::<leptos::html::Tbody>::new();
    let head_px = RwSignal::new(0.0_f64);
    let sizer_px = move || head_px.get() + grid.total.get() as f64 * row_px.get();
    let measure = move || {
        measure(
            wrap,
            body,
            grid.total.get_untracked(),
            (row_px, head_px),
            range,
        )
    };
    measure_on_change(grid, measure);
    window_follows_rows(grid, range);
    #[cfg(feature = "ssr")]
    let snapshot = snapshot_grid(
        &grid.order.get_untracked(),
        grid.total.get_untracked(),
        &grid.spec.get_untracked(),
    );
    #[cfg(not(feature = "ssr"))]
    let snapshot = String::new();
    view! {
        <section class="panel market" aria-labelledby="market-title">
            <MarketHead/>
            // Hydration leaves an element's inner HTML as the server wrote it, and a browser
            // that runs scripts keeps a noscript's content as text it never lays out.
            <noscript inner_html=snapshot></noscript>
            // Focusable, so that PgUp/PgDn/Home/End scroll the universe from the keyboard.
            <div
                class="table-wrap js-only"
                node_ref=wrap
                tabindex="0"
                role="region"
                aria-label="Market grid"
                on:scroll=move |_| measure()
            >
                // As tall as the whole ranking whatever is rendered, so that the scroll
                // position never depends on the moment the spacers and the rows are updated
                // (the browser would clamp it to a shorter table in between).
                <div class="sizer" style:min-height=move || format!("{}px", sizer_px())>
                <table class="quotes" aria-rowcount=move || grid.total.get() + 1>
                    <caption class="sr-only">
                        "Live quotes, ranked by the server over every symbol. Select a symbol to chart it; star it to add it to the watchlist."
                    </caption>
                    <GridHead/>
                    <GridRows body range row_px/>
                </table>
                </div>
            </div>
        </section>
    }
}

/// The rendered rows `range` of the ranking between two spacers as tall as the rows above and
/// below them (`row_px` each). The server's window is one run of the ranking, so the rendered
/// places it does not hold yet (after a fast scroll) are at most two runs, one above its rows
/// and one below; each is one line as tall as its places that says what is on its way. A
/// run's line stays while it grows and shrinks with the scroll, so scrolling ahead of the
/// window builds nothing: rows are built once, when they arrive, at most
/// [`NEW_ROWS_PER_FRAME`] a frame, the places in view first, so that no frame runs long
/// (scrolling 10,000 symbols end to end: 59.6 fps, from 55.4 building every row at once).
#[component]
fn GridRows(
    body: NodeRef<leptos::html::Tbody>,
    range: RwSignal<(usize, usize)>,
    row_px: RwSignal<f64>,
) -> impl IntoView {
    let grid = expect_context::<Dashboard>().grid;
    // The rendered places `[start, end)` and, within them, those the window holds.
    let places = Memo::new(move |_| {
        let (start, end) = range.get();
        let end = end.min(grid.total.get() as usize);
        let start = start.min(end);
        let offset = grid.offset.get() as usize;
        let held = offset + grid.order.with(Vec::len);
        let first = offset.clamp(start, end);
        let last = held.clamp(first, end);
        (start, first, last, end)
    });
    // Of those, the places built as rows: as many as this frame's budget allows (see
    // `rows_to_build`); the budget is refilled each frame while some are still to build.
    let frame = Trigger::new();
    let budget = StoredValue::new(NEW_ROWS_PER_FRAME);
    let built = Memo::new(move |before: Option<&(usize, usize)>| {
        frame.track();
        let (start, first, last, end) = places.get();
        let total = grid.total.get() as usize;
        let top = if start == 0 { 0 } else { start + OVERSCAN };
        let bottom = if end >= total {
            end
        } else {
            end.saturating_sub(OVERSCAN)
        };
        let (built, spent) = rows_to_build(
            (first, last),
            before.copied(),
            (top, bottom.max(top)),
            budget.get_value(),
        );
        budget.update_value(|b| *b -= spent);
        built
    });
    build_more_each_frame(places, built, frame, budget);
    let rows = Memo::new(move |_| {
        let (a, b) = built.get();
        (a..b)
            .filter_map(|i| grid.row(i).map(|row| (i, row)))
            .collect::<Vec<_>>()
    });
    let above = Signal::derive(move || (places.get().0, built.get().0));
    let below = Signal::derive(move || (built.get().1, places.get().3));
    let pad_top = move || range.get().0 as f64 * row_px.get();
    let pad_bottom = move || {
        let end = range.get().1.min(grid.total.get() as usize);
        (grid.total.get() as usize).saturating_sub(end) as f64 * row_px.get()
    };
    // While the pointer is over the rows, or a control in them has the focus, the server holds
    // the window as it is: rows never move under the pointer.
    let hold = move |on: bool| {
        if grid.spec.with_untracked(|s| s.hold) != on {
            grid.spec.update(|s| s.hold = on);
        }
    };
    view! {
        <tbody
            node_ref=body
            aria-busy=move || {
                let (start, _, _, end) = places.get();
                if built.get() != (start, end) { "true" } else { "false" }
            }
            on:pointerenter=move |_| hold(true)
            on:pointerleave=move |_| hold(false)
            on:focusin=move |_| hold(true)
            on:focusout=move |_| hold(false)
        >
            <tr class="spacer" aria-hidden="true" class:hidden=move || pad_top() == 0.0>
                <td colspan="10" style:height=move || format!("{}px", pad_top())></td>
            </tr>
            <WaitingRun run=above row_px/>
            <For each=move || rows.get() key=|(_, row)| row.symbol.clone() let:((i, row))>
                <QuoteLine row position=i/>
            </For>
            <WaitingRun run=below row_px/>
            <tr class="spacer" aria-hidden="true" class:hidden=move || pad_bottom() == 0.0>
                <td colspan="10" style:height=move || format!("{}px", pad_bottom())></td>
            </tr>
        </tbody>
    }
}

/// Until every held place is built, refills the budget at the next frame and builds again.
fn build_more_each_frame(
    places: Memo<(usize, usize, usize, usize)>,
    built: Memo<(usize, usize)>,
    frame: Trigger,
    budget: StoredValue<usize>,
) {
    #[cfg(feature = "hydrate")]
    {
        let asked = StoredValue::new(false);
        Effect::new(move |_| {
            let (_, first, last, _) = places.get();
            if built.get() != (first, last) && !asked.get_value() {
                asked.set_value(true);
                request_animation_frame(move || {
                    asked.set_value(false);
                    budget.set_value(NEW_ROWS_PER_FRAME);
                    frame.notify();
                });
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (places, built, frame, budget);
}

/// Places `[from, to)` of the ranking whose rows are on their way (the window follows a fast
/// scroll): one line as tall as they are, saying so (the body is `aria-busy` meanwhile).
#[component]
fn WaitingRun(run: Signal<(usize, usize)>, row_px: RwSignal<f64>) -> impl IntoView {
    let rows = move || run.with(|(from, to)| to.saturating_sub(*from));
    let text = move || {
        let (from, to) = run.get();
        match to.saturating_sub(from) {
            0 => String::new(),
            1 => format!("Loading row {}", grouped(from as u64 + 1)),
            _ => format!(
                "Loading rows {}–{}",
                grouped(from as u64 + 1),
                grouped(to as u64)
            ),
        }
    };
    view! {
        <tr class="waiting" aria-hidden="true" class:hidden=move || rows() == 0>
            <td colspan="10" style:height=move || format!("{}px", rows() as f64 * row_px.get())>
                <span class="muted">{text}</span>
            </td>
        </tr>
    }
}

/// After hydration: measures again on scrolling, resizing, and a new size of the ranking. The
/// first measure runs in a task of its own: it lays out the server-rendered table, which would
/// otherwise add to hydration's task.
fn measure_on_change(grid: Grid, measure: impl Fn() + Copy + 'static) {
    let first = StoredValue::new(true);
    Effect::new(move |_| {
        grid.total.track();
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
}

/// The server's window follows the rendered rows `range`, asked again only when they leave it.
fn window_follows_rows(grid: Grid, range: RwSignal<(usize, usize)>) {
    Effect::new(move |_| {
        let rendered = range.get();
        let total = grid.total.get();
        let current = grid.spec.with_untracked(|s| (s.offset, s.limit));
        if let Some((offset, limit)) = crate::ui::grid::wanted(rendered, current, total) {
            grid.spec.update(|s| {
                s.offset = offset;
                s.limit = limit;
            });
        }
    });
}

/// Measures the rows' height and which of them can be seen; sets the rendered range.
#[allow(unused_variables)]
fn measure(
    wrap: NodeRef<leptos::html::Div>,
    body: NodeRef<leptos::html::Tbody>,
    rows: u32,
    (row_px, head_px): (RwSignal<f64>, RwSignal<f64>),
    range: RwSignal<(usize, usize)>,
) {
    #[cfg(feature = "hydrate")]
    if let (Some(wrap), Some(body)) = (wrap.get_untracked(), body.get_untracked()) {
        // Every row is one height (the style sees to it); with no row rendered (a window past
        // the end after a resize), the last height measured still holds.
        let px = match body.query_selector("tr[data-row]").ok().flatten() {
            Some(row) => row.get_bounding_client_rect().height(),
            None => row_px.get_untracked(),
        };
        let view = wrap.get_bounding_client_rect();
        let screen = web_sys::window()
            .and_then(|w| w.inner_height().ok())
            .and_then(|h| h.as_f64())
            .unwrap_or(view.bottom());
        // The body's top edge stands for row 0: the top spacer stands for the rows above.
        let next = window_of(
            rows as usize,
            px,
            body.get_bounding_client_rect().top(),
            view.top().max(0.0),
            view.bottom().min(screen),
        );
        if row_px.get_untracked() != px {
            row_px.set(px);
        }
        // The header's height: where the body starts in the scrolled content.
        let head = (body.get_bounding_client_rect().top() + wrap.scroll_top() as f64 - view.top())
            .max(0.0);
        if (head_px.get_untracked() - head).abs() > 0.5 {
            head_px.set(head);
        }
        if range.get_untracked() != next {
            range.set(next);
        }
    }
}

/// The window as a snapshot, for the page without JavaScript: the rows the server rendered,
/// as it saw them, and no control that would need a script (no sorting, stars or chart
/// buttons); plain links page through the ranking (the page renders the window its address
/// asks for).
#[cfg(feature = "ssr")]
pub(crate) fn snapshot_grid(rows: &[QuoteRow], total: u32, spec: &ViewSpec) -> String {
    let rows: Vec<QuoteRow> = rows.to_vec();
    let (first, shown) = (spec.offset as usize, rows.len());
    let page = (spec.limit as usize).max(1);
    let total = total as usize;
    let previous = (first > 0).then(|| {
        let to = first.saturating_sub(page);
        view! { <a href=page_address(spec, to)>{format!("← Rows {}–{}", to + 1, first)}</a> }
    });
    let next = (first + shown < total).then(|| {
        let from = first + shown;
        let to = (from + page).min(total);
        view! { <a href=page_address(spec, from)>{format!("Rows {}–{} →", from + 1, to)}</a> }
    });
    let range = if shown == 0 {
        format!("None of {} symbols.", grouped(total as u64))
    } else {
        format!(
            "Rows {}–{} of {} symbols.",
            first + 1,
            first + shown,
            grouped(total as u64)
        )
    };
    view! {
        <div class="table-wrap snapshot">
            <nav class="pages muted" aria-label="Pages of the market">
                <span>{range}</span>
                {previous}
                {next}
            </nav>
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
                    {rows.into_iter().map(snapshot_line).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .to_html()
}

/// The page's address for the window of `spec` that starts at row `offset`.
#[cfg(feature = "ssr")]
fn page_address(spec: &ViewSpec, offset: usize) -> String {
    let query = crate::ui::address::Address {
        offset,
        ..crate::ui::address::Address::of(spec)
    }
    .query();
    // The first page's link still names its row, so it is never the bare (current) address.
    if query.is_empty() {
        "?offset=0".into()
    } else {
        query
    }
}

#[cfg(feature = "ssr")]
fn snapshot_line(row: QuoteRow) -> impl IntoView {
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
            <td class=format!("num pct {}", direction(change))>{percent(pct(last, open))}</td>
            <td class="num vol wide">{grouped(row.volume.get_untracked())}</td>
            <td class="wide spark-col">
                <svg class=trend viewBox="0 0 80 22" width="80" height="22" aria-hidden="true" focusable="false">
                    <polyline fill="none" stroke-width="1.5" points=crate::ui::sparkline::points(&spark)/>
                </svg>
            </td>
        </tr>
    }
}

#[component]
fn QuoteLine(row: QuoteRow, position: usize) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let QuoteRow {
        symbol,
        loaded,
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
    let day_pct = move || pct(last.get(), open.get());
    let arrow = move || match tick.get() {
        Tick::Up => "▲",
        Tick::Down => "▼",
        Tick::Flat => "",
    };
    // A row whose quote has not arrived shows its place, not numbers.
    let shown = move |text: String| {
        if loaded.get() {
            text
        } else {
            "…".to_string()
        }
    };
    let name = symbol.to_string();
    let selected = {
        let name = name.clone();
        Signal::derive(move || dash.detail.symbol.with(|s| *s == name))
    };
    let star = name.clone();
    let data_symbol = name.clone();
    view! {
        <tr
            data-symbol=data_symbol
            data-row=position
            class:selected=move || selected.get()
            aria-rowindex=position + 2
        >
            <StarCell name=star/>
            <PickCell name=name selected/>
            <td class="num bid mid">{move || shown(price(bid.get()))}</td>
            <td class="num ask mid">{move || shown(price(ask.get()))}</td>
            <td class=move || {
                let dir = match tick.get() {
                    Tick::Up => " up",
                    Tick::Down => " down",
                    Tick::Flat => "",
                };
                format!("num last{dir}{}", flash_class(flash.get()))
            }>
                <span class="arrow" aria-hidden="true">{arrow}</span>
                {move || shown(price(last.get()))}
            </td>
            <td class=move || format!("num chg mid {}", direction(change()))>{move || shown(signed(change()))}</td>
            <td class=move || format!("num pct {}", direction(change()))>{move || shown(percent(day_pct()))}</td>
            <td class="num vol wide">{move || shown(grouped(volume.get()))}</td>
            <td class="wide spark-col">
                <Sparkline points=spark/>
            </td>
            <td class="num age wide">
                {move || shown(age((dash.now.get() - at.get()).num_seconds()))}
            </td>
        </tr>
    }
}

/// A row's star: adds its symbol to the watchlist, or takes it out.
#[component]
fn StarCell(name: String) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let watched = {
        let name = name.clone();
        Signal::derive(move || dash.prefs.watch.with(|w| w.contains(&name)))
    };
    let label = format!("Watch {name}");
    let toggle = move |_| {
        dash.prefs.watch.update(|w| {
            if !w.remove(&name) {
                w.insert(name.clone());
            }
        })
    };
    view! {
        <td class="star-col">
            <button
                type="button"
                class="star"
                aria-label=label
                aria-pressed=move || if watched.get() { "true" } else { "false" }
                on:click=toggle
            >
                {move || if watched.get() { "★" } else { "☆" }}
            </button>
        </td>
    }
}

/// A row's symbol, a button that charts it in the detail panel.
#[component]
fn PickCell(name: String, selected: Signal<bool>) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let label = format!("Chart {name}");
    let shown = name.clone();
    let select = move |_| {
        let interval = dash.detail.interval.get_untracked();
        if dash.detail.symbol.get_untracked() != name {
            dash.select(name.clone(), interval);
        }
    };
    view! {
        <th scope="row" class="sym">
            <button
                type="button"
                class="pick"
                aria-label=label
                aria-current=move || if selected.get() { "true" } else { "false" }
                on:click=select
            >
                {shown}
            </button>
        </th>
    }
}
