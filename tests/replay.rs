//! Record and replay: a server's ticks written as NDJSON, played back through the same path
//! as live events. At `--speed max` the same file gives the same frames, byte for byte.
#![cfg(feature = "ssr")]

mod support;

use futures_util::StreamExt;
use livetape::protocol::publish::{PublishBatch, PublishEvent};
use livetape::protocol::{Channel, ClientMsg, Data, Resume, ServerMsg};
use livetape::server::config::{Config, SourceKind, Speed};
use livetape::server::Running;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{all_channels, config, server, Client};
use tokio_tungstenite::tungstenite::Message;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("livetape-replay-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn stop(s: Running) {
    s.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.server).await;
}

/// A recording of `secs` of the simulator (8 symbols, 20 ms ticks).
async fn record(path: &Path, secs: u64) {
    let mut c = config();
    c.symbols = 8;
    c.record = Some(path.to_path_buf());
    let s = server(c).await;
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop(s).await;
    // The writer thread finishes once the feed let go of the recorder: waited for until the
    // file ends in a whole line and has stopped growing (bounded; a busy machine is slower).
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut last = None;
    loop {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let text = std::fs::read(path).unwrap_or_default();
        let now = Some(text.len());
        if (text.ends_with(b"\n") && now == last) || tokio::time::Instant::now() >= until {
            return;
        }
        last = now;
    }
}

fn lines(path: &Path) -> Vec<PublishBatch> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn replay_config(path: &Path, speed: Speed) -> Config {
    let mut c = config();
    c.source = vec![SourceKind::Replay];
    c.replay = Some(path.to_path_buf());
    c.speed = speed;
    c
}

/// Waits until the hub stops moving (the replay is over).
async fn until_still(s: &Running) {
    let mut last = u64::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let n = s.tick();
        if n == last {
            return;
        }
        last = n;
    }
}

/// Every frame a client gets when it subscribes to every channel from seq 0 (the whole
/// history), as text, until the server has nothing more to say.
async fn everything(s: &Running) -> Vec<String> {
    let mut c = Client::connect(s).await;
    let channels: Vec<Channel> = all_channels(&c.symbols, c.symbols.len());
    let from: BTreeMap<Channel, u64> = channels.iter().map(|ch| (ch.clone(), 0)).collect();
    c.send(&ClientMsg::Subscribe {
        id: 1,
        channels,
        resume: Some(Resume {
            epoch: c.epoch,
            from,
            latest: false,
        }),
    })
    .await;
    let mut frames = Vec::new();
    while let Ok(Some(Ok(Message::Text(t)))) =
        tokio::time::timeout(Duration::from_millis(700), c.socket().next()).await
    {
        let text = t.to_string();
        match serde_json::from_str::<ServerMsg>(&text).unwrap() {
            ServerMsg::Heartbeat { .. } => break,
            ServerMsg::Batch(_) | ServerMsg::Snapshot(_) => frames.push(text),
            _ => {}
        }
    }
    frames
}

fn hash(frames: &[String]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    frames.hash(&mut h);
    h.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_replayed_at_max_speed_gives_the_same_frames_every_time() {
    let dir = scratch("same");
    let path = dir.join("session.ndjson");
    record(&path, 2).await;
    let recorded = lines(&path);
    assert!(recorded[0].listing, "the market first");
    assert!(recorded.len() > 50, "{} lines", recorded.len());

    let mut runs = Vec::new();
    for _ in 0..2 {
        let s = server(replay_config(&path, Speed::Max)).await;
        until_still(&s).await;
        assert_eq!(
            s.tick() as usize,
            recorded.len() - 1,
            "one tick per recorded line"
        );
        let frames = everything(&s).await;
        // The replayed market ends where the recording did.
        let last_quotes: HashMap<String, f64> = recorded
            .iter()
            .flat_map(|b| b.events.iter())
            .filter_map(|e| match e {
                PublishEvent::Quote { symbol, last, .. } => Some((symbol.clone(), *last)),
                _ => None,
            })
            .collect();
        for q in s.quotes().1 {
            assert_eq!(Some(&q.last), last_quotes.get(&q.symbol), "{}", q.symbol);
        }
        runs.push(frames);
        stop(s).await;
    }
    assert!(runs[0].len() > 50, "{} frames", runs[0].len());
    assert_eq!(runs[0].len(), runs[1].len());
    assert_eq!(
        hash(&runs[0]),
        hash(&runs[1]),
        "the same frames, byte for byte"
    );
    println!(
        "replay at max: {} recorded ticks, {} frames, hash {:016x} both times",
        recorded.len() - 1,
        runs[0].len(),
        hash(&runs[0])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_ten_times_speed_a_recording_plays_in_a_tenth_of_its_time_with_live_timestamps() {
    let dir = scratch("fast");
    let path = dir.join("session.ndjson");
    record(&path, 2).await;
    let recorded = lines(&path);
    let span = recorded.last().unwrap().ts.unwrap() - recorded[0].ts.unwrap();
    let started = chrono::Utc::now();
    let s = server(replay_config(&path, Speed::Times(10.0))).await;
    let mut c = Client::connect(&s).await;
    let symbol = c.symbols[0].clone();
    c.subscribe_all(vec![Channel::Quotes(symbol)]).await;
    until_still(&s).await;
    // The replay is over when the hub stopped moving; that was one poll (300 ms) ago.
    let took = chrono::Utc::now() - started - chrono::Duration::milliseconds(300);
    // Several recorded ticks fall in one tick of the replay: fewer, fuller ticks.
    assert!((s.tick() as usize) < recorded.len() - 1);
    let last = recorded
        .iter()
        .flat_map(|b| b.events.iter())
        .filter_map(|e| match e {
            PublishEvent::Quote { symbol, last, .. } => Some((symbol.clone(), *last)),
            _ => None,
        })
        .collect::<HashMap<_, _>>();
    for q in s.quotes().1 {
        assert_eq!(Some(&q.last), last.get(&q.symbol), "{}", q.symbol);
    }
    assert!(
        took < span / 2,
        "{} ms for a recording of {} ms",
        took.num_milliseconds(),
        span.num_milliseconds()
    );
    // Timestamps are moved to the replay's time, not the recording's.
    let ts = s.quotes().0;
    assert!(ts > started && ts <= chrono::Utc::now(), "{ts}");
    stop(s).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_replay_goes_on_and_time_never_runs_backwards() {
    let dir = scratch("loop");
    let path = dir.join("session.ndjson");
    record(&path, 1).await;
    let ticks = lines(&path).len() - 1;
    let mut c = replay_config(&path, Speed::Max);
    c.replay_loop = true;
    let s = server(c).await;
    let mut client = Client::connect(&s).await;
    let symbol = client.symbols[0].clone();
    client.subscribe_all(vec![Channel::Quotes(symbol)]).await;
    let mut last_ts = None;
    let mut batches = 0;
    let until = tokio::time::Instant::now() + Duration::from_secs(1);
    while tokio::time::Instant::now() < until || s.tick() < (3 * ticks) as u64 {
        if let ServerMsg::Batch(b) = client.next().await {
            if let Some(prev) = last_ts {
                assert!(b.ts >= prev, "time ran backwards: {} after {prev}", b.ts);
            }
            last_ts = Some(b.ts);
            batches += 1;
        }
    }
    assert!(batches > 0);
    stop(s).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_committed_sample_recording_replays() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample-session.ndjson.gz");
    let s = server(replay_config(&path, Speed::Max)).await;
    until_still(&s).await;
    let mut c = Client::connect(&s).await;
    assert_eq!(c.symbols.len(), 12);
    let (snap, _) = c.subscribe_all(vec![Channel::Quotes("AAPL".into())]).await;
    let Data::Quote(q) = &snap.channels[0].data else {
        panic!()
    };
    assert!(q.last > 0.0);
    assert!(s.tick() > 1000, "{} ticks", s.tick());
    stop(s).await;
}

#[test]
fn a_recording_that_does_not_start_with_the_market_is_refused_with_its_line() {
    let dir = std::env::temp_dir().join(format!("livetape-replay-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.ndjson");
    std::fs::write(&path, "{\"ts\":1,\"events\":[]}\n").unwrap();
    let err = livetape::testing::Replay::open(&path, Speed::Max, false, chrono::Utc::now())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("line 1"), "{err}");
    std::fs::write(
        &path,
        "{\"ts\":1,\"listing\":true,\"events\":[]}\nnot json\n",
    )
    .unwrap();
    let err = livetape::testing::Replay::open(&path, Speed::Max, false, chrono::Utc::now())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("line 2"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
