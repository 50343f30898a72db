//! A fan's teams: followed teams and leagues (their games first), the scoreboard's league
//! filter, the spoiler switch (a chosen team's scores hidden until revealed), and the alerts a
//! followed team's games raise (start, score, final).
//!
//! A team is known by its league and code (`hockey:BOS`): codes repeat across leagues.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::{Game, GameStatus, League};
use crate::ui::alerts::{Fired, Tone};
use leptos::prelude::*;
use std::collections::BTreeSet;

/// A team's key: `league:code`.
pub(crate) fn team_key(league: League, code: &str) -> String {
    let league = serde_json::to_value(league)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    format!("{league}:{code}")
}

/// What the fan follows and hides. `Copy`: a bundle of signal handles.
#[derive(Clone, Copy)]
pub(crate) struct Follow {
    /// Followed teams (persisted).
    pub(crate) teams: RwSignal<BTreeSet<String>>,
    /// Followed leagues (persisted).
    pub(crate) leagues: RwSignal<BTreeSet<League>>,
    /// Teams whose scores stay hidden until revealed (persisted).
    pub(crate) spoilers: RwSignal<BTreeSet<String>>,
    /// Games whose hidden score the fan revealed (this page only).
    pub(crate) revealed: RwSignal<BTreeSet<u32>>,
    /// The scoreboard shows this league only (persisted; `None`: every league).
    pub(crate) league: RwSignal<Option<League>>,
}

impl Follow {
    pub(crate) fn new() -> Self {
        Follow {
            teams: RwSignal::new(BTreeSet::new()),
            leagues: RwSignal::new(BTreeSet::new()),
            spoilers: RwSignal::new(BTreeSet::new()),
            revealed: RwSignal::new(BTreeSet::new()),
            league: RwSignal::new(None),
        }
    }

    /// Whether a team of `game` is followed (tracked).
    pub(crate) fn follows_team_in(&self, game: &Game) -> bool {
        self.teams.with(|t| plays(t, game))
    }

    /// Whether `game` goes first on the board: a followed team or league plays (tracked).
    pub(crate) fn features(&self, game: &Game) -> bool {
        self.follows_team_in(game) || self.leagues.with(|l| l.contains(&game.league))
    }

    /// Whether `game`'s score is hidden now: one of its teams is a spoiler team, the game has
    /// started, and the fan has not revealed it (tracked).
    pub(crate) fn hides_score(&self, game: &Game) -> bool {
        game.status != GameStatus::Scheduled
            && self.spoilers.with(|s| plays(s, game))
            && !self.revealed.with(|r| r.contains(&game.id))
    }

    /// Flips `set`'s membership of `item`.
    pub(crate) fn toggle<T: Ord + Clone + Send + Sync + 'static>(
        set: RwSignal<BTreeSet<T>>,
        item: T,
    ) {
        set.update(|s| {
            if !s.remove(&item) {
                s.insert(item);
            }
        });
    }

    /// Leagues with a followed team (their scores are what alerts need).
    pub(crate) fn alert_leagues(&self) -> BTreeSet<League> {
        let teams = self.teams.get_untracked();
        League::ALL
            .into_iter()
            .filter(|l| {
                let prefix = team_key(*l, "");
                teams.iter().any(|t| t.starts_with(&prefix))
            })
            .collect()
    }

    /// What a followed team's game did between `old` and `new` (the same game): its start,
    /// a score, its final. The score is left out for a spoiler team's game.
    pub(crate) fn game_alerts(&self, old: &Game, new: &Game) -> Vec<Fired> {
        // Called as the feed is applied, outside any view: nothing here tracks.
        if old.id != new.id || !untrack(|| self.follows_team_in(new)) {
            return Vec::new();
        }
        let hidden = untrack(|| self.hides_score(new));
        let teams = format!("{} at {}", new.away.name, new.home.name);
        let score = if hidden {
            "score hidden".to_string()
        } else {
            format!(
                "{} {}, {} {}",
                new.away.code, new.away_score, new.home.code, new.home_score
            )
        };
        let mut out = Vec::new();
        let event = |what: &str, key: String, body: String| Fired {
            key,
            title: format!("{what}: {teams}"),
            body,
            tone: Tone::Game,
        };
        if old.status == GameStatus::Scheduled && new.status != GameStatus::Scheduled {
            out.push(event(
                "Started",
                format!("start:{}", new.id),
                new.league.name().to_string(),
            ));
        }
        if (old.home_score, old.away_score) != (new.home_score, new.away_score) {
            let scorer = if new.home_score != old.home_score {
                &new.home.name
            } else {
                &new.away.name
            };
            out.push(event(
                "Score",
                format!("score:{}:{}:{}", new.id, new.home_score, new.away_score),
                if hidden {
                    score.clone()
                } else {
                    format!("{scorer} scored · {score}")
                },
            ));
        }
        if old.status != GameStatus::Final && new.status == GameStatus::Final {
            out.push(event("Final", format!("final:{}", new.id), score));
        }
        out
    }
}

/// Whether one of `game`'s teams is in `teams` (keys as [`team_key`] makes them).
fn plays(teams: &BTreeSet<String>, game: &Game) -> bool {
    teams.contains(&team_key(game.league, &game.home.code))
        || teams.contains(&team_key(game.league, &game.away.code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Team;
    use chrono::Utc;

    fn game(status: GameStatus, home: u16, away: u16) -> Game {
        let team = |c: &str, n: &str| Team {
            code: c.into(),
            name: n.into(),
        };
        Game {
            id: 7,
            slot: 0,
            league: League::Hockey,
            home: team("BOS", "Boston"),
            away: team("NYR", "New York"),
            home_score: home,
            away_score: away,
            period: 1,
            clock_ms: 0,
            status,
            ts: Utc::now(),
            starts: None,
        }
    }

    #[test]
    fn a_followed_team_s_game_raises_its_start_scores_and_final() {
        let owner = Owner::new();
        owner.set();
        let f = Follow::new();
        let (s, l, fin) = (GameStatus::Scheduled, GameStatus::Live, GameStatus::Final);
        assert!(
            f.game_alerts(&game(s, 0, 0), &game(l, 0, 0)).is_empty(),
            "not followed"
        );
        Follow::toggle(f.teams, team_key(League::Hockey, "BOS"));
        assert_eq!(team_key(League::Hockey, "BOS"), "hockey:BOS");
        assert_eq!(f.alert_leagues(), BTreeSet::from([League::Hockey]));
        let started = f.game_alerts(&game(s, 0, 0), &game(l, 0, 0));
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].title, "Started: New York at Boston");
        let scored = f.game_alerts(&game(l, 0, 0), &game(l, 1, 0));
        assert_eq!(scored[0].body, "Boston scored · NYR 0, BOS 1");
        let ended = f.game_alerts(&game(l, 1, 0), &game(fin, 1, 0));
        assert_eq!(ended[0].title, "Final: New York at Boston");
        assert!(f.game_alerts(&game(l, 1, 0), &game(l, 1, 0)).is_empty());
        let mut other = game(l, 2, 0);
        other.id = 8;
        assert!(
            f.game_alerts(&game(l, 1, 0), &other).is_empty(),
            "a new game in the slot is not a score"
        );
        // A spoiler team: the score is never said, until revealed.
        Follow::toggle(f.spoilers, team_key(League::Hockey, "BOS"));
        assert!(f.hides_score(&game(l, 1, 0)));
        assert!(
            !f.hides_score(&game(s, 0, 0)),
            "nothing to hide before the start"
        );
        let scored = f.game_alerts(&game(l, 0, 0), &game(l, 1, 0));
        assert_eq!(scored[0].body, "score hidden");
        assert!(!scored[0].title.contains('1'));
        Follow::toggle(f.revealed, 7);
        assert!(!f.hides_score(&game(l, 1, 0)));
        assert!(f.features(&game(l, 1, 0)));
    }
}
