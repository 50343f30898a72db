//! The protocol's unit tests: round trips, wire shapes, rules.

use super::*;
use chrono::{DateTime, TimeZone, Utc};
use std::collections::BTreeMap;

fn t(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_790_000_000_000 + ms).unwrap()
}

fn quote() -> Quote {
    Quote {
        symbol: "AAPL".into(),
        bid: 189.12,
        ask: 189.14,
        last: 189.13,
        open: 187.5,
        volume: 1_234_500,
        ts: t(1),
    }
}

fn trade() -> Trade {
    Trade {
        symbol: "AAPL".into(),
        price: 189.14,
        size: 300,
        side: Side::Buy,
        ts: t(5),
    }
}

fn candle() -> Candle {
    Candle {
        start: t(0),
        open: 1.0,
        high: 2.0,
        low: 0.5,
        close: 1.5,
        volume: 900,
    }
}

fn game() -> Game {
    Game {
        id: 7,
        slot: 0,
        league: League::Basketball,
        home: Team {
            code: "BOS".into(),
            name: "Boston Harbor".into(),
        },
        away: Team {
            code: "DEN".into(),
            name: "Denver Peaks".into(),
        },
        home_score: 88,
        away_score: 91,
        period: 4,
        clock_ms: 95_000,
        status: GameStatus::Live,
        ts: t(2),
        starts: None,
    }
}

fn round_trip(msg: ServerMsg) {
    let text = msg.encode();
    let back: ServerMsg = serde_json::from_str(&text).expect(&text);
    assert_eq!(back, msg, "{text}");
}

fn sym(s: &str) -> String {
    s.to_string()
}

#[test]
fn every_server_message_round_trips() {
    round_trip(ServerMsg::Welcome {
        epoch: 1,
        ts: t(0),
        heartbeat_ms: 1000,
        max_subscriptions: 512,
        universe: 2,
        max_view_rows: 500,
        max_views: 4,
    });
    round_trip(ServerMsg::Ack {
        id: 4,
        channels: vec![Channel::Quotes(sym("AAPL"))],
    });
    round_trip(ServerMsg::Snapshot(Snapshot {
        epoch: 42,
        ts: t(3),
        reason: Some(SnapshotReason::Subscribed),
        channels: vec![
            ChannelState {
                channel: Channel::Quotes(sym("AAPL")),
                seq: 9,
                data: Data::Quote(quote()),
            },
            ChannelState {
                channel: Channel::Trades(sym("AAPL")),
                seq: 3,
                data: Data::Trades(vec![trade()]),
            },
            ChannelState {
                channel: Channel::Candles(sym("AAPL"), Interval::OneMinute),
                seq: 2,
                data: Data::Candles(vec![candle()]),
            },
            ChannelState {
                channel: Channel::Scores(League::Basketball),
                seq: 0,
                data: Data::Games(vec![game()]),
            },
        ],
    }));
    round_trip(ServerMsg::Batch(Batch {
        n: 12,
        ts: t(4),
        updates: vec![
            Update {
                channel: Channel::Quotes(sym("AAPL")),
                seq: 10,
                data: Data::Quote(quote()),
            },
            Update {
                channel: Channel::Candles(sym("AAPL"), Interval::OneSecond),
                seq: 11,
                data: Data::Candles(vec![candle()]),
            },
        ],
    }));
    round_trip(ServerMsg::Heartbeat { ts: t(6) });
    round_trip(ServerMsg::Pong { id: 3, ts: t(6) });
    round_trip(ServerMsg::Error(ErrorReply {
        id: Some(5),
        code: ErrorCode::TooManySubscriptions,
        message: "nope".into(),
    }));
}

#[test]
fn every_client_message_round_trips() {
    let mut from = BTreeMap::new();
    from.insert(Channel::Quotes(sym("AAPL")), 17);
    for msg in [
        ClientMsg::Ping { id: 77 },
        ClientMsg::Subscribe {
            id: 1,
            channels: vec![
                Channel::Quotes(sym("AAPL")),
                Channel::Scores(League::Soccer),
            ],
            resume: Some(Resume {
                epoch: 9,
                from,
                latest: true,
            }),
        },
        ClientMsg::Subscribe {
            id: 2,
            channels: vec![],
            resume: None,
        },
        ClientMsg::Unsubscribe {
            id: 3,
            channels: vec![Channel::Trades(sym("MSFT"))],
        },
    ] {
        let text = serde_json::to_string(&msg).unwrap();
        assert_eq!(ClientMsg::decode(&text), Ok(msg), "{text}");
    }
    assert_eq!(
        serde_json::to_string(&ClientMsg::Ping { id: 77 }).unwrap(),
        r#"{"type":"ping","id":77}"#
    );
    // `resume` may be left out.
    assert!(ClientMsg::decode(r#"{"type":"subscribe","id":1,"channels":["quotes:A"]}"#).is_ok());
}

#[test]
fn channel_names() {
    for name in [
        "quotes:AAPL",
        "trades:BRK.B",
        "candles:MSFT:1s",
        "candles:MSFT:1m",
        "scores:hockey",
    ] {
        let c: Channel = name.parse().unwrap();
        assert_eq!(c.to_string(), name);
    }
    assert_eq!(
        "candles:AAPL:5m".parse::<Channel>(),
        Err(ChannelError::BadInterval("5m".into()))
    );
    assert_eq!(
        "scores:cricket".parse::<Channel>(),
        Err(ChannelError::UnknownLeague("cricket".into()))
    );
    for bad in [
        "",
        "quotes",
        "quotes:",
        "books:AAPL",
        "candles:AAPL",
        "quotes:A:B",
    ] {
        assert!(
            matches!(bad.parse::<Channel>(), Err(ChannelError::Unknown(_))),
            "{bad}"
        );
    }
}

#[test]
fn wire_shape_is_tagged_and_uses_microsecond_timestamps() {
    let text = ServerMsg::Pong { id: 1, ts: t(0) }.encode();
    assert_eq!(text, r#"{"type":"pong","id":1,"ts":1790000000000000}"#);
    let mut q = quote();
    q.ts = t(0);
    let batch = ServerMsg::Batch(Batch {
        n: 3,
        ts: t(0),
        updates: vec![Update {
            channel: Channel::Quotes(sym("AAPL")),
            seq: 1,
            data: Data::Quote(q),
        }],
    })
    .encode();
    assert_eq!(
        batch,
        r#"{"type":"batch","n":3,"ts":1790000000000000,"updates":[{"c":"quotes:AAPL","s":1,"q":{"b":189.12,"a":189.14,"l":189.13,"o":187.5,"v":1234500}}]}"#,
        "the symbol is the channel's and the quote's time is the batch's"
    );
    let trade = Update {
        channel: Channel::Trades(sym("AAPL")),
        seq: 2,
        data: Data::Trades(vec![trade()]),
    };
    assert_eq!(
        trade.encode_in(t(0)),
        r#"{"c":"trades:AAPL","s":2,"t":[{"p":189.14,"q":300,"s":"b","t":1790000000005000}]}"#,
        "a time that differs from the batch's is written"
    );
    assert_eq!(Update::decode_in(&trade.encode_in(t(0)), t(0)), Ok(trade));
}

#[test]
fn a_quote_update_is_at_most_100_bytes() {
    // A long symbol, a price above a thousand dollars, a seq and volume from a long day.
    let q = Quote {
        symbol: "GOOGL".into(),
        bid: 1234.56,
        ask: 1234.61,
        last: 1234.59,
        open: 1219.87,
        volume: 123_456_789,
        ts: t(0),
    };
    let json = Update {
        channel: Channel::Quotes("BRK.B".into()),
        seq: 9_876_543,
        data: Data::Quote(q),
    }
    .encode_in(t(0));
    assert!(json.len() <= 100, "{} bytes: {json}", json.len());
}

#[test]
fn items_are_checked_against_their_channel() {
    let ctx = t(0);
    for (bad, why) in [
        (
            r#"{"c":"quotes:A","s":1,"t":[]}"#,
            "trades on a quotes channel",
        ),
        (r#"{"c":"quotes:A","s":1}"#, "no data"),
        (
            r#"{"c":"quotes:A","s":1,"q":{"b":1,"a":2,"l":1,"o":1,"v":1},"k":[]}"#,
            "two kinds",
        ),
        (
            r#"{"c":"quotes:A","s":1,"q":{"b":1,"a":2,"l":1,"o":1,"v":1,"x":0}}"#,
            "unknown key",
        ),
        (
            r#"{"c":"quotes:A","s":1,"q":{"b":1,"a":2,"l":1,"o":1,"v":1,"t":9223372036854775807}}"#,
            "time out of range",
        ),
    ] {
        assert!(Update::decode_in(bad, ctx).is_err(), "{why}: {bad}");
    }
}

#[test]
fn bad_client_messages_become_typed_errors() {
    let err = ClientMsg::decode("not json").unwrap_err();
    assert_eq!((err.code, err.id), (ErrorCode::Malformed, None));
    assert!(
        err.message.contains("invalid client message"),
        "{}",
        err.message
    );

    let err = ClientMsg::decode(r#"{"type":"launch","id":12}"#).unwrap_err();
    assert_eq!((err.code, err.id), (ErrorCode::Malformed, Some(12)));
    assert!(err.message.contains("launch"), "{}", err.message);

    let err = ClientMsg::decode(r#"{"type":"subscribe","id":3,"channels":["candles:A:5m"]}"#)
        .unwrap_err();
    assert_eq!((err.code, err.id), (ErrorCode::BadInterval, Some(3)));
    let err = ClientMsg::decode(r#"{"type":"subscribe","id":4,"channels":["scores:chess"]}"#)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownLeague);
    let err = ClientMsg::decode(r#"{"type":"subscribe","id":5,"channels":["nope"]}"#).unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownChannel);

    assert!(ClientMsg::decode(r#"{"type":"ping"}"#).is_err());
    assert!(ClientMsg::decode(r#"{"type":"ping","id":-1}"#).is_err());
    assert!(ClientMsg::decode("").is_err());
}

#[test]
fn clock_runs_from_its_anchor_only_while_live() {
    let mut g = game();
    assert_eq!(
        g.clock_at(t(2) + chrono::Duration::milliseconds(5_000)),
        90_000
    );
    assert_eq!(g.clock_at(t(2) + chrono::Duration::hours(1)), 0);
    assert_eq!(
        g.clock_at(t(0)),
        95_000,
        "a reading before the anchor does not run back"
    );
    g.status = GameStatus::Break;
    assert_eq!(
        g.clock_at(t(2) + chrono::Duration::milliseconds(5_000)),
        95_000
    );
    g.status = GameStatus::Live;
    g.league = League::Soccer;
    g.clock_ms = 44 * 60_000;
    assert_eq!(
        g.clock_at(t(2) + chrono::Duration::minutes(5)),
        45 * 60_000,
        "soccer counts up and stops at the end of the half"
    );
}

#[test]
fn period_labels() {
    assert_eq!(League::Basketball.period_label(3), "Q3");
    assert_eq!(League::Basketball.period_label(5), "OT");
    assert_eq!(League::Hockey.period_label(6), "3OT");
    assert_eq!(League::Soccer.period_label(2), "2H");
}

#[test]
fn change_is_relative_to_the_open() {
    let q = quote();
    assert!((q.change() - 1.63).abs() < 1e-9);
    assert!((q.change_pct() - 1.63 / 187.5 * 100.0).abs() < 1e-9);
}
