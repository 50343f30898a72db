//! A connection's views: windows of the ranked universe, kept current as prices move.
//!
//! A client shows a window of the market (the rows on its screen and a few either side), in
//! the order it chose, over every symbol the server lists. Each view is a window
//! `offset .. offset + limit` of a shared ranking ([`Rankings`]); the connection is subscribed
//! to the quotes of exactly the rows its views hold, whatever the universe, so its traffic
//! grows with what it shows, not with the market. Every time the views change (a request, or
//! a new ranking that moves the window's rows) this says what to tell the client (a
//! [`ServerMsg::Rows`] per changed view) and which quote channels join or leave the union of
//! all views; the session opens the joiners (a snapshot, or a replay from a position) and
//! closes the leavers that nothing else holds.
//!
//! A held view (the user points at its rows) keeps its rows and order; its quotes stay live.

use super::channel_sets::ChannelSet;
use crate::protocol::{ErrorCode, Resume, ServerMsg, SnapshotReason, Sparkline, ViewSpec};
use crate::server::feed::catalog::{Catalog, ChannelId};
use crate::server::feed::hub::{Hub, Start};
use crate::server::feed::ranking::{RankKey, Rankings};
use crate::server::feed::tick::TickNo;
use std::collections::{BTreeMap, BTreeSet};

/// Rows one view may hold.
pub(crate) const MAX_VIEW_ROWS: usize = 500;
/// Views one connection may hold.
pub(crate) const MAX_VIEWS: usize = 4;
/// The longest filter text.
pub(crate) const MAX_FILTER: usize = 16;

/// One view and what the client was last told of it.
struct View {
    spec: ViewSpec,
    key: RankKey,
    /// The window's rows (symbol indices), in order, as last sent.
    rows: Vec<u32>,
    total: usize,
    n: TickNo,
}

/// What a change of the views means for the connection.
#[derive(Debug, Default)]
pub(crate) struct Change {
    /// A `rows` message for each view whose window changed, to send before the joiners'
    /// snapshot.
    pub(crate) rows: Vec<ServerMsg>,
    /// Quote channels now in some view that were in none.
    pub(crate) join: Vec<ChannelId>,
    /// Quote channels in no view any more.
    pub(crate) leave: Vec<ChannelId>,
}

impl Change {
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.join.is_empty() && self.leave.is_empty()
    }

    /// What the connection does about it: the channels to close (left every view, and not
    /// subscribed on their own: `explicit`), the messages, and the channels to open (joined a
    /// view, and not streaming already), each resumed from its position in `resume` or
    /// started with a snapshot.
    pub(crate) fn plan(
        self,
        explicit: &ChannelSet,
        streaming: &ChannelSet,
        resume: Option<&Resume>,
        catalog: &Catalog,
    ) -> Plan {
        let close = self
            .leave
            .into_iter()
            .filter(|&c| !explicit.contains(c))
            .collect();
        let open = self
            .join
            .into_iter()
            .filter(|&c| !streaming.contains(c))
            .map(|c| {
                let from = resume.and_then(|r| {
                    r.from
                        .get(&catalog.channel(c))
                        .map(|&seq| (r.epoch, seq, r.latest))
                });
                let start = match from {
                    Some((epoch, seq, latest)) => {
                        Start::resume(epoch, seq, latest, Catalog::kind(c).0)
                    }
                    None => Start::Snapshot(SnapshotReason::Subscribed),
                };
                (c, start)
            })
            .collect();
        Plan {
            rows: self.rows,
            close,
            open,
        }
    }
}

/// A change of the views as the connection carries it out, in this order: close, send the
/// rows, open.
pub(crate) struct Plan {
    pub(crate) close: Vec<ChannelId>,
    pub(crate) rows: Vec<ServerMsg>,
    pub(crate) open: Vec<(ChannelId, Start)>,
}

impl Plan {
    /// Only the order of some window moved: the stream itself stays as it is.
    pub(crate) fn only_rows(&self) -> bool {
        self.close.is_empty() && self.open.is_empty()
    }
}

/// A connection's views, by the number the client gave each.
#[derive(Default)]
pub(crate) struct Views {
    views: BTreeMap<u32, View>,
}

impl Views {
    pub(crate) fn is_empty(&self) -> bool {
        self.views.is_empty()
    }

    /// Whether some view holds channel `id`.
    pub(crate) fn holds(&self, id: ChannelId) -> bool {
        let (_, symbol) = Catalog::kind(id);
        id == Catalog::quotes(symbol) && self.views.values().any(|v| v.rows.contains(&symbol))
    }

    /// Rows view `id` holds now (0 if there is no such view).
    pub(crate) fn rows_of(&self, id: u32) -> usize {
        self.views.get(&id).map_or(0, |v| v.rows.len())
    }

    /// Rows held by all views (each quote channel once).
    pub(crate) fn channels(&self) -> BTreeSet<ChannelId> {
        self.views
            .values()
            .flat_map(|v| v.rows.iter().map(|&s| Catalog::quotes(s)))
            .collect()
    }

    /// Whether the server serves `spec` as view `id` (the limits say what they mean).
    pub(crate) fn check(&self, id: u32, spec: &ViewSpec) -> Result<(), (ErrorCode, String)> {
        let refuse = |message: String| Err((ErrorCode::BadView, message));
        if spec.limit as usize > MAX_VIEW_ROWS {
            return refuse(format!(
                "a view holds at most {MAX_VIEW_ROWS} rows; this one asked for {}",
                spec.limit
            ));
        }
        if spec.filter.chars().count() > MAX_FILTER {
            return refuse(format!("a filter is at most {MAX_FILTER} characters"));
        }
        if !self.views.contains_key(&id) && self.views.len() >= MAX_VIEWS {
            return refuse(format!(
                "a connection holds at most {MAX_VIEWS} views; close one first"
            ));
        }
        Ok(())
    }

    /// Opens view `id` with `spec`, or changes it.
    pub(crate) fn set(
        &mut self,
        id: u32,
        spec: ViewSpec,
        rankings: &Rankings,
        hub: &Hub,
    ) -> Change {
        let before = self.channels();
        // The rows the client already has (and their sparklines).
        let shown = self.views.remove(&id).map(|v| v.rows).unwrap_or_default();
        let mut view = View {
            key: RankKey::new(spec.sort, spec.desc, &spec.filter),
            spec,
            rows: shown,
            total: 0,
            n: 0,
        };
        let rows = window(id, &mut view, rankings, hub, true);
        self.views.insert(id, view);
        self.diff(before, rows.into_iter().collect())
    }

    /// Closes view `id` (nothing when there is none).
    pub(crate) fn close(&mut self, id: u32) -> Change {
        let before = self.channels();
        self.views.remove(&id);
        self.diff(before, Vec::new())
    }

    /// Follows the rankings: every view that is not held and whose window moved gets its new
    /// rows.
    pub(crate) fn refresh(&mut self, rankings: &Rankings, hub: &Hub) -> Change {
        let before = self.channels();
        let mut rows = Vec::new();
        for (&id, view) in self.views.iter_mut() {
            if view.spec.hold {
                continue;
            }
            rows.extend(window(id, view, rankings, hub, false));
        }
        self.diff(before, rows)
    }

    /// The change from `before` to the current union of rows.
    fn diff(&self, before: BTreeSet<ChannelId>, rows: Vec<ServerMsg>) -> Change {
        let after = self.channels();
        Change {
            rows,
            join: after.difference(&before).copied().collect(),
            leave: before.difference(&after).copied().collect(),
        }
    }
}

/// Takes view `id`'s window from its ranking now; its `rows` message when the window differs
/// from what was sent, or always when `force`.
fn window(
    id: u32,
    view: &mut View,
    rankings: &Rankings,
    hub: &Hub,
    force: bool,
) -> Option<ServerMsg> {
    let ranking = rankings.get(hub, &view.key);
    let rows = ranking.window(view.spec.offset as usize, view.spec.limit as usize);
    if !force && rows == view.rows.as_slice() && ranking.order.len() == view.total {
        return None;
    }
    // Rows new to the window bring their sparklines (one lock for all of them).
    let mut had = view.rows.clone();
    had.sort_unstable();
    let new: Vec<u32> = rows
        .iter()
        .copied()
        .filter(|s| had.binary_search(s).is_err())
        .collect();
    let catalog = hub.catalog();
    let sparks = if new.is_empty() {
        BTreeMap::new()
    } else {
        new.iter()
            .zip(hub.sparks_of(&new))
            .map(|(&s, spark)| (catalog.symbols()[s as usize].clone(), Sparkline(spark)))
            .collect()
    };
    view.rows = rows.to_vec();
    view.total = ranking.order.len();
    view.n = ranking.n;
    Some(ServerMsg::Rows {
        view: id,
        n: ranking.n,
        total: view.total as u32,
        offset: view.spec.offset,
        symbols: view
            .rows
            .iter()
            .map(|&s| catalog.symbols()[s as usize].clone())
            .collect(),
        sparks,
    })
}
