//! Every request the docs show works when a user copies it: each is sent to a real server,
//! started as the README starts it, and must get the answer the docs show.
//!
//! - `docs/protocol.md`: each publish body (```json publish, ```ndjson publish) is posted to
//!   `/api/publish` and must get the status and JSON of the `HTTP/1.1 ...` block after it;
//!   each client message (subscribe, unsubscribe, ping) is sent on one `/ws` connection, in
//!   the order of the page, and must get the reply the page shows after it (an `ack`, `pong`
//!   or `error` with its `id`).
//! - `README.md`: the `curl` publish example, with the answer in the comment under it; the
//!   "From Rust" program is the client module's doc example, which `make test` compiles
//!   (`cargo test --doc`), word for word.
//!
//! A number under `tick` may differ (it is wherever the feed stands); everything else must be
//! equal. Each publish example gets a server of its own, as a user trying one would.

mod support;

use futures_util::SinkExt;
use livetape::client::Connection;
use livetape::protocol::{ClientMsg, ServerMsg};
use livetape::server::config::Config;
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "docs-example-token-0123456789";

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).expect(path)
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

/// The server as the README runs it for publishing:
/// `livetape --source sim,api --publish-token "$TOKEN" --allow-new-symbols`.
async fn readme_server() -> livetape::server::Running {
    let readme = read("README.md");
    let line = readme
        .lines()
        .find(|l| l.trim_start().starts_with("livetape --source sim,api"))
        .expect("the README runs a publishing server");
    let mut args: Vec<String> = line
        .split_whitespace()
        .map(|w| w.replace("\"$TOKEN\"", TOKEN))
        .collect();
    args.extend(["--addr".into(), "127.0.0.1:0".into()]);
    // Quick to start; nothing the examples depend on.
    args.extend(["--warmup-secs".into(), "5".into()]);
    let config = Config::try_parse_from(&args).unwrap_or_else(|e| panic!("{line}: {e}"));
    support::server(config).await
}

use clap::Parser as _;

/// A documented answer: the status and the JSON body.
struct Answer {
    status: u16,
    body: Value,
}

/// Reads an answer block: `HTTP/1.1 200 OK`, headers, a blank line, then the JSON.
fn answer(block: &str) -> Answer {
    let mut lines = block.lines();
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an answer starts with HTTP/1.1 and a status: {block}"));
    let json: String = lines
        .skip_while(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let body =
        serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("answer JSON: {e}\n{block}"));
    Answer { status, body }
}

/// Whether `got` is the documented `want`: equal, except that a number under `tick` may be
/// any number.
fn matches(want: &Value, got: &Value, key: &str) -> bool {
    match (want, got) {
        (Value::Number(_), Value::Number(_)) if key == "tick" => true,
        (Value::Object(w), Value::Object(g)) => {
            w.len() == g.len()
                && w.iter()
                    .all(|(k, v)| g.get(k).is_some_and(|gv| matches(v, gv, k)))
        }
        (Value::Array(w), Value::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(a, b)| matches(a, b, key))
        }
        _ => want == got,
    }
}

async fn post(addr: std::net::SocketAddr, body: &str, ndjson: bool) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client
        .post(format!("http://{addr}/api/publish"))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body(body.to_string());
    if ndjson {
        req = req.header("Content-Type", "application/x-ndjson");
    }
    let res = req.send().await.expect("the server answers");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, json)
}

#[tokio::test]
async fn every_publish_example_in_the_protocol_doc_gets_the_documented_answer() {
    let blocks = fenced_blocks(&read("docs/protocol.md"));
    let mut tried = 0;
    for (i, (info, body)) in blocks.iter().enumerate() {
        let ndjson = match info.as_str() {
            "json publish" => false,
            "ndjson publish" => true,
            _ => continue,
        };
        let Some((_, next)) = blocks.get(i + 1).filter(|(info, _)| info == "text") else {
            panic!("a publish example is followed by its answer (```text HTTP/1.1 ...):\n{body}");
        };
        let want = answer(next);
        let server = readme_server().await;
        // As `curl -d` sends it: the text of the block, without the newline that ends it.
        let body = if ndjson {
            body.as_str()
        } else {
            body.trim_end()
        };
        let (status, got) = post(server.addr, body, ndjson).await;
        assert!(
            status == want.status && matches(&want.body, &got, ""),
            "docs/protocol.md example:\n{body}\ndocumented: {} {}\ngot:        {status} {got}",
            want.status,
            want.body
        );
        server.shutdown.cancel();
        tried += 1;
    }
    assert!(tried >= 5, "publish examples tried: {tried}");
}

#[tokio::test]
async fn the_readme_publish_example_gets_the_documented_answer() {
    let readme = read("README.md");
    let lines: Vec<&str> = readme.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with("curl ") && l.contains("/api/publish"))
        .expect("the README has a curl publish example");
    // The command may continue over `\` lines; the body is the single-quoted -d argument.
    let mut command = String::new();
    let mut end = at;
    for (j, l) in lines.iter().enumerate().skip(at) {
        command.push_str(l.trim_end().trim_end_matches('\\'));
        command.push(' ');
        end = j;
        if !l.trim_end().ends_with('\\') {
            break;
        }
    }
    let body = command
        .split_once("-d '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(b, _)| b)
        .expect("curl ... -d '<body>'");
    let documented = lines[end + 1]
        .trim_start()
        .strip_prefix("# ")
        .expect("the answer in a comment under the command");
    let want: Value = serde_json::from_str(documented).unwrap();
    let server = readme_server().await;
    let (status, got) = post(server.addr, body, false).await;
    assert!(
        status == 200 && matches(&want, &got, ""),
        "README: {body}\ndocumented: {want}\ngot: {status} {got}"
    );
}

#[tokio::test]
async fn every_client_message_in_the_protocol_doc_gets_the_documented_reply() {
    let blocks = fenced_blocks(&read("docs/protocol.md"));
    let server = readme_server().await;
    let url = format!("ws://{}/ws", server.addr);
    let mut ws = Connection::open(&url, Duration::from_secs(5))
        .await
        .unwrap();
    let mut tried = 0;
    for (i, (info, body)) in blocks.iter().enumerate() {
        if info != "json" {
            continue;
        }
        let Ok(request) = ClientMsg::decode(body.trim()) else {
            continue;
        };
        let (id, expected_type) = match &request {
            ClientMsg::Subscribe { id, .. }
            | ClientMsg::Unsubscribe { id, .. }
            | ClientMsg::View { id, .. }
            | ClientMsg::CloseView { id, .. } => (*id, "ack"),
            ClientMsg::Ping { id } => (*id, "pong"),
            ClientMsg::Symbols { id, .. } => (*id, "symbols"),
        };
        // The documented reply: the next server message with this id, before the next request.
        let documented: Option<Value> = blocks[i + 1..]
            .iter()
            .filter(|(info, _)| info == "json")
            .map(|(_, b)| serde_json::from_str::<Value>(b.trim()).unwrap())
            .take_while(|v| ClientMsg::decode(&v.to_string()).is_err())
            .find(|v| v["id"].as_u64() == Some(id));
        // The documented text as it is, not the request re-encoded.
        ws.websocket()
            .send(Message::text(body.trim()))
            .await
            .unwrap();
        let reply: Value = loop {
            let text = tokio::time::timeout(Duration::from_secs(5), ws.recv_text())
                .await
                .unwrap_or_else(|_| panic!("no reply to {body}"))
                .expect("open");
            let msg: ServerMsg = serde_json::from_str(text.as_str()).unwrap();
            let value: Value = serde_json::from_str(text.as_str()).unwrap();
            match msg {
                ServerMsg::Ack { id: got, .. }
                | ServerMsg::Pong { id: got, .. }
                | ServerMsg::Symbols { id: got, .. }
                | ServerMsg::Error(livetape::protocol::ErrorReply { id: Some(got), .. })
                    if got == id =>
                {
                    break value
                }
                _ => continue,
            }
        };
        match &documented {
            Some(want) => {
                let mut want = want.clone();
                // A pong's time is the server's clock.
                if want["type"] == "pong" {
                    want["ts"] = reply["ts"].clone();
                }
                assert_eq!(reply, want, "docs/protocol.md request {body}");
            }
            None => assert_eq!(reply["type"], expected_type, "docs/protocol.md {body}"),
        }
        tried += 1;
    }
    assert!(tried >= 4, "client messages tried: {tried}");
}

#[test]
fn the_readme_rust_example_is_the_client_doc_example() {
    let readme = read("README.md");
    let section = &readme[readme.find("## From Rust").expect("a From Rust section")..];
    let (_, readme_example) = fenced_blocks(section)
        .into_iter()
        .find(|(info, _)| info == "rust")
        .expect("a rust block");
    let module = read("src/client/mod.rs");
    let doc: String = module
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l)))
        .collect();
    let (_, doc_example) = fenced_blocks(&doc)
        .into_iter()
        .find(|(info, _)| info == "no_run")
        .expect("a doc example");
    assert_eq!(readme_example, doc_example);
}
