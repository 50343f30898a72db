//! Older candles for the chart: when the reader pans (or zooms out) to within a few candles of
//! the oldest the page holds, the next older ones are fetched from `GET /api/candles` and put
//! in front, until the server says it has nothing older. One request at a time; a new symbol
//! or interval drops what was on its way (`Dashboard::prepend_candles` checks).

use crate::protocol::{Candle, Interval};
use crate::ui::chart_view::window as chart_window;
use crate::ui::store::Dashboard;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Fetch more when the window starts this close to the oldest candle held.
const NEAR: usize = 10;
/// Candles asked for at a time.
const BATCH: usize = 120;

#[derive(serde::Deserialize)]
struct Older {
    candles: Vec<Candle>,
    complete: bool,
}

/// Watches the chart's window for as long as the page lives.
pub(crate) fn follow(dash: Dashboard) {
    let chart = dash.detail.chart;
    Effect::new(move |_| {
        let zoom = chart.zoom.get();
        let end = chart.end.get();
        let (start, first) = dash
            .detail
            .candles
            .with(|c| (chart_window(c, end, zoom).0, c.first().map(|c| c.start)));
        let wants = start < NEAR
            && !chart.complete.get_untracked()
            && !chart.loading.get_untracked()
            // Zoomed out past what is held, or panned to its start.
            && (end.is_some() || dash.detail.candles.with_untracked(Vec::len) < zoom);
        if let (true, Some(first)) = (wants, first) {
            fetch_older(
                dash,
                dash.detail.symbol.get_untracked(),
                dash.detail.interval.get_untracked(),
                first.timestamp_micros(),
            );
        }
    });
}

fn fetch_older(dash: Dashboard, symbol: String, interval: Interval, before: i64) {
    let chart = dash.detail.chart;
    chart.loading.set(true);
    let url = format!(
        "/api/candles?symbol={}&interval={}&before={before}&limit={BATCH}",
        String::from(js_sys::encode_uri_component(&symbol)),
        interval.as_str()
    );
    let done = move |text: Option<String>| {
        chart.loading.set(false);
        match text.map(|t| serde_json::from_str::<Older>(&t)) {
            Some(Ok(older)) => {
                dash.prepend_candles(&symbol, interval, older.candles, older.complete)
            }
            Some(Err(err)) => {
                leptos::logging::warn!("livetape: older candles unreadable: {err}");
                chart.complete.set(true);
            }
            None => {
                // Not found (a symbol gone) or the network: stop asking for this chart.
                chart.complete.set(true);
            }
        }
    };
    get_text(&url, done);
}

/// GETs `url`; `done` gets the body of a 200, or `None`.
fn get_text(url: &str, done: impl FnOnce(Option<String>) + 'static) {
    let done = std::rc::Rc::new(std::cell::RefCell::new(Some(done)));
    let finish = {
        let done = done.clone();
        move |text: Option<String>| {
            if let Some(f) = done.borrow_mut().take() {
                f(text);
            }
        }
    };
    let failed = {
        let finish = finish.clone();
        Closure::once(move |_: JsValue| finish(None))
    };
    let got = Closure::once(move |response: JsValue| {
        let Ok(response) = response.dyn_into::<web_sys::Response>() else {
            return finish(None);
        };
        if !response.ok() {
            return finish(None);
        }
        let Ok(body) = response.text() else {
            return finish(None);
        };
        let read = Closure::once(move |text: JsValue| finish(text.as_string()));
        let _ = body.then(&read);
        // Called once by the promise.
        read.forget();
    });
    let _ = window().fetch_with_str(url).then2(&got, &failed);
    // Each called at most once by the promise; a pan into the past is rare enough to leak them.
    got.forget();
    failed.forget();
}
