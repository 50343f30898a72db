//! docs/protocol.md shows an example of every message; each must parse as the message it is.
//! Its recording example (```ndjson recording) must parse as publish batches; its publish
//! requests are posted to a real server by tests/docs_examples.rs.

use livetape::protocol::publish::PublishBatch;
use livetape::protocol::{ClientMsg, ServerMsg};
use std::collections::BTreeSet;

#[test]
fn every_example_in_the_protocol_doc_parses_and_every_message_has_one() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md"))
        .expect("docs/protocol.md");
    let mut server_types = BTreeSet::new();
    let mut client_types = BTreeSet::new();
    let mut publish_examples = 0;
    for (info, body) in fenced_blocks(&doc) {
        match info.as_str() {
            "json" => {}
            // Publish requests are posted to a real server by tests/docs_examples.rs (some
            // show a refusal); a recording's lines must parse as publish batches and pass the
            // rules that need no server state.
            "json publish" | "ndjson publish" => {
                publish_examples += 1;
                continue;
            }
            "ndjson recording" => {
                for json in body.lines().filter(|l| !l.trim().is_empty()) {
                    let batch: PublishBatch = serde_json::from_str(json)
                        .unwrap_or_else(|e| panic!("not a publish batch: {e}\n{json}"));
                    assert!(!batch.events.is_empty(), "{json}");
                    for event in &batch.events {
                        event.check().unwrap_or_else(|e| panic!("{e}: {json}"));
                    }
                }
                continue;
            }
            _ => continue,
        }
        let json = body.trim();
        let value: serde_json::Value =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON: {e}\n{json}"));
        let kind = value["type"].as_str().expect("a type").to_string();
        if let Ok(msg) = serde_json::from_str::<ServerMsg>(json) {
            // Re-encoding gives the same JSON value: the example is exactly the wire form.
            let again: serde_json::Value = serde_json::from_str(&msg.encode()).unwrap();
            assert_eq!(again, value, "{json}");
            server_types.insert(kind);
        } else {
            // A client message, or one the page shows refused: then it must be refused for a
            // reason other than its shape (the reply it gets is checked by docs_examples).
            if let Err(e) = ClientMsg::decode(json) {
                assert_ne!(e.code, livetape::protocol::ErrorCode::Malformed, "{json}");
            }
            client_types.insert(kind);
        }
    }
    assert!(
        publish_examples >= 5,
        "publish examples: {publish_examples}"
    );
    let expect = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        server_types,
        expect(&[
            "ack",
            "batch",
            "error",
            "heartbeat",
            "listed",
            "pong",
            "rows",
            "snapshot",
            "symbols",
            "welcome"
        ])
    );
    assert_eq!(
        client_types,
        expect(&[
            "close_view",
            "ping",
            "subscribe",
            "symbols",
            "unsubscribe",
            "view"
        ])
    );
}

/// Every fenced block of a Markdown text: its info string and its body.
fn fenced_blocks(doc: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if let Some(info) = line.strip_prefix("```") {
            let mut body = String::new();
            for inner in lines.by_ref() {
                if inner.starts_with("```") {
                    break;
                }
                body.push_str(inner);
                body.push('\n');
            }
            blocks.push((info.trim().to_string(), body));
        }
    }
    blocks
}
