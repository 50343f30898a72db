//! Property tests of the client-message decoder: whatever bytes arrive, decoding returns a
//! message or a typed error; it never panics, and what it accepts round-trips.

use livetape::protocol::{Channel, ClientMsg, ErrorCode, Interval, League};
use proptest::prelude::*;

fn channel() -> impl Strategy<Value = Channel> {
    let symbol = "[A-Z.]{1,6}";
    prop_oneof![
        symbol.prop_map(Channel::Quotes),
        symbol.prop_map(Channel::Trades),
        (
            symbol,
            prop_oneof![Just(Interval::OneSecond), Just(Interval::OneMinute)]
        )
            .prop_map(|(s, i)| Channel::Candles(s, i)),
        prop::sample::select(League::ALL.to_vec()).prop_map(Channel::Scores),
    ]
}

fn message() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        any::<u64>().prop_map(|id| ClientMsg::Ping { id }),
        (any::<u64>(), prop::collection::vec(channel(), 0..8)).prop_map(|(id, channels)| {
            ClientMsg::Subscribe {
                id,
                channels,
                resume: None,
            }
        }),
        (any::<u64>(), prop::collection::vec(channel(), 0..8))
            .prop_map(|(id, channels)| ClientMsg::Unsubscribe { id, channels }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = ClientMsg::decode(&text) {
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn valid_messages_round_trip(msg in message()) {
        let text = serde_json::to_string(&msg).unwrap();
        prop_assert_eq!(ClientMsg::decode(&text), Ok(msg));
    }

    #[test]
    fn mangled_valid_messages_are_refused_or_read_never_panic(
        msg in message(),
        cut in any::<prop::sample::Index>(),
        junk in "[\\x00-\\x7f]{0,8}",
    ) {
        let text = serde_json::to_string(&msg).unwrap();
        let at = cut.index(text.len() + 1);
        let mangled = format!("{}{}{}", &text[..at], junk, &text[at..]);
        match ClientMsg::decode(&mangled) {
            Ok(_) => {}
            Err(e) => prop_assert!(matches!(
                e.code,
                ErrorCode::Malformed | ErrorCode::UnknownChannel | ErrorCode::BadInterval | ErrorCode::UnknownLeague
            )),
        }
    }

    #[test]
    fn channel_names_parse_back(c in channel()) {
        prop_assert_eq!(c.to_string().parse::<Channel>(), Ok(c));
    }
}
