//! The dashboard's reactive state: one signal per thing on screen that can change.
//!
//! The server builds it from the hub's snapshot to render the page; the browser builds the same
//! thing from the [`PageState`] embedded in that page, then applies the feed to it. Rows are
//! created once per symbol and per board slot; an update sets only the signals whose value
//! differs, so only those cells' text nodes are touched and the table is never re-rendered.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::{
    Batch, Candle, Channel, Data, Epoch, Game, GameStatus, Interval, League, Quote, Resume, Seq,
    Snapshot, Trade,
};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Sparkline samples kept per row (one every `SPARK_STEP_SECS` of server time).
pub(crate) const SPARK_POINTS: usize = 30;
pub(crate) const SPARK_STEP_SECS: i64 = 2;
/// Candles the detail chart draws and keeps.
pub(crate) const CHART_CANDLES: usize = 60;
/// Trades the detail panel lists.
pub(crate) const TAPE_TRADES: usize = 20;
/// A watched symbol's day change crossing this (in percent, either way) is announced.
pub(crate) const ALERT_PCT: f64 = 1.0;

/// What the server embeds in the page for hydration: the snapshot with every channel's seq,
/// the sparklines so far, and the symbol the detail panel shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PageState {
    pub snapshot: Snapshot,
    /// The tick the snapshot stands at: the page's state covers every channel through it.
    #[serde(default)]
    pub tick: u64,
    /// Per quote in the snapshot, in the same order. Written compactly (see [`spark_codec`]):
    /// 500 rows of 30 samples were a 100 KB list of floats to parse before hydration.
    #[serde(with = "spark_codec")]
    pub sparks: Vec<Vec<f64>>,
    pub selected: String,
    pub interval: Option<Interval>,
}

/// The quotes of a large grid past its hydrated rows, with their sparklines: embedded in the
/// page beside [`PageState`] and read after hydration (see `server::page`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct PageRest {
    pub(crate) snapshot: Snapshot,
    #[serde(with = "spark_codec")]
    pub(crate) sparks: Vec<Vec<f64>>,
}

/// Sparklines in the page as one string per row: the first price in cents, then the change
/// in cents from each sample to the next (`"22380 5 -3 0"`). Samples are prices at the cent,
/// so nothing is lost, and integers parse far faster than floats in the browser.
pub(crate) mod spark_codec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(rows: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(rows.iter().map(|row| {
            let mut out = String::with_capacity(row.len() * 4);
            let mut prev = 0i64;
            for (i, p) in row.iter().enumerate() {
                let cents = (p * 100.0).round() as i64;
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(&(cents - prev).to_string());
                prev = cents;
            }
            out
        }))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        let rows = Vec::<String>::deserialize(d)?;
        rows.iter()
            .map(|row| {
                let mut cents = 0i64;
                row.split_ascii_whitespace()
                    .map(|delta| {
                        cents += delta.parse::<i64>().map_err(serde::de::Error::custom)?;
                        Ok(cents as f64 / 100.0)
                    })
                    .collect()
            })
            .collect()
    }
}

/// Direction of a symbol's last price change, for colouring and the arrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tick {
    Up,
    Down,
    Flat,
}

/// One symbol's row. Equality is identity (the same symbol's signals).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct QuoteRow {
    pub(crate) symbol: Arc<str>,
    pub(crate) bid: RwSignal<f64>,
    pub(crate) ask: RwSignal<f64>,
    pub(crate) last: RwSignal<f64>,
    pub(crate) open: RwSignal<f64>,
    pub(crate) volume: RwSignal<u64>,
    pub(crate) tick: RwSignal<Tick>,
    /// Counts changes of `last`, so the view can restart the flash animation on each.
    pub(crate) flash: RwSignal<u32>,
    /// Server time of the row's last update.
    pub(crate) at: RwSignal<DateTime<Utc>>,
    /// Recent prices, oldest first.
    pub(crate) spark: RwSignal<Vec<f64>>,
}

/// One place on the scoreboard; the game in it changes when a game ends and another starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GameRow {
    pub(crate) slot: u16,
    pub(crate) game: RwSignal<Game>,
    /// Counts score changes, so the view can highlight each.
    pub(crate) scored: RwSignal<u32>,
}

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

/// Columns the grid sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SortKey {
    /// The server's order.
    Default,
    Symbol,
    Bid,
    Ask,
    Last,
    Change,
    ChangePct,
    Volume,
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
}

impl Detail {
    /// The feed channels the panel needs.
    pub(crate) fn channels(&self) -> [Channel; 2] {
        let symbol = self.symbol.get_untracked();
        [
            Channel::Candles(symbol.clone(), self.interval.get_untracked()),
            Channel::Trades(symbol),
        ]
    }
}

/// What the user chose; persisted in the browser.
#[derive(Clone, Copy)]
pub(crate) struct Prefs {
    pub(crate) watch: RwSignal<BTreeSet<String>>,
    pub(crate) sort: RwSignal<(SortKey, bool)>,
    pub(crate) filter: RwSignal<String>,
    pub(crate) theme: RwSignal<Theme>,
    /// Announce watched symbols crossing ±ALERT_PCT and final scores.
    pub(crate) alerts: RwSignal<bool>,
}

/// Everything the view reads. `Copy`: it is a bundle of signal handles.
#[derive(Clone, Copy)]
pub(crate) struct Dashboard {
    pub(crate) rows: RwSignal<Vec<QuoteRow>>,
    index: StoredValue<HashMap<Arc<str>, QuoteRow>>,
    pub(crate) games: RwSignal<Vec<GameRow>>,
    pub(crate) detail: Detail,
    pub(crate) prefs: Prefs,
    pub(crate) link: RwSignal<Link>,
    /// The feed comes over Server-Sent Events (WebSockets are blocked on the way).
    pub(crate) via_sse: RwSignal<bool>,
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

fn set_if_changed<T>(signal: RwSignal<T>, value: T)
where
    T: PartialEq + Send + Sync + 'static,
{
    signal.maybe_update(|old| {
        if *old == value {
            false
        } else {
            *old = value;
            true
        }
    });
}

/// The day's change of `last` from `open`, in percent (0 without an open).
pub(crate) fn pct(last: f64, open: f64) -> f64 {
    if open == 0.0 {
        0.0
    } else {
        (last - open) / open * 100.0
    }
}

impl QuoteRow {
    fn new(q: &Quote, spark: Vec<f64>) -> Self {
        QuoteRow {
            symbol: q.symbol.as_str().into(),
            bid: RwSignal::new(q.bid),
            ask: RwSignal::new(q.ask),
            last: RwSignal::new(q.last),
            open: RwSignal::new(q.open),
            volume: RwSignal::new(q.volume),
            tick: RwSignal::new(Tick::Flat),
            flash: RwSignal::new(0),
            at: RwSignal::new(q.ts),
            spark: RwSignal::new(if spark.is_empty() {
                vec![q.last]
            } else {
                spark
            }),
        }
    }

    fn apply(&self, q: &Quote) {
        let before = self.last.get_untracked();
        if q.last != before {
            set_if_changed(
                self.tick,
                if q.last > before {
                    Tick::Up
                } else {
                    Tick::Down
                },
            );
            self.flash.update(|n| *n = n.wrapping_add(1));
        }
        set_if_changed(self.bid, q.bid);
        set_if_changed(self.ask, q.ask);
        set_if_changed(self.last, q.last);
        set_if_changed(self.open, q.open);
        set_if_changed(self.volume, q.volume);
        set_if_changed(self.at, q.ts);
    }
}

fn game_row(g: &Game) -> GameRow {
    GameRow {
        slot: g.slot,
        game: RwSignal::new(g.clone()),
        scored: RwSignal::new(0),
    }
}

impl Dashboard {
    /// The dashboard for the page's state (on both server and browser).
    pub(crate) fn new(page: &PageState) -> Self {
        let dash = Dashboard {
            rows: RwSignal::new(Vec::new()),
            index: StoredValue::new(HashMap::new()),
            games: RwSignal::new(Vec::new()),
            detail: Detail {
                symbol: RwSignal::new(page.selected.clone()),
                interval: RwSignal::new(page.interval.unwrap_or(Interval::OneSecond)),
                candles: RwSignal::new(Vec::new()),
                trades: RwSignal::new(Vec::new()),
            },
            prefs: Prefs {
                watch: RwSignal::new(BTreeSet::new()),
                sort: RwSignal::new((SortKey::Default, false)),
                filter: RwSignal::new(String::new()),
                theme: RwSignal::new(Theme::System),
                alerts: RwSignal::new(false),
            },
            link: RwSignal::new(Link::Connecting),
            via_sse: RwSignal::new(false),
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
        let mut sparks = page.sparks.iter();
        for state in &page.snapshot.channels {
            if let Data::Quote(q) = &state.data {
                let row = QuoteRow::new(q, sparks.next().cloned().unwrap_or_default());
                dash.index.update_value(|i| {
                    i.insert(row.symbol.clone(), row.clone());
                });
                dash.rows.update(|rows| rows.push(row));
            }
        }
        dash.apply_snapshot(page.snapshot.clone());
        dash
    }

    /// Adds the rows of [`PageRest`] (the page's quotes past the hydrated rows) and continues
    /// them from its seqs.
    pub(crate) fn add_rows(&self, rest: PageRest) {
        let mut sparks = rest.sparks.into_iter();
        let mut added = Vec::new();
        for state in &rest.snapshot.channels {
            if let Data::Quote(q) = &state.data {
                let known = self.index.with_value(|i| i.contains_key(q.symbol.as_str()));
                if known {
                    continue;
                }
                let row = QuoteRow::new(q, sparks.next().unwrap_or_default());
                self.index.update_value(|i| {
                    i.insert(row.symbol.clone(), row.clone());
                });
                added.push(row);
            }
        }
        self.rows.update(|rows| rows.extend(added));
        self.apply_snapshot(rest.snapshot);
    }

    /// The channels this dashboard shows: every symbol's quotes, every league's scores, and
    /// the detail panel's candles and trades.
    pub(crate) fn channels(&self) -> Vec<Channel> {
        let mut channels: Vec<Channel> = self.rows.with_untracked(|rows| {
            rows.iter()
                .map(|r| Channel::Quotes(r.symbol.to_string()))
                .collect()
        });
        channels.extend(League::ALL.into_iter().map(Channel::Scores));
        channels.extend(self.detail.channels());
        channels
    }

    /// Where to resume: the epoch and the last seq applied on every channel.
    pub(crate) fn resume(&self) -> Resume {
        Resume {
            epoch: self.epoch.get_untracked(),
            from: self.positions.get_value(),
        }
    }

    /// Shows another symbol or interval in the detail panel. Returns the channels to drop and
    /// to subscribe (the panel is empty until their snapshot arrives).
    pub(crate) fn select(
        &self,
        symbol: String,
        interval: Interval,
    ) -> ([Channel; 2], [Channel; 2]) {
        let old = self.detail.channels();
        self.detail.symbol.set(symbol);
        self.detail.interval.set(interval);
        self.detail.candles.set(Vec::new());
        self.detail.trades.set(Vec::new());
        self.positions.update_value(|p| {
            for c in &old {
                p.remove(c);
            }
        });
        (old, self.detail.channels())
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

    /// Only the detail panel's current channels are taken among candles and trades (a late
    /// message for the previous selection is dropped).
    fn wants(&self, channel: &Channel) -> bool {
        match channel {
            Channel::Candles(..) | Channel::Trades(_) => self.detail.channels().contains(channel),
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
                let extra = v.len().saturating_sub(CHART_CANDLES);
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
        let row = self.index.with_value(|i| i.get(q.symbol.as_str()).cloned());
        let Some(row) = row else {
            let row = QuoteRow::new(&q, Vec::new());
            self.index.update_value(|i| {
                i.insert(row.symbol.clone(), row.clone());
            });
            self.rows.update(|rows| rows.push(row));
            return;
        };
        if self.prefs.alerts.get_untracked()
            && self
                .prefs
                .watch
                .with_untracked(|w| w.contains(q.symbol.as_str()))
        {
            // Zones: beyond +ALERT_PCT, beyond -ALERT_PCT, or between. Entering an outer
            // zone from elsewhere is news; staying in it is not.
            let zone = |p: f64| (p >= ALERT_PCT) as i8 - (p <= -ALERT_PCT) as i8;
            let before = pct(row.last.get_untracked(), row.open.get_untracked());
            let after = pct(q.last, q.open);
            if zone(after) != 0 && zone(after) != zone(before) {
                let dir = if after > 0.0 { "up" } else { "down" };
                self.announce(format!(
                    "{} {dir} {:.2}% at {:.2}",
                    q.symbol,
                    after.abs(),
                    q.last
                ));
            }
        }
        row.apply(&q);
    }

    fn apply_game(&self, game: Game) {
        let existing = self
            .games
            .with_untracked(|games| games.iter().find(|g| g.slot == game.slot).copied());
        match existing {
            Some(row) => {
                let (score_changed, became_final) = row.game.with_untracked(|old| {
                    (
                        old.id == game.id
                            && (old.home_score, old.away_score)
                                != (game.home_score, game.away_score),
                        old.status != GameStatus::Final && game.status == GameStatus::Final,
                    )
                });
                if score_changed {
                    row.scored.update(|n| *n = n.wrapping_add(1));
                }
                if became_final && self.prefs.alerts.get_untracked() {
                    self.announce(format!(
                        "Final: {} {}, {} {}",
                        game.away.name, game.away_score, game.home.name, game.home_score
                    ));
                }
                set_if_changed(row.game, game);
            }
            None => self.games.update(|games| {
                games.push(game_row(&game));
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
        self.rows.with_untracked(|rows| {
            for row in rows {
                let last = row.last.get_untracked();
                row.spark.update(|s| {
                    s.push(last);
                    let extra = s.len().saturating_sub(SPARK_POINTS);
                    s.drain(..extra);
                });
            }
        });
    }

    /// The rows to show, filtered by the filter text and in the chosen order.
    pub(crate) fn visible_rows(&self) -> Vec<QuoteRow> {
        let filter = self.prefs.filter.with(|f| f.trim().to_ascii_uppercase());
        let (key, descending) = self.prefs.sort.get();
        let mut rows: Vec<QuoteRow> = self.rows.with(|rows| {
            rows.iter()
                .filter(|r| filter.is_empty() || r.symbol.contains(filter.as_str()))
                .cloned()
                .collect()
        });
        let value = |r: &QuoteRow| -> f64 {
            match key {
                SortKey::Default | SortKey::Symbol => 0.0,
                SortKey::Bid => r.bid.get(),
                SortKey::Ask => r.ask.get(),
                SortKey::Last => r.last.get(),
                SortKey::Change => r.last.get() - r.open.get(),
                SortKey::ChangePct => pct(r.last.get(), r.open.get()),
                SortKey::Volume => r.volume.get() as f64,
            }
        };
        match key {
            SortKey::Default => {}
            SortKey::Symbol => rows.sort_by(|a, b| a.symbol.cmp(&b.symbol)),
            _ => {
                let mut keyed: Vec<(f64, QuoteRow)> =
                    rows.into_iter().map(|r| (value(&r), r)).collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
                rows = keyed.into_iter().map(|(_, r)| r).collect();
            }
        }
        if descending {
            rows.reverse();
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ChannelState, SnapshotReason, Team, Update as WireUpdate};

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
        }
    }

    fn q(symbol: &str) -> Channel {
        Channel::Quotes(symbol.into())
    }

    fn page(seq: Seq) -> PageState {
        PageState {
            snapshot: Snapshot {
                epoch: 1,
                ts: Utc::now(),
                reason: Some(SnapshotReason::Page),
                channels: vec![
                    ChannelState {
                        channel: q("A"),
                        seq,
                        data: Data::Quote(quote("A", 10.0)),
                    },
                    ChannelState {
                        channel: q("B"),
                        seq: 3,
                        data: Data::Quote(quote("B", 20.0)),
                    },
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
        }
    }

    fn update(channel: Channel, seq: Seq, data: Data) -> WireUpdate {
        WireUpdate { channel, seq, data }
    }

    #[test]
    fn sparklines_travel_compactly_and_come_back_to_the_cent() {
        let p = PageState {
            sparks: vec![vec![223.8, 223.85, 223.79, 223.79], vec![], vec![0.05]],
            ..PageState::default()
        };
        let json = serde_json::to_string(&p).unwrap();
        assert!(
            json.contains(r#""sparks":["22380 5 -6 0","","5"]"#),
            "{json}"
        );
        let back: PageState = serde_json::from_str(&json).unwrap();
        assert_eq!(back.sparks, p.sparks);
    }

    #[test]
    fn updates_apply_in_place_per_channel_and_gaps_are_refused() {
        let owner = Owner::new();
        owner.set();
        let dash = Dashboard::new(&page(5));
        assert_eq!(dash.rows.get_untracked().len(), 2);
        let row_a = dash.rows.get_untracked()[0].clone();
        assert_eq!(
            row_a.spark.get_untracked(),
            vec![9.0, 9.5],
            "sparkline from the page"
        );
        let gaps = dash.apply_batch(Batch {
            n: 0,
            ts: Utc::now(),
            updates: vec![
                update(q("A"), 6, Data::Quote(quote("A", 10.5))),
                update(q("B"), 4, Data::Quote(quote("B", 19.0))),
                update(
                    Channel::Scores(League::Hockey),
                    2,
                    Data::Games(vec![game(1, 1, 3, League::Hockey)]),
                ),
                // Already applied: skipped, not a gap.
                update(q("B"), 3, Data::Quote(quote("B", 1.0))),
            ],
        });
        assert!(gaps.is_empty());
        assert_eq!(
            row_a.last.get_untracked(),
            10.5,
            "the same row object was updated"
        );
        assert_eq!(row_a.tick.get_untracked(), Tick::Up);
        assert_eq!(row_a.flash.get_untracked(), 1);
        assert_eq!(dash.rows.get_untracked()[1].last.get_untracked(), 19.0);
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

        let gaps = dash.apply_batch(Batch {
            n: 0,
            ts: Utc::now(),
            updates: vec![update(q("A"), 8, Data::Quote(quote("A", 1.0)))],
        });
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
        assert_eq!(dash.channels().len(), 2 + League::ALL.len() + 2);
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
        dash.apply_batch(Batch {
            n: 0,
            ts: Utc::now(),
            updates: vec![update(
                candles.clone(),
                2,
                Data::Candles(vec![candle(1, 1.7), candle(2, 1.8)]),
            )],
        });
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
        // A late update for the old selection is ignored.
        dash.apply_batch(Batch {
            n: 0,
            ts: Utc::now(),
            updates: vec![update(candles, 3, Data::Candles(vec![candle(3, 9.0)]))],
        });
        assert!(dash.detail.candles.get_untracked().is_empty());
    }

    #[test]
    fn sorting_filtering_and_alerts() {
        let owner = Owner::new();
        owner.set();
        let dash = Dashboard::new(&page(1));
        dash.prefs.sort.set((SortKey::Last, true));
        let order: Vec<String> = dash
            .visible_rows()
            .iter()
            .map(|r| r.symbol.to_string())
            .collect();
        assert_eq!(order, vec!["B", "A"]);
        dash.prefs.filter.set("a".into());
        assert_eq!(dash.visible_rows().len(), 1);

        // Alerts are off by default: nothing is announced.
        dash.prefs.watch.update(|w| {
            w.insert("A".into());
        });
        dash.apply_batch(Batch {
            n: 0,
            ts: Utc::now(),
            updates: vec![update(q("A"), 2, Data::Quote(quote("A", 10.2)))],
        });
        dash.next_announcement();
        assert_eq!(dash.announcement.get_untracked(), "");
        dash.prefs.alerts.set(true);
        dash.apply_batch(Batch {
            n: 0,
            ts: Utc::now(),
            updates: vec![update(q("A"), 3, Data::Quote(quote("A", 9.8)))],
        });
        dash.next_announcement();
        assert_eq!(dash.announcement.get_untracked(), "A down 2.00% at 9.80");
        // Staying beyond the threshold is not news.
        dash.apply_batch(Batch {
            n: 0,
            ts: Utc::now(),
            updates: vec![update(q("A"), 4, Data::Quote(quote("A", 9.7)))],
        });
        dash.announcement.set(String::new());
        dash.next_announcement();
        assert_eq!(dash.announcement.get_untracked(), "");
    }
}
