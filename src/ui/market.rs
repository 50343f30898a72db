//! The price grid: one row per symbol, one reactive text node per changing cell.

use super::format::{grouped, percent, price, signed};
use super::store::{Dashboard, QuoteRow, Tick};
use leptos::prelude::*;

/// CSS class for a value's direction, so colour is never the only signal: the text carries a
/// sign or an arrow as well.
fn direction(x: f64) -> &'static str {
    if (x * 100.0).round() > 0.0 {
        "up"
    } else if (x * 100.0).round() < 0.0 {
        "down"
    } else {
        "flat"
    }
}

#[component]
pub fn MarketTable() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let count = move || dash.rows.with(Vec::len);
    view! {
        <section class="panel market" aria-labelledby="market-title">
            <header class="panel-head">
                <h2 id="market-title">"Market"</h2>
                <span class="muted">{count} " symbols"</span>
            </header>
            <div class="table-wrap">
                <table class="quotes">
                    <thead>
                        <tr>
                            <th scope="col">"Symbol"</th>
                            <th scope="col" class="num">"Bid"</th>
                            <th scope="col" class="num">"Ask"</th>
                            <th scope="col" class="num">"Last"</th>
                            <th scope="col" class="num">"Change"</th>
                            <th scope="col" class="num">"% Chg"</th>
                            <th scope="col" class="num wide">"Volume"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || dash.rows.get() key=|row| row.symbol.clone() let:row>
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
    let QuoteRow {
        symbol,
        bid,
        ask,
        last,
        open,
        volume,
        tick,
    } = row;
    let change = move || last.get() - open.get();
    let pct = move || {
        let o = open.get();
        if o == 0.0 {
            0.0
        } else {
            (last.get() - o) / o * 100.0
        }
    };
    let arrow = move || match tick.get() {
        Tick::Up => "▲",
        Tick::Down => "▼",
        Tick::Flat => "",
    };
    view! {
        <tr data-symbol=symbol.to_string()>
            <th scope="row" class="sym">{symbol.to_string()}</th>
            <td class="num bid">{move || price(bid.get())}</td>
            <td class="num ask">{move || price(ask.get())}</td>
            <td class=move || {
                match tick.get() {
                    Tick::Up => "num last up",
                    Tick::Down => "num last down",
                    Tick::Flat => "num last",
                }
            }>
                <span class="arrow" aria-hidden="true">{arrow}</span>
                {move || price(last.get())}
            </td>
            <td class=move || format!("num chg {}", direction(change()))>{move || signed(change())}</td>
            <td class=move || format!("num pct {}", direction(change()))>{move || percent(pct())}</td>
            <td class="num vol wide">{move || grouped(volume.get())}</td>
        </tr>
    }
}
