//! Alerts on screen: the panel that sets them up (on or off, desktop notifications, sound,
//! the price alerts, the followed teams and their spoiler switch), the form that adds a price
//! alert for the selected symbol, and the toasts that fired alerts raise.
//!
//! Toasts are not a live region: the announcer already says each alert to screen readers,
//! and saying it twice would be noise.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::League;
use crate::ui::alerts::{Rule, Tone, Trigger};
use crate::ui::follow::Follow;
use crate::ui::format::time_of_day;
use crate::ui::store::Dashboard;
use leptos::prelude::*;

/// The settings panel the status bar's Alerts button opens.
#[component]
pub(crate) fn AlertsPanel() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let alerts = dash.alerts;
    let open = alerts.panel;
    let on = dash.prefs.alerts_on;
    let follow = dash.follow;
    let teams = move || follow.teams.get().into_iter().collect::<Vec<_>>();
    let leagues = move || follow.leagues.get().into_iter().collect::<Vec<_>>();
    let checkbox =
        |signal: RwSignal<bool>| move |ev: leptos::ev::Event| signal.set(event_target_checked(&ev));
    // Rendered only while open: nothing of it to render on the server or to hydrate.
    view! {
        <Show when=move || open.get()>
        <section
            id="alerts-panel"
            class="panel alerts-panel js-only"
            aria-labelledby="alerts-title"
        >
            <header class="panel-head">
                <h2 id="alerts-title">"Alerts"</h2>
                <button type="button" class="close" on:click=move |_| open.set(false)>
                    "Close"
                </button>
            </header>
            <div class="alert-switches">
                <label>
                    <input type="checkbox" class="alerts-on" prop:checked=move || on.get() on:change=checkbox(on)/>
                    " Alerts on"
                </label>
                <label>
                    <input
                        type="checkbox"
                        class="alerts-notify"
                        prop:checked=move || alerts.notify.get()
                        on:change=checkbox(alerts.notify)
                    />
                    " Desktop notifications"
                </label>
                <label>
                    <input type="checkbox" class="alerts-sound" prop:checked=move || alerts.sound.get() on:change=checkbox(alerts.sound)/>
                    " Sound"
                </label>
            </div>
            <p class="muted notify-note">{move || alerts.note.get()}</p>
            <h3 class="sub">"Price alerts"</h3>
            <p class="muted">"Watched symbols also alert when they cross ±1% from the open."</p>
            <ul class="rules">
                <For each=move || alerts.rules.get() key=|r| format!("{r:?}") let:rule>
                    {
                        let text = rule.describe();
                        let label = format!("Remove alert {text}");
                        view! {
                            <li>
                                <span>{text}</span>
                                <button type="button" class="remove" aria-label=label on:click=move |_| alerts.remove(&rule)>
                                    "Remove"
                                </button>
                            </li>
                        }
                    }
                </For>
            </ul>
            <p class="muted" class:hidden=move || alerts.rules.with(|r| !r.is_empty())>
                "None yet: add one from a symbol's panel."
            </p>
            <h3 class="sub">"My teams"</h3>
            <ul class="my-teams">
                <For each=teams key=|t| t.clone() let:team>
                    <MyTeam team/>
                </For>
                <For each=leagues key=|l| *l let:league>
                    <MyLeague league/>
                </For>
            </ul>
            <p class="muted" class:hidden=move || follow.teams.with(|t| !t.is_empty()) || follow.leagues.with(|l| !l.is_empty())>
                "Star a team or a league on the scoreboard to follow it: its games come first, and its start, scores and final alert."
            </p>
        </section>
        </Show>
    }
}

#[component]
fn MyTeam(team: String) -> impl IntoView {
    let follow = expect_context::<Dashboard>().follow;
    let hidden = {
        let team = team.clone();
        move || follow.spoilers.with(|s| s.contains(&team))
    };
    let spoil = {
        let team = team.clone();
        move |_| Follow::toggle(follow.spoilers, team.clone())
    };
    let unfollow = {
        let team = team.clone();
        move |_| {
            follow.teams.update(|t| {
                t.remove(&team);
            })
        }
    };
    let code = team.split(':').nth(1).unwrap_or_default().to_string();
    let league = team.split(':').next().unwrap_or_default().to_string();
    view! {
        <li data-team=team.clone()>
            <span>
                <strong>{code.clone()}</strong>
                " "
                <span class="muted">{league}</span>
            </span>
            <label>
                <input type="checkbox" class="spoiler" prop:checked=hidden on:change=spoil/>
                " Hide scores"
            </label>
            <button type="button" class="remove" aria-label=format!("Unfollow {code}") on:click=unfollow>
                "Unfollow"
            </button>
        </li>
    }
}

#[component]
fn MyLeague(league: League) -> impl IntoView {
    let follow = expect_context::<Dashboard>().follow;
    view! {
        <li data-league=league.name()>
            <span>
                <strong>{league.name()}</strong>
                " "
                <span class="muted">"league"</span>
            </span>
            <button
                type="button"
                class="remove"
                aria-label=format!("Unfollow {}", league.name())
                on:click=move |_| {
                    follow.leagues.update(|l| {
                        l.remove(&league);
                    })
                }
            >
                "Unfollow"
            </button>
        </li>
    }
}

/// Adds a price alert on the selected symbol (in the detail panel).
#[component]
pub(crate) fn AlertForm() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let kind = RwSignal::new("above".to_string());
    let value = RwSignal::new(String::new());
    let error = RwSignal::new(String::new());
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let symbol = dash.detail.symbol.get_untracked();
        let Some(number) = crate::ui::locale::parse_number(&value.get_untracked()) else {
            error.set("Enter a number".into());
            return;
        };
        let rule = match kind.get_untracked().as_str() {
            "move" => Rule::Move {
                symbol,
                pct: number,
            },
            way => Rule::Level {
                symbol,
                trigger: match way {
                    "below" => Trigger::Below,
                    "crossing" => Trigger::Crossing,
                    _ => Trigger::Above,
                },
                level: number,
            },
        };
        match dash.alerts.add(rule) {
            Ok(()) => {
                error.set(String::new());
                value.set(String::new());
                // An alert that cannot fire would be a surprise: adding one turns alerts on.
                dash.prefs.alerts_on.set(true);
            }
            Err(why) => error.set(why.into()),
        }
    };
    let placeholder = move || {
        if kind.with(|k| k == "move") {
            "% from open".to_string()
        } else {
            dash.detail
                .symbol
                .with(|s| dash.row(s))
                .map(|r| crate::ui::format::plain(r.last.get()))
                .unwrap_or_else(|| "price".into())
        }
    };
    view! {
        <form class="alert-form js-only" on:submit=add>
            <label for="alert-kind">{move || format!("Alert on {}", dash.detail.symbol.get())}</label>
            <select id="alert-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                <option value="above">"goes above"</option>
                <option value="below">"goes below"</option>
                <option value="crossing">"crosses"</option>
                <option value="move">"moves ±%"</option>
            </select>
            <input
                type="text"
                inputmode="decimal"
                class="alert-value"
                aria-label="Alert level"
                placeholder=placeholder
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
            <button type="submit">"Add alert"</button>
            <span class="form-error" role="alert">{move || error.get()}</span>
        </form>
    }
}

/// The toasts fired alerts raise, newest last.
#[component]
pub(crate) fn Toasts() -> impl IntoView {
    let alerts = expect_context::<Dashboard>().alerts;
    view! {
        <aside class="toasts js-only" aria-label="Fired alerts">
            <ol>
            <For each=move || alerts.toasts.get() key=|t| (t.id, t.count) let:toast>
                <li class=match toast.tone {
                    Tone::Up => "toast up",
                    Tone::Down => "toast down",
                    Tone::Game => "toast game",
                }>
                    <div class="toast-head">
                        <strong class="toast-title">{toast.title.clone()}</strong>
                        <span class="muted">{time_of_day(toast.at)}</span>
                        <button
                            type="button"
                            class="dismiss"
                            aria-label="Dismiss alert"
                            on:click=move |_| alerts.dismiss(toast.id)
                        >
                            "×"
                        </button>
                    </div>
                    <div class="toast-body">{toast.body.clone()}</div>
                </li>
            </For>
            </ol>
        </aside>
    }
}
