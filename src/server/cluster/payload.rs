//! A tick as it is stored in the tick stream: what a node needs to apply it exactly as the
//! producer did, with every update's JSON as the producer encoded it (so no node re-encodes).
//!
//! `{"ts":<µs>,"new":[<quote item>,..],"u":[[<channel id>,<seq>,<item>],..],"in":{..}}` where
//! an item is the protocol's short form (`protocol::wire`) for a batch at `ts`, `new` lists
//! the symbols first published in this tick with their first quote (written in full), and
//! `in` (when the tick settled publish requests from the inbox) is
//! `{"to":"<stream id>","rej":[["<stream id>","<reason>"],..]}`.

use crate::protocol::{Channel, Data, Epoch, Update};
use crate::server::feed::hub::{Commit, Numbered};
use crate::server::feed::tick::TickNo;
use bytes::Bytes;
use chrono::DateTime;
use serde::Deserialize;
use serde_json::value::RawValue;

pub fn encode(tick: &Commit) -> String {
    let mut out = String::with_capacity(
        64 + tick
            .updates
            .iter()
            .map(|u| u.json.len() + 16)
            .sum::<usize>(),
    );
    out.push_str(r#"{"ts":"#);
    out.push_str(&tick.ts.timestamp_micros().to_string());
    out.push_str(r#","new":["#);
    for (i, q) in tick.new_symbols.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Update::encode_parts(
            &Channel::Quotes(q.symbol.clone()),
            0,
            &Data::Quote(q.clone()),
            None,
        ));
    }
    out.push_str(r#"],"u":["#);
    for (i, u) in tick.updates.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        out.push_str(&u.channel.to_string());
        out.push(',');
        out.push_str(&u.seq.to_string());
        out.push(',');
        // Items are JSON the producer wrote from our own types: UTF-8 by construction.
        out.push_str(std::str::from_utf8(&u.json).unwrap_or("null"));
        out.push(']');
    }
    out.push(']');
    if let Some(mark) = &tick.inbox {
        out.push_str(r#","in":"#);
        out.push_str(
            &serde_json::to_string(&RawMark {
                to: mark.to.clone(),
                rej: mark.rejected.clone(),
            })
            .expect("strings always serialise"),
        );
    }
    out.push('}');
    out
}

#[derive(serde::Serialize, Deserialize)]
struct RawMark {
    to: String,
    #[serde(default)]
    rej: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct Raw<'a> {
    ts: i64,
    #[serde(borrow, default)]
    new: Vec<&'a RawValue>,
    #[serde(borrow)]
    u: Vec<(u32, u64, &'a RawValue)>,
    #[serde(default, rename = "in")]
    inbox: Option<RawMark>,
}

/// Reads tick `n` of `epoch`.
pub fn decode(epoch: Epoch, n: TickNo, payload: &str) -> Result<Commit, String> {
    let raw: Raw = serde_json::from_str(payload).map_err(|e| e.to_string())?;
    let ts = DateTime::from_timestamp_micros(raw.ts).ok_or("timestamp out of range")?;
    let new_symbols = raw
        .new
        .iter()
        .map(|item| match Update::decode_in(item.get(), ts)?.data {
            Data::Quote(q) => Ok(q),
            _ => Err("a new symbol without its quote".to_string()),
        })
        .collect::<Result<_, String>>()?;
    let updates = raw
        .u
        .into_iter()
        .map(|(channel, seq, item)| {
            let update = Update::decode_in(item.get(), ts)?;
            Ok(Numbered {
                channel,
                seq,
                data: update.data,
                json: Bytes::copy_from_slice(item.get().as_bytes()),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Commit {
        epoch,
        n,
        ts,
        new_symbols,
        updates,
        inbox: raw.inbox.map(|m| crate::server::feed::hub::InboxMark {
            to: m.to,
            rejected: m.rej,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Event, Side, Trade};
    use crate::server::feed::hub::Hub;
    use crate::server::feed::numbering::prepare;
    use crate::server::feed::state::LiveState;
    use chrono::Utc;

    #[test]
    fn a_tick_reads_back_as_the_producer_numbered_it() {
        let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
        let quote = crate::server::feed::fixtures::quote;
        let hub = Hub::new(7, LiveState::new(now, vec![quote("A", 10.0)], vec![]), 8, 8);
        let mut tick = prepare(
            &hub,
            now,
            vec![
                Event::Quote(quote("A", 10.5)),
                Event::Trade(Trade {
                    symbol: "NEW".into(),
                    price: 3.0,
                    size: 5,
                    side: Side::Sell,
                    ts: now,
                }),
            ],
            vec![quote("NEW", 3.0)],
        );
        tick.inbox = Some(crate::server::feed::hub::InboxMark {
            to: "1700000000000-3".into(),
            rejected: vec![("1700000000000-2".into(), "unknown symbol \"X\"".into())],
        });
        let back = decode(7, tick.n, &encode(&tick)).unwrap();
        assert_eq!(back.inbox, tick.inbox);
        assert_eq!(back.n, tick.n);
        assert_eq!(back.ts, tick.ts);
        assert_eq!(back.new_symbols, tick.new_symbols);
        assert_eq!(back.updates.len(), tick.updates.len());
        for (a, b) in back.updates.iter().zip(&tick.updates) {
            assert_eq!(
                (a.channel, a.seq, &a.data, &a.json),
                (b.channel, b.seq, &b.data, &b.json)
            );
        }
        // Another hub applies it and ends up where the producer's does.
        let other = Hub::new(7, LiveState::new(now, vec![quote("A", 10.0)], vec![]), 8, 8);
        hub.commit(tick).unwrap();
        other.commit(back).unwrap();
        assert_eq!(other.image().state, hub.image().state);
        assert!(decode(7, 1, "{").is_err());
        assert!(decode(7, 1, r#"{"ts":1,"u":[[0,1,{"c":"quotes:A","s":1}]]}"#).is_err());
    }
}
