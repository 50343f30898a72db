//! Every input the fuzzers kept (fuzz/corpus/<target>.tar.gz, one archive per target so that
//! thousands of small files stay out of the repository's tree) and every crash they found
//! (fuzz/regressions/<target>/) runs through the same harness in `make test`, on the stable
//! toolchain: a bug the fuzzer found once stays found.
#![cfg(feature = "ssr")]

#[path = "../fuzz/harness.rs"]
mod harness;

use std::io::Read;
use std::path::Path;

/// Each input of `target`'s corpus archive and regressions folder, with a name for messages.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut found = Vec::new();
    let archive = root.join("corpus").join(format!("{target}.tar.gz"));
    if let Ok(file) = std::fs::File::open(&archive) {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        for entry in tar.entries().expect("a readable corpus archive") {
            let mut entry = entry.expect("a readable corpus entry");
            let name = format!("{}:{}", archive.display(), entry.path().unwrap().display());
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .expect("a readable corpus entry");
            found.push((name, data));
        }
    }
    if let Ok(entries) = std::fs::read_dir(root.join("regressions").join(target)) {
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).unwrap();
            found.push((entry.path().display().to_string(), data));
        }
    }
    found
}

fn run(target: &str, f: fn(&[u8])) {
    let inputs = inputs(target);
    assert!(!inputs.is_empty(), "no corpus for {target}");
    for (name, data) in &inputs {
        let outcome = std::panic::catch_unwind(|| f(data));
        assert!(outcome.is_ok(), "{name} fails");
    }
    println!("{target}: {} inputs", inputs.len());
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
