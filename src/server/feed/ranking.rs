//! Ranking the universe: the order a view shows the market in (by symbol, by % change, by
//! volume, ...), filtered by what the user typed, over every symbol the server lists.
//!
//! A ranking is computed once per tick per distinct key (sort, direction, filter) and shared
//! by every view that asks for it ([`Rankings::get`]): a thousand viewers of the top gainers
//! cost one sort per tick, not a thousand. The sort keys are copied out under the hub's lock
//! (a few microseconds per thousand symbols) and sorted outside it, so the feed's commits never
//! wait for a sort. Orders that do not depend on prices (listing, symbol) are computed again
//! only when the catalog grows.
//!
//! Ties go to the symbol listed first, so a ranking is a function of the state at one tick:
//! every node of a cluster ranks the same tick the same way.

use super::catalog::Catalog;
use super::hub::Hub;
use super::tick::TickNo;
use crate::protocol::{Epoch, Quote, SortKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What a ranking is of.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RankKey {
    pub(crate) sort: SortKey,
    pub(crate) desc: bool,
    /// Upper case (symbols are matched without regard to case).
    pub(crate) filter: String,
}

impl RankKey {
    pub(crate) fn new(sort: SortKey, desc: bool, filter: &str) -> Self {
        RankKey {
            sort,
            desc,
            filter: filter.trim().to_ascii_uppercase(),
        }
    }

    /// Whether the order moves with prices (then it is ranked again every tick).
    pub(crate) fn moves(&self) -> bool {
        !matches!(self.sort, SortKey::Listing | SortKey::Symbol)
    }
}

/// The universe in one order at one tick.
#[derive(Debug)]
pub(crate) struct Ranking {
    pub(crate) epoch: Epoch,
    pub(crate) n: TickNo,
    /// Symbols listed when it was taken.
    pub(crate) listed: usize,
    /// Symbol indices (catalog order), ranked; only those that match the filter.
    pub(crate) order: Vec<u32>,
}

impl Ranking {
    /// Rows `offset .. offset + limit` (fewer at the end).
    pub(crate) fn window(&self, offset: usize, limit: usize) -> &[u32] {
        let start = offset.min(self.order.len());
        let end = offset.saturating_add(limit).min(self.order.len());
        &self.order[start..end]
    }
}

/// The value a quote is ranked by (`None` for orders that are not by a price).
fn value(sort: SortKey, q: &Quote) -> f64 {
    match sort {
        SortKey::Listing | SortKey::Symbol => 0.0,
        SortKey::Bid => q.bid,
        SortKey::Ask => q.ask,
        SortKey::Last => q.last,
        SortKey::Change => q.change(),
        SortKey::ChangePct => q.change_pct(),
        SortKey::Volume => q.volume as f64,
    }
}

/// Whether `symbol` contains `filter` (upper case), ignoring case.
fn matches(symbol: &str, filter: &str) -> bool {
    filter.is_empty()
        || symbol
            .as_bytes()
            .windows(filter.len())
            .any(|w| w.eq_ignore_ascii_case(filter.as_bytes()))
}

/// Ranks `hub`'s state now by `key`.
pub(crate) fn rank(hub: &Hub, key: &RankKey) -> Ranking {
    // Under the lock: only what the sort needs.
    let (epoch, n, catalog, mut keyed) = hub.read(|state, epoch, n, _| {
        let catalog = hub.catalog();
        let keyed: Vec<(f64, u32)> = state
            .quotes()
            .iter()
            .enumerate()
            .filter(|(_, q)| matches(&q.symbol, &key.filter))
            .map(|(i, q)| (value(key.sort, q), i as u32))
            .collect();
        (epoch, n, catalog, keyed)
    });
    sort(&catalog, key, &mut keyed);
    Ranking {
        epoch,
        n,
        listed: catalog.symbols().len(),
        order: keyed.into_iter().map(|(_, i)| i).collect(),
    }
}

/// Sorts `(value, symbol index)` pairs as `key` says; ties by listing order.
fn sort(catalog: &Catalog, key: &RankKey, keyed: &mut [(f64, u32)]) {
    let symbols = catalog.symbols();
    match (key.sort, key.desc) {
        (SortKey::Listing, false) => {}
        (SortKey::Listing, true) => keyed.reverse(),
        (SortKey::Symbol, desc) => keyed.sort_unstable_by(|a, b| {
            let order = symbols[a.1 as usize].cmp(&symbols[b.1 as usize]);
            if desc {
                order.reverse()
            } else {
                order
            }
        }),
        (_, desc) => keyed.sort_unstable_by(|a, b| {
            let order = a.0.total_cmp(&b.0);
            (if desc { order.reverse() } else { order }).then(a.1.cmp(&b.1))
        }),
    }
}

/// Keys kept at most; beyond, the least recently used go (filters typed letter by letter
/// leave many behind).
const KEEP: usize = 256;

struct Cached {
    ranking: Arc<Ranking>,
    /// The tick it was last asked for at.
    used: TickNo,
}

/// The rankings views ask for, each computed once per tick (or per listing, for orders that
/// do not move with prices) and shared.
#[derive(Default)]
pub(crate) struct Rankings {
    cache: Mutex<HashMap<RankKey, Cached>>,
}

impl Rankings {
    /// The ranking by `key` of the hub's current state.
    pub(crate) fn get(&self, hub: &Hub, key: &RankKey) -> Arc<Ranking> {
        let (epoch, n, listed) = (hub.epoch(), hub.n(), hub.catalog().symbols().len());
        let fresh =
            |r: &Ranking| r.epoch == epoch && r.listed == listed && (r.n == n || !key.moves());
        {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = cache.get_mut(key).filter(|c| fresh(&c.ranking)) {
                c.used = n;
                return c.ranking.clone();
            }
        }
        // Outside the map's lock: a sort does not hold up views of other keys. Two views of
        // the same key in the same tick may both sort; the second result replaces the first.
        let ranking = Arc::new(rank(hub, key));
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= KEEP && !cache.contains_key(key) {
            let oldest = cache
                .iter()
                .min_by_key(|(_, c)| c.used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                cache.remove(&k);
            }
        }
        cache.insert(
            key.clone(),
            Cached {
                ranking: ranking.clone(),
                used: n,
            },
        );
        ranking
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Event;
    use crate::server::feed::fixtures::{self, publish, quote};
    use proptest::prelude::*;

    fn symbols(hub: &Hub, order: &[u32]) -> Vec<String> {
        let catalog = hub.catalog();
        order
            .iter()
            .map(|&i| catalog.symbols()[i as usize].clone())
            .collect()
    }

    /// The reference: every quote, filtered and sorted the plain way.
    fn brute_force(quotes: &[Quote], key: &RankKey) -> Vec<String> {
        let mut rows: Vec<(usize, &Quote)> = quotes
            .iter()
            .enumerate()
            .filter(|(_, q)| q.symbol.to_uppercase().contains(&key.filter))
            .collect();
        rows.sort_by(|(ia, a), (ib, b)| {
            let order = match key.sort {
                SortKey::Listing => std::cmp::Ordering::Equal,
                SortKey::Symbol => a.symbol.cmp(&b.symbol),
                sort => value(sort, a).total_cmp(&value(sort, b)),
            };
            let order = if key.desc { order.reverse() } else { order };
            match key.sort {
                SortKey::Listing if key.desc => ib.cmp(ia),
                _ => order.then(ia.cmp(ib)),
            }
        });
        rows.into_iter().map(|(_, q)| q.symbol.clone()).collect()
    }

    const SORTS: [SortKey; 8] = [
        SortKey::Listing,
        SortKey::Symbol,
        SortKey::Bid,
        SortKey::Ask,
        SortKey::Last,
        SortKey::Change,
        SortKey::ChangePct,
        SortKey::Volume,
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn a_ranking_is_the_brute_force_order_of_the_whole_universe(
            lasts in prop::collection::vec((1u32..500, 0u32..5, 0u64..4), 0..120),
            sort in 0usize..8,
            desc in any::<bool>(),
            filter in "[A-Za-z]{0,2}",
        ) {
            let names: Vec<String> = (0..lasts.len())
                .map(|i| format!("{}{}", ["AB", "BA", "CA", "AAB"][i % 4], i))
                .collect();
            let start: Vec<(&str, f64)> = names.iter().map(|n| (n.as_str(), 10.0)).collect();
            let hub = fixtures::hub(&start, 8);
            let events = lasts
                .iter()
                .zip(&names)
                .map(|((cents, open, vol), name)| {
                    let mut q = quote(name, f64::from(*cents) / 10.0);
                    q.open = f64::from(*open + 1);
                    q.volume = *vol * 100;
                    Event::Quote(q)
                })
                .collect();
            publish(&hub, events);
            let key = RankKey::new(SORTS[sort], desc, &filter);
            let ranking = rank(&hub, &key);
            let quotes = hub.read(|state, _, _, _| state.quotes().to_vec());
            prop_assert_eq!(symbols(&hub, &ranking.order), brute_force(&quotes, &key));
        }
    }

    #[test]
    fn one_ranking_per_tick_is_shared_and_static_orders_wait_for_listings() {
        let hub = fixtures::hub(&[("A", 1.0), ("B", 2.0)], 8);
        let rankings = Rankings::default();
        let by_pct = RankKey::new(SortKey::ChangePct, true, "");
        let first = rankings.get(&hub, &by_pct);
        assert!(
            Arc::ptr_eq(&first, &rankings.get(&hub, &by_pct)),
            "shared within a tick"
        );
        let by_symbol = RankKey::new(SortKey::Symbol, false, "");
        let static_one = rankings.get(&hub, &by_symbol);
        publish(&hub, vec![Event::Quote(quote("A", 3.0))]);
        assert!(
            !Arc::ptr_eq(&first, &rankings.get(&hub, &by_pct)),
            "ranked again"
        );
        assert!(
            Arc::ptr_eq(&static_one, &rankings.get(&hub, &by_symbol)),
            "a price does not move a symbol order"
        );
        assert_eq!(rankings.get(&hub, &by_pct).order, vec![0, 1]);
        assert_eq!(first.window(1, 5), &[0][..]);
        assert!(first.window(7, 5).is_empty());
    }
}
