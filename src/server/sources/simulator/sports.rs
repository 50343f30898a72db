//! The simulated games: scores, periods and a game clock that runs in real time.
//!
//! Each slot holds one game that goes Scheduled -> Live -> (Break -> Live)* -> Final; a slot
//! whose game has been final for a while starts a new match-up, so the board never runs dry.
//! Scoring is a Poisson process with a per-league rate and point values. A game's event is sent
//! when its score, period or status changes, and every `CLOCK_SYNC` while live so that clients
//! that extrapolate the clock stay corrected.

use crate::protocol::{Event, Game, GameStatus, League, Team};
use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CLOCK_SYNC: Duration = Duration::seconds(5);
const BREAK: Duration = Duration::seconds(20);
const FINAL_SHOWN: Duration = Duration::seconds(60);
const PREGAME: Duration = Duration::seconds(15);

const LEAGUES: [League; 4] = [
    League::Basketball,
    League::Hockey,
    League::Soccer,
    League::Football,
];

const TEAMS: &[(&str, &str)] = &[
    ("BOS", "Boston Harbor"),
    ("NYC", "New York Knights"),
    ("CHI", "Chicago Winds"),
    ("LAX", "Los Angeles Stars"),
    ("DEN", "Denver Peaks"),
    ("MIA", "Miami Tide"),
    ("SEA", "Seattle Rain"),
    ("ATL", "Atlanta Flight"),
    ("DAL", "Dallas Rangers"),
    ("PHX", "Phoenix Heat"),
    ("TOR", "Toronto Lynx"),
    ("DET", "Detroit Engines"),
    ("SFO", "San Francisco Fog"),
    ("POR", "Portland Pines"),
    ("MIN", "Minneapolis Frost"),
    ("HOU", "Houston Orbit"),
    ("PHI", "Philadelphia Bells"),
    ("CLE", "Cleveland Forge"),
    ("NOL", "New Orleans Brass"),
    ("SLC", "Salt Lake Summit"),
    ("KCY", "Kansas City Plains"),
    ("VAN", "Vancouver Orcas"),
    ("MTL", "Montreal Voyageurs"),
    ("PIT", "Pittsburgh Steel"),
];

impl League {
    /// Expected scoring plays per minute of game clock, both teams together.
    fn scoring_rate(self) -> f64 {
        match self {
            League::Basketball => 2.2,
            League::Hockey => 0.1,
            League::Soccer => 0.03,
            League::Football => 0.15,
        }
    }

    fn points(self, rng: &mut ChaCha8Rng) -> u16 {
        match self {
            League::Basketball => match rng.random_range(0..10) {
                0..=1 => 3,
                2 => 1,
                _ => 2,
            },
            League::Hockey | League::Soccer => 1,
            League::Football => match rng.random_range(0..10) {
                0..=3 => 3,
                4 => 6,
                5 => 8,
                _ => 7,
            },
        }
    }
}

struct Slot {
    game: Game,
    /// When the current status ends: kick-off for Scheduled, restart for Break, replacement
    /// for Final. Unused while Live (the clock decides).
    until: DateTime<Utc>,
    /// Last time this game was sent.
    sent_at: DateTime<Utc>,
}

/// All game slots and the random stream that drives them.
pub(crate) struct Sports {
    rng: ChaCha8Rng,
    slots: Vec<Slot>,
    next_id: u32,
    last_step: DateTime<Utc>,
}

impl Sports {
    pub(crate) fn new(seed: u64, count: usize, now: DateTime<Utc>) -> Self {
        let mut sports = Sports {
            rng: ChaCha8Rng::seed_from_u64(seed),
            slots: Vec::with_capacity(count),
            next_id: 1,
            last_step: now,
        };
        for i in 0..count {
            let league = LEAGUES[i % LEAGUES.len()];
            let mut game = sports.new_game(i as u16, league, now);
            let rng = &mut sports.rng;
            // Start the board mid-evening: most games under way, one final, one about to begin.
            let until = match i % 6 {
                5 => {
                    game.status = GameStatus::Final;
                    game.period = league.periods();
                    game.clock_ms = if league.clock_counts_up() {
                        league.period_ms()
                    } else {
                        0
                    };
                    game.home_score = score_after(league, 1.0, rng);
                    game.away_score = score_after(league, 1.0, rng);
                    // Only soccer ends level; the others went to overtime and someone scored.
                    if game.home_score == game.away_score && league != League::Soccer {
                        game.period += 1;
                        game.home_score += league.points(rng);
                    }
                    now + FINAL_SHOWN
                }
                4 => now + PREGAME,
                _ => {
                    let period = rng.random_range(1..=league.periods());
                    let into_period = rng.random_range(0.05..0.95);
                    let done = (f64::from(period - 1) + into_period) / f64::from(league.periods());
                    game.status = GameStatus::Live;
                    game.period = period;
                    let played = (f64::from(league.period_ms()) * into_period) as u32;
                    game.clock_ms = if league.clock_counts_up() {
                        played
                    } else {
                        league.period_ms() - played
                    };
                    game.home_score = score_after(league, done, rng);
                    game.away_score = score_after(league, done, rng);
                    now
                }
            };
            sports.slots.push(Slot {
                game,
                until,
                sent_at: now,
            });
        }
        sports
    }

    /// A new, not yet started game. Teams already on the board are not picked again while
    /// others are free, so nobody plays two games at once.
    fn new_game(&mut self, slot: u16, league: League, now: DateTime<Utc>) -> Game {
        let busy: Vec<&str> = self
            .slots
            .iter()
            .filter(|s| s.game.slot != slot)
            .flat_map(|s| [s.game.home.code.as_str(), s.game.away.code.as_str()])
            .collect();
        let mut free: Vec<usize> = (0..TEAMS.len())
            .filter(|&i| !busy.contains(&TEAMS[i].0))
            .collect();
        if free.len() < 2 {
            free = (0..TEAMS.len()).collect();
        }
        let home = free.swap_remove(self.rng.random_range(0..free.len()));
        let away = free[self.rng.random_range(0..free.len())];
        let team = |i: usize| Team {
            code: TEAMS[i].0.to_string(),
            name: TEAMS[i].1.to_string(),
        };
        let id = self.next_id;
        self.next_id += 1;
        Game {
            id,
            slot,
            league,
            home: team(home),
            away: team(away),
            home_score: 0,
            away_score: 0,
            period: 1,
            clock_ms: if league.clock_counts_up() {
                0
            } else {
                league.period_ms()
            },
            status: GameStatus::Scheduled,
            ts: now,
            starts: Some(now + PREGAME),
        }
    }

    pub(crate) fn games(&self) -> Vec<Game> {
        self.slots.iter().map(|s| s.game.clone()).collect()
    }

    /// Continues from games published by another run (a producer taking over): the same board,
    /// scores and clocks, a fresh random stream. A game between states waits a typical time
    /// from `now` (when exactly it would have restarted was never published).
    pub(crate) fn resume(seed: u64, games: &[Game], now: DateTime<Utc>) -> Self {
        let mut games = games.to_vec();
        games.sort_by_key(|g| g.slot);
        let slots = games
            .into_iter()
            .map(|game| {
                let until = match game.status {
                    GameStatus::Scheduled => now + PREGAME,
                    GameStatus::Break => now + BREAK / 2,
                    GameStatus::Final => now + FINAL_SHOWN / 2,
                    GameStatus::Live => now,
                };
                Slot {
                    sent_at: game.ts,
                    game,
                    until,
                }
            })
            .collect::<Vec<_>>();
        Sports {
            rng: ChaCha8Rng::seed_from_u64(seed),
            next_id: slots.iter().map(|s| s.game.id).max().unwrap_or(0) + 1,
            slots,
            last_step: now,
        }
    }

    /// Plays every game forward to `now`; pushes the whole game for each one that changed.
    pub(crate) fn step(&mut self, now: DateTime<Utc>, events: &mut Vec<Event>) {
        let dt =
            ((now - self.last_step).num_microseconds().unwrap_or(0) as f64 / 1e6).clamp(0.0, 1.0);
        self.last_step = now;
        for i in 0..self.slots.len() {
            if self.advance(i, now, dt) || now - self.slots[i].sent_at >= CLOCK_SYNC {
                let slot = &mut self.slots[i];
                // Re-anchor the clock at this instant before sending it.
                slot.game.clock_ms = slot.game.clock_at(now);
                slot.game.ts = now;
                slot.sent_at = now;
                events.push(Event::Game(slot.game.clone()));
            }
        }
    }

    /// Moves slot `i` on by `dt` seconds ending at `now`; true if anything a viewer sees
    /// (score, period, status, a new game) changed.
    fn advance(&mut self, i: usize, now: DateTime<Utc>, dt: f64) -> bool {
        let status = self.slots[i].game.status;
        match status {
            GameStatus::Scheduled | GameStatus::Break if now >= self.slots[i].until => {
                let g = &mut self.slots[i].game;
                if status == GameStatus::Break {
                    g.period += 1;
                    g.clock_ms = if g.league.clock_counts_up() {
                        0
                    } else {
                        g.league.period_ms()
                    };
                }
                g.status = GameStatus::Live;
                g.ts = now;
                true
            }
            GameStatus::Final if now >= self.slots[i].until => {
                let league = self.slots[i].game.league;
                let mut game = self.new_game(i as u16, league, now);
                game.ts = now;
                self.slots[i].game = game;
                self.slots[i].until = now + PREGAME;
                true
            }
            GameStatus::Live => {
                let league = self.slots[i].game.league;
                let mut changed = false;
                // Game clock runs at wall-clock speed, so minutes of clock are minutes of dt.
                if self
                    .rng
                    .random_bool(1.0 - (-league.scoring_rate() * dt / 60.0).exp())
                {
                    let points = league.points(&mut self.rng);
                    let home = self.rng.random_bool(0.5);
                    let g = &mut self.slots[i].game;
                    if home {
                        g.home_score += points;
                    } else {
                        g.away_score += points;
                    }
                    changed = true;
                }
                let slot = &mut self.slots[i];
                let g = &mut slot.game;
                let reading = g.clock_at(now);
                let period_over = if league.clock_counts_up() {
                    reading >= league.period_ms()
                } else {
                    reading == 0
                };
                if period_over {
                    g.clock_ms = reading;
                    g.ts = now;
                    let regulation_over = g.period >= league.periods();
                    let tied = g.home_score == g.away_score;
                    if regulation_over && (!tied || league == League::Soccer) {
                        g.status = GameStatus::Final;
                        slot.until = now + FINAL_SHOWN;
                    } else {
                        g.status = GameStatus::Break;
                        slot.until = now + BREAK;
                    }
                    changed = true;
                }
                changed
            }
            _ => false,
        }
    }
}

/// One team's score `done` of the way through regulation, built from that league's scoring
/// plays so that it is a score the sport can produce (no 4-point football halves).
fn score_after(league: League, done: f64, rng: &mut ChaCha8Rng) -> u16 {
    let minutes = f64::from(league.periods()) * f64::from(league.period_ms()) / 60_000.0 * done;
    // Each team gets about half of the league's scoring plays.
    let expected = league.scoring_rate() * minutes / 2.0;
    let plays = (expected * rng.random_range(0.7..1.3)).round() as u32;
    (0..plays).map(|_| league.points(rng)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn games_go_through_their_whole_life() {
        let start = Utc::now();
        let mut s = Sports::new(9, 8, start);
        let mut events = Vec::new();
        let mut seen_final = false;
        let mut seen_break = false;
        let mut seen_new_game = false;
        // Four hours of play, a step every 250 ms: every game ends and the slot starts anew.
        for i in 1..=(4 * 3600 * 4) {
            s.step(start + Duration::milliseconds(250 * i), &mut events);
            for e in events.drain(..) {
                let Event::Game(g) = e else { unreachable!() };
                seen_final |= g.status == GameStatus::Final;
                seen_break |= g.status == GameStatus::Break;
                seen_new_game |= g.id > 8;
                if g.status == GameStatus::Final && g.league != League::Soccer {
                    assert_ne!(
                        g.home_score, g.away_score,
                        "only soccer ends in a draw: {g:?}"
                    );
                }
                assert!(g.period >= 1);
                assert!(g.clock_ms <= g.league.period_ms());
                assert_ne!(g.home.code, g.away.code, "a team does not play itself");
                let board = s.games();
                let mut codes: Vec<&str> = board
                    .iter()
                    .flat_map(|g| [g.home.code.as_str(), g.away.code.as_str()])
                    .collect();
                codes.sort_unstable();
                let all = codes.len();
                codes.dedup();
                assert_eq!(codes.len(), all, "a team is in two games at once");
            }
        }
        assert!(seen_final && seen_break && seen_new_game);
    }

    #[test]
    fn live_games_send_clock_syncs_and_scores_change() {
        let start = Utc::now();
        let mut s = Sports::new(4, 6, start);
        let before = s.games();
        let mut events = Vec::new();
        for i in 1..=(10 * 60 * 10) {
            s.step(start + Duration::milliseconds(100 * i), &mut events);
        }
        let after = s.games();
        let basketball_moved = before.iter().zip(&after).any(|(a, b)| {
            a.league == League::Basketball
                && a.home_score + a.away_score != b.home_score + b.away_score
        });
        assert!(
            basketball_moved,
            "ten minutes of basketball without a basket"
        );
        // At least one event per live game per CLOCK_SYNC.
        assert!(events.len() >= 4 * 120, "{} game events", events.len());
    }
}
