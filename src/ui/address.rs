//! A view's address: the query string the server renders a page from (`sort`, `desc`,
//! `filter`, `offset`, `symbol`, `interval`, and `list` with its `watch` symbols while the
//! grid shows a watchlist only; see `server::http::page`). The browser keeps the
//! page's address on the view it shows, so a copied link reopens the same view, rendered by
//! the server from the first byte; the page without JavaScript pages through the grid with it.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::{Interval, SortKey, ViewSpec};

/// What an address names; what is at its default is left out, so the plain view is `/`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Address<'a> {
    pub(crate) sort: SortKey,
    pub(crate) desc: bool,
    pub(crate) filter: &'a str,
    /// The grid's first row (0 for a link: a shared view opens at the top).
    pub(crate) offset: usize,
    pub(crate) symbol: Option<&'a str>,
    pub(crate) interval: Interval,
    /// The grid shows this list only: its name and symbols (a link carries both, so that a
    /// browser that does not have the list shows it too).
    pub(crate) list: Option<(&'a str, &'a [String])>,
}

impl<'a> Address<'a> {
    /// The order and filter of `spec`, from its first row.
    pub(crate) fn of(spec: &'a ViewSpec) -> Self {
        Address {
            sort: spec.sort,
            desc: spec.desc,
            filter: &spec.filter,
            ..Address::default()
        }
    }

    /// `?name=value&...`, or "" for the default view.
    pub(crate) fn query(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.offset > 0 {
            parts.push(format!("offset={}", self.offset));
        }
        if self.sort != SortKey::Listing {
            parts.push(format!("sort={}", name(&self.sort)));
        }
        if self.desc {
            parts.push("desc=1".into());
        }
        if !self.filter.is_empty() {
            parts.push(format!("filter={}", encode(self.filter)));
        }
        if let Some(symbol) = self.symbol.filter(|s| !s.is_empty()) {
            parts.push(format!("symbol={}", encode(symbol)));
        }
        if self.interval != Interval::default() {
            parts.push(format!("interval={}", name(&self.interval)));
        }
        if let Some((list, symbols)) = self.list {
            let symbols: Vec<String> = symbols.iter().map(|s| encode(s)).collect();
            parts.push(format!("list={}&watch={}", encode(list), symbols.join(",")));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

/// A value's name on the wire (`change_pct`, `1m`).
fn name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Percent-encodes all but the unreserved characters (RFC 3986).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_view_is_the_bare_address_and_the_rest_is_named() {
        assert_eq!(Address::default().query(), "");
        let spec = ViewSpec {
            sort: SortKey::ChangePct,
            desc: true,
            filter: "a b&c".into(),
            ..ViewSpec::default()
        };
        let address = Address {
            symbol: Some("BRK.B"),
            interval: Interval::OneMinute,
            ..Address::of(&spec)
        };
        assert_eq!(
            address.query(),
            "?sort=change_pct&desc=1&filter=a%20b%26c&symbol=BRK.B&interval=1m"
        );
        // The default interval is left out; an offset is named first.
        let page = Address {
            offset: 40,
            interval: Interval::OneSecond,
            ..Address::default()
        };
        assert_eq!(page.query(), "?offset=40");
        let symbols = vec!["DELTA".to_string(), "BRK.B".to_string()];
        let list = Address {
            list: Some(("My tech", &symbols)),
            ..Address::default()
        };
        assert_eq!(list.query(), "?list=My%20tech&watch=DELTA,BRK.B");
    }
}
