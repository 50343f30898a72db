//! The market grid's window of the universe.
//!
//! The server ranks every symbol (by the column the user sorted on, filtered by what they
//! typed); the grid shows a window of that ranking. Three ranges are in play, from small to
//! large: the rows on screen, the rows rendered (those and [`OVERSCAN`] either side, between
//! two spacer rows that give the table the height of the whole ranking, so the scrollbar is the
//! universe's), and the window the server streams (the rendered rows and [`MARGIN`] either
//! side). The window is asked for again only when the rendered rows leave it ([`wanted`]), so
//! scrolling a few rows costs nothing, and each request is a new `offset`, never the whole
//! universe.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::ViewSpec;
use crate::ui::rows::QuoteRow;
use leptos::prelude::*;

/// Rows rendered beyond the visible ones, above and below: enough for the browser's own
/// scrolling (a wheel notch, an arrow key) to show rows before the page renders the next
/// ones. Every rendered row is laid out and painted each frame that scrolls, so more costs
/// every frame (10,000 symbols scrolled end to end: main thread 12.9 ms a frame with 4,
/// 17.3 ms with 12).
pub(crate) const OVERSCAN: usize = 4;
/// Rows streamed beyond the visible ones, above and below (at least the overscan).
pub(crate) const MARGIN: usize = 30;
/// Rows the server renders in the page: a screenful and some.
pub(crate) const FIRST_ROWS: u32 = 40;
/// The most rows one view may hold (the server's limit).
pub(crate) const MAX_ROWS: u32 = 500;

/// The grid's view and what the server last said of it.
#[derive(Clone, Copy)]
pub(crate) struct Grid {
    /// What the view asks for: the order, the filter and the window. The feed sends it to the
    /// server whenever it changes.
    pub(crate) spec: RwSignal<ViewSpec>,
    /// Symbols that match the filter: the rows the table is as tall as.
    pub(crate) total: RwSignal<u32>,
    /// Symbols the server lists (the welcome says how many).
    pub(crate) universe: RwSignal<u32>,
    /// Where `order` starts in the ranking.
    pub(crate) offset: RwSignal<u32>,
    /// The window's rows, in the server's order.
    pub(crate) order: RwSignal<Vec<QuoteRow>>,
}

impl Grid {
    pub(crate) fn new(spec: ViewSpec, total: u32, universe: u32, order: Vec<QuoteRow>) -> Self {
        Grid {
            offset: RwSignal::new(spec.offset),
            spec: RwSignal::new(spec),
            total: RwSignal::new(total),
            universe: RwSignal::new(universe),
            order: RwSignal::new(order),
        }
    }

    /// The row at position `i` of the ranking, if the window holds it.
    pub(crate) fn row(&self, i: usize) -> Option<QuoteRow> {
        let offset = self.offset.get() as usize;
        self.order
            .with(|order| i.checked_sub(offset).and_then(|k| order.get(k).cloned()))
    }
}

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
        return (0, rows.min(FIRST_ROWS as usize));
    }
    // A view past the end (the ranking shrank under it) still renders the last rows, so that
    // there is always a row to measure and to scroll back with.
    let first = (((view_top - body_top) / row_px).floor().max(0.0) as usize).min(rows - 1);
    let last = ((view_bottom - body_top) / row_px).ceil().max(0.0) as usize;
    let end = last.max(first + 1).saturating_add(OVERSCAN).min(rows);
    let start = first.saturating_sub(OVERSCAN);
    (start, end)
}

/// The window to ask the server for, given the rendered rows, the window streamed now
/// (`offset`, `limit`) and the rows of the ranking; `None` while the streamed window still
/// covers the rendered rows.
pub(crate) fn wanted(
    (start, end): (usize, usize),
    (offset, limit): (u32, u32),
    total: u32,
) -> Option<(u32, u32)> {
    let (offset, limit, total) = (offset as usize, limit as usize, total as usize);
    let covered = start >= offset && end <= (offset + limit).min(total.max(end));
    // Far larger than needed (the window shrank, or the table was resized): ask again too.
    let oversized = limit > (end - start) + 4 * MARGIN;
    if covered && !oversized {
        return None;
    }
    let new_offset = start.saturating_sub(MARGIN);
    let new_limit = ((end + MARGIN).min(total.max(end)) - new_offset).min(MAX_ROWS as usize);
    Some((new_offset as u32, new_limit.max(1) as u32))
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
    fn without_a_row_height_the_first_rows_are_rendered() {
        assert_eq!(window_of(10_000, 0.0, 0.0, 0.0, 800.0), (0, 40));
        assert_eq!(window_of(10_000, f64::NAN, 0.0, 0.0, 800.0), (0, 40));
        assert_eq!(window_of(0, 37.0, 0.0, 0.0, 800.0), (0, 0));
        // A body far below the view: nothing of it is visible, only the overscan from row 0.
        assert_eq!(window_of(500, 37.0, 5000.0, 0.0, 800.0), (0, 1 + OVERSCAN));
        // A view past the end of a ranking that shrank: the last rows, never none.
        assert_eq!(
            window_of(10, 37.0, -10_000.0, 0.0, 800.0),
            (10 - 1 - OVERSCAN.min(9), 10)
        );
    }

    #[test]
    fn the_window_is_asked_again_only_when_the_rendered_rows_leave_it() {
        let total = 10_000;
        // The page's first window covers the first screen: nothing to ask.
        assert_eq!(wanted((0, 32), (0, 40), total), None);
        // Scrolled a little: still covered.
        assert_eq!(wanted((3, 35), (0, 40), total), None);
        // Out of it: a window around the rendered rows, with the margin either side.
        assert_eq!(
            wanted((100, 132), (0, 40), total),
            Some((100 - MARGIN as u32, 32 + 2 * MARGIN as u32))
        );
        // At the end of the universe the window stops at the last row.
        assert_eq!(
            wanted((9_980, 10_000), (0, 40), total),
            Some((9_980 - MARGIN as u32, 20 + MARGIN as u32))
        );
        // Never more than the server's limit.
        assert_eq!(wanted((0, 2_000), (0, 40), total), Some((0, MAX_ROWS)));
        // A window far larger than needed is asked again, smaller.
        assert_eq!(
            wanted((0, 20), (0, 400), total),
            Some((0, 20 + MARGIN as u32))
        );
        // A filter that matches few: the window is all of them.
        assert_eq!(wanted((0, 3), (0, 40), 3), None);
    }
}
