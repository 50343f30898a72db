//! The candle chart: a window of the selected symbol's candles, zoomed and panned over all the
//! page holds (and older ones fetched from the server as the reader pans past them, see
//! `browser::history`), with volume bars under the candles, two moving averages to switch on,
//! and a crosshair whose legend gives the candle's time, open, high, low, close and volume.
//!
//! Mouse (drag to pan, wheel to zoom), touch (drag) and keyboard (←/→ pan, Shift for ten,
//! +/− zoom, Home the oldest, End back to live) all move the same two values: how many candles
//! are shown, and the start of the newest one shown (none: the live edge). The window is
//! anchored by time, so the live candle keeps forming while the reader looks at the past and
//! the past does not move under them.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::{Candle, Interval};
use crate::ui::chart_view::{panned, window, MAX_ZOOM, MIN_ZOOM};
use crate::ui::format::{grouped, price, time_of_day};
use crate::ui::store::Dashboard;
use chrono::{DateTime, Utc};
use leptos::prelude::*;

pub(crate) const W: f64 = 600.0;
pub(crate) const H: f64 = 220.0;
/// The candles' part of the box; volume bars fill the rest.
pub(crate) const PRICE_H: f64 = 176.0;
pub(crate) const PAD: f64 = 6.0;
/// The moving averages' lengths, in candles.
pub(crate) const MA_FAST: usize = 20;
pub(crate) const MA_SLOW: usize = 50;

/// One candle's drawing: wick from high to low, body from open to close, its volume bar.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CandleShape {
    pub(crate) x: f64,
    pub(crate) width: f64,
    pub(crate) wick: (f64, f64),
    pub(crate) body: (f64, f64),
    /// The volume bar's top and height.
    pub(crate) volume: (f64, f64),
    pub(crate) up: bool,
}

impl CandleShape {
    /// The candle as one filled SVG path: the wick (one unit wide, as a stroke of 1 was) and
    /// the body. With the volume bar's path, a candle is a class and two `d`s instead of a
    /// class and twelve coordinates: a chart of 60 candles hydrates and redraws 180 reactive
    /// attributes, not 780.
    pub(crate) fn candle_path(&self) -> String {
        let mid = self.x + self.width / 2.0;
        let (top, bottom) = self.wick;
        let (body, height) = self.body;
        format!(
            "M{:.2},{top:.2}h1V{bottom:.2}h-1ZM{:.2},{body:.2}h{w:.2}v{height:.2}h-{w:.2}Z",
            mid - 0.5,
            self.x,
            w = self.width,
        )
    }

    /// The volume bar as an SVG path.
    pub(crate) fn volume_path(&self) -> String {
        let (top, height) = self.volume;
        format!(
            "M{:.2},{top:.2}h{w:.2}v{height:.2}h-{w:.2}Z",
            self.x,
            w = self.width
        )
    }
}

/// The chart's drawing for a window.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Drawing {
    pub(crate) shapes: Vec<CandleShape>,
    pub(crate) slot: f64,
    pub(crate) lo: f64,
    pub(crate) hi: f64,
    /// SVG paths of the moving averages over the window (empty when off or too short).
    pub(crate) fast: String,
    pub(crate) slow: String,
}

/// The simple moving average of the closes ending at each index of `window` (`None` before
/// `n` candles exist; candles before the window count).
pub(crate) fn moving_average(
    candles: &[Candle],
    window: (usize, usize),
    n: usize,
) -> Vec<Option<f64>> {
    (window.0..window.1)
        .map(|i| {
            (i + 1 >= n)
                .then(|| candles[i + 1 - n..=i].iter().map(|c| c.close).sum::<f64>() / n as f64)
        })
        .collect()
}

/// Lays out `candles[window]` in the box, the newest on the right, `zoom` wide.
pub(crate) fn draw(
    candles: &[Candle],
    window: (usize, usize),
    zoom: usize,
    ma: (bool, bool),
) -> Drawing {
    let shown = &candles[window.0..window.1];
    if shown.is_empty() {
        return Drawing::default();
    }
    let lo = shown.iter().map(|c| c.low).fold(f64::MAX, f64::min);
    let hi = shown.iter().map(|c| c.high).fold(f64::MIN, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let y = |v: f64| {
        if hi > lo {
            PAD + (hi - v) / span * (PRICE_H - 2.0 * PAD)
        } else {
            PRICE_H / 2.0
        }
    };
    let max_volume = shown.iter().map(|c| c.volume).max().unwrap_or(0).max(1) as f64;
    let slot = W / zoom.max(1) as f64;
    let first = zoom.saturating_sub(shown.len());
    let x_of = |i: usize| (first + i) as f64 * slot;
    let shapes = shown
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (top, bottom) = (y(c.open.max(c.close)), y(c.open.min(c.close)));
            let bar = c.volume as f64 / max_volume * (H - PRICE_H - 4.0);
            CandleShape {
                x: x_of(i) + slot * 0.15,
                width: slot * 0.7,
                wick: (y(c.high), y(c.low)),
                body: (top, (bottom - top).max(1.0)),
                volume: (H - bar, bar),
                up: c.close >= c.open,
            }
        })
        .collect();
    let path = |n: usize| {
        use std::fmt::Write;
        let mut d = String::new();
        for (i, v) in moving_average(candles, window, n).into_iter().enumerate() {
            if let Some(v) = v {
                let cmd = if d.is_empty() { 'M' } else { 'L' };
                let _ = write!(
                    d,
                    "{cmd}{:.1},{:.1}",
                    x_of(i) + slot / 2.0,
                    y(v).clamp(0.0, PRICE_H)
                );
            }
        }
        d
    };
    Drawing {
        shapes,
        slot,
        lo,
        hi,
        fast: if ma.0 { path(MA_FAST) } else { String::new() },
        slow: if ma.1 { path(MA_SLOW) } else { String::new() },
    }
}

/// The zoom presets: candle counts, named by the time they span at `interval`.
pub(crate) fn presets(interval: Interval) -> [(usize, &'static str); 4] {
    match interval {
        Interval::OneSecond => [(30, "30s"), (60, "1m"), (120, "2m"), (300, "5m")],
        Interval::OneMinute => [(30, "30m"), (60, "1h"), (120, "2h"), (300, "5h")],
    }
}

/// The legend: the hovered candle, else the newest shown.
fn legend(c: &Candle) -> String {
    format!(
        "{} O {} H {} L {} C {} V {}",
        time_of_day(c.start),
        price(c.open),
        price(c.high),
        price(c.low),
        price(c.close),
        grouped(c.volume)
    )
}

#[component]
pub(crate) fn CandleChart() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let candles = dash.detail.candles;
    let view = dash.detail.chart;
    let win = Memo::new(move |_| candles.with(|c| window(c, view.end.get(), view.zoom.get())));
    let drawing = Memo::new(move |_| {
        let ma = (view.ma_fast.get(), view.ma_slow.get());
        candles.with(|c| draw(c, win.get(), view.zoom.get(), ma))
    });
    let live = move || view.end.with(Option::is_none);
    let label = move || {
        let symbol = dash.detail.symbol.get();
        let (start, end) = win.get();
        candles.with(|c| match c.get(end.wrapping_sub(1)) {
            Some(last) => format!(
                "{symbol} candles, {} shown{}, last close {}",
                end - start,
                if live() { "" } else { ", in the past" },
                price(last.close)
            ),
            None => format!("{symbol} candles: loading"),
        })
    };
    let legend_text = move || {
        let (start, end) = win.get();
        let at = view
            .hover
            .get()
            .map(|(i, _)| start + i)
            .filter(|&i| i < end)
            .or(end.checked_sub(1));
        candles.with(|c| at.and_then(|i| c.get(i)).map(legend).unwrap_or_default())
    };
    let pan = move |by: isize| {
        let zoom = view.zoom.get_untracked();
        let end = view.end.get_untracked();
        view.end
            .set(candles.with_untracked(|c| panned(c, end, zoom, by)));
    };
    let zoom_to = move |zoom: usize| {
        view.zoom.set(zoom.clamp(MIN_ZOOM, MAX_ZOOM));
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let step = if ev.shift_key() { 10 } else { 1 };
        let zoom = view.zoom.get_untracked();
        match ev.key().as_str() {
            "ArrowLeft" => pan(-step),
            "ArrowRight" => pan(step),
            "+" | "=" => zoom_to(zoom * 2 / 3),
            "-" | "_" => zoom_to(zoom * 3 / 2),
            "Home" => pan(-(MAX_ZOOM as isize) * 4),
            "End" => view.end.set(None),
            _ => return,
        }
        ev.prevent_default();
    };
    // Where the pointer is, in candles from the box's left and in the box's height.
    let at_pointer = move |ev: &leptos::ev::PointerEvent| -> Option<(f64, f64)> {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let el = ev.current_target()?.dyn_into::<web_sys::Element>().ok()?;
            let rect = el.get_bounding_client_rect();
            if rect.width() <= 0.0 || rect.height() <= 0.0 {
                return None;
            }
            let x = (f64::from(ev.client_x()) - rect.left()) / rect.width() * W;
            let y = (f64::from(ev.client_y()) - rect.top()) / rect.height() * H;
            Some((x, y))
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = ev;
            None
        }
    };
    let drag = StoredValue::new(None::<(f64, Option<DateTime<Utc>>)>);
    let on_move = move |ev: leptos::ev::PointerEvent| {
        let Some((x, y)) = at_pointer(&ev) else {
            return;
        };
        let slot = drawing.with_untracked(|d| d.slot);
        if slot > 0.0 {
            let (start, end) = win.get_untracked();
            let first = view.zoom.get_untracked().saturating_sub(end - start);
            let i = (x / slot).floor() as isize - first as isize;
            view.hover
                .set((i >= 0 && (i as usize) < end - start).then_some((i as usize, y)));
        }
        if let Some((x0, end0)) = drag.get_value() {
            if slot > 0.0 {
                let by = ((x0 - x) / slot).round() as isize;
                let zoom = view.zoom.get_untracked();
                view.end
                    .set(candles.with_untracked(|c| panned(c, end0, zoom, by)));
            }
        }
    };
    let on_down = move |ev: leptos::ev::PointerEvent| {
        if let Some((x, _)) = at_pointer(&ev) {
            drag.set_value(Some((x, view.end.get_untracked())));
        }
    };
    let on_up = move |_| drag.set_value(None);
    let on_wheel = move |ev: leptos::ev::WheelEvent| {
        ev.prevent_default();
        let zoom = view.zoom.get_untracked();
        zoom_to(if ev.delta_y() < 0.0 {
            zoom * 4 / 5
        } else {
            zoom * 5 / 4 + 1
        });
    };
    let crosshair = move || {
        let (i, y) = view.hover.get()?;
        let y = y.clamp(0.0, PRICE_H);
        let (x, value) = drawing.with(|d| {
            let s = d.shapes.get(i)?;
            let value = d.hi - (y - PAD) / (PRICE_H - 2.0 * PAD) * (d.hi - d.lo);
            Some((s.x + s.width / 2.0, value))
        })?;
        Some(view! {
            <g class="crosshair" aria-hidden="true">
                <line x1=x x2=x y1=0 y2=H/>
                <line x1=0 x2=W y1=y y2=y/>
                <text x=W - 4.0 y=(y - 3.0).max(10.0) text-anchor="end">{price(value)}</text>
            </g>
        })
    };
    let preset = move |(n, name): (usize, &'static str)| {
        view! {
            <button
                type="button"
                aria-pressed=move || if view.zoom.get() == n { "true" } else { "false" }
                on:click=move |_| zoom_to(n)
            >
                {name}
            </button>
        }
    };
    let toggle =
        |signal: RwSignal<bool>| move |ev: leptos::ev::Event| signal.set(event_target_checked(&ev));
    view! {
        <figure class="chart">
            <div class="chart-tools js-only">
                <div class="segmented" role="group" aria-label="Chart range">
                    {move || presets(dash.detail.interval.get()).into_iter().map(preset).collect_view()}
                </div>
                <label>
                    <input type="checkbox" class="ma-fast" prop:checked=move || view.ma_fast.get() on:change=toggle(view.ma_fast)/>
                    {format!(" MA {MA_FAST}")}
                </label>
                <label>
                    <input type="checkbox" class="ma-slow" prop:checked=move || view.ma_slow.get() on:change=toggle(view.ma_slow)/>
                    {format!(" MA {MA_SLOW}")}
                </label>
                <button type="button" class="to-live" class:hidden=live on:click=move |_| view.end.set(None)>
                    "Back to live"
                </button>
            </div>
            <div
                class="chart-box"
                tabindex="0"
                role="group"
                aria-label="Candle chart: arrows pan, plus and minus zoom, Home goes to the oldest, End back to live"
                on:keydown=on_key
            >
                <svg
                    class="candles"
                    viewBox=format!("0 0 {W} {H}")
                    preserveAspectRatio="none"
                    role="img"
                    aria-label=label
                    data-count=move || { let (s, e) = win.get(); e - s }
                    data-held=move || candles.with(Vec::len)
                    data-live=move || if live() { "true" } else { "false" }
                    on:pointermove=on_move
                    on:pointerdown=on_down
                    on:pointerup=on_up
                    on:pointerleave=move |_| {
                        drag.set_value(None);
                        view.hover.set(None);
                    }
                    on:wheel=on_wheel
                >
                    <For each=move || 0..drawing.with(|d| d.shapes.len()) key=|i| *i let:i>
                        <CandleSlot i drawing/>
                    </For>
                    <path class="ma fast" d=move || drawing.with(|d| d.fast.clone())/>
                    <path class="ma slow" d=move || drawing.with(|d| d.slow.clone())/>
                    {crosshair}
                </svg>
            </div>
            <figcaption class="muted axis">
                <span class="legend">{legend_text}</span>
                <span class="chart-state">
                    {move || {
                        if view.loading.get() {
                            "loading older…".to_string()
                        } else if live() {
                            String::new()
                        } else {
                            "past".to_string()
                        }
                    }}
                </span>
            </figcaption>
        </figure>
    }
}

/// The `i`th candle of the drawing, in elements that stay: a trade moves the live candle's
/// paths (and, when the range changes, every candle's), not the elements, so a chart of 300
/// candles is not built again on every trade.
#[component]
fn CandleSlot(i: usize, drawing: Memo<Drawing>) -> impl IntoView {
    let shape = Memo::new(move |_| drawing.with(|d| d.shapes.get(i).cloned()));
    let class = move || match shape.with(|s| s.as_ref().map(|s| s.up)) {
        Some(false) => "candle down",
        _ => "candle up",
    };
    let path = move |of: fn(&CandleShape) -> String| {
        move || shape.with(|s| s.as_ref().map(of).unwrap_or_default())
    };
    view! {
        <g class=class>
            <path class="vol" d=path(CandleShape::volume_path)/>
            <path class="bar" d=path(CandleShape::candle_path)/>
        </g>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candle(s: i64, open: f64, close: f64, high: f64, low: f64, volume: u64) -> Candle {
        Candle {
            start: DateTime::<Utc>::from_timestamp(s, 0).unwrap(),
            open,
            high,
            low,
            close,
            volume,
        }
    }

    fn series(n: i64) -> Vec<Candle> {
        (0..n)
            .map(|i| {
                candle(
                    i,
                    i as f64,
                    i as f64 + 1.0,
                    i as f64 + 2.0,
                    i as f64 - 1.0,
                    i as u64,
                )
            })
            .collect()
    }

    #[test]
    fn candles_fill_the_box_newest_on_the_right_with_volume_below() {
        let c = vec![
            candle(0, 10.0, 12.0, 13.0, 9.0, 10),
            candle(1, 12.0, 11.0, 12.5, 10.5, 5),
        ];
        let d = draw(&c, (0, 2), 60, (false, false));
        assert_eq!(d.shapes.len(), 2);
        let slot = W / 60.0;
        assert!(
            (d.shapes[1].x - (W - slot + slot * 0.15)).abs() < 1e-9,
            "newest in the last slot"
        );
        assert!(d.shapes[0].up && !d.shapes[1].up);
        // The highest high touches the top padding, the lowest low the bottom of the price part.
        assert!((d.shapes[0].wick.0 - PAD).abs() < 1e-9);
        assert!((d.shapes[0].wick.1 - (PRICE_H - PAD)).abs() < 1e-9);
        // The larger volume is the taller bar, both standing on the bottom.
        assert!(d.shapes[0].volume.1 > d.shapes[1].volume.1);
        assert!((d.shapes[0].volume.0 + d.shapes[0].volume.1 - H).abs() < 1e-9);
        // Drawn as paths: the wick a unit wide around the candle's middle, then the body.
        let s = CandleShape {
            x: 10.0,
            width: 7.0,
            wick: (20.0, 80.0),
            body: (30.0, 40.0),
            volume: (200.0, 20.0),
            up: true,
        };
        assert_eq!(
            s.candle_path(),
            "M13.00,20.00h1V80.00h-1ZM10.00,30.00h7.00v40.00h-7.00Z"
        );
        assert_eq!(s.volume_path(), "M10.00,200.00h7.00v20.00h-7.00Z");
        assert_eq!(draw(&[], (0, 0), 60, (true, true)), Drawing::default());
    }

    #[test]
    fn moving_averages_use_the_candles_before_the_window() {
        let c = series(60);
        let ma = moving_average(&c, (50, 60), 20);
        // Candle i closes at i + 1: candles 31..=50 close at 32..=51, whose mean is 41.5.
        assert_eq!(ma[0], Some(41.5));
        assert_eq!(moving_average(&c, (0, 3), 20), vec![None, None, None]);
        let d = draw(&c, (30, 60), 30, (true, true));
        assert!(d.fast.starts_with('M'));
        assert_eq!(d.fast.matches('L').count(), 29, "a point per candle");
        assert!(d.slow.starts_with('M'), "from the 50th candle on");
        assert_eq!(presets(Interval::OneMinute)[1], (60, "1h"));
    }
}
