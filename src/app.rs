//! The page: the HTML shell (server only) and the root component (server and browser).

use crate::ui::alert_panel::{AlertsPanel, Toasts};
use crate::ui::announcer::Announcer;
use crate::ui::breadth::BreadthPanel;
use crate::ui::detail::DetailPanel;
use crate::ui::market::MarketTable;
use crate::ui::page_state::PageState;
use crate::ui::scoreboard::Scoreboard;
use crate::ui::status::StatusBar;
use crate::ui::store::Dashboard;
use crate::ui::ticker::TickerTape;
use leptos::prelude::*;

/// The document around the app, rendered on the server only.
#[cfg(feature = "ssr")]
pub(crate) fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        // `no-js` until the first script runs: what only works with JavaScript (`js-only`) is
        // hidden from the page without it, which is an honest snapshot.
        <html lang="en" class="no-js">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="dark light"/>
                <meta name="description" content="Live market quotes and sports scores"/>
                // The title and the stylesheet never change: written here once, not by
                // components that the browser would run again while hydrating (setting
                // `document.title` to itself took 2-13 ms of the page's first tasks). The id
                // is the one `cargo leptos watch` reloads the CSS by.
                <title>"livetape · live market & scores"</title>
                <link rel="stylesheet" id="leptos" href="/pkg/livetape.css"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // Apply a saved theme before the first paint, so a dark-theme user never sees
                // a flash of the system theme.
                <script>
                    "document.documentElement.classList.remove('no-js');try{var t=JSON.parse(localStorage.getItem('livetape.theme'));if(t==='dark'||t==='light')document.documentElement.dataset.theme=t}catch(e){}"
                </script>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// JSON for a `<script type="application/json">`: `</` escaped so it cannot end the element.
#[cfg(not(feature = "hydrate"))]
fn script_json<T: serde::Serialize>(value: Option<T>) -> String {
    value
        .and_then(|v| serde_json::to_string(&v).ok())
        .map(|json| json.replace("</", "<\\/"))
        .unwrap_or_default()
}

#[cfg(feature = "hydrate")]
thread_local! {
    /// The page's state, decoded before hydration starts (see `hydrate` in lib.rs).
    static STATE: std::cell::RefCell<Option<PageState>> = const { std::cell::RefCell::new(None) };
    /// The dashboard built from it, and the tick the page shows.
    static PAGE: std::cell::RefCell<Option<(Dashboard, u64)>> = const { std::cell::RefCell::new(None) };
}

/// Reads and decodes the state the server embedded in the page (`#page-state`). The first of
/// the tasks that hydrate the page (see `hydrate` in lib.rs).
#[cfg(feature = "hydrate")]
pub(crate) fn load_page_state() {
    let state = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("page-state"))
        .and_then(|el| el.text_content())
        .and_then(|text| match serde_json::from_str::<PageState>(&text) {
            Ok(state) => Some(state),
            Err(err) => {
                leptos::logging::error!("livetape: unreadable page state: {err}");
                None
            }
        });
    STATE.with_borrow_mut(|s| *s = state);
}

/// Builds the dashboard from the page's state: its rows' signals, the snapshot applied. In a
/// task of its own before hydration's, so that hydration's is only hydration (building the
/// dashboard was about 40% of the page root's hydration, which took 54-55 ms when the machine
/// was slow). Its signals belong to no owner: the dashboard lives as long as the page.
#[cfg(feature = "hydrate")]
pub(crate) fn prepare_dashboard() {
    let page = STATE.with_borrow_mut(Option::take).unwrap_or_default();
    let dash = Dashboard::new(&page);
    PAGE.with_borrow_mut(|p| *p = Some((dash, page.tick)));
}

/// The dashboard. On the server the live snapshot comes from the request's context; the
/// server embeds it in the page (`#page-state`), and the browser reads it back before
/// hydrating, so hydration starts from exactly what the HTML shows; then the feed takes over.
#[component]
pub(crate) fn App() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    let (dash, page_tick) = PAGE.with_borrow_mut(Option::take).unwrap_or_else(|| {
        let page = PageState::default();
        (Dashboard::new(&page), page.tick)
    });
    #[cfg(not(feature = "hydrate"))]
    let page = use_context::<PageState>().unwrap_or_default();
    #[cfg(not(feature = "hydrate"))]
    let dash = Dashboard::new(&page);
    provide_context(dash);

    // After hydration, in a task of its own (an effect would run in hydration's task):
    // preferences, timers, then the feed (timed as `livetape-start`).
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        set_timeout(
            move || {
                crate::browser::timing::timed("livetape-start", || {
                    crate::browser::start(dash, page_tick)
                })
            },
            std::time::Duration::ZERO,
        )
    });

    // The page's state travels as JSON, decoded before hydration (see `load_page_state`).
    #[cfg(not(feature = "hydrate"))]
    let state = script_json(Some(&page));
    #[cfg(feature = "hydrate")]
    let state = String::new();
    view! {
        <script type="application/json" id="page-state" inner_html=state></script>
        <a class="skip" href="#market-title">"Skip to the market"</a>
        <StatusBar/>
        <AlertsPanel/>
        {hydrated_later(dash, "ticker", || view! { <TickerTape/> })}
        <main class="layout">
            {hydrated_later(dash, "main-col", || view! { <MarketTable/> })}
            // The side column's panels: the selected symbol, the market's breadth, the scores.
            <div class="side">
                {hydrated_later(dash, "side-detail", || view! { <DetailPanel/> })}
                {hydrated_later(dash, "side-breadth", || view! { <BreadthPanel/> })}
                {hydrated_later(dash, "side-scores", || view! { <Scoreboard/> })}
            </div>
        </main>
        <Toasts/>
        <Announcer/>
    }
}

/// `contents` in a `<div class=class>`: rendered with the page on the server (and shown by a
/// page without scripts), hydrated in a task of its own in the browser.
#[cfg(not(feature = "hydrate"))]
fn hydrated_later<V: IntoView + 'static>(
    _dash: Dashboard,
    class: &'static str,
    contents: impl FnOnce() -> V + 'static,
) -> impl IntoView {
    view! { <div class=class>{contents()}</div> }
}

/// `contents` in a `<div class=class>`, hydrated as a root of its own in a task after the
/// page's.
///
/// Hydration runs in one task per root, and the whole page in one was a long task (60-100 ms,
/// the page unresponsive meanwhile) on a 2-core machine (`docs/benchmarks.md`); in three
/// (the page, the grid's column, the side column) each still took 20-45 ms, and a slower
/// moment of the machine tipped one over 50. The page's root leaves this div's HTML as the
/// server wrote it (hydration does not touch an element's inner HTML), and a timer, queued
/// before the feed starts, hydrates its contents with the same dashboard: the same page, in
/// shorter tasks (each is timed: `browser::timing`).
#[cfg(feature = "hydrate")]
fn hydrated_later<V: IntoView + 'static>(
    dash: Dashboard,
    class: &'static str,
    contents: impl FnOnce() -> V + 'static,
) -> impl IntoView {
    let part = NodeRef::<leptos::html::Div>::new();
    set_timeout(
        move || {
            let Some(el) = part.get_untracked() else {
                return;
            };
            let name = format!("livetape-hydrate-{class}");
            let root = crate::browser::timing::timed(&name, || {
                leptos::mount::hydrate_from(el.into(), move || {
                    provide_context(dash);
                    contents()
                })
            });
            // The part lives as long as the page.
            root.forget();
        },
        std::time::Duration::ZERO,
    );
    view! { <div class=class node_ref=part inner_html=""></div> }
}
