//! permessage-deflate on the feed, as a browser negotiates it: compressed ticks that inflate to
//! exactly what an uncompressed client gets, compressed requests (with the client's context
//! carried from one message to the next) understood, and bad compressed input refused with
//! the right close code.
#![cfg(feature = "ssr")]

mod support;

use livetape::protocol::{Channel, ClientMsg, ServerMsg};
use std::collections::BTreeMap;
use std::time::Duration;
use support::raw_ws::{close_of, inflate, RawWs, BROWSER_OFFER};
use support::*;

fn subscribe(id: u64, channels: &[Channel]) -> Vec<u8> {
    serde_json::to_vec(&ClientMsg::Subscribe {
        id,
        channels: channels.to_vec(),
        resume: None,
    })
    .unwrap()
}

/// The welcome, then the names of the universe (asked for, as a client that follows them).
async fn welcome_symbols(ws: &mut RawWs) -> Vec<String> {
    let text = ws.next_text().await.unwrap();
    match serde_json::from_slice(&text).unwrap() {
        ServerMsg::Welcome { .. } => {}
        other => panic!("expected a welcome, got {other:?}"),
    }
    let ask = ClientMsg::Symbols {
        id: 99,
        offset: 0,
        limit: 10_000,
    };
    ws.send_text(&serde_json::to_vec(&ask).unwrap(), false)
        .await
        .unwrap();
    loop {
        let text = ws.next_text().await.unwrap();
        if let ServerMsg::Symbols { symbols, .. } = serde_json::from_slice(&text).unwrap() {
            return symbols;
        }
    }
}

async fn until_ack(ws: &mut RawWs, id: u64) {
    loop {
        let text = ws.next_text().await.unwrap();
        match serde_json::from_slice(&text).unwrap() {
            ServerMsg::Ack { id: got, .. } if got == id => return,
            ServerMsg::Error(e) => panic!("{e:?}"),
            _ => {}
        }
    }
}

/// Batch frames by tick: (bytes on the wire, the message once inflated).
async fn batches(ws: &mut RawWs, ticks: usize) -> BTreeMap<u64, (usize, bool, Vec<u8>)> {
    let mut out = BTreeMap::new();
    while out.len() < ticks {
        let f = ws.next().await.unwrap();
        assert_eq!(f.opcode, 1, "{f:?}");
        let text = if f.compressed {
            inflate(&f.payload).unwrap()
        } else {
            f.payload.clone()
        };
        if let Ok(ServerMsg::Batch(b)) = serde_json::from_slice(&text) {
            out.insert(b.n, (f.payload.len(), f.compressed, text));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_gets_compressed_ticks_equal_to_the_plain_ones_and_is_understood() {
    let mut cfg = config();
    cfg.symbols = 200;
    cfg.quote_rate = 20.0;
    let server = server(cfg).await;
    let mut z = RawWs::connect(server.addr, "/ws", Some(BROWSER_OFFER))
        .await
        .unwrap();
    assert_eq!(
        z.extensions.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=9")
    );
    let mut plain = RawWs::connect(server.addr, "/ws", None).await.unwrap();
    assert_eq!(plain.extensions, None, "no offer, no compression");

    let symbols = welcome_symbols(&mut z).await;
    assert_eq!(welcome_symbols(&mut plain).await, symbols);
    let channels: Vec<Channel> = symbols.iter().cloned().map(Channel::Quotes).collect();
    // Two compressed requests from one compressor: the second refers back into the first
    // (its window holds it), so the server must keep the client's context to read it.
    z.send_text(&subscribe(1, &channels[..100]), true)
        .await
        .unwrap();
    until_ack(&mut z, 1).await;
    z.send_text(&subscribe(2, &channels), true).await.unwrap();
    until_ack(&mut z, 2).await;
    plain
        .send_text(&subscribe(1, &channels), false)
        .await
        .unwrap();
    until_ack(&mut plain, 1).await;

    let (zb, pb) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(batches(&mut z, 40), batches(&mut plain, 40))
    })
    .await
    .expect("40 ticks within 30 s");
    // Ticks both had once both were in sync (the first few may be cut to what a snapshot did
    // not cover yet).
    let first = zb.keys().next().unwrap().max(pb.keys().next().unwrap()) + 3;
    let common: Vec<u64> = zb
        .keys()
        .filter(|n| **n >= first && pb.contains_key(n))
        .copied()
        .collect();
    assert!(common.len() >= 20, "only {} ticks in common", common.len());
    let (mut wire_z, mut wire_plain) = (0, 0);
    for n in &common {
        let (zlen, compressed, ztext) = &zb[n];
        let (plen, _, ptext) = &pb[n];
        assert!(compressed, "tick {n} of {plen} bytes went uncompressed");
        assert_eq!(
            ztext, ptext,
            "tick {n} inflates to the plain client's frame"
        );
        wire_z += zlen;
        wire_plain += plen;
    }
    let ratio = wire_plain as f64 / wire_z as f64;
    eprintln!(
        "{} ticks: {wire_plain} bytes plain, {wire_z} compressed ({ratio:.2}x)",
        common.len()
    );
    assert!(ratio > 2.5, "compressed only {ratio:.2}x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_compressed_input_is_refused_with_its_close_code() {
    let server = server(config()).await;
    let close_after = |first: u8, payload: Vec<u8>, offer: Option<&'static str>| {
        let addr = server.addr;
        async move {
            let mut ws = RawWs::connect(addr, "/ws", offer).await.unwrap();
            welcome_symbols(&mut ws).await;
            ws.send_frame(first, &payload).await.unwrap();
            loop {
                let f = tokio::time::timeout(Duration::from_secs(5), ws.next())
                    .await
                    .expect("closed within 5 s")
                    .unwrap();
                if let Some((code, reason)) = close_of(&f) {
                    return (code, reason);
                }
            }
        }
    };
    // A small message that inflates past the 64 KiB request limit.
    let bomb = livetape::testing::websocket::deflate::compress(&vec![b' '; 4 << 20]).unwrap();
    assert!(bomb.len() < 8 * 1024);
    let (code, reason) = close_after(0xC1, bomb.to_vec(), Some(BROWSER_OFFER)).await;
    assert_eq!(code, 1009, "{reason}");
    let (code, reason) = close_after(0xC1, vec![0xff, 0xff, 0xff], Some(BROWSER_OFFER)).await;
    assert_eq!(code, 1007, "{reason}");
    // RSV1 from a client that did not agree to compression.
    let hello = livetape::testing::websocket::deflate::compress(&[b'x'; 300]).unwrap();
    let (code, reason) = close_after(0xC1, hello.to_vec(), None).await;
    assert_eq!(code, 1002, "{reason}");
    // And the server goes on serving.
    let mut ws = RawWs::connect(server.addr, "/ws", Some(BROWSER_OFFER))
        .await
        .unwrap();
    assert!(!welcome_symbols(&mut ws).await.is_empty());
}
