//! The scoreboard: a card per board slot with teams, score, period and a running clock; the
//! fan's followed teams and leagues first, a league filter, a star per team and league, and
//! the scores of spoiler teams hidden until revealed.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::{GameStatus, League};
use crate::ui::follow::{team_key, Follow};
use crate::ui::format::game_clock;
use crate::ui::rows::GameRow;
use crate::ui::store::Dashboard;
use leptos::prelude::*;

#[component]
pub(crate) fn Scoreboard() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let follow = dash.follow;
    // Followed games first (then board order), the league filter applied. Cards are keyed
    // by slot, so a reorder moves them and never rebuilds one.
    let shown = move || {
        let league = follow.league.get();
        let mut rows: Vec<(bool, GameRow)> = dash
            .games
            .get()
            .into_iter()
            .filter(|r| league.is_none_or(|l| r.game.with(|g| g.league == l)))
            .map(|r| (!r.game.with(|g| follow.features(g)), r))
            .collect();
        rows.sort_by_key(|(later, r)| (*later, r.slot));
        rows.into_iter().map(|(_, r)| r).collect::<Vec<_>>()
    };
    let pick_league = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        follow
            .league
            .set(League::ALL.into_iter().find(|l| l.name() == value));
    };
    view! {
        <section class="panel scores" aria-labelledby="scores-title">
            <header class="panel-head">
                <h2 id="scores-title">"Scores"</h2>
                <select class="league-filter js-only" aria-label="League" on:change=pick_league>
                    <option value="" selected=move || follow.league.get().is_none()>"All leagues"</option>
                    {League::ALL
                        .into_iter()
                        .map(|l| {
                            view! {
                                <option value=l.name() selected=move || follow.league.get() == Some(l)>
                                    {l.name()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
                <span class="muted">{move || dash.games.with(Vec::len)} " games"</span>
            </header>
            <ul class="games">
                <For each=shown key=|row| row.slot let:row>
                    <GameCard row/>
                </For>
            </ul>
        </section>
    }
}

/// A star that follows (or unfollows) something; `label` names it.
fn star(
    pressed: impl Fn() -> bool + Send + Sync + Copy + 'static,
    label: impl Fn() -> String + Send + Sync + 'static,
    toggle: impl Fn() + 'static,
) -> impl IntoView {
    view! {
        <button
            type="button"
            class="star js-only"
            aria-pressed=move || if pressed() { "true" } else { "false" }
            aria-label=label
            on:click=move |_| toggle()
        >
            {move || if pressed() { "★" } else { "☆" }}
        </button>
    }
}

#[component]
fn GameCard(row: GameRow) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let game = row.game;
    let status = Memo::new(move |_| game.with(|g| g.status));
    let badge = move || match status.get() {
        GameStatus::Live => "Live",
        GameStatus::Break => "Break",
        GameStatus::Final => "Final",
        GameStatus::Scheduled => "Upcoming",
    };
    let badge_class = move || match status.get() {
        GameStatus::Live | GameStatus::Break => "badge live",
        GameStatus::Final => "badge final",
        GameStatus::Scheduled => "badge upcoming",
    };
    let clock = move || {
        let now = dash.now.get();
        game.with(|g| game_clock(g, now))
    };
    let leader = move || {
        game.with(|g| match g.home_score.cmp(&g.away_score) {
            std::cmp::Ordering::Greater => "home",
            std::cmp::Ordering::Less => "away",
            std::cmp::Ordering::Equal => "",
        })
    };
    let follow = dash.follow;
    let league = move || game.with(|g| g.league);
    let team_of = move |home: bool| {
        game.with(|g| {
            let t = if home { &g.home } else { &g.away };
            (team_key(g.league, &t.code), t.name.clone())
        })
    };
    let team_star = move |home: bool| {
        star(
            move || follow.teams.with(|t| t.contains(&team_of(home).0)),
            move || format!("Follow {}", team_of(home).1),
            move || Follow::toggle(follow.teams, team_of(home).0),
        )
    };
    let league_star = star(
        move || follow.leagues.with(|l| l.contains(&league())),
        move || format!("Follow {}", league().name()),
        move || Follow::toggle(follow.leagues, league()),
    );
    let hidden = Memo::new(move |_| game.with(|g| follow.hides_score(g)));
    let score = move |home: bool| {
        move || {
            if hidden.get() {
                "–".to_string()
            } else {
                game.with(|g| if home { g.home_score } else { g.away_score })
                    .to_string()
            }
        }
    };
    let reveal = move |_| {
        let id = game.with_untracked(|g| g.id);
        follow.revealed.update(|r| {
            r.insert(id);
        });
    };
    view! {
        <li
            class:followed=move || game.with(|g| follow.features(g))
            class=move || match row.scored.get() {
                0 => "game",
                n if n % 2 == 1 => "game scored-a",
                _ => "game scored-b",
            }
            data-slot=row.slot
            data-game=move || game.with(|g| g.id)
        >
            <div class="game-head">
                {league_star}
                <span class="league">{move || game.with(|g| g.league.name())}</span>
                <span class=badge_class>{badge}</span>
                <span class="clock">{clock}</span>
            </div>
            <div class=move || if leader() == "away" && !hidden.get() { "team leads" } else { "team" }>
                {team_star(false)}
                <span class="code">{move || game.with(|g| g.away.code.clone())}</span>
                <span class="name">{move || game.with(|g| g.away.name.clone())}</span>
                <span class="score away-score">{score(false)}</span>
            </div>
            <div class=move || if leader() == "home" && !hidden.get() { "team leads" } else { "team" }>
                {team_star(true)}
                <span class="code">{move || game.with(|g| g.home.code.clone())}</span>
                <span class="name">{move || game.with(|g| g.home.name.clone())}</span>
                <span class="score home-score">{score(true)}</span>
            </div>
            <button type="button" class="reveal js-only" class:hidden=move || !hidden.get() on:click=reveal>
                "Score hidden · Reveal"
            </button>
        </li>
    }
}
