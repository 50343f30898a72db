//! Alerts: the rules a user sets on a symbol (a price level, a day move), what fires them, and
//! the toasts they raise. A followed team's game start, score and final fire too (see
//! [`crate::ui::follow`]); the store calls [`Alerts::raise`] for each.
//!
//! Never a flood, whatever the market does:
//! - a rule fires on a crossing (from one side of its level to the other), not while the price
//!   stays beyond it, and then rests for [`COOLDOWN_SECS`];
//! - at most [`MAX_TOASTS`] toasts are on screen; more are grouped into the last one, which
//!   counts them;
//! - desktop notifications and sounds (the browser's part, `browser::notify`) take what waits
//!   in the outbox at most once every few seconds, as one.
//!
//! Pure state: the same code runs in the server's tests.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::ui::format::price;
use chrono::{DateTime, Duration, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A rule that fired rests this long before it can fire again.
pub(crate) const COOLDOWN_SECS: i64 = 30;
/// Toasts on screen at once; more are grouped into the last.
pub(crate) const MAX_TOASTS: usize = 4;
/// A toast stays this long once the page is visible.
pub(crate) const TOAST_SECS: i64 = 12;
/// Rules a user can keep (each symbol in one is subscribed).
pub(crate) const MAX_RULES: usize = 50;

/// Which way a price level is crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Trigger {
    /// From below the level to at or above it.
    Above,
    /// From above the level to at or below it.
    Below,
    /// Either way.
    Crossing,
}

/// One alert on a symbol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Rule {
    /// The last price crosses `level`.
    Level {
        symbol: String,
        trigger: Trigger,
        level: f64,
    },
    /// The day's change (from the open) crosses ±`pct` percent.
    Move { symbol: String, pct: f64 },
}

/// A quote's price and open, for a rule to compare.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Price {
    pub(crate) last: f64,
    pub(crate) open: f64,
}

impl Price {
    fn change_pct(self) -> f64 {
        crate::ui::rows::pct(self.last, self.open)
    }
}

impl Rule {
    pub(crate) fn symbol(&self) -> &str {
        match self {
            Rule::Level { symbol, .. } | Rule::Move { symbol, .. } => symbol,
        }
    }

    /// The rule in words: `AAPL above 180.00`, `AAPL moves 2.00% from the open`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Rule::Level {
                symbol,
                trigger,
                level,
            } => {
                let way = match trigger {
                    Trigger::Above => "above",
                    Trigger::Below => "below",
                    Trigger::Crossing => "crossing",
                };
                format!("{symbol} {way} {}", price(*level))
            }
            Rule::Move { symbol, pct } => format!("{symbol} moves {pct:.2}% from the open"),
        }
    }

    /// Whether the move from `before` to `after` fires the rule: a crossing, not a price that
    /// stays beyond the level.
    pub(crate) fn fires(&self, before: Price, after: Price) -> bool {
        match *self {
            Rule::Level { trigger, level, .. } => {
                let up = before.last < level && after.last >= level;
                let down = before.last > level && after.last <= level;
                match trigger {
                    Trigger::Above => up,
                    Trigger::Below => down,
                    Trigger::Crossing => up || down,
                }
            }
            Rule::Move { pct, .. } => {
                // Zones: beyond +pct, beyond -pct, or between; entering an outer zone fires.
                let zone = |p: f64| (p >= pct) as i8 - (p <= -pct) as i8;
                let (was, is) = (zone(before.change_pct()), zone(after.change_pct()));
                is != 0 && is != was
            }
        }
    }

    /// The rule is well formed: a symbol, a finite positive level or percentage.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.symbol().is_empty() {
            return Err("Select a symbol first");
        }
        match *self {
            Rule::Level { level, .. } if !(level.is_finite() && level > 0.0) => {
                Err("A price level is a positive number")
            }
            Rule::Move { pct, .. } if !(pct.is_finite() && pct > 0.0 && pct < 1000.0) => {
                Err("A move is a percentage between 0 and 1000")
            }
            _ => Ok(()),
        }
    }
}

/// How a toast is coloured (and which sound it makes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tone {
    Up,
    Down,
    Game,
}

/// Something that fired: what the toast, the notification and the screen reader say.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Fired {
    /// Identifies the rule or the game event, for the cooldown.
    pub(crate) key: String,
    pub(crate) title: String,
    pub(crate) body: String,
    pub(crate) tone: Tone,
}

/// A toast on screen. `count` > 1: it stands for that many alerts (the latest shown).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Toast {
    pub(crate) id: u64,
    pub(crate) title: String,
    pub(crate) body: String,
    pub(crate) tone: Tone,
    pub(crate) at: DateTime<Utc>,
    pub(crate) count: u32,
    /// When the page was first visible with the toast on it: it goes `TOAST_SECS` later (a
    /// toast raised in a hidden tab waits for the user).
    pub(crate) seen: Option<DateTime<Utc>>,
}

/// The alerts' state. `Copy`: a bundle of signal handles.
#[derive(Clone, Copy)]
pub(crate) struct Alerts {
    /// The user's rules, persisted.
    pub(crate) rules: RwSignal<Vec<Rule>>,
    /// Desktop notifications (the Notification API), asked for only when turned on.
    pub(crate) notify: RwSignal<bool>,
    /// A short tone per alert (a higher one up, a lower one down).
    pub(crate) sound: RwSignal<bool>,
    pub(crate) toasts: RwSignal<Vec<Toast>>,
    /// The settings panel is open.
    pub(crate) panel: RwSignal<bool>,
    /// What the browser said about desktop notifications (blocked, unsupported), if anything.
    pub(crate) note: RwSignal<String>,
    fired_at: StoredValue<HashMap<String, DateTime<Utc>>>,
    /// Fired and not yet taken by the notifier (desktop notification, sound).
    outbox: StoredValue<Vec<Fired>>,
    next_id: StoredValue<u64>,
}

impl Alerts {
    pub(crate) fn new() -> Self {
        Alerts {
            rules: RwSignal::new(Vec::new()),
            notify: RwSignal::new(false),
            sound: RwSignal::new(false),
            toasts: RwSignal::new(Vec::new()),
            panel: RwSignal::new(false),
            note: RwSignal::new(String::new()),
            fired_at: StoredValue::new(HashMap::new()),
            outbox: StoredValue::new(Vec::new()),
            next_id: StoredValue::new(0),
        }
    }

    /// The symbols some rule watches (the page subscribes to them).
    pub(crate) fn symbols(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .rules
            .with_untracked(|r| r.iter().map(|r| r.symbol().to_string()).collect());
        out.sort();
        out.dedup();
        out
    }

    /// Whether some rule watches `symbol`.
    pub(crate) fn watches(&self, symbol: &str) -> bool {
        self.rules
            .with_untracked(|r| r.iter().any(|r| r.symbol() == symbol))
    }

    /// Adds a rule (the same rule twice is kept once). Refused when malformed or over
    /// [`MAX_RULES`].
    pub(crate) fn add(&self, rule: Rule) -> Result<(), &'static str> {
        rule.check()?;
        if self.rules.with_untracked(|r| r.len()) >= MAX_RULES {
            return Err("At most 50 alerts: remove one first");
        }
        self.rules.update(|r| {
            if !r.contains(&rule) {
                r.push(rule);
            }
        });
        Ok(())
    }

    pub(crate) fn remove(&self, rule: &Rule) {
        self.rules.update(|r| r.retain(|x| x != rule));
    }

    /// The rules on `symbol` that the move from `before` to `after` fires.
    pub(crate) fn check_quote(&self, symbol: &str, before: Price, after: Price) -> Vec<Fired> {
        self.rules.with_untracked(|rules| {
            rules
                .iter()
                .filter(|r| r.symbol() == symbol && r.fires(before, after))
                .map(|r| {
                    let up = after.last >= before.last;
                    Fired {
                        key: format!("{r:?}"),
                        title: r.describe(),
                        body: format!(
                            "{symbol} {} at {} ({})",
                            if up { "up" } else { "down" },
                            price(after.last),
                            crate::ui::format::percent(after.change_pct())
                        ),
                        tone: if up { Tone::Up } else { Tone::Down },
                    }
                })
                .collect()
        })
    }

    /// Raises what fired at `now`: a toast (grouped beyond [`MAX_TOASTS`]) and a place in the
    /// outbox. Returns false when the same alert fired less than [`COOLDOWN_SECS`] ago (then
    /// nothing is raised).
    pub(crate) fn raise(&self, fired: Fired, now: DateTime<Utc>) -> bool {
        let rested = self.fired_at.with_value(|f| {
            f.get(&fired.key)
                .is_none_or(|t| now - *t >= Duration::seconds(COOLDOWN_SECS))
        });
        if !rested {
            return false;
        }
        self.fired_at.update_value(|f| {
            f.insert(fired.key.clone(), now);
        });
        let id = self.next_id.with_value(|n| *n + 1);
        self.next_id.set_value(id);
        self.toasts.update(|toasts| {
            if toasts.len() >= MAX_TOASTS {
                let last = toasts.last_mut().expect("MAX_TOASTS > 0");
                last.count += 1;
                last.title = format!("{} alerts", last.count);
                last.body = format!("Latest: {}: {}", fired.title, fired.body);
                last.tone = fired.tone;
                last.at = now;
                last.seen = None;
            } else {
                toasts.push(Toast {
                    id,
                    title: fired.title.clone(),
                    body: fired.body.clone(),
                    tone: fired.tone,
                    at: now,
                    count: 1,
                    seen: None,
                });
            }
        });
        self.outbox.update_value(|o| o.push(fired));
        true
    }

    /// Whether something fired waits for the notifier.
    pub(crate) fn fired_waiting(&self) -> bool {
        self.outbox.with_value(|o| !o.is_empty())
    }

    /// Takes what waits for the notifier.
    pub(crate) fn take_outbox(&self) -> Vec<Fired> {
        self.outbox
            .try_update_value(std::mem::take)
            .unwrap_or_default()
    }

    pub(crate) fn dismiss(&self, id: u64) {
        self.toasts.update(|t| t.retain(|t| t.id != id));
    }

    /// Called every so often: toasts seen by the user for [`TOAST_SECS`] go. While the page
    /// is hidden (`visible` false) they wait.
    pub(crate) fn age_toasts(&self, now: DateTime<Utc>, visible: bool) {
        if !visible || self.toasts.with_untracked(Vec::is_empty) {
            return;
        }
        let changes = self.toasts.with_untracked(|t| {
            t.iter().any(|t| {
                t.seen
                    .is_none_or(|s| now - s >= Duration::seconds(TOAST_SECS))
            })
        });
        if changes {
            self.toasts.update(|toasts| {
                for t in toasts.iter_mut() {
                    t.seen.get_or_insert(now);
                }
                toasts.retain(|t| {
                    t.seen
                        .is_some_and(|s| now - s < Duration::seconds(TOAST_SECS))
                });
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(last: f64) -> Price {
        Price { last, open: 100.0 }
    }

    fn level(trigger: Trigger, level: f64) -> Rule {
        Rule::Level {
            symbol: "AAA".into(),
            trigger,
            level,
        }
    }

    #[test]
    fn a_level_fires_on_its_crossing_only() {
        let above = level(Trigger::Above, 105.0);
        assert!(above.fires(p(104.9), p(105.0)));
        assert!(above.fires(p(100.0), p(110.0)));
        assert!(!above.fires(p(105.0), p(106.0)), "already above");
        assert!(!above.fires(p(106.0), p(104.0)), "the other way");
        let below = level(Trigger::Below, 95.0);
        assert!(below.fires(p(96.0), p(95.0)));
        assert!(!below.fires(p(94.0), p(93.0)));
        let cross = level(Trigger::Crossing, 100.5);
        assert!(cross.fires(p(100.0), p(101.0)));
        assert!(cross.fires(p(101.0), p(100.0)));
        assert!(!cross.fires(p(101.0), p(102.0)));
    }

    #[test]
    fn a_move_fires_entering_either_outer_zone() {
        let r = Rule::Move {
            symbol: "AAA".into(),
            pct: 2.0,
        };
        assert!(r.fires(p(101.0), p(102.0)));
        assert!(!r.fires(p(102.0), p(103.0)), "staying beyond");
        assert!(r.fires(p(102.5), p(97.9)), "from one side to the other");
        assert!(!r.fires(p(99.0), p(101.0)));
        assert!(r.check().is_ok());
        let bad = Rule::Move {
            symbol: "AAA".into(),
            pct: f64::NAN,
        };
        assert!(bad.check().is_err());
        assert!(level(Trigger::Above, -1.0).check().is_err());
        assert!(level(Trigger::Above, f64::INFINITY).check().is_err());
    }

    #[test]
    fn raising_rests_each_alert_groups_beyond_the_screen_and_fills_the_outbox() {
        let owner = Owner::new();
        owner.set();
        let a = Alerts::new();
        a.add(level(Trigger::Above, 105.0)).unwrap();
        a.add(level(Trigger::Above, 105.0)).unwrap();
        assert_eq!(a.rules.get_untracked().len(), 1, "the same rule once");
        let t0 = Utc::now();
        let fired = a.check_quote("AAA", p(104.0), p(106.0));
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].title, "AAA above 105.00");
        assert!(fired[0].body.contains("106.00"), "{}", fired[0].body);
        assert!(a.check_quote("BBB", p(104.0), p(106.0)).is_empty());
        assert!(a.raise(fired[0].clone(), t0));
        assert!(
            !a.raise(fired[0].clone(), t0 + Duration::seconds(5)),
            "rests"
        );
        assert!(a.raise(fired[0].clone(), t0 + Duration::seconds(COOLDOWN_SECS)));
        assert_eq!(a.toasts.get_untracked().len(), 2);
        for i in 0..10 {
            let f = Fired {
                key: format!("k{i}"),
                title: format!("t{i}"),
                body: "b".into(),
                tone: Tone::Game,
            };
            assert!(a.raise(f, t0));
        }
        let toasts = a.toasts.get_untracked();
        assert_eq!(toasts.len(), MAX_TOASTS);
        assert_eq!(toasts.last().unwrap().count, 9);
        assert_eq!(toasts.last().unwrap().title, "9 alerts");
        assert!(toasts.last().unwrap().body.contains("t9"));
        assert_eq!(a.take_outbox().len(), 12);
        assert!(a.take_outbox().is_empty());
        // Toasts wait while hidden, then stay TOAST_SECS once seen.
        a.age_toasts(t0 + Duration::seconds(100), false);
        assert_eq!(a.toasts.get_untracked().len(), MAX_TOASTS);
        a.age_toasts(t0 + Duration::seconds(100), true);
        assert_eq!(a.toasts.get_untracked().len(), MAX_TOASTS);
        a.age_toasts(t0 + Duration::seconds(100 + TOAST_SECS), true);
        assert!(a.toasts.get_untracked().is_empty());
    }
}
