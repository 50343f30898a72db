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
/// Rows the server renders in the page: a screenful (a browser window of up to about 1,100
/// pixels; a taller one shows the rest as on their way until the feed brings them). Every
/// one costs the page's hydration about half a millisecond on a 2-core machine, and the
/// grid's column hydrates in one task (40 rows: 15-43 ms; `docs/benchmarks.md`).
pub(crate) const FIRST_ROWS: u32 = 30;
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

/// Rows built in one frame at most: a window that arrives whole (a jump, a fast scroll, a
/// filter) fills in over a few frames rather than in one long one. A row costs a frame about
/// 0.5 ms to build and lay out on this machine, so a screenful at once was a 30 ms frame.
pub(crate) const NEW_ROWS_PER_FRAME: usize = 16;

/// Which of the places `held` (those rendered whose rows the window holds) are built as rows,
/// given those built so far (`None` the first time: all of them, as the server rendered them),
/// the places in `view`, and how many rows may still be built this frame (`budget`). Returns
/// the run built and how many of its rows are new.
///
/// What is built and still held stays built, as long as some of it is in view; otherwise the
/// run starts again where the view is. It grows over the places in view first, then over the
/// rest, both ways. The places not built show as on their way.
pub(crate) fn rows_to_build(
    (first, last): (usize, usize),
    built: Option<(usize, usize)>,
    (top, bottom): (usize, usize),
    budget: usize,
) -> ((usize, usize), usize) {
    let Some((a, b)) = built else {
        return ((first, last), 0);
    };
    let (top, bottom) = (top.clamp(first, last), bottom.clamp(first, last));
    let (mut a, mut b) = (a.max(first), b.min(last));
    if a >= b || b <= top || a >= bottom {
        (a, b) = (top, top);
    }
    let mut left = budget;
    // Over the places in view, then beyond them.
    for (lo, hi) in [(top, bottom), (first, last)] {
        let down = (hi.max(b) - b).min(left);
        b += down;
        left -= down;
        let up = (a - lo.min(a)).min(left);
        a -= up;
        left -= up;
    }
    ((a, b), budget - left)
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
        let first = FIRST_ROWS as usize;
        assert_eq!(window_of(10_000, 0.0, 0.0, 0.0, 800.0), (0, first));
        assert_eq!(window_of(10_000, f64::NAN, 0.0, 0.0, 800.0), (0, first));
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

    #[test]
    fn rows_are_built_a_few_a_frame_from_what_is_in_view() {
        let n = NEW_ROWS_PER_FRAME;
        // The first time, everything held: the page hydrates the rows the server rendered.
        assert_eq!(rows_to_build((0, 40), None, (0, 20), 0), ((0, 40), 0));
        // What is built and still held stays built; with no budget, nothing more.
        assert_eq!(
            rows_to_build((10, 50), Some((0, 40)), (14, 34), 0),
            ((10, 40), 0)
        );
        // The budget builds more, the places in view first.
        assert_eq!(
            rows_to_build((10, 60), Some((10, 40)), (34, 54), n),
            ((10, 40 + n), n)
        );
        assert_eq!(
            rows_to_build((0, 30), Some((10, 30)), (4, 24), n),
            ((0, 30), 10)
        );
        // Nothing built in view (a jump, or a scroll faster than rows are built): the run
        // starts again at the view's top.
        assert_eq!(
            rows_to_build((500, 530), Some((0, 30)), (504, 524), n),
            ((504, 504 + n), n)
        );
        assert_eq!(
            rows_to_build((500, 530), Some((480, 502)), (504, 524), 4),
            ((504, 508), 4)
        );
        // The view's rows first, then beyond them.
        assert_eq!(
            rows_to_build((500, 530), Some((504, 520)), (504, 524), 6),
            ((504, 526), 6)
        );
        // Held all along: unchanged, and nothing spent.
        assert_eq!(
            rows_to_build((0, 30), Some((0, 30)), (0, 20), n),
            ((0, 30), 0)
        );
        // Nothing held: nothing built.
        assert_eq!(
            rows_to_build((7, 7), Some((0, 30)), (0, 20), n),
            ((7, 7), 0)
        );
        // Enough frames build everything held.
        let mut built = Some((0, 0));
        for _ in 0..100 {
            built = Some(rows_to_build((3_000, 3_031), built, (3_004, 3_027), n).0);
        }
        assert_eq!(built, Some((3_000, 3_031)));
    }
}
