//! What the candle chart shows, as state the store holds: how many candles (the zoom), which
//! is the newest shown (none: the live edge), the pointer's candle, the switches, and whether
//! older candles are on their way or all fetched; and the window's arithmetic. The drawing and
//! the component are `chart`'s.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::Candle;
use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// Candles the chart draws at first (and the page carries).
pub(crate) const CHART_CANDLES: usize = 60;
/// Candles shown at least and at most.
pub(crate) const MIN_ZOOM: usize = 15;
pub(crate) const MAX_ZOOM: usize = 300;

/// What the chart shows: how many candles, which is the newest, and the switches.
#[derive(Clone, Copy)]
pub(crate) struct ChartView {
    pub(crate) zoom: RwSignal<usize>,
    /// The start of the newest candle shown; `None`: the live edge.
    pub(crate) end: RwSignal<Option<DateTime<Utc>>>,
    /// The candle under the pointer (an index into the window) and the pointer's height.
    pub(crate) hover: RwSignal<Option<(usize, f64)>>,
    pub(crate) ma_fast: RwSignal<bool>,
    pub(crate) ma_slow: RwSignal<bool>,
    /// The server has nothing older than the first candle held.
    pub(crate) complete: RwSignal<bool>,
    /// A request for older candles is on its way.
    pub(crate) loading: RwSignal<bool>,
}

impl ChartView {
    pub(crate) fn new() -> Self {
        ChartView {
            zoom: RwSignal::new(CHART_CANDLES),
            end: RwSignal::new(None),
            hover: RwSignal::new(None),
            ma_fast: RwSignal::new(false),
            ma_slow: RwSignal::new(false),
            complete: RwSignal::new(false),
            loading: RwSignal::new(false),
        }
    }

    /// Back to the live edge, nothing fetched yet (a new symbol or interval); the zoom stays.
    pub(crate) fn reset(&self) {
        self.end.set(None);
        self.hover.set(None);
        self.complete.set(false);
        self.loading.set(false);
    }
}

/// The window `[start, end)` of `candles` shown for `end_at` and `zoom`.
pub(crate) fn window(
    candles: &[Candle],
    end_at: Option<DateTime<Utc>>,
    zoom: usize,
) -> (usize, usize) {
    let end = end_at.map_or(candles.len(), |t| candles.partition_point(|c| c.start <= t));
    let end = end.max(zoom.min(candles.len()));
    (end.saturating_sub(zoom), end)
}

/// The window moved by `by` candles (negative: into the past), as the newest start shown
/// (`None` once it reaches the live edge).
pub(crate) fn panned(
    candles: &[Candle],
    end_at: Option<DateTime<Utc>>,
    zoom: usize,
    by: isize,
) -> Option<DateTime<Utc>> {
    let (_, end) = window(candles, end_at, zoom);
    let min_end = zoom.min(candles.len());
    let end = (end as isize + by).clamp(min_end as isize, candles.len() as isize) as usize;
    if end >= candles.len() || end == 0 {
        None
    } else {
        Some(candles[end - 1].start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candle(s: i64) -> Candle {
        Candle {
            start: DateTime::<Utc>::from_timestamp(s, 0).unwrap(),
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1,
        }
    }

    fn series(n: i64) -> Vec<Candle> {
        (0..n).map(candle).collect()
    }

    #[test]
    fn the_window_is_anchored_by_time_and_pans_within_what_is_held() {
        let c = series(100);
        assert_eq!(window(&c, None, 30), (70, 100), "live: the newest 30");
        let past = panned(&c, None, 30, -10);
        assert_eq!(past, Some(c[89].start));
        assert_eq!(window(&c, past, 30), (60, 90));
        // A new candle arrives: the past window stays where it is.
        let mut more = c.clone();
        more.push(candle(100));
        assert_eq!(window(&more, past, 30), (60, 90));
        // Panning stops at the oldest, and back at the live edge.
        let oldest = panned(&c, past, 30, -1000);
        assert_eq!(window(&c, oldest, 30), (0, 30));
        assert_eq!(panned(&c, oldest, 30, 1000), None);
        assert_eq!(
            window(&c, None, 500),
            (0, 100),
            "zoomed out past what is held"
        );
        // Older candles fetched and put in front: the window shows the same candles.
        let mut earlier = series(100);
        for x in earlier.iter_mut() {
            x.start -= chrono::Duration::seconds(100);
        }
        earlier.extend(c.clone());
        let (s, e) = window(&earlier, past, 30);
        assert_eq!(earlier[s].start, c[60].start);
        assert_eq!(earlier[e - 1].start, c[89].start);
    }
}
