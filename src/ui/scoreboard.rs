//! The scoreboard: a card per board slot with teams, score, period and a running clock.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::GameStatus;
use crate::ui::format::game_clock;
use crate::ui::rows::GameRow;
use crate::ui::store::Dashboard;
use leptos::prelude::*;

#[component]
pub(crate) fn Scoreboard() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    view! {
        <section class="panel scores" aria-labelledby="scores-title">
            <header class="panel-head">
                <h2 id="scores-title">"Scores"</h2>
                <span class="muted">{move || dash.games.with(Vec::len)} " games"</span>
            </header>
            <ul class="games">
                <For each=move || dash.games.get() key=|row| row.slot let:row>
                    <GameCard row/>
                </For>
            </ul>
        </section>
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
    view! {
        <li
            class=move || match row.scored.get() {
                0 => "game",
                n if n % 2 == 1 => "game scored-a",
                _ => "game scored-b",
            }
            data-slot=row.slot
            data-game=move || game.with(|g| g.id)
        >
            <div class="game-head">
                <span class="league">{move || game.with(|g| g.league.name())}</span>
                <span class=badge_class>{badge}</span>
                <span class="clock">{clock}</span>
            </div>
            <div class=move || if leader() == "away" { "team leads" } else { "team" }>
                <span class="code">{move || game.with(|g| g.away.code.clone())}</span>
                <span class="name">{move || game.with(|g| g.away.name.clone())}</span>
                <span class="score away-score">{move || game.with(|g| g.away_score)}</span>
            </div>
            <div class=move || if leader() == "home" { "team leads" } else { "team" }>
                <span class="code">{move || game.with(|g| g.home.code.clone())}</span>
                <span class="name">{move || game.with(|g| g.home.name.clone())}</span>
                <span class="score home-score">{move || game.with(|g| g.home_score)}</span>
            </div>
        </li>
    }
}
