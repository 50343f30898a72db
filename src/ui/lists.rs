//! Named watchlists: several lists, one of them current (its symbols are the stars, the ticker
//! and what the page subscribes to: `Prefs::watch`), created, renamed, deleted, reordered and
//! switched; each exported and imported as CSV; and the grid's "this list only" view, ranked
//! in the browser by the grid's column (the list's quotes stream anyway).
//!
//! Invariants: there is always at least one list; names are unique, trimmed, non-empty; the
//! current list is one of them.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Lists a user can keep.
pub(crate) const MAX_LISTS: usize = 20;
/// Symbols in one list (each is subscribed).
pub(crate) const MAX_SYMBOLS: usize = 200;
const MAX_NAME: usize = 40;
/// The first list's name.
pub(crate) const FIRST: &str = "Watchlist";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct WatchList {
    pub(crate) name: String,
    /// In the order they were added.
    pub(crate) symbols: Vec<String>,
}

/// The lists. `Copy`: a bundle of signal handles.
#[derive(Clone, Copy)]
pub(crate) struct Lists {
    pub(crate) lists: RwSignal<Vec<WatchList>>,
    pub(crate) current: RwSignal<String>,
    /// The grid shows the current list only.
    pub(crate) only: RwSignal<bool>,
}

fn check_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() {
        return Err("A list needs a name");
    }
    if name.chars().count() > MAX_NAME {
        return Err("A list's name is at most 40 characters");
    }
    Ok(name.to_string())
}

/// Whether `s` can be a symbol (what the server lists: letters, digits, `.`, `-`, `_`, `/`).
fn symbol_like(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 16
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
}

impl Lists {
    pub(crate) fn new() -> Self {
        Lists {
            lists: RwSignal::new(vec![WatchList {
                name: FIRST.into(),
                symbols: Vec::new(),
            }]),
            current: RwSignal::new(FIRST.into()),
            only: RwSignal::new(false),
        }
    }

    /// The current list's symbols, as a set.
    pub(crate) fn current_symbols(&self) -> BTreeSet<String> {
        self.current_symbols_in_order().into_iter().collect()
    }

    /// The current list's name and symbols in the list's order (tracked: a view that shows
    /// them follows a switch or an edit).
    pub(crate) fn current_list(&self) -> (String, Vec<String>) {
        let current = self.current.get();
        let symbols = self.lists.with(|l| {
            l.iter()
                .find(|l| l.name == current)
                .map(|l| l.symbols.clone())
                .unwrap_or_default()
        });
        (current, symbols)
    }

    /// The current list's symbols in the list's order.
    pub(crate) fn current_symbols_in_order(&self) -> Vec<String> {
        untrack(|| self.current_list().1)
    }

    /// Keeps the current list's symbols equal to `watch` (the stars): those it had in their
    /// order, new ones after them.
    pub(crate) fn store(&self, watch: &BTreeSet<String>) {
        let current = self.current.get_untracked();
        let same = self.current_symbols() == *watch;
        if same {
            return;
        }
        self.lists.update(|lists| {
            if let Some(list) = lists.iter_mut().find(|l| l.name == current) {
                list.symbols.retain(|s| watch.contains(s));
                for s in watch {
                    if !list.symbols.contains(s) {
                        list.symbols.push(s.clone());
                    }
                }
            }
        });
    }

    /// Makes `name` current. Returns its symbols (the new stars).
    pub(crate) fn switch(&self, name: &str) -> Option<BTreeSet<String>> {
        let exists = self
            .lists
            .with_untracked(|l| l.iter().any(|l| l.name == name));
        if !exists {
            return None;
        }
        self.current.set(name.to_string());
        Some(self.current_symbols())
    }

    /// A new empty list, made current.
    pub(crate) fn create(&self, name: &str) -> Result<(), &'static str> {
        self.add(name, Vec::new())
    }

    /// A new list with `symbols`, made current.
    pub(crate) fn add(&self, name: &str, symbols: Vec<String>) -> Result<(), &'static str> {
        let name = check_name(name)?;
        let (count, taken) = self
            .lists
            .with_untracked(|l| (l.len(), l.iter().any(|l| l.name == name)));
        if taken {
            return Err("A list with that name exists");
        }
        if count >= MAX_LISTS {
            return Err("At most 20 lists: delete one first");
        }
        self.lists.update(|l| {
            l.push(WatchList {
                name: name.clone(),
                symbols,
            })
        });
        self.current.set(name);
        Ok(())
    }

    pub(crate) fn rename(&self, old: &str, new: &str) -> Result<(), &'static str> {
        let new = check_name(new)?;
        if new == old {
            return Ok(());
        }
        if self
            .lists
            .with_untracked(|l| l.iter().any(|l| l.name == new))
        {
            return Err("A list with that name exists");
        }
        self.lists.update(|l| {
            if let Some(list) = l.iter_mut().find(|l| l.name == old) {
                list.name = new.clone();
            }
        });
        if self.current.get_untracked() == old {
            self.current.set(new);
        }
        Ok(())
    }

    /// Deletes `name`; the first remaining list becomes current if it was. The last list
    /// cannot go.
    pub(crate) fn delete(&self, name: &str) -> Result<(), &'static str> {
        if self.lists.with_untracked(|l| l.len()) <= 1 {
            return Err("The last list cannot be deleted");
        }
        self.lists.update(|l| l.retain(|l| l.name != name));
        if self.current.get_untracked() == name {
            let first = self.lists.with_untracked(|l| l[0].name.clone());
            self.current.set(first);
        }
        Ok(())
    }

    /// Moves `name` one place up (`-1`) or down (`1`).
    pub(crate) fn move_by(&self, name: &str, delta: isize) {
        self.lists.update(|l| {
            if let Some(i) = l.iter().position(|l| l.name == name) {
                let j = i as isize + delta;
                if j >= 0 && (j as usize) < l.len() {
                    l.swap(i, j as usize);
                }
            }
        });
    }

    /// Shows the list a link names: the same list if this browser has it (same name, same
    /// symbols), else a new one with the link's symbols (named apart if the name is taken).
    /// Returns the name shown.
    pub(crate) fn adopt(&self, name: &str, symbols: Vec<String>) -> Option<String> {
        let name = check_name(name).ok()?;
        let symbols: Vec<String> = symbols
            .into_iter()
            .filter(|s| symbol_like(s))
            .take(MAX_SYMBOLS)
            .collect();
        let same = self.lists.with_untracked(|l| {
            l.iter()
                .find(|l| l.name == name)
                .map(|l| l.symbols == symbols)
        });
        let shown = match same {
            Some(true) => name,
            Some(false) => {
                let other = self.lists.with_untracked(|l| unique_name(l, &name));
                self.add(&other, symbols).ok()?;
                other
            }
            None => {
                self.add(&name, symbols).ok()?;
                name
            }
        };
        self.current.set(shown.clone());
        self.only.set(true);
        Some(shown)
    }

    /// Brings the lists back to their invariants after loading (saved by an older page, or
    /// edited by hand): unique names, at least one list, a current one that exists.
    pub(crate) fn repair(&self) {
        self.lists.update(|lists| {
            let mut seen = BTreeSet::new();
            lists.retain(|l| check_name(&l.name).is_ok() && seen.insert(l.name.clone()));
            lists.truncate(MAX_LISTS);
            for l in lists.iter_mut() {
                l.symbols.retain(|s| symbol_like(s));
                l.symbols.truncate(MAX_SYMBOLS);
            }
            if lists.is_empty() {
                lists.push(WatchList {
                    name: FIRST.into(),
                    symbols: Vec::new(),
                });
            }
        });
        let current = self.current.get_untracked();
        if !self
            .lists
            .with_untracked(|l| l.iter().any(|l| l.name == current))
        {
            self.current
                .set(self.lists.with_untracked(|l| l[0].name.clone()));
        }
    }
}

/// A list as CSV: a `symbol` header, one symbol a line.
pub(crate) fn to_csv(list: &WatchList) -> String {
    let mut out = String::from("symbol\n");
    for s in &list.symbols {
        out.push_str(s);
        out.push('\n');
    }
    out
}

/// The symbols of a CSV file: the first column of each line, a header line (`symbol`,
/// `ticker`) skipped, quotes and spaces trimmed, duplicates once. What is not a symbol is
/// refused with its line number, and nothing is taken.
pub(crate) fn from_csv(text: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let first = line
            .split([',', ';', '\t'])
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches('"')
            .trim();
        if first.is_empty() {
            continue;
        }
        if i == 0 && matches!(first.to_ascii_lowercase().as_str(), "symbol" | "ticker") {
            continue;
        }
        if !symbol_like(first) {
            return Err(format!("line {}: {first:?} is not a symbol", i + 1));
        }
        if !out.iter().any(|s| s == first) {
            out.push(first.to_string());
        }
        if out.len() > MAX_SYMBOLS {
            return Err(format!("more than {MAX_SYMBOLS} symbols"));
        }
    }
    if out.is_empty() {
        return Err("no symbols in the file".into());
    }
    Ok(out)
}

/// A name for an imported list: the file's name without its extension, made unique.
pub(crate) fn import_name(lists: &[WatchList], file: &str) -> String {
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s).trim();
    unique_name(lists, if stem.is_empty() { "Imported" } else { stem })
}

/// `stem`, or `stem 2`, `stem 3`... whichever no list has.
fn unique_name(lists: &[WatchList], stem: &str) -> String {
    let stem: String = stem.chars().take(MAX_NAME - 4).collect();
    let mut name = stem.clone();
    let mut n = 2;
    while lists.iter().any(|l| l.name == name) {
        name = format!("{stem} {n}");
        n += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_keep_their_invariants() {
        let owner = Owner::new();
        owner.set();
        let l = Lists::new();
        l.store(&BTreeSet::from(["B".to_string(), "A".to_string()]));
        assert_eq!(l.lists.get_untracked()[0].symbols, vec!["A", "B"]);
        l.store(&BTreeSet::from(["B".into(), "C".into()]));
        assert_eq!(
            l.lists.get_untracked()[0].symbols,
            vec!["B", "C"],
            "kept order, new last"
        );
        assert!(l.create("  ").is_err());
        assert!(l.create(FIRST).is_err(), "names are unique");
        l.create(" Tech ").unwrap();
        assert_eq!(l.current.get_untracked(), "Tech");
        assert!(l.current_symbols().is_empty());
        assert_eq!(
            l.switch(FIRST),
            Some(BTreeSet::from(["B".into(), "C".into()]))
        );
        assert_eq!(l.switch("nope"), None);
        l.rename(FIRST, "Core").unwrap();
        assert_eq!(l.current.get_untracked(), "Core");
        assert!(l.rename("Core", "Tech").is_err());
        l.move_by("Tech", -1);
        assert_eq!(l.lists.get_untracked()[0].name, "Tech");
        l.move_by("Tech", -1);
        assert_eq!(l.lists.get_untracked()[0].name, "Tech", "already first");
        l.delete("Core").unwrap();
        assert_eq!(l.current.get_untracked(), "Tech");
        assert!(l.delete("Tech").is_err(), "the last list stays");
        // Repaired after loading: duplicates and bad symbols go, the current one exists.
        l.lists.set(vec![
            WatchList {
                name: "X".into(),
                symbols: vec!["OK".into(), "not a symbol".into()],
            },
            WatchList {
                name: "X".into(),
                symbols: vec![],
            },
        ]);
        l.current.set("gone".into());
        l.repair();
        assert_eq!(l.lists.get_untracked().len(), 1);
        assert_eq!(l.lists.get_untracked()[0].symbols, vec!["OK"]);
        assert_eq!(l.current.get_untracked(), "X");
        l.lists.set(vec![]);
        l.repair();
        assert_eq!(l.lists.get_untracked()[0].name, FIRST);
        // A link's list: the same one is shown as is, another under a name of its own.
        l.create("Tech").unwrap();
        l.store(&BTreeSet::from(["A".to_string()]));
        assert_eq!(l.adopt("Tech", vec!["A".into()]), Some("Tech".into()));
        assert_eq!(l.lists.get_untracked().len(), 2);
        assert_eq!(
            l.adopt("Tech", vec!["B".into(), "bad one".into()]),
            Some("Tech 2".into())
        );
        assert_eq!(l.current_symbols(), BTreeSet::from(["B".to_string()]));
        assert!(l.only.get_untracked());
        assert_eq!(l.adopt("  ", vec![]), None);
    }

    #[test]
    fn csv_round_trips_and_refuses_what_is_not_a_symbol() {
        let list = WatchList {
            name: "Tech".into(),
            symbols: vec!["AAPL".into(), "BRK.B".into()],
        };
        let csv = to_csv(&list);
        assert_eq!(csv, "symbol\nAAPL\nBRK.B\n");
        assert_eq!(from_csv(&csv).unwrap(), list.symbols);
        assert_eq!(
            from_csv("Ticker,Name\r\n\"MSFT\",Microsoft\r\nAAPL;x\nMSFT\n\n").unwrap(),
            vec!["MSFT", "AAPL"]
        );
        assert_eq!(
            from_csv("symbol\nAAPL\nDROP TABLE\n").unwrap_err(),
            "line 3: \"DROP TABLE\" is not a symbol"
        );
        assert!(from_csv("symbol\n").is_err());
        let many: String = (0..=MAX_SYMBOLS).map(|i| format!("S{i}\n")).collect();
        assert!(from_csv(&many).is_err());
        assert_eq!(import_name(&[list], "Tech.csv"), "Tech 2");
        assert_eq!(import_name(&[], ".csv"), "Imported");
    }
}
