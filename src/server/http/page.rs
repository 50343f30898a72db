//! What the server-rendered page shows, taken from the hub's live state at one tick.

use crate::protocol::{Channel, Data, Interval, SnapshotReason};
use crate::server::feed::hub::Hub;
use crate::server::feed::tick::TickNo;
use crate::ui::market::{HYDRATED_ROWS, WINDOW_FROM};
use crate::ui::store::{PageRest, PageState, CHART_CANDLES};

/// The live state the page shows, all taken at one tick: every quote and game, the sparklines,
/// and the detail panel's candles and trades for the first symbol. For a large grid, the quotes
/// past the hydrated rows (and their sparklines) go in a second part that the browser reads
/// after hydration: decoding 500 quotes was a third of hydration's long task.
pub(crate) fn page_state(hub: &Hub) -> (PageState, Option<PageRest>, PageKey) {
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
pub(crate) type PageKey = (crate::protocol::Epoch, TickNo, usize);
