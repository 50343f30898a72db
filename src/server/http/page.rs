//! Server-side rendering of the dashboard page from the hub's live state.

use super::AppState;
use crate::protocol::{Channel, Data, Interval, SnapshotReason};
use crate::ui::market::{HYDRATED_ROWS, WINDOW_FROM};
use crate::ui::store::{PageRest, PageState, CHART_CANDLES};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

/// `GET /`: the whole page (not streamed out of order), so that it is a complete, readable
/// snapshot even with JavaScript disabled; rendered at most once per tick (see `page_cache`).
/// The snapshot (with each channel's seq) is embedded for hydration, so the client resumes
/// the feed from exactly what the HTML shows.
pub async fn render(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.pages.respond(&headers).await
}

/// The live state the page shows, all taken at one tick: every quote and game, the sparklines,
/// and the detail panel's candles and trades for the first symbol. For a large grid, the quotes
/// past the hydrated rows (and their sparklines) go in a second part that the browser reads
/// after hydration: decoding 500 quotes was a third of hydration's long task.
pub fn page_state(hub: &super::hub::Hub) -> (PageState, Option<PageRest>, PageKey) {
    let catalog = hub.catalog();
    let selected = catalog.symbols().first().cloned().unwrap_or_default();
    let interval = Interval::OneSecond;
    let mut channels = hub.dashboard_channels();
    channels.push(Channel::Candles(selected.clone(), interval));
    channels.push(Channel::Trades(selected.clone()));
    let (snapshot, sparks, n) =
        hub.snapshot_with_sparks(&channels, SnapshotReason::Page, CHART_CANDLES);
    let key = (snapshot.epoch, n, catalog.len());
    let mut page = PageState {
        snapshot,
        tick: n,
        sparks,
        selected,
        interval: Some(interval),
    };
    if catalog.symbols().len() <= WINDOW_FROM {
        return (page, None, key);
    }
    let mut rest = PageRest {
        snapshot: page.snapshot.clone(),
        sparks: page.sparks.split_off(HYDRATED_ROWS.min(page.sparks.len())),
    };
    rest.snapshot.channels.clear();
    let mut quotes = 0;
    let all = std::mem::take(&mut page.snapshot.channels);
    for state in all {
        let later = matches!(state.data, Data::Quote(_)) && {
            quotes += 1;
            quotes > HYDRATED_ROWS
        };
        if later {
            rest.snapshot.channels.push(state);
        } else {
            page.snapshot.channels.push(state);
        }
    }
    (page, Some(rest), key)
}

/// What a page depends on: the epoch, the tick and the number of channels.
pub type PageKey = (crate::protocol::Epoch, super::tick::TickNo, usize);
