//! Where an event stream starts, and with which channels: both travel in the URL (there is no
//! way back from the client on an event stream), or in `Last-Event-ID` when the browser's
//! `EventSource` reconnects by itself.

use crate::protocol::{
    Channel, ChannelError, Epoch, ErrorCode, League, Seq, SnapshotReason, SortKey, ViewSpec,
};
use crate::server::feed::catalog::{Catalog, ChannelId};
use crate::server::feed::hub::Start;
use crate::server::feed::tick::TickNo;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The longest URL part we read for channels and positions: a dashboard needs far less
/// (`quotes:*,scores:*` and two detail channels).
const MAX_QUERY_ITEMS: usize = 4096;

/// Where a stream starts, as read from the URL and `Last-Event-ID`.
#[derive(Debug, PartialEq)]
pub struct Position {
    pub(crate) epoch: Option<Epoch>,
    pub(crate) after: Option<TickNo>,
    pub(crate) from: BTreeMap<Channel, Seq>,
    pub(crate) fresh: BTreeSet<Channel>,
    /// `latest=1`: positions in `from` resume with the latest state only
    /// ([`crate::protocol::Resume::latest`]).
    pub(crate) latest: bool,
}

/// The channels named by the `channels` parameter, shorthands expanded.
pub fn parse_channels(text: &str, symbols: &[String]) -> Result<Vec<Channel>, (ErrorCode, String)> {
    let mut out = Vec::new();
    for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match name {
            "quotes:*" => out.extend(symbols.iter().map(|s| Channel::Quotes(s.clone()))),
            "scores:*" => out.extend(League::ALL.into_iter().map(Channel::Scores)),
            _ => out.push(name.parse().map_err(|e: ChannelError| {
                let code = match e {
                    ChannelError::BadInterval(_) => ErrorCode::BadInterval,
                    ChannelError::UnknownLeague(_) => ErrorCode::UnknownLeague,
                    ChannelError::Unknown(_) => ErrorCode::UnknownChannel,
                };
                (code, e.to_string())
            })?),
        }
        if out.len() > MAX_QUERY_ITEMS {
            return Err((ErrorCode::TooManySubscriptions, "too many channels".into()));
        }
    }
    Ok(out)
}

/// The view the query asks for (`sort`, `desc`, `filter`, `offset`, `limit`), if it gives a
/// `limit`: a window of the ranked universe, as `/ws`'s `view` request opens one.
pub fn parse_view(
    query: &HashMap<String, String>,
) -> Result<Option<ViewSpec>, (ErrorCode, String)> {
    let Some(limit) = query.get("limit") else {
        return Ok(None);
    };
    let bad = |what: &str| (ErrorCode::BadView, format!("bad {what}"));
    let sort = match query.get("sort") {
        None => SortKey::Listing,
        Some(s) => serde_json::from_value(serde_json::Value::String(s.clone())).map_err(|_| {
            bad("sort: expected listing, symbol, bid, ask, last, change, change_pct or volume")
        })?,
    };
    Ok(Some(ViewSpec {
        sort,
        desc: matches!(query.get("desc").map(String::as_str), Some("1" | "true")),
        filter: query.get("filter").cloned().unwrap_or_default(),
        offset: query
            .get("offset")
            .map(|o| o.parse().map_err(|_| bad("offset")))
            .transpose()?
            .unwrap_or(0),
        limit: limit.parse().map_err(|_| bad("limit"))?,
        hold: false,
    }))
}

/// The resume position from the query and the `Last-Event-ID` header (which wins: it is
/// the browser's own record of the last batch it got).
pub fn parse_position(
    query: &HashMap<String, String>,
    last_event_id: Option<&str>,
) -> Result<Position, (ErrorCode, String)> {
    let malformed = |what: &str| (ErrorCode::Malformed, format!("bad {what}"));
    let mut position = Position {
        epoch: query
            .get("epoch")
            .map(|e| e.parse().map_err(|_| malformed("epoch")))
            .transpose()?,
        after: query
            .get("after")
            .map(|n| n.parse().map_err(|_| malformed("after")))
            .transpose()?,
        from: BTreeMap::new(),
        fresh: Default::default(),
        latest: match query.get("latest").map(String::as_str) {
            None | Some("0" | "false") => false,
            Some("1" | "true") => true,
            Some(_) => return Err(malformed("latest: expected 1 or 0")),
        },
    };
    if let Some(fresh) = query.get("fresh") {
        for (i, name) in fresh.split(',').filter(|s| !s.is_empty()).enumerate() {
            if i >= MAX_QUERY_ITEMS {
                return Err(malformed("fresh: too many channels"));
            }
            position
                .fresh
                .insert(name.parse().map_err(|_| malformed("fresh: channel"))?);
        }
    }
    if let Some(from) = query.get("from") {
        for (i, item) in from.split(',').filter(|s| !s.is_empty()).enumerate() {
            if i >= MAX_QUERY_ITEMS {
                return Err(malformed("from: too many positions"));
            }
            let (channel, seq) = item
                .rsplit_once('@')
                .ok_or_else(|| malformed("from: expected CHANNEL@SEQ"))?;
            let channel: Channel = channel.parse().map_err(|_| malformed("from: channel"))?;
            let seq = seq.parse().map_err(|_| malformed("from: seq"))?;
            position.from.insert(channel, seq);
        }
    }
    if let Some(id) = last_event_id.map(str::trim).filter(|s| !s.is_empty()) {
        let (epoch, n) = id
            .split_once('.')
            .and_then(|(e, n)| Some((e.parse().ok()?, n.parse().ok()?)))
            .ok_or_else(|| malformed("Last-Event-ID: expected EPOCH.TICK"))?;
        position.epoch = Some(epoch);
        position.after = Some(n);
        position.from.clear();
    }
    Ok(position)
}

/// What each channel asks for, from the position.
pub(crate) fn starts(
    ids: &[ChannelId],
    channels: &[Channel],
    position: &Position,
) -> Vec<(ChannelId, Start)> {
    let mut seen = BTreeSet::new();
    ids.iter()
        .zip(channels)
        .filter(|(id, _)| seen.insert(**id))
        .map(|(&id, channel)| {
            let start = match (position.epoch, position.from.get(channel), position.after) {
                _ if position.fresh.contains(channel) => {
                    Start::Snapshot(SnapshotReason::Subscribed)
                }
                (Some(epoch), Some(&seq), _) => {
                    Start::resume(epoch, seq, position.latest, Catalog::kind(id).0)
                }
                (Some(epoch), None, Some(n)) => Start::AfterTick {
                    epoch,
                    n,
                    or_else: SnapshotReason::HistoryExhausted,
                },
                _ => Start::Snapshot(SnapshotReason::Subscribed),
            };
            (id, start)
        })
        .collect()
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
    fn channels_with_shorthands() {
        let symbols = vec!["AAPL".to_string(), "MSFT".to_string()];
        let c = parse_channels("quotes:*,scores:*,trades:AAPL", &symbols).unwrap();
        assert_eq!(c.len(), 2 + League::ALL.len() + 1);
        assert_eq!(c[0], Channel::Quotes("AAPL".into()));
        assert_eq!(c.last(), Some(&Channel::Trades("AAPL".into())));
        assert_eq!(
            parse_channels("candles:A:5m", &symbols).unwrap_err().0,
            ErrorCode::BadInterval
        );
        assert_eq!(
            parse_channels("nope", &symbols).unwrap_err().0,
            ErrorCode::UnknownChannel
        );
        assert!(parse_channels("", &symbols).unwrap().is_empty());
    }

    #[test]
    fn positions_from_the_query_and_last_event_id() {
        let p = parse_position(
            &q(&[
                ("epoch", "7"),
                ("after", "40"),
                ("from", "quotes:BRK.B@12,candles:A:1s@3"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!((p.epoch, p.after), (Some(7), Some(40)));
        assert_eq!(p.from[&Channel::Quotes("BRK.B".into())], 12);
        assert_eq!(
            p.from[&Channel::Candles("A".into(), crate::protocol::Interval::OneSecond)],
            3
        );
        let p = parse_position(&q(&[("fresh", "trades:A,candles:A:1m")]), None).unwrap();
        assert_eq!(p.fresh.len(), 2);
        let p =
            parse_position(&q(&[("epoch", "7"), ("from", "quotes:A@1")]), Some("9.120")).unwrap();
        assert_eq!(
            (p.epoch, p.after),
            (Some(9), Some(120)),
            "Last-Event-ID wins"
        );
        assert!(p.from.is_empty());
        for bad in [
            q(&[("epoch", "x")]),
            q(&[("after", "-1")]),
            q(&[("from", "quotes:A")]),
            q(&[("from", "quotes:A@x")]),
        ] {
            assert!(parse_position(&bad, None).is_err(), "{bad:?}");
        }
        assert!(parse_position(&q(&[]), Some("garbage")).is_err());
    }

    #[test]
    fn a_view_from_the_query() {
        assert_eq!(
            parse_view(&q(&[("sort", "volume")])).unwrap(),
            None,
            "no limit, no view"
        );
        let v = parse_view(&q(&[
            ("sort", "change_pct"),
            ("desc", "1"),
            ("filter", "aa"),
            ("offset", "40"),
            ("limit", "60"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (v.sort, v.desc, v.filter.as_str(), v.offset, v.limit),
            (SortKey::ChangePct, true, "aa", 40, 60)
        );
        for bad in [
            q(&[("limit", "x")]),
            q(&[("limit", "5"), ("sort", "height")]),
            q(&[("limit", "5"), ("offset", "-1")]),
        ] {
            assert_eq!(
                parse_view(&bad).unwrap_err().0,
                ErrorCode::BadView,
                "{bad:?}"
            );
        }
    }
}
