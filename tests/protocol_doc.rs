//! docs/protocol.md shows an example of every message; each must parse as the message it is.

use livetape::protocol::{ClientMsg, ServerMsg};
use std::collections::BTreeSet;

#[test]
fn every_example_in_the_protocol_doc_parses_and_every_message_has_one() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md"))
        .expect("docs/protocol.md");
    let mut server_types = BTreeSet::new();
    let mut client_types = BTreeSet::new();
    for block in doc.split("```json").skip(1) {
        let json = block.split("```").next().unwrap().trim();
        let value: serde_json::Value =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON: {e}\n{json}"));
        let kind = value["type"].as_str().expect("a type").to_string();
        if let Ok(msg) = serde_json::from_str::<ServerMsg>(json) {
            // Re-encoding gives the same JSON value: the example is exactly the wire form.
            let again: serde_json::Value = serde_json::from_str(&msg.encode()).unwrap();
            assert_eq!(again, value, "{json}");
            server_types.insert(kind);
        } else {
            ClientMsg::decode(json).unwrap_or_else(|e| panic!("{}: {json}", e.message));
            client_types.insert(kind);
        }
    }
    let expect = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        server_types,
        expect(&[
            "ack",
            "batch",
            "error",
            "heartbeat",
            "pong",
            "snapshot",
            "welcome"
        ])
    );
    assert_eq!(client_types, expect(&["ping", "subscribe", "unsubscribe"]));
}
