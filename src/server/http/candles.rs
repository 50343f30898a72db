//! `GET /api/candles`: a symbol's older candles, for a chart the reader pans into the past.
//! The feed's candle channel gives the recent history and keeps it live; this gives what a
//! page did not receive (its first page carries only the last few candles) from the history
//! the server keeps (`CANDLE_HISTORY` per symbol and interval).
//!
//! `?symbol=AAPL&interval=1s&before=MICROS&limit=N`: at most `limit` (1 to 300, default 120)
//! candles that start before `before` (microseconds since the epoch; default: all), oldest
//! first. Bad parameters get a 400 that names them, an unknown symbol a 404.

use crate::protocol::{Candle, Channel, Data, Interval, SnapshotReason};
use crate::server::feed::hub::Hub;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// The most candles one request returns.
pub(crate) const MAX_LIMIT: usize = 300;
const DEFAULT_LIMIT: usize = 120;

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Older {
    pub(crate) symbol: String,
    pub(crate) interval: Interval,
    /// Oldest first.
    pub(crate) candles: Vec<Candle>,
    /// True when the server holds nothing older than the first of these.
    pub(crate) complete: bool,
}

fn bad(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

/// What a request asks for.
#[derive(Debug, PartialEq)]
struct Ask {
    symbol: String,
    interval: Interval,
    before: Option<DateTime<Utc>>,
    limit: usize,
}

/// The request's parameters, checked.
fn parse(query: &HashMap<String, String>) -> Result<Ask, String> {
    let symbol = query
        .get("symbol")
        .filter(|s| !s.is_empty())
        .ok_or("symbol: required")?
        .clone();
    let interval = match query.get("interval").map(String::as_str) {
        None => Interval::OneSecond,
        Some(text) => serde_json::from_value(serde_json::Value::String(text.into()))
            .map_err(|_| format!("interval: expected 1s or 1m, got {text:?}"))?,
    };
    let before = query
        .get("before")
        .map(|b| {
            b.parse::<i64>()
                .ok()
                .and_then(DateTime::<Utc>::from_timestamp_micros)
                .ok_or_else(|| format!("before: expected microseconds since the epoch, got {b:?}"))
        })
        .transpose()?;
    let limit = query
        .get("limit")
        .map(|l| {
            l.parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| format!("limit: expected 1 to {MAX_LIMIT}, got {l:?}"))
        })
        .transpose()?
        .unwrap_or(DEFAULT_LIMIT);
    Ok(Ask {
        symbol,
        interval,
        before,
        limit,
    })
}

pub(crate) async fn older(
    State(hub): State<Arc<Hub>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Ask {
        symbol,
        interval,
        before,
        limit,
    } = match parse(&query) {
        Ok(ask) => ask,
        Err(message) => return bad(message),
    };
    let channel = Channel::Candles(symbol.clone(), interval);
    let (snapshot, _) = hub.snapshot(&[channel], SnapshotReason::Subscribed, usize::MAX);
    let Some(Data::Candles(all)) = snapshot.channels.into_iter().next().map(|c| c.data) else {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": format!("symbol {symbol:?} is not listed") })),
        )
            .into_response();
    };
    let end = before.map_or(all.len(), |b| all.partition_point(|c| c.start < b));
    let start = end.saturating_sub(limit);
    Json(Older {
        symbol,
        interval,
        candles: all[start..end].to_vec(),
        complete: start == 0,
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters_are_checked_and_named() {
        assert_eq!(parse(&q(&[])).unwrap_err(), "symbol: required");
        assert_eq!(
            parse(&q(&[("symbol", "AAPL")])).unwrap(),
            Ask {
                symbol: "AAPL".into(),
                interval: Interval::OneSecond,
                before: None,
                limit: DEFAULT_LIMIT
            }
        );
        let ask = parse(&q(&[
            ("symbol", "AAPL"),
            ("interval", "1m"),
            ("before", "1000000"),
            ("limit", "300"),
        ]))
        .unwrap();
        assert_eq!(ask.interval, Interval::OneMinute);
        assert_eq!(ask.before, DateTime::<Utc>::from_timestamp(1, 0));
        assert_eq!(ask.limit, 300);
        assert!(parse(&q(&[("symbol", "A"), ("interval", "5m")]))
            .unwrap_err()
            .starts_with("interval:"));
        assert!(parse(&q(&[("symbol", "A"), ("limit", "0")]))
            .unwrap_err()
            .starts_with("limit:"));
        assert!(parse(&q(&[("symbol", "A"), ("limit", "301")])).is_err());
        assert!(parse(&q(&[("symbol", "A"), ("before", "x")]))
            .unwrap_err()
            .starts_with("before:"));
    }
}
