//! What each fuzz target does with one input. Shared by the targets (nightly, libFuzzer) and
//! by tests/fuzz_corpus.rs (stable, the committed corpus and regressions).
//!
//! Beyond "does not panic", each checks what must hold for any input: a message the server
//! accepts encodes and decodes back to itself; a Redis payload that decodes re-encodes to
//! the same bytes; a publish body that parses checks without panicking and, once encoded,
//! encodes the same again; the frame parser never claims more bytes than it was given and never
//! returns a payload over the limit, nor does the inflater.
#![allow(dead_code)]

use livetape::protocol::publish::PublishBatch;
use livetape::protocol::{ClientMsg, ServerMsg};
use livetape::testing::payload;
use livetape::testing::websocket::deflate;
use livetape::testing::websocket::frame::{self, Opcode};
use livetape::testing::{parse_channels, parse_position};
use std::collections::HashMap;

/// A client's text frame, as the session decodes it.
pub fn client_msg(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ClientMsg::decode(text) {
        Ok(msg) => {
            let again = serde_json::to_string(&msg).expect("a decoded message encodes");
            let back = ClientMsg::decode(&again).expect("what we encode we decode");
            assert_eq!(back, msg, "{text} -> {again}");
        }
        Err(reply) => {
            // The error reply is what the client gets: it must encode and read back.
            let sent = ServerMsg::Error(reply).encode();
            assert!(serde_json::from_str::<ServerMsg>(&sent).is_ok(), "{sent}");
        }
    }
}

/// `/sse`'s query string and `Last-Event-ID` (the first line is the query, the rest the
/// header).
pub fn sse_query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (query, last_event_id) = text.split_once('\n').unwrap_or((&text, ""));
    let map: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let symbols = ["AAPL".to_string(), "MSFT".to_string(), "BRK.B".to_string()];
    if let Some(channels) = map.get("channels") {
        let _ = parse_channels(channels, &symbols);
    }
    let _ = parse_position(&map, (!last_event_id.is_empty()).then_some(last_event_id));
}

/// A tick's payload as read back from Redis.
pub fn redis_payload(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(commit) = payload::decode(1, 1, text) {
        let again = payload::encode(&commit);
        let back = payload::decode(1, 1, &again).expect("what we encode we decode");
        assert_eq!(payload::encode(&back), again);
    }
}

/// Bytes from a client's socket, frame after frame, with permessage-deflate agreed: a
/// compressed payload inflates to at most the limit, whatever it claims.
pub fn ws_frame(data: &[u8]) {
    const MAX: usize = 4096;
    let agreed = deflate::negotiate(["permessage-deflate; client_max_window_bits"].into_iter())
        .expect("browsers' offer is accepted");
    let mut inflater = deflate::Inflater::new(&agreed);
    let mut rest = data;
    while let Ok(Some((f, used))) = frame::parse(rest, MAX, true) {
        assert!(
            used > 0 && used <= rest.len(),
            "used {used} of {}",
            rest.len()
        );
        assert!(f.payload.len() <= MAX);
        if f.opcode == Opcode::Close {
            let _ = frame::parse_close(&f.payload);
        }
        if f.compressed {
            if let Ok(text) = inflater.inflate(&f.payload, MAX) {
                assert!(text.len() <= MAX);
            }
        }
        rest = &rest[used..];
    }
}

/// A `POST /api/publish` body (or one NDJSON line of it).
pub fn publish_body(data: &[u8]) {
    let batch: PublishBatch = match serde_json::from_slice(data) {
        Ok(b) => b,
        Err(e) => {
            // The 400 answer quotes the position: it must be there to quote.
            let _ = (e.line(), e.column(), e.to_string());
            return;
        }
    };
    let now = chrono::DateTime::from_timestamp_micros(1_795_675_878_069_371).unwrap();
    for event in &batch.events {
        let _ = event.symbol();
        if event.check().is_ok() {
            let _ = event.clone().into_parts(now);
        }
    }
    // What is recorded (the batch as the server writes it) reads back, and writes the same.
    let once = serde_json::to_string(&batch).expect("a batch encodes");
    let back: PublishBatch = serde_json::from_str(&once).expect("what we write we read");
    assert_eq!(serde_json::to_string(&back).unwrap(), once);
}
