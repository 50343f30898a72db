//! How this reader writes numbers and clock times: the separators of their locale, their time
//! zone or UTC. The server renders the first page in the neutral style (`1,234.50`, UTC);
//! the browser measures its own (`Intl.NumberFormat`, the zone's offset) as the page starts,
//! and every figure on screen follows at once.
//!
//! The style is one value per thread, read by the functions in `format`. In the browser,
//! reading it also tracks one trigger, so the text of every cell that formats a number or a
//! time is rewritten when the style changes (at start, or when the reader picks UTC), and
//! only then: no view is rebuilt.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use std::cell::RefCell;

/// Separators and time zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Style {
    /// Between groups of three digits (`,` in en-US, `.` in de-DE, a narrow space in fr-FR).
    pub(crate) group: String,
    /// Before the decimals.
    pub(crate) decimal: char,
    /// Minutes to add to UTC for a clock time (0 for UTC).
    pub(crate) offset_min: i32,
    /// What the status bar says after a time: `UTC`, `UTC+01:00`.
    pub(crate) zone: String,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            group: ",".into(),
            decimal: '.',
            offset_min: 0,
            zone: "UTC".into(),
        }
    }
}

impl Style {
    /// The zone label for an offset: `UTC` for 0, else `UTC+05:30` / `UTC-04:00`.
    pub(crate) fn zone_for(offset_min: i32) -> String {
        if offset_min == 0 {
            return "UTC".into();
        }
        let sign = if offset_min > 0 { '+' } else { '-' };
        let m = offset_min.unsigned_abs();
        format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
    }
}

thread_local! {
    static STYLE: RefCell<Style> = RefCell::new(Style::default());
}

#[cfg(feature = "hydrate")]
thread_local! {
    static CHANGED: leptos::prelude::ArcTrigger = leptos::prelude::ArcTrigger::new();
}

/// Reads the style (and, in the browser, tracks its changes).
pub(crate) fn with<R>(f: impl FnOnce(&Style) -> R) -> R {
    #[cfg(feature = "hydrate")]
    CHANGED.with(|c| leptos::prelude::Track::track(c));
    STYLE.with_borrow(f)
}

/// Sets the style; what shows a number or a time is rewritten if it changed.
pub(crate) fn set(style: Style) {
    let changed = STYLE.with_borrow_mut(|s| {
        if *s == style {
            false
        } else {
            *s = style;
            true
        }
    });
    #[cfg(feature = "hydrate")]
    if changed {
        CHANGED.with(leptos::prelude::Notify::notify);
    }
    let _ = changed;
}

/// Reads a number the reader typed: in their style (`1.234,5` in de-DE) or plainly
/// (`1234.5`). `None` if it is not a number.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let text: String = text
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\'' | '’'))
        .collect();
    let plain = STYLE.with_borrow(|s| {
        if s.decimal != '.' && text.contains(s.decimal) {
            text.replace(&s.group, "").replace(s.decimal, ".")
        } else if s.decimal == '.' {
            text.replace(&s.group, "")
        } else {
            // No decimal comma typed: read as written (`224.74`).
            text.clone()
        }
    });
    plain.parse::<f64>().ok().filter(|x| x.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_numbers_are_read_in_the_reader_s_style_or_plainly() {
        std::thread::spawn(|| {
            assert_eq!(parse_number(" 1,234.5 "), Some(1234.5));
            assert_eq!(parse_number("105"), Some(105.0));
            assert_eq!(parse_number("abc"), None);
            assert_eq!(parse_number("inf"), None);
            set(Style {
                group: ".".into(),
                decimal: ',',
                ..Style::default()
            });
            assert_eq!(parse_number("1.234,5"), Some(1234.5));
            assert_eq!(parse_number("224.74"), Some(224.74));
            assert_eq!(parse_number("0,5"), Some(0.5));
        })
        .join()
        .unwrap();
    }
}
