//! Every input the fuzzers kept (fuzz/corpus/<target>/) and every crash they found
//! (fuzz/regressions/<target>/) runs through the same harness in `make test`, on the stable
//! toolchain: a bug the fuzzer found once stays found.
#![cfg(feature = "ssr")]

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

fn run(target: &str, f: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut inputs = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).unwrap();
            let path = entry.path();
            let outcome = std::panic::catch_unwind(|| f(&data));
            assert!(outcome.is_ok(), "{} fails", path.display());
            inputs += 1;
        }
    }
    assert!(inputs > 0, "no corpus for {target}");
    println!("{target}: {inputs} inputs");
}

#[test]
fn client_messages() {
    run("client_msg", harness::client_msg);
}

#[test]
fn sse_queries() {
    run("sse_query", harness::sse_query);
}

#[test]
fn redis_payloads() {
    run("redis_payload", harness::redis_payload);
}

#[test]
fn websocket_frames() {
    run("ws_frame", harness::ws_frame);
}

#[test]
fn publish_bodies() {
    run("publish_body", harness::publish_body);
}
