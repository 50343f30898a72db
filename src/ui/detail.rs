//! The detail panel: the selected symbol's candle chart (1 s or 1 min candles, see `chart`),
//! a price alert on it, and its recent trades.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::{Interval, Side};
use crate::ui::alert_panel::AlertForm;
use crate::ui::chart::CandleChart;
use crate::ui::format::{grouped, price, time_of_day};
use crate::ui::store::Dashboard;
use leptos::prelude::*;

#[component]
pub(crate) fn DetailPanel() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let detail = dash.detail;
    let row = move || detail.symbol.with(|symbol| dash.row(symbol));
    let last = move || row().map(|r| price(r.last.get())).unwrap_or_default();
    let pick = move |interval: Interval| {
        move |_| {
            if detail.interval.get_untracked() != interval {
                dash.select(detail.symbol.get_untracked(), interval);
            }
        }
    };
    let pressed = move |interval: Interval| {
        move || {
            if detail.interval.get() == interval {
                "true"
            } else {
                "false"
            }
        }
    };
    view! {
        <section class="panel detail" aria-labelledby="detail-title">
            <header class="panel-head">
                <h2 id="detail-title">
                    <span class="detail-sym">{move || detail.symbol.get()}</span>
                    " "
                    <span class="detail-last">{last}</span>
                </h2>
                <div class="segmented js-only" role="group" aria-label="Candle interval">
                    <button type="button" aria-pressed=pressed(Interval::OneSecond) on:click=pick(Interval::OneSecond)>
                        "1s"
                    </button>
                    <button type="button" aria-pressed=pressed(Interval::OneMinute) on:click=pick(Interval::OneMinute)>
                        "1m"
                    </button>
                </div>
            </header>
            <CandleChart/>
            <AlertForm/>
            <h3 class="sub">"Recent trades"</h3>
            <table class="trades">
                <thead>
                    <tr>
                        <th scope="col">"Time"</th>
                        <th scope="col" class="num">"Price"</th>
                        <th scope="col" class="num">"Size"</th>
                        <th scope="col">"Side"</th>
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        detail
                            .trades
                            .get()
                            .into_iter()
                            .rev()
                            .map(|t| {
                                let (side, class) = match t.side {
                                    Side::Buy => ("Buy", "up"),
                                    Side::Sell => ("Sell", "down"),
                                };
                                view! {
                                    <tr>
                                        <td class="time">{time_of_day(t.ts)}</td>
                                        <td class="num">{price(t.price)}</td>
                                        <td class="num">{grouped(u64::from(t.size))}</td>
                                        <td class=class>{side}</td>
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
        </section>
    }
}
