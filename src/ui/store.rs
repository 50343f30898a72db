//! The dashboard's reactive state: one signal per thing on screen that can change.
//!
//! The server builds it from the hub's snapshot to render the page; the browser builds the same
//! thing from the [`PageState`] embedded in that page, then applies the feed to it. Rows are
//! created once per symbol and per board slot; an update sets only the signals whose value
//! differs, so only those cells' text nodes are touched and the table is never re-rendered.
//!
//! The dashboard holds only what it shows: the grid's window of the universe (the server's
//! `view`), the watchlist, the selected symbol, the scores and the breadth. A quote row exists
//! while something shows it; when the last thing that showed it lets go (it scrolled out of the
//! window and is not watched or selected), the row and its position go, so nothing shows a
//! quote that no longer streams.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::{
    Batch, Breadth, Candle, Channel, Data, Epoch, Game, Interval, League, Quote, Resume, Seq,
    Snapshot, SortKey, Sparkline, Trade,
};
use crate::ui::alerts::{Alerts, Fired, Price, Tone};
use crate::ui::chart_view::ChartView;
use crate::ui::follow::Follow;
use crate::ui::grid::Grid;
use crate::ui::lists::Lists;
use crate::ui::page_state::PageState;
use crate::ui::rows::{pct, set_if_changed, GameRow, QuoteRow};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Sparkline samples kept per row (one every `SPARK_STEP_SECS` of server time).
pub(crate) const SPARK_POINTS: usize = 30;
pub(crate) const SPARK_STEP_SECS: i64 = 2;
/// Candles the page keeps for the chart to pan over (older ones come from the server).
pub(crate) const CANDLES_KEPT: usize = 900;
/// Trades the detail panel lists.
pub(crate) const TAPE_TRADES: usize = 20;
/// A watched symbol's day change crossing this (in percent, either way) is announced.
pub(crate) const ALERT_PCT: f64 = 1.0;
/// The grid's view, by the number the protocol gives it.
pub(crate) const GRID_VIEW: u32 = 1;

/// The state of the connection to the feed, as the status pill shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Link {
    /// Page rendered, socket not yet open (also the server-rendered state).
    Connecting,
    /// Connected; resuming or loading snapshots, not yet streaming every channel.
    Recovering,
    /// Receiving the stream.
    Live,
    /// Connected and the server answers, but no data has arrived for a while.
    Stale,
    /// The socket closed; the next attempt starts at `retry_at` (in the dashboard's clock).
    Reconnecting {
        attempt: u32,
        retry_at: DateTime<Utc>,
    },
}

/// An update that does not follow the last one applied on its channel: data was lost, and the
/// channel must be resumed from `expected - 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Gap {
    pub(crate) channel: Channel,
    pub(crate) expected: Seq,
    pub(crate) got: Seq,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Theme {
    System,
    Dark,
    Light,
}

/// The symbol in the detail panel and what it shows.
#[derive(Clone, Copy)]
pub(crate) struct Detail {
    pub(crate) symbol: RwSignal<String>,
    pub(crate) interval: RwSignal<Interval>,
    pub(crate) candles: RwSignal<Vec<Candle>>,
    pub(crate) trades: RwSignal<Vec<Trade>>,
    /// How the chart shows them.
    pub(crate) chart: ChartView,
}

impl Detail {
    /// The feed channels the panel needs: the chart's candles, the trades, and the quote.
    pub(crate) fn channels(&self) -> [Channel; 3] {
        let symbol = self.symbol.get_untracked();
        [
            Channel::Candles(symbol.clone(), self.interval.get_untracked()),
            Channel::Trades(symbol.clone()),
            Channel::Quotes(symbol),
        ]
    }
}

/// What the user chose; persisted in the browser.
#[derive(Clone, Copy)]
pub(crate) struct Prefs {
    pub(crate) watch: RwSignal<BTreeSet<String>>,
    pub(crate) theme: RwSignal<Theme>,
    /// Alerts on: the user's rules, watched symbols crossing ±ALERT_PCT, and followed
    /// teams' games raise toasts (and what else the user turned on).
    pub(crate) alerts_on: RwSignal<bool>,
    /// Times in UTC rather than the browser's time zone.
    pub(crate) utc: RwSignal<bool>,
}

/// Why the server turned something down or closed the connection, for the status bar: a
/// page that reconnects always says why.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Notice {
    pub(crate) text: String,
    pub(crate) at: DateTime<Utc>,
}

/// Everything the view reads. `Copy`: it is a bundle of signal handles.
#[derive(Clone, Copy)]
pub(crate) struct Dashboard {
    /// Every quote row the page holds, by symbol.
    index: RwSignal<HashMap<Arc<str>, QuoteRow>>,
    pub(crate) grid: Grid,
    pub(crate) games: RwSignal<Vec<GameRow>>,
    pub(crate) breadth: RwSignal<Breadth>,
    pub(crate) detail: Detail,
    pub(crate) prefs: Prefs,
    pub(crate) alerts: Alerts,
    pub(crate) follow: Follow,
    pub(crate) lists: Lists,
    /// The page is hidden and lets go of everything but what its alerts need (see
    /// `browser::background`).
    pub(crate) background: RwSignal<bool>,
    pub(crate) link: RwSignal<Link>,
    /// The feed comes over Server-Sent Events (WebSockets are blocked on the way).
    pub(crate) via_sse: RwSignal<bool>,
    /// The last refusal or close reason the server gave.
    pub(crate) notice: RwSignal<Option<Notice>>,
    pub(crate) epoch: RwSignal<Epoch>,
    /// The last seq applied on each channel: where to resume after a reconnect.
    positions: StoredValue<BTreeMap<Channel, Seq>>,
    /// Updates applied since the page loaded.
    pub(crate) updates: RwSignal<u64>,
    /// Gaps seen (each one is repaired by resuming the channel).
    pub(crate) gaps: RwSignal<u64>,
    /// Updates per second over the last second.
    pub(crate) rate: RwSignal<u64>,
    /// Publish-to-apply delay of the last batch, in milliseconds.
    pub(crate) latency_ms: RwSignal<Option<f64>>,
    /// While paused, the view is frozen; `buffered` counts the updates waiting.
    pub(crate) paused: RwSignal<bool>,
    pub(crate) buffered: RwSignal<u64>,
    /// Server time of the last data applied.
    pub(crate) updated: RwSignal<DateTime<Utc>>,
    /// The browser's running estimate of server time (ticks locally between messages).
    pub(crate) now: RwSignal<DateTime<Utc>>,
    /// The text of the accessible live region, and what waits to be said.
    pub(crate) announcement: RwSignal<String>,
    pending: StoredValue<Vec<String>>,
}

impl Dashboard {
    /// The dashboard for the page's state (on both server and browser).
    pub(crate) fn new(page: &PageState) -> Self {
        let mut sparks = page.sparks.iter();
        let mut index = HashMap::new();
        for state in &page.snapshot.channels {
            if let Data::Quote(q) = &state.data {
                let row = QuoteRow::new(q, sparks.next().cloned().unwrap_or_default());
                index.insert(row.symbol.clone(), row);
            }
        }
        let order: Vec<QuoteRow> = page
            .rows
            .iter()
            .map(|s| {
                index
                    .get(s.as_str())
                    .cloned()
                    .unwrap_or_else(|| QuoteRow::pending(s))
            })
            .collect();
        let dash = Dashboard {
            index: RwSignal::new(index),
            grid: Grid::new(page.view.clone(), page.total, page.universe, order),
            games: RwSignal::new(Vec::new()),
            breadth: RwSignal::new(Breadth::default()),
            detail: Detail {
                symbol: RwSignal::new(page.selected.clone()),
                interval: RwSignal::new(page.interval.unwrap_or(Interval::OneSecond)),
                candles: RwSignal::new(Vec::new()),
                trades: RwSignal::new(Vec::new()),
                chart: ChartView::new(),
            },
            prefs: Prefs {
                watch: RwSignal::new(BTreeSet::new()),
                theme: RwSignal::new(Theme::System),
                alerts_on: RwSignal::new(false),
                utc: RwSignal::new(false),
            },
            alerts: Alerts::new(),
            follow: Follow::new(),
            lists: Lists::new(),
            background: RwSignal::new(false),
            link: RwSignal::new(Link::Connecting),
            via_sse: RwSignal::new(false),
            notice: RwSignal::new(None),
            epoch: RwSignal::new(page.snapshot.epoch),
            positions: StoredValue::new(BTreeMap::new()),
            updates: RwSignal::new(0),
            gaps: RwSignal::new(0),
            rate: RwSignal::new(0),
            latency_ms: RwSignal::new(None),
            paused: RwSignal::new(false),
            buffered: RwSignal::new(0),
            updated: RwSignal::new(page.snapshot.ts),
            now: RwSignal::new(page.snapshot.ts),
            announcement: RwSignal::new(String::new()),
            pending: StoredValue::new(Vec::new()),
        };
        if let Some((name, symbols)) = &page.list {
            // A link to a watchlist only: the page shows it from the first paint (the
            // browser's own lists are merged in when its choices are restored).
            dash.lists.lists.set(vec![crate::ui::lists::WatchList {
                name: name.clone(),
                symbols: symbols.clone(),
            }]);
            dash.lists.current.set(name.clone());
            dash.lists.only.set(true);
            dash.prefs.watch.set(symbols.iter().cloned().collect());
        }
        dash.apply_snapshot(page.snapshot.clone());
        dash
    }

    /// The row of `symbol`, if the page holds it (reactive: a view that shows it follows its
    /// coming and going).
    pub(crate) fn row(&self, symbol: &str) -> Option<QuoteRow> {
        self.index.with(|i| i.get(symbol).cloned())
    }

    /// Every row the page holds (for sampling sparklines).
    fn all_rows(&self) -> Vec<QuoteRow> {
        self.index.with_untracked(|i| i.values().cloned().collect())
    }

    /// The channels this dashboard subscribes to itself (the grid's view holds its rows):
    /// every league's scores, the breadth, the detail panel's channels and the watchlist's
    /// quotes.
    pub(crate) fn channels(&self) -> Vec<Channel> {
        self.channel_groups().into_iter().flatten().collect()
    }

    /// [`Dashboard::channels`] in four groups that are subscribed apart, so that a symbol
    /// the server does not list (a saved selection, an old star or alert) refuses only its own
    /// group: the board (scores, breadth), the detail panel, the watchlist, the alerts' symbols.
    ///
    /// In the background (a hidden page) only what alerts need: the scores of leagues with a
    /// followed team, the watchlist (its ±ALERT_PCT moves) and the alerts' symbols; nothing
    /// at all with alerts off.
    pub(crate) fn channel_groups(&self) -> [Vec<Channel>; 4] {
        let background = self.background.get_untracked();
        let alerting = self.prefs.alerts_on.get_untracked();
        let detail = if background {
            String::new()
        } else {
            self.detail.symbol.get_untracked()
        };
        let quotes = |symbols: Vec<String>, skip: &BTreeSet<String>| -> Vec<Channel> {
            symbols
                .into_iter()
                .filter(|s| *s != detail && !skip.contains(s))
                .map(Channel::Quotes)
                .collect()
        };
        if background && !alerting {
            return Default::default();
        }
        let board: Vec<Channel> = if background {
            self.follow
                .alert_leagues()
                .into_iter()
                .map(Channel::Scores)
                .collect()
        } else {
            League::ALL
                .into_iter()
                .map(Channel::Scores)
                .chain([Channel::Breadth])
                .collect()
        };
        let watched = self.prefs.watch.get_untracked();
        let watch = quotes(watched.iter().cloned().collect(), &BTreeSet::new());
        let alerts = if alerting {
            quotes(self.alerts.symbols(), &watched)
        } else {
            Vec::new()
        };
        let detail = if detail.is_empty() {
            Vec::new()
        } else {
            self.detail.channels().to_vec()
        };
        [board, detail, watch, alerts]
    }

    /// Whether the dashboard subscribes to `symbol`'s quotes itself (watched, selected, or
    /// with an alert).
    fn subscribes(&self, symbol: &str) -> bool {
        self.detail.symbol.with_untracked(|s| s == symbol)
            || self.prefs.watch.with_untracked(|w| w.contains(symbol))
            || self.alerts.watches(symbol)
    }

    /// Whether the grid's window holds `symbol`.
    fn in_window(&self, symbol: &str) -> bool {
        self.grid
            .order
            .with_untracked(|o| o.iter().any(|r| &*r.symbol == symbol))
    }

    /// Where to resume: the epoch and the last seq applied on every channel.
    pub(crate) fn resume(&self) -> Resume {
        Resume {
            epoch: self.epoch.get_untracked(),
            from: self.positions.get_value(),
            latest: false,
        }
    }

    /// Forgets a quote nothing shows any more: its row and its position.
    fn forget_quote(&self, symbol: &str) {
        if self.subscribes(symbol) || self.in_window(symbol) {
            return;
        }
        self.index.update(|i| {
            i.remove(symbol);
        });
        self.positions.update_value(|p| {
            p.remove(&Channel::Quotes(symbol.to_string()));
        });
    }

    /// Stops showing channels the dashboard subscribed to itself (a quote the grid still shows
    /// keeps streaming through the view).
    pub(crate) fn release(&self, channels: &[Channel]) {
        for c in channels {
            match c {
                Channel::Quotes(symbol) => self.forget_quote(symbol),
                other => self.positions.update_value(|p| {
                    p.remove(other);
                }),
            }
        }
    }

    /// Shows another symbol or interval in the detail panel. Returns the channels to drop and
    /// to subscribe (the panel is empty until their snapshot arrives).
    pub(crate) fn select(
        &self,
        symbol: String,
        interval: Interval,
    ) -> ([Channel; 3], [Channel; 3]) {
        let old = self.detail.channels();
        self.detail.symbol.set(symbol);
        self.detail.interval.set(interval);
        self.detail.candles.set(Vec::new());
        self.detail.trades.set(Vec::new());
        self.detail.chart.reset();
        self.release(&old);
        (old, self.detail.channels())
    }

    /// Sorts the grid by `sort` (again: the other way), back at its first row.
    pub(crate) fn sort_by(&self, sort: SortKey) {
        self.grid.spec.update(|spec| {
            if spec.sort == sort {
                spec.desc = !spec.desc;
            } else {
                spec.sort = sort;
                spec.desc = !matches!(sort, SortKey::Symbol | SortKey::Listing);
            }
            spec.offset = 0;
        });
    }

    /// Filters the grid by `text`, back at its first row.
    pub(crate) fn filter_by(&self, text: String) {
        self.grid.spec.update(|spec| {
            spec.filter = text;
            spec.offset = 0;
        });
    }

    /// A view's window as the server sent it: the grid's rows in order (a row whose quote has
    /// not arrived yet waits for its snapshot); rows that left it are forgotten unless
    /// something else shows them.
    pub(crate) fn apply_rows(
        &self,
        view: u32,
        total: u32,
        offset: u32,
        symbols: Vec<String>,
        mut sparks: BTreeMap<String, Sparkline>,
    ) {
        if view != GRID_VIEW || self.lists.only.get_untracked() {
            // A late window after the grid switched to the watchlist only.
            return;
        }
        let mut created = Vec::new();
        let order: Vec<QuoteRow> = symbols
            .iter()
            .map(|s| {
                let spark = sparks.remove(s.as_str());
                let row = self.index.with_untracked(|i| i.get(s.as_str()).cloned());
                match row {
                    Some(row) => {
                        // A row the page holds keeps its own sparkline unless it had none.
                        if let Some(spark) = spark {
                            if row.spark.with_untracked(|p| p.len() < 2) {
                                row.spark.set(spark.0);
                            }
                        }
                        row
                    }
                    None => {
                        let row = QuoteRow::pending(s);
                        if let Some(spark) = spark {
                            row.spark.set(spark.0);
                        }
                        created.push(row.clone());
                        row
                    }
                }
            })
            .collect();
        if !created.is_empty() {
            self.index.update(|i| {
                for row in created {
                    i.insert(row.symbol.clone(), row);
                }
            });
        }
        let before = self.grid.order.get_untracked();
        set_if_changed(self.grid.total, total);
        set_if_changed(self.grid.offset, offset);
        self.grid.order.set(order);
        for row in before {
            self.forget_quote(&row.symbol);
        }
    }

    /// Replaces the state of every channel the snapshot lists and continues from its seqs.
    pub(crate) fn apply_snapshot(&self, snapshot: Snapshot) {
        set_if_changed(self.epoch, snapshot.epoch);
        for state in snapshot.channels {
            if !self.wants(&state.channel) {
                continue;
            }
            self.apply_data(&state.channel, state.data, true);
            self.positions.update_value(|p| {
                p.insert(state.channel, state.seq);
            });
        }
        self.updated.set(snapshot.ts);
    }

    /// Applies every update that follows the last one applied on its channel; returns the
    /// gaps (updates that do not follow), which are not applied.
    pub(crate) fn apply_batch(&self, batch: Batch) -> Vec<Gap> {
        let mut gaps = Vec::new();
        let mut applied = 0;
        for update in batch.updates {
            let last = self
                .positions
                .with_value(|p| p.get(&update.channel).copied());
            let Some(last) = last else {
                // Not a channel we hold (e.g. just unsubscribed): ignore.
                continue;
            };
            if update.seq == last + 1 {
                self.apply_data(&update.channel, update.data, false);
                self.positions.update_value(|p| {
                    p.insert(update.channel, update.seq);
                });
                applied += 1;
            } else if update.seq > last + 1 {
                gaps.push(Gap {
                    channel: update.channel,
                    expected: last + 1,
                    got: update.seq,
                });
            }
            // update.seq <= last: already applied (from a snapshot or replay); skip.
        }
        if applied > 0 {
            self.updates.update(|n| *n += applied);
            self.updated.set(batch.ts);
        }
        if !gaps.is_empty() {
            self.gaps.update(|n| *n += gaps.len() as u64);
        }
        gaps
    }

    /// What the dashboard takes: candles and trades only of the detail panel's current
    /// channels, quotes only of rows something shows (a late message for a previous selection
    /// or a row that left the window is dropped).
    fn wants(&self, channel: &Channel) -> bool {
        match channel {
            Channel::Candles(..) | Channel::Trades(_) => self.detail.channels().contains(channel),
            Channel::Quotes(symbol) => {
                self.subscribes(symbol)
                    || self
                        .index
                        .with_untracked(|i| i.contains_key(symbol.as_str()))
            }
            _ => true,
        }
    }

    fn apply_data(&self, channel: &Channel, data: Data, whole: bool) {
        if !self.wants(channel) {
            return;
        }
        match data {
            Data::Quote(q) => self.apply_quote(q),
            Data::Games(games) => {
                for g in games {
                    self.apply_game(g);
                }
            }
            Data::Breadth(b) => set_if_changed(self.breadth, b),
            Data::Candles(candles) => self.detail.candles.update(|v| {
                if whole {
                    v.clear();
                }
                for c in candles {
                    match v.iter().rposition(|old| old.start == c.start) {
                        Some(i) => v[i] = c,
                        None => v.push(c),
                    }
                }
                let extra = v.len().saturating_sub(CANDLES_KEPT);
                v.drain(..extra);
            }),
            Data::Trades(trades) => self.detail.trades.update(|v| {
                if whole {
                    v.clear();
                }
                v.extend(trades);
                let extra = v.len().saturating_sub(TAPE_TRADES);
                v.drain(..extra);
            }),
        }
    }

    fn apply_quote(&self, q: Quote) {
        let row = self
            .index
            .with_untracked(|i| i.get(q.symbol.as_str()).cloned());
        let Some(row) = row else {
            // A quote the dashboard subscribed to itself (watched, selected): its first.
            let row = QuoteRow::new(&q, Vec::new());
            self.index.update(|i| {
                i.insert(row.symbol.clone(), row);
            });
            return;
        };
        if self.prefs.alerts_on.get_untracked() && row.loaded.get_untracked() {
            let before = Price {
                last: row.last.get_untracked(),
                open: row.open.get_untracked(),
            };
            let after = Price {
                last: q.last,
                open: q.open,
            };
            if self
                .prefs
                .watch
                .with_untracked(|w| w.contains(q.symbol.as_str()))
            {
                self.alert_on_move(&q.symbol, before, after);
            }
            for fired in self.alerts.check_quote(&q.symbol, before, after) {
                self.fire(fired);
            }
        }
        row.apply(&q);
    }

    /// A watched symbol crossing ±ALERT_PCT. Zones: beyond +ALERT_PCT, beyond -ALERT_PCT, or
    /// between. Entering an outer zone from elsewhere is news; staying in it is not.
    fn alert_on_move(&self, symbol: &str, before: Price, after: Price) {
        let zone = |p: f64| (p >= ALERT_PCT) as i8 - (p <= -ALERT_PCT) as i8;
        let (was, now) = (pct(before.last, before.open), pct(after.last, after.open));
        if zone(now) != 0 && zone(now) != zone(was) {
            let dir = if now > 0.0 { "up" } else { "down" };
            self.fire(Fired {
                key: format!("watch:{symbol}:{}", zone(now)),
                title: format!("{symbol} {dir} {:.2}%", now.abs()),
                body: format!("Watched, at {}", crate::ui::format::price(after.last)),
                tone: if now > 0.0 { Tone::Up } else { Tone::Down },
            });
        }
    }

    /// Raises an alert (a toast, and what the user turned on) and says it to screen readers,
    /// unless the same alert fired a moment ago.
    fn fire(&self, fired: Fired) {
        let said = format!("{}: {}", fired.title, fired.body);
        if self.alerts.raise(fired, Utc::now()) {
            self.announce(said);
        }
    }

    fn apply_game(&self, game: Game) {
        let existing = self
            .games
            .with_untracked(|games| games.iter().find(|g| g.slot == game.slot).copied());
        match existing {
            Some(row) => {
                let (score_changed, fired) = row.game.with_untracked(|old| {
                    (
                        old.id == game.id
                            && (old.home_score, old.away_score)
                                != (game.home_score, game.away_score),
                        if self.prefs.alerts_on.get_untracked() {
                            self.follow.game_alerts(old, &game)
                        } else {
                            Vec::new()
                        },
                    )
                });
                if score_changed {
                    row.scored.update(|n| *n = n.wrapping_add(1));
                }
                for f in fired {
                    self.fire(f);
                }
                set_if_changed(row.game, game);
            }
            None => self.games.update(|games| {
                games.push(GameRow::new(&game));
                games.sort_by_key(|g| g.slot);
            }),
        }
    }

    /// Queues a message for the live region (see [`Dashboard::next_announcement`]).
    pub(crate) fn announce(&self, message: String) {
        self.pending.update_value(|p| {
            p.push(message);
            // Never a backlog: only the most recent few are worth saying.
            let extra = p.len().saturating_sub(3);
            p.drain(..extra);
        });
    }

    /// Moves the oldest queued message into the live region. The caller throttles.
    pub(crate) fn next_announcement(&self) {
        let next = self.pending.try_update_value(|p| {
            if p.is_empty() {
                None
            } else {
                Some(p.remove(0))
            }
        });
        if let Some(Some(message)) = next {
            self.announcement.set(message);
        }
    }

    /// Appends each row's current price to its sparkline (called every SPARK_STEP_SECS).
    pub(crate) fn sample_sparks(&self) {
        for row in self.all_rows() {
            if !row.loaded.get_untracked() {
                continue;
            }
            let last = row.last.get_untracked();
            row.spark.update(|s| {
                s.push(last);
                let extra = s.len().saturating_sub(SPARK_POINTS);
                s.drain(..extra);
            });
        }
    }

    /// Puts candles older than the chart's first in front of it (fetched from the server as
    /// the reader pans into the past), if they are for what the chart shows now.
    pub(crate) fn prepend_candles(
        &self,
        symbol: &str,
        interval: Interval,
        older: Vec<Candle>,
        complete: bool,
    ) {
        let same = self.detail.symbol.with_untracked(|s| s == symbol)
            && self.detail.interval.get_untracked() == interval;
        if !same {
            return;
        }
        self.detail.candles.update(|v| {
            let first = v.first().map(|c| c.start);
            let older: Vec<Candle> = older
                .into_iter()
                .filter(|c| first.is_none_or(|f| c.start < f))
                .collect();
            // The server keeps a bounded history: this stays bounded too.
            v.splice(0..0, older);
        });
        self.detail.chart.complete.set(complete);
    }

    /// Makes the list `name` current: its symbols are the stars from now on.
    pub(crate) fn switch_list(&self, name: &str) {
        if let Some(symbols) = self.lists.switch(name) {
            crate::ui::rows::set_if_changed(self.prefs.watch, symbols);
        }
    }

    /// The grid shows the current list only: its rows that have arrived, filtered by the
    /// grid's filter and ranked by its column (the listing order is the list's own). Held
    /// while the pointer is over the rows, as the server holds a window.
    pub(crate) fn show_watched(&self) {
        let spec = self.grid.spec.get_untracked();
        if spec.hold && !self.grid.order.with_untracked(Vec::is_empty) {
            return;
        }
        let filter = spec.filter.trim().to_ascii_uppercase();
        let listed = self.lists.current_symbols_in_order();
        let mut rows: Vec<QuoteRow> = self.index.with_untracked(|i| {
            listed
                .iter()
                .filter(|s| filter.is_empty() || s.to_ascii_uppercase().contains(&filter))
                .filter_map(|s| i.get(s.as_str()).cloned())
                .collect()
        });
        let value = |r: &QuoteRow| -> f64 {
            match spec.sort {
                SortKey::Bid => r.bid.get_untracked(),
                SortKey::Ask => r.ask.get_untracked(),
                SortKey::Last => r.last.get_untracked(),
                SortKey::Change => r.last.get_untracked() - r.open.get_untracked(),
                SortKey::ChangePct => pct(r.last.get_untracked(), r.open.get_untracked()),
                SortKey::Volume => r.volume.get_untracked() as f64,
                SortKey::Symbol | SortKey::Listing => 0.0,
            }
        };
        match spec.sort {
            SortKey::Listing => {}
            SortKey::Symbol => rows.sort_by(|a, b| a.symbol.cmp(&b.symbol)),
            _ => rows.sort_by(|a, b| value(a).total_cmp(&value(b)).then(a.symbol.cmp(&b.symbol))),
        }
        if spec.desc {
            rows.reverse();
        }
        set_if_changed(self.grid.total, rows.len() as u32);
        set_if_changed(self.grid.offset, 0);
        if self.grid.order.with_untracked(|o| *o != rows) {
            self.grid.order.set(rows);
        }
    }

    /// The watchlist's rows that have arrived, in symbol order.
    pub(crate) fn watched_rows(&self) -> Vec<QuoteRow> {
        let watch = self.prefs.watch.get();
        self.index.with(|i| {
            watch
                .iter()
                .filter_map(|s| i.get(s.as_str()).cloned())
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{
        ChannelState, GameStatus, SnapshotReason, Team, Update as WireUpdate, ViewSpec,
    };
    use crate::ui::rows::Tick;

    fn quote(symbol: &str, last: f64) -> Quote {
        Quote {
            symbol: symbol.into(),
            bid: last - 0.01,
            ask: last + 0.01,
            last,
            open: 10.0,
            volume: 5,
            ts: Utc::now(),
        }
    }

    fn game(slot: u16, id: u32, home_score: u16, league: League) -> Game {
        let team = |c: &str| Team {
            code: c.into(),
            name: c.into(),
        };
        Game {
            id,
            slot,
            league,
            home: team("AAA"),
            away: team("BBB"),
            home_score,
            away_score: 0,
            period: 1,
            clock_ms: 1000,
            status: GameStatus::Live,
            ts: Utc::now(),
            starts: None,
        }
    }

    fn q(symbol: &str) -> Channel {
        Channel::Quotes(symbol.into())
    }

    fn quote_state(symbol: &str, seq: Seq, last: f64) -> ChannelState {
        ChannelState {
            channel: q(symbol),
            seq,
            data: Data::Quote(quote(symbol, last)),
        }
    }

    /// A page whose grid window holds A and B (of 3,000), with A selected.
    fn page(seq: Seq) -> PageState {
        PageState {
            snapshot: Snapshot {
                epoch: 1,
                ts: Utc::now(),
                reason: Some(SnapshotReason::Page),
                channels: vec![
                    quote_state("A", seq, 10.0),
                    quote_state("B", 3, 20.0),
                    ChannelState {
                        channel: Channel::Scores(League::Hockey),
                        seq: 1,
                        data: Data::Games(vec![game(1, 1, 0, League::Hockey)]),
                    },
                    ChannelState {
                        channel: Channel::Scores(League::Soccer),
                        seq: 1,
                        data: Data::Games(vec![game(0, 5, 0, League::Soccer)]),
                    },
                ],
            },
            tick: 0,
            sparks: vec![vec![9.0, 9.5], vec![]],
            selected: "A".into(),
            interval: None,
            view: ViewSpec {
                limit: 40,
                ..ViewSpec::default()
            },
            rows: vec!["A".into(), "B".into()],
            total: 3_000,
            universe: 3_000,
            list: None,
        }
    }

    fn update(channel: Channel, seq: Seq, data: Data) -> WireUpdate {
        WireUpdate { channel, seq, data }
    }

    fn batch(updates: Vec<WireUpdate>) -> Batch {
        Batch {
            n: 0,
            ts: Utc::now(),
            updates,
        }
    }

    fn order(dash: &Dashboard) -> Vec<String> {
        dash.grid
            .order
            .get_untracked()
            .iter()
            .map(|r| r.symbol.to_string())
            .collect()
    }

    #[test]
    fn updates_apply_in_place_per_channel_and_gaps_are_refused() {
        let owner = Owner::new();
        owner.set();
        let dash = Dashboard::new(&page(5));
        assert_eq!(order(&dash), ["A", "B"]);
        assert_eq!(dash.grid.total.get_untracked(), 3_000);
        let row_a = dash.row("A").unwrap();
        assert_eq!(
            row_a.spark.get_untracked(),
            vec![9.0, 9.5],
            "sparkline from the page"
        );
        let gaps = dash.apply_batch(batch(vec![
            update(q("A"), 6, Data::Quote(quote("A", 10.5))),
            update(q("B"), 4, Data::Quote(quote("B", 19.0))),
            update(
                Channel::Scores(League::Hockey),
                2,
                Data::Games(vec![game(1, 1, 3, League::Hockey)]),
            ),
            // Already applied: skipped, not a gap.
            update(q("B"), 3, Data::Quote(quote("B", 1.0))),
        ]));
        assert!(gaps.is_empty());
        assert_eq!(
            row_a.last.get_untracked(),
            10.5,
            "the same row object was updated"
        );
        assert_eq!(row_a.tick.get_untracked(), Tick::Up);
        assert_eq!(row_a.flash.get_untracked(), 1);
        assert_eq!(dash.row("B").unwrap().last.get_untracked(), 19.0);
        let games = dash.games.get_untracked();
        assert_eq!(
            games.iter().map(|g| g.slot).collect::<Vec<_>>(),
            vec![0, 1],
            "games ordered by slot whatever order the leagues came in"
        );
        assert_eq!(
            games[1].game.get_untracked().home_score,
            3,
            "slot 1 is the hockey game"
        );
        assert_eq!(games[1].scored.get_untracked(), 1);
        assert_eq!(dash.updates.get_untracked(), 3);

        let gaps = dash.apply_batch(batch(vec![update(q("A"), 8, Data::Quote(quote("A", 1.0)))]));
        assert_eq!(
            gaps,
            vec![Gap {
                channel: q("A"),
                expected: 7,
                got: 8
            }]
        );
        assert_eq!(
            row_a.last.get_untracked(),
            10.5,
            "nothing applied from a gap"
        );
        assert_eq!(dash.gaps.get_untracked(), 1);
        assert_eq!(
            dash.resume().from[&q("A")],
            6,
            "resume from the last applied"
        );

        dash.apply_snapshot(page(40).snapshot);
        assert_eq!(dash.resume().from[&q("A")], 40);
        assert_eq!(
            row_a.last.get_untracked(),
            10.0,
            "snapshot resets the row in place"
        );
        assert_eq!(row_a.tick.get_untracked(), Tick::Down);
        // Subscribed by the dashboard itself: the scores, the breadth, the detail panel (A's
        // candles, trades and quote); the grid's rows come through its view.
        assert_eq!(dash.channels().len(), League::ALL.len() + 1 + 3);
    }

    #[test]
    fn rows_that_leave_the_window_are_forgotten_unless_shown_elsewhere() {
        let owner = Owner::new();
        owner.set();
        let dash = Dashboard::new(&page(5));
        dash.prefs.watch.update(|w| {
            w.insert("B".into());
        });
        // The window moves: C and D in, A and B out.
        // C's sparkline comes with it; D came without one.
        let sparks = BTreeMap::from([("C".to_string(), Sparkline(vec![2.5, 2.75]))]);
        dash.apply_rows(GRID_VIEW, 3_000, 2, vec!["C".into(), "D".into()], sparks);
        assert_eq!(order(&dash), ["C", "D"]);
        assert_eq!(dash.row("C").unwrap().spark.get_untracked(), [2.5, 2.75]);
        assert!(dash.row("D").unwrap().spark.get_untracked().is_empty());
        assert_eq!(dash.grid.offset.get_untracked(), 2);
        let c = dash.row("C").unwrap();
        assert!(!c.loaded.get_untracked(), "C waits for its quote");
        assert!(dash.row("A").is_some(), "A is selected: kept");
        assert!(dash.row("B").is_some(), "B is watched: kept");
        // An update before C's snapshot is not applied (no position yet).
        dash.apply_batch(batch(vec![update(q("C"), 2, Data::Quote(quote("C", 3.0)))]));
        assert!(!c.loaded.get_untracked());
        dash.apply_snapshot(Snapshot {
            epoch: 1,
            ts: Utc::now(),
            reason: Some(SnapshotReason::Subscribed),
            channels: vec![quote_state("C", 2, 3.0)],
        });
        assert!(c.loaded.get_untracked());
        assert_eq!(c.last.get_untracked(), 3.0);
        assert_eq!(c.flash.get_untracked(), 0, "a first quote does not flash");
        assert_eq!(
            c.spark.get_untracked(),
            [2.5, 2.75],
            "the sparkline the window brought stays"
        );
        // B unwatched and not in the window: gone, with its position.
        dash.prefs.watch.update(|w| {
            w.remove("B");
        });
        dash.release(&[q("B")]);
        assert!(dash.row("B").is_none());
        assert!(!dash.resume().from.contains_key(&q("B")));
        // A late update for B is dropped, not turned into a row.
        dash.apply_batch(batch(vec![update(q("B"), 4, Data::Quote(quote("B", 1.0)))]));
        assert!(dash.row("B").is_none());
        // D leaves too: nothing shows it.
        dash.apply_rows(GRID_VIEW, 3_000, 2, vec!["C".into()], BTreeMap::new());
        assert!(dash.row("D").is_none());
        // Another view's rows are not the grid's.
        dash.apply_rows(7, 10, 0, vec!["Z".into()], BTreeMap::new());
        assert_eq!(order(&dash), ["C"]);
    }

    #[test]
    fn detail_candles_upsert_and_a_new_selection_drops_the_old_channels() {
        let owner = Owner::new();
        owner.set();
        let dash = Dashboard::new(&page(1));
        let candles = Channel::Candles("A".into(), Interval::OneSecond);
        let candle = |s: i64, close: f64| Candle {
            start: DateTime::from_timestamp(s, 0).unwrap(),
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close,
            volume: 1,
        };
        dash.apply_snapshot(Snapshot {
            epoch: 1,
            ts: Utc::now(),
            reason: Some(SnapshotReason::Subscribed),
            channels: vec![ChannelState {
                channel: candles.clone(),
                seq: 1,
                data: Data::Candles(vec![candle(0, 1.0), candle(1, 1.5)]),
            }],
        });
        dash.apply_batch(batch(vec![update(
            candles.clone(),
            2,
            Data::Candles(vec![candle(1, 1.7), candle(2, 1.8)]),
        )]));
        let closes: Vec<f64> = dash
            .detail
            .candles
            .get_untracked()
            .iter()
            .map(|c| c.close)
            .collect();
        assert_eq!(
            closes,
            vec![1.0, 1.7, 1.8],
            "the forming candle is replaced, a new one added"
        );

        let (old, new) = dash.select("B".into(), Interval::OneMinute);
        assert!(old.contains(&candles));
        assert_eq!(new[0], Channel::Candles("B".into(), Interval::OneMinute));
        assert!(dash.detail.candles.get_untracked().is_empty());
        assert!(
            !dash.resume().from.contains_key(&candles),
            "old channel no longer resumed"
        );
        assert!(dash.row("A").is_some(), "A is still in the grid's window");
        // A late update for the old selection is ignored.
        dash.apply_batch(batch(vec![update(
            candles,
            3,
            Data::Candles(vec![candle(3, 9.0)]),
        )]));
        assert!(dash.detail.candles.get_untracked().is_empty());
    }

    #[test]
    fn sorting_asks_the_server_and_alerts_speak_once_per_crossing() {
        let owner = Owner::new();
        owner.set();
        let dash = Dashboard::new(&page(1));
        dash.grid.spec.update(|s| s.offset = 400);
        dash.sort_by(SortKey::ChangePct);
        let spec = dash.grid.spec.get_untracked();
        assert_eq!(
            (spec.sort, spec.desc, spec.offset),
            (SortKey::ChangePct, true, 0)
        );
        dash.sort_by(SortKey::ChangePct);
        assert!(
            !dash.grid.spec.get_untracked().desc,
            "a second click reverses"
        );
        dash.filter_by("aa".into());
        assert_eq!(dash.grid.spec.get_untracked().filter, "aa");

        // Alerts are off by default: nothing is announced.
        dash.prefs.watch.update(|w| {
            w.insert("A".into());
        });
        dash.apply_batch(batch(vec![update(
            q("A"),
            2,
            Data::Quote(quote("A", 10.2)),
        )]));
        dash.next_announcement();
        assert_eq!(dash.announcement.get_untracked(), "");
        dash.prefs.alerts_on.set(true);
        dash.apply_batch(batch(vec![update(q("A"), 3, Data::Quote(quote("A", 9.8)))]));
        dash.next_announcement();
        assert_eq!(
            dash.announcement.get_untracked(),
            "A down 2.00%: Watched, at 9.80"
        );
        assert_eq!(dash.alerts.toasts.get_untracked().len(), 1, "and a toast");
        // Staying beyond the threshold is not news.
        dash.apply_batch(batch(vec![update(q("A"), 4, Data::Quote(quote("A", 9.7)))]));
        dash.announcement.set(String::new());
        dash.next_announcement();
        assert_eq!(dash.announcement.get_untracked(), "");
    }

    #[test]
    fn a_rule_s_symbol_streams_and_fires_a_followed_team_s_score_raises_a_toast() {
        use crate::ui::alerts::{Rule, Trigger};
        use crate::ui::follow::team_key;
        let owner = Owner::new();
        owner.set();
        let dash = Dashboard::new(&page(1));
        let rule = Rule::Level {
            symbol: "ZED".into(),
            trigger: Trigger::Above,
            level: 11.0,
        };
        dash.alerts.add(rule.clone()).unwrap();
        assert!(dash.channel_groups()[3].is_empty(), "alerts off");
        dash.prefs.alerts_on.set(true);
        let [_, _, _, alerts] = dash.channel_groups();
        assert_eq!(alerts, vec![q("ZED")], "an alert's symbol is subscribed");
        dash.apply_snapshot(Snapshot {
            epoch: 1,
            ts: Utc::now(),
            reason: None,
            channels: vec![quote_state("ZED", 1, 10.5)],
        });
        assert!(dash.row("ZED").is_some(), "and held while the rule is");
        dash.apply_batch(batch(vec![update(
            q("ZED"),
            2,
            Data::Quote(quote("ZED", 11.2)),
        )]));
        let toasts = dash.alerts.toasts.get_untracked();
        assert_eq!(toasts.len(), 1);
        assert_eq!(toasts[0].title, "ZED above 11.00");
        dash.alerts.remove(&rule);
        dash.release(&[q("ZED")]);
        assert!(dash.row("ZED").is_none(), "let go with its rule");

        // A followed team scores.
        Follow::toggle(dash.follow.teams, team_key(League::Hockey, "AAA"));
        dash.apply_batch(batch(vec![update(
            Channel::Scores(League::Hockey),
            2,
            Data::Games(vec![game(1, 1, 1, League::Hockey)]),
        )]));
        let toasts = dash.alerts.toasts.get_untracked();
        assert_eq!(toasts.len(), 2);
        assert!(toasts[1].title.starts_with("Score"), "{:?}", toasts[1]);

        // In the background only what alerts need stays: the followed team's league and the
        // watchlist; nothing at all with alerts off.
        dash.prefs.watch.update(|w| {
            w.insert("B".into());
        });
        dash.background.set(true);
        let kept: Vec<Channel> = dash.channels();
        assert_eq!(kept, vec![Channel::Scores(League::Hockey), q("B")]);
        dash.prefs.alerts_on.set(false);
        assert!(dash.channels().is_empty());
        dash.background.set(false);
        assert!(dash.channels().contains(&Channel::Breadth));
        assert!(dash.channels().contains(&Channel::Trades("A".into())));
    }
}
