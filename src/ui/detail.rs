//! The detail panel: a candlestick chart of the selected symbol (1 s or 1 min candles,
//! backfilled from the server's history) and its recent trades.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::{Candle, Interval, Side};
use crate::ui::alert_panel::AlertForm;
use crate::ui::format::{grouped, price, time_of_day};
use crate::ui::store::{Dashboard, CHART_CANDLES};
use leptos::prelude::*;

const W: f64 = 600.0;
const H: f64 = 220.0;
const PAD: f64 = 6.0;

/// One candle's drawing: wick from high to low, body from open to close.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CandleShape {
    pub(crate) x: f64,
    pub(crate) width: f64,
    pub(crate) wick: (f64, f64),
    pub(crate) body: (f64, f64),
    pub(crate) up: bool,
}

/// Lays out `candles` in the chart box, the newest on the right, `CHART_CANDLES` wide.
pub(crate) fn layout(candles: &[Candle]) -> Vec<CandleShape> {
    if candles.is_empty() {
        return Vec::new();
    }
    let lo = candles.iter().map(|c| c.low).fold(f64::MAX, f64::min);
    let hi = candles.iter().map(|c| c.high).fold(f64::MIN, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let y = |v: f64| {
        if hi > lo {
            PAD + (hi - v) / span * (H - 2.0 * PAD)
        } else {
            H / 2.0
        }
    };
    let slot = W / CHART_CANDLES as f64;
    let first = CHART_CANDLES.saturating_sub(candles.len());
    candles
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (top, bottom) = (y(c.open.max(c.close)), y(c.open.min(c.close)));
            CandleShape {
                x: (first + i) as f64 * slot + slot * 0.15,
                width: slot * 0.7,
                wick: (y(c.high), y(c.low)),
                body: (top, (bottom - top).max(1.0)),
                up: c.close >= c.open,
            }
        })
        .collect()
}

#[component]
fn CandleChart() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let candles = dash.detail.candles;
    let label = move || {
        let symbol = dash.detail.symbol.get();
        candles.with(|c| match c.last() {
            Some(last) => format!(
                "{symbol} candles, {} shown, last close {}",
                c.len(),
                price(last.close)
            ),
            None => format!("{symbol} candles: loading"),
        })
    };
    let range = move || {
        candles.with(|c| {
            let lo = c.iter().map(|c| c.low).fold(f64::MAX, f64::min);
            let hi = c.iter().map(|c| c.high).fold(f64::MIN, f64::max);
            if c.is_empty() {
                (String::new(), String::new())
            } else {
                (price(hi), price(lo))
            }
        })
    };
    view! {
        <figure class="chart">
            <svg
                class="candles"
                viewBox=format!("0 0 {W} {H}")
                preserveAspectRatio="none"
                role="img"
                aria-label=label
                data-count=move || candles.with(Vec::len)
            >
                {move || {
                    candles
                        .with(|c| layout(c))
                        .into_iter()
                        .map(|s| {
                            let class = if s.up { "candle up" } else { "candle down" };
                            let mid = s.x + s.width / 2.0;
                            view! {
                                <g class=class>
                                    <line x1=mid x2=mid y1=s.wick.0 y2=s.wick.1/>
                                    <rect x=s.x y=s.body.0 width=s.width height=s.body.1/>
                                </g>
                            }
                        })
                        .collect_view()
                }}
            </svg>
            <figcaption class="muted axis">
                <span>"high " {move || range().0}</span>
                <span>"low " {move || range().1}</span>
            </figcaption>
        </figure>
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn candle(open: f64, close: f64, high: f64, low: f64) -> Candle {
        Candle {
            start: DateTime::<Utc>::from_timestamp(0, 0).unwrap(),
            open,
            high,
            low,
            close,
            volume: 1,
        }
    }

    #[test]
    fn candles_fill_the_box_newest_on_the_right() {
        let shapes = layout(&[
            candle(10.0, 12.0, 13.0, 9.0),
            candle(12.0, 11.0, 12.5, 10.5),
        ]);
        assert_eq!(shapes.len(), 2);
        let slot = W / CHART_CANDLES as f64;
        assert!(
            (shapes[1].x - (W - slot + slot * 0.15)).abs() < 1e-9,
            "newest in the last slot"
        );
        assert!(shapes[0].up && !shapes[1].up);
        // The highest high touches the top padding, the lowest low the bottom.
        assert!((shapes[0].wick.0 - PAD).abs() < 1e-9);
        assert!((shapes[0].wick.1 - (H - PAD)).abs() < 1e-9);
        assert!(layout(&[]).is_empty());
    }
}
