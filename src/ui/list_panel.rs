//! The watchlists on screen: a bar over the grid to switch lists and show the current list
//! only, and the management of the lists (create, rename, reorder, delete, export and import
//! as CSV).

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

#[cfg(feature = "hydrate")]
use crate::ui::lists::{from_csv, import_name};
use crate::ui::lists::{to_csv, WatchList};
use crate::ui::store::Dashboard;
use leptos::prelude::*;

/// `text` for a `data:` address: everything but unreserved characters percent-encoded.
fn percent_encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The bar over the grid: which list, this list only, manage.
#[component]
pub(crate) fn ListBar() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let lists = dash.lists;
    let open = RwSignal::new(false);
    let names = move || {
        lists
            .lists
            .with(|l| l.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
    };
    view! {
        <div class="list-bar js-only">
            <label>
                "List "
                <select class="list-pick" on:change=move |ev| dash.switch_list(&event_target_value(&ev))>
                    <For each=names key=|n| n.clone() let:name>
                        {
                            let value = name.clone();
                            let selected = move || lists.current.with(|c| *c == value);
                            view! { <option value=name.clone() selected=selected>{name.clone()}</option> }
                        }
                    </For>
                </select>
            </label>
            <button
                type="button"
                class="only"
                aria-pressed=move || if lists.only.get() { "true" } else { "false" }
                on:click=move |_| lists.only.update(|o| *o = !*o)
            >
                "This list only"
            </button>
            <button
                type="button"
                class="manage"
                aria-expanded=move || if open.get() { "true" } else { "false" }
                aria-controls="list-manage"
                on:click=move |_| open.update(|o| *o = !*o)
            >
                "Manage lists"
            </button>
        </div>
        <ListManager open/>
    }
}

#[component]
fn ListManager(open: RwSignal<bool>) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let lists = dash.lists;
    let error = RwSignal::new(String::new());
    let new_name = RwSignal::new(String::new());
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match lists.create(&new_name.get_untracked()) {
            Ok(()) => {
                new_name.set(String::new());
                error.set(String::new());
                dash.switch_list(&lists.current.get_untracked());
            }
            Err(why) => error.set(why.into()),
        }
    };
    let import = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        read_file(ev, move |file, text| match from_csv(&text) {
            Ok(symbols) => {
                let name = lists.lists.with_untracked(|l| import_name(l, &file));
                match lists.add(&name, symbols) {
                    Ok(()) => {
                        error.set(String::new());
                        dash.switch_list(&name);
                    }
                    Err(why) => error.set(why.into()),
                }
            }
            Err(why) => error.set(format!("{file}: {why}")),
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let all = move || lists.lists.get();
    // Rendered only while open: nothing of it to render on the server or to hydrate.
    view! {
        <Show when=move || open.get()>
        <section id="list-manage" class="list-manage js-only" aria-label="Manage lists">
            <ul class="lists">
                <For each=all key=|l| l.name.clone() let:list>
                    <ListRow list error/>
                </For>
            </ul>
            <form class="list-create" on:submit=create>
                <input
                    type="text"
                    aria-label="New list's name"
                    placeholder="New list"
                    prop:value=move || new_name.get()
                    on:input=move |ev| new_name.set(event_target_value(&ev))
                />
                <button type="submit">"Create"</button>
            </form>
            <label class="import">
                "Import a CSV "
                <input type="file" accept=".csv,text/csv,text/plain" on:change=import/>
            </label>
            <span class="form-error" role="alert">{move || error.get()}</span>
        </section>
        </Show>
    }
}

#[component]
fn ListRow(list: WatchList, error: RwSignal<String>) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let lists = dash.lists;
    let name = list.name.clone();
    // The row is keyed by name: what the list holds is read live.
    let held = {
        let name = name.clone();
        move || {
            lists
                .lists
                .with(|l| l.iter().find(|l| l.name == name).cloned())
                .unwrap_or_else(|| list.clone())
        }
    };
    let href = {
        let held = held.clone();
        move || {
            format!(
                "data:text/csv;charset=utf-8,{}",
                percent_encoded(&to_csv(&held()))
            )
        }
    };
    let count = move || match held().symbols.len() {
        1 => "1 symbol".to_string(),
        n => format!("{n} symbols"),
    };
    let rename = {
        let name = name.clone();
        move |ev: leptos::ev::Event| {
            let to = event_target_value(&ev);
            match lists.rename(&name, &to) {
                Ok(()) => error.set(String::new()),
                Err(why) => error.set(why.into()),
            }
        }
    };
    let up = {
        let name = name.clone();
        move |_| lists.move_by(&name, -1)
    };
    let down = {
        let name = name.clone();
        move |_| lists.move_by(&name, 1)
    };
    let delete = {
        let name = name.clone();
        move |_| match lists.delete(&name) {
            Ok(()) => {
                error.set(String::new());
                dash.switch_list(&lists.current.get_untracked());
            }
            Err(why) => error.set(why.into()),
        }
    };
    view! {
        <li data-list=name.clone()>
            <input type="text" class="list-name" aria-label=format!("Name of {name}") value=name.clone() on:change=rename/>
            <span class="muted">{count}</span>
            <button type="button" aria-label=format!("Move {name} up") on:click=up>"↑"</button>
            <button type="button" aria-label=format!("Move {name} down") on:click=down>"↓"</button>
            <a class="export" href=href download=format!("{name}.csv")>"Export CSV"</a>
            <button type="button" class="delete" aria-label=format!("Delete {name}") on:click=delete>"Delete"</button>
        </li>
    }
}

/// Reads the file chosen in a file input, then calls `done(file name, text)`.
#[cfg(feature = "hydrate")]
fn read_file(ev: leptos::ev::Event, done: impl FnOnce(String, String) + 'static) {
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    let Some(input) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    else {
        return;
    };
    let Some(file) = input.files().and_then(|f| f.get(0)) else {
        return;
    };
    // The same file can be chosen again after a fix.
    input.set_value("");
    let name = file.name();
    let read = Closure::once(move |text: JsValue| done(name, text.as_string().unwrap_or_default()));
    let _ = file.text().then(&read);
    // Called once by the promise; a file import is rare enough to leak one closure.
    read.forget();
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_csv_travels_in_a_data_address() {
        assert_eq!(
            super::percent_encoded("symbol\nBRK.B\n"),
            "symbol%0ABRK.B%0A"
        );
    }
}
