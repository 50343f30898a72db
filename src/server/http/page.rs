//! What the server-rendered page shows, taken from the hub's live state at one tick: the
//! grid's first screenful of the view the address asks for (`?sort=change_pct&desc=1`,
//! `filter`, `offset`, `symbol`; by default the listing from its first row), the selected
//! symbol's quote, candles and trades, the scores and the breadth. Not the universe: at 10,000
//! symbols the page carries 30 rows (`FIRST_ROWS`), and the browser asks for the rest of its
//! window once it runs.

use crate::protocol::{Channel, Epoch, Interval, League, SnapshotReason, SortKey, ViewSpec};
use crate::server::feed::ranking::RankKey;
use crate::server::feed::tick::TickNo;
use crate::server::transport::feed_view::FeedView;
use crate::ui::chart_view::CHART_CANDLES;
use crate::ui::grid::FIRST_ROWS;
use crate::ui::page_state::PageState;
use std::collections::HashMap;

/// What a page request asks for (from its address).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct PageRequest {
    pub(crate) view: ViewSpec,
    pub(crate) symbol: Option<String>,
    /// The chart's candle width (`interval=1m`); one second by default.
    pub(crate) interval: Interval,
    /// The grid shows this watchlist only (`list=NAME&watch=A,B`): its name and symbols.
    pub(crate) list: Option<(String, Vec<String>)>,
}

impl PageRequest {
    /// The request's view and selection; what does not parse is left at its default (a page
    /// is always served).
    pub(crate) fn from_query(query: &HashMap<String, String>) -> Self {
        // A value by its name on the wire (`change_pct`, `1m`); a name it lacks is the default.
        fn named<T: serde::de::DeserializeOwned + Default>(
            query: &HashMap<String, String>,
            key: &str,
        ) -> T {
            query
                .get(key)
                .and_then(|v| serde_json::from_value(serde_json::Value::String(v.clone())).ok())
                .unwrap_or_default()
        }
        let sort: SortKey = named(query, "sort");
        let filter: String = query
            .get("filter")
            .map(|f| {
                f.chars()
                    .take(crate::server::transport::views::MAX_FILTER)
                    .collect()
            })
            .unwrap_or_default();
        PageRequest {
            view: ViewSpec {
                sort,
                desc: matches!(query.get("desc").map(String::as_str), Some("1" | "true")),
                filter,
                offset: query
                    .get("offset")
                    .and_then(|o| o.parse().ok())
                    .unwrap_or(0),
                limit: FIRST_ROWS,
                hold: false,
            },
            symbol: query.get("symbol").filter(|s| !s.is_empty()).cloned(),
            interval: named(query, "interval"),
            list: query
                .get("list")
                .map(|name| name.trim().chars().take(40).collect::<String>())
                .filter(|name| !name.is_empty())
                .map(|name| {
                    let symbols = query
                        .get("watch")
                        .map(|w| {
                            w.split(',')
                                .filter(|s| !s.is_empty() && s.len() <= 16)
                                .take(crate::ui::lists::MAX_SYMBOLS)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    (name, symbols)
                }),
        }
    }
}

/// What a page depends on: the epoch, the tick, the number of channels, and the request.
pub(crate) type PageKey = (Epoch, TickNo, usize, PageRequest);

/// The page's state for `request`, all taken at one tick.
pub(crate) fn page_state(feed: &FeedView, request: &PageRequest) -> (PageState, PageKey) {
    let hub = &feed.hub;
    let catalog = hub.catalog();
    let spec = &request.view;
    let ranking = feed
        .rankings
        .get(hub, &RankKey::new(spec.sort, spec.desc, &spec.filter));
    let (rows, total) = match &request.list {
        // A watchlist only: its symbols the server lists and the filter matches, in the
        // ranking's order (the list's own for the listing order), as the browser ranks them.
        Some((_, symbols)) => {
            let listed: Vec<u32> = symbols
                .iter()
                .filter_map(|s| catalog.symbol_index(s))
                .collect();
            let ranked: Vec<u32> = if spec.sort == SortKey::Listing {
                let matching: std::collections::HashSet<u32> =
                    ranking.order.iter().copied().collect();
                let mut own: Vec<u32> = listed
                    .into_iter()
                    .filter(|i| matching.contains(i))
                    .collect();
                if spec.desc {
                    own.reverse();
                }
                own
            } else {
                let wanted: std::collections::HashSet<u32> = listed.into_iter().collect();
                ranking
                    .order
                    .iter()
                    .copied()
                    .filter(|i| wanted.contains(i))
                    .collect()
            };
            let rows: Vec<String> = ranked
                .iter()
                .take(spec.limit as usize)
                .map(|&i| catalog.symbols()[i as usize].clone())
                .collect();
            (rows, ranked.len() as u32)
        }
        None => (
            ranking
                .window(spec.offset as usize, spec.limit as usize)
                .iter()
                .map(|&i| catalog.symbols()[i as usize].clone())
                .collect(),
            ranking.order.len() as u32,
        ),
    };
    let selected = request
        .symbol
        .clone()
        .filter(|s| catalog.symbol_index(s).is_some())
        .or_else(|| rows.first().cloned())
        .or_else(|| catalog.symbols().first().cloned())
        .unwrap_or_default();
    let interval = request.interval;
    let mut channels: Vec<Channel> = rows.iter().map(|s| Channel::Quotes(s.clone())).collect();
    if !rows.contains(&selected) && !selected.is_empty() {
        channels.push(Channel::Quotes(selected.clone()));
    }
    channels.extend(League::ALL.into_iter().map(Channel::Scores));
    channels.push(Channel::Breadth);
    if !selected.is_empty() {
        channels.push(Channel::Candles(selected.clone(), interval));
        channels.push(Channel::Trades(selected.clone()));
    }
    let (snapshot, sparks, n) =
        hub.snapshot_with_sparks(&channels, SnapshotReason::Page, CHART_CANDLES);
    let key = (snapshot.epoch, n, catalog.len(), request.clone());
    let page = PageState {
        snapshot,
        tick: n,
        sparks,
        selected,
        interval: Some(interval),
        view: spec.clone(),
        rows,
        total,
        universe: catalog.len() as u32,
        list: request.list.clone(),
    };
    (page, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_names_a_view_and_a_list_with_its_symbols() {
        let query = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let r = PageRequest::from_query(&query(&[
            ("sort", "change_pct"),
            ("desc", "1"),
            ("list", " Tech "),
            ("watch", "DELTA,,BETA"),
        ]));
        assert_eq!(r.view.sort, SortKey::ChangePct);
        assert!(r.view.desc);
        assert_eq!(
            r.list,
            Some(("Tech".to_string(), vec!["DELTA".into(), "BETA".into()]))
        );
        assert_eq!(
            PageRequest::from_query(&query(&[("list", "  ")])).list,
            None
        );
        assert_eq!(
            PageRequest::from_query(&query(&[("sort", "nonsense")])),
            PageRequest {
                view: ViewSpec {
                    limit: FIRST_ROWS,
                    ..ViewSpec::default()
                },
                ..PageRequest::default()
            },
            "what does not parse is the default"
        );
    }
}
