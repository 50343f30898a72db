//! The market at a glance: how many symbols are up, down and unchanged (a bar and the counts),
//! and the top gainers, top losers and most active of the whole universe, computed by the
//! server (the `breadth` channel) whatever part of it the grid shows. A mover's symbol
//! selects it for the chart.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::Mover;
use crate::ui::format::{grouped, percent, price};
use crate::ui::market::direction;
use crate::ui::store::Dashboard;
use leptos::prelude::*;

/// One list of movers, with the figure that ranks it.
#[component]
fn Movers(
    title: &'static str,
    class: &'static str,
    movers: Signal<Vec<Mover>>,
    /// Shows volume instead of the change.
    #[prop(optional)]
    by_volume: bool,
) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    view! {
        <div class=format!("movers {class}")>
            <h3>{title}</h3>
            <ol>
                <For each=move || movers.get() key=|m| m.symbol.clone() let:m>
                    {
                        let symbol = m.symbol.clone();
                        let pick = {
                            let symbol = symbol.clone();
                            move |_| {
                                let interval = dash.detail.interval.get_untracked();
                                dash.select(symbol.clone(), interval);
                            }
                        };
                        let figure = if by_volume {
                            grouped(m.volume)
                        } else {
                            percent(m.change_pct)
                        };
                        let dir = direction(m.change_pct);
                        view! {
                            <li>
                                // Without a script the symbol is text: there is no chart to open.
                                <button type="button" class="pick js-only" on:click=pick aria-label=format!("Chart {symbol}")>
                                    {symbol.clone()}
                                </button>
                                <span class="pick no-js-only">{symbol.clone()}</span>
                                <span class="num last">{price(m.last)}</span>
                                <span class=format!("num figure {}", if by_volume { "flat" } else { dir })>{figure}</span>
                            </li>
                        }
                    }
                </For>
            </ol>
        </div>
    }
}

#[component]
pub(crate) fn BreadthPanel() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let b = dash.breadth;
    let total = move || b.with(|b| (b.up + b.down + b.flat).max(1)) as f64;
    // A CSS width: always with a point, whatever the reader's locale.
    let share = move |n: u32| format!("{:.2}%", f64::from(n) / total() * 100.0);
    let gainers = Signal::derive(move || b.with(|b| b.gainers.clone()));
    let losers = Signal::derive(move || b.with(|b| b.losers.clone()));
    let active = Signal::derive(move || b.with(|b| b.active.clone()));
    view! {
        <section class="panel breadth" aria-labelledby="breadth-title">
            <header class="panel-head">
                <h2 id="breadth-title">"Breadth"</h2>
                <span class="muted counts">
                    <span class="up">{move || format!("▲ {}", grouped(u64::from(b.with(|b| b.up))))}</span>
                    " · "
                    <span class="down">{move || format!("▼ {}", grouped(u64::from(b.with(|b| b.down))))}</span>
                    " · "
                    <span class="flat">{move || format!("= {}", grouped(u64::from(b.with(|b| b.flat))))}</span>
                </span>
            </header>
            <div class="breadth-bar" role="img" aria-label=move || b.with(|b| format!("{} up, {} down, {} unchanged", b.up, b.down, b.flat))>
                <span class="up" style:width=move || share(b.with(|b| b.up))></span>
                <span class="flat" style:width=move || share(b.with(|b| b.flat))></span>
                <span class="down" style:width=move || share(b.with(|b| b.down))></span>
            </div>
            <div class="movers-lists">
                <Movers title="Top gainers" class="gainers" movers=gainers/>
                <Movers title="Top losers" class="losers" movers=losers/>
                <Movers title="Most active" class="active" movers=active by_volume=true/>
            </div>
        </section>
    }
}
