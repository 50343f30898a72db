//! The cluster: livetape nodes on one real Redis behind a real HAProxy, each a process of the
//! binary under test, all on free loopback ports. Clients resume across nodes; nodes, the
//! producer and Redis are killed with SIGKILL; nothing a client has seen is lost, repeated or
//! renumbered. The figures (takeover time, time until every client is back) are printed.
#![cfg(feature = "ssr")]

mod support;

use livetape::protocol::{Channel, Data, Interval, League, Seq, SnapshotReason};
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::cluster::*;
use support::crowd::Crowd;
use tokio::time::Instant;

fn channels() -> Vec<Channel> {
    vec![
        Channel::Quotes("AAPL".into()),
        Channel::Quotes("MSFT".into()),
        Channel::Trades("AAPL".into()),
        Channel::Candles("AAPL".into(), Interval::OneSecond),
        Channel::Scores(League::Hockey),
        Channel::Scores(League::Basketball),
    ]
}

/// Reads every client in turn, in short slices, for `d`: clients left unread for long would
/// not answer the server's pings (tungstenite answers while reading) and be closed.
async fn read_all(clients: &mut [Follower], d: Duration) -> Result<(), String> {
    let until = Instant::now() + d;
    while Instant::now() < until {
        for f in clients.iter_mut() {
            f.read_for(Duration::from_millis(20)).await?;
        }
    }
    Ok(())
}

/// Connects, retrying while the balancer has nowhere to send the client.
async fn connect(f: &mut Follower, port: u16) {
    for _ in 0..100 {
        if f.connect(port).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not connect to {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cut_off_100_times_resumes_on_any_edge_with_nothing_lost_or_repeated() {
    let redis = Redis::start(true).await;
    let producer = Node::start("producer", &redis, &["--tick-ms", "50"]).await;
    producer.wait_ready().await;
    let e1 = Node::start("edge", &redis, &[]).await;
    let e2 = Node::start("edge", &redis, &[]).await;
    let e3 = Node::start("edge", &redis, &[]).await;
    for e in [&e1, &e2, &e3] {
        e.wait_ready().await;
    }
    let lb = Balancer::start(&[&e1, &e2, &e3]).await;

    // The reference never disconnects (straight to one edge); the client goes through the
    // balancer and is cut off a hundred times, landing on whichever edge it gets.
    let mut reference = Follower::new(channels());
    connect(&mut reference, e1.port).await;
    let mut client = Follower::new(channels());
    connect(&mut client, lb.port).await;
    let reader = tokio::spawn(async move {
        let _ = reference.read_for(Duration::from_secs(14)).await;
        reference
    });
    for round in 0..100u64 {
        for _ in 0..(round % 5) {
            let _ = client.step(Duration::from_secs(2)).await;
        }
        client.drop_connection();
        tokio::time::sleep(Duration::from_millis(5 + (round % 4) * 10)).await;
        connect(&mut client, lb.port).await;
    }
    let mut reference = reader.await.unwrap();
    // Catch the client up to where the reference got, then compare seq for seq.
    for (channel, &seq) in reference.positions.clone().iter() {
        client
            .read_until(channel, seq, Duration::from_secs(10))
            .await
            .unwrap();
    }
    let _ = reference.read_for(Duration::from_millis(300)).await;
    let distinct: std::collections::BTreeSet<_> = client.edges.iter().collect();
    let mut compared = 0;
    for (key, data) in &client.seen {
        if let Some(theirs) = reference.seen.get(key) {
            assert_eq!(data, theirs, "{key:?} differs between nodes");
            compared += 1;
        }
    }
    println!(
        "cross-node resume: 100 reconnects over {} edges, {} updates applied, {compared} compared with the reference, {} gaps, {} duplicates",
        distinct.len(),
        client.applied,
        client.gaps,
        client.duplicates
    );
    assert!(
        distinct.len() >= 2,
        "the balancer spread the reconnects: {distinct:?}"
    );
    assert_eq!((client.gaps, client.duplicates), (0, 0));
    assert!(compared > 100, "enough overlap to compare: {compared}");
    assert!(
        client
            .reasons
            .iter()
            .all(|r| *r == SnapshotReason::Subscribed),
        "every reconnect was a replay, never a fresh snapshot: {:?}",
        client.reasons
    );
    assert_eq!(client.epoch, reference.epoch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_older_than_an_edges_history_is_answered_from_redis() {
    let redis = Redis::start(true).await;
    let producer = Node::start("producer", &redis, &["--tick-ms", "20"]).await;
    producer.wait_ready().await;
    let first = Node::start("edge", &redis, &[]).await;
    first.wait_ready().await;
    let mut client = Follower::new(channels());
    connect(&mut client, first.port).await;
    client.read_for(Duration::from_secs(1)).await.unwrap();
    client.drop_connection();
    let left_at = client.positions.clone();
    // An edge that starts now has nothing from before now in its own history.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let late = Node::start("edge", &redis, &[]).await;
    late.wait_ready().await;
    connect(&mut client, late.port).await;
    let quotes = Channel::Quotes("AAPL".into());
    let target = left_at[&quotes] + 20;
    client
        .read_until(&quotes, target, Duration::from_secs(10))
        .await
        .unwrap();
    println!(
        "resume from Redis: left at AAPL quote {}, resumed on a node started 2 s later, {} updates applied, {} gaps",
        left_at[&quotes], client.applied, client.gaps
    );
    assert_eq!((client.gaps, client.duplicates), (0, 0));
    assert!(
        !client.reasons.contains(&SnapshotReason::HistoryExhausted),
        "the missing updates came from Redis, not a snapshot: {:?}",
        client.reasons
    );
    // The Redis side of the metrics: the producer's round trips, the edges' consumer lag.
    let (_, producer_metrics) = http_get(producer.port, "/metrics").await.unwrap();
    assert!(producer_metrics.contains("livetape_redis_up 1"));
    assert!(producer_metrics.contains("livetape_leading 1"));
    let commits = producer_metrics
        .lines()
        .find_map(|l| l.strip_prefix("livetape_redis_commit_seconds_count "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    assert!(commits > 50, "Redis round trips timed: {commits}");
    let (_, edge_metrics) = http_get(late.port, "/metrics").await.unwrap();
    assert!(edge_metrics.contains("livetape_redis_up 1"));
    assert!(edge_metrics.contains("livetape_leading 0"));
    assert!(edge_metrics.contains("livetape_redis_consumer_lag_ticks 0"));
    assert!(edge_metrics.contains("livetape_resumes_total{outcome=\"replayed\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_an_edge_under_1000_clients_moves_its_clients_to_the_others_with_no_gap() {
    let redis = Redis::start(true).await;
    let producer = Node::start("producer", &redis, &[]).await;
    producer.wait_ready().await;
    let mut edges = vec![
        Node::start("edge", &redis, &[]).await,
        Node::start("edge", &redis, &[]).await,
        Node::start("edge", &redis, &[]).await,
    ];
    for e in &edges {
        e.wait_ready().await;
    }
    let lb = Balancer::start(&[&edges[0], &edges[1], &edges[2]]).await;
    let light = vec![
        Channel::Quotes("AAPL".into()),
        Channel::Quotes("MSFT".into()),
        Channel::Scores(League::Hockey),
    ];
    let crowd = Crowd::start(1000, lb.port, light).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !crowd.all_placed() {
        assert!(Instant::now() < deadline, "not every client connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let on_e1 = crowd.on("e1");
    assert!(on_e1 > 200, "the balancer gave e1 its share: {on_e1}");
    let killed = Instant::now();
    edges[0].kill9();
    let deadline = Instant::now() + Duration::from_secs(60);
    let last_back = loop {
        let (lost, back, last) = crowd.lost_and_back();
        if lost >= on_e1 && back == lost {
            break last.expect("back");
        }
        assert!(
            Instant::now() < deadline,
            "only {back} of {lost} clients back ({on_e1} were on the killed edge)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (gaps, dups) = (
        crowd.gaps.load(Ordering::Relaxed),
        crowd.duplicates.load(Ordering::Relaxed),
    );
    println!(
        "kill -9 of an edge under 1,000 clients: {on_e1} clients moved, the last back {} ms after the kill; {gaps} gaps, {dups} duplicates",
        (last_back - killed).as_millis()
    );
    crowd.stop().await;
    assert_eq!((gaps, dups), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_active_producer_hands_over_to_the_standby_with_no_gap_and_the_same_epoch() {
    let redis = Redis::start(true).await;
    let mut producers = vec![
        Node::start("producer", &redis, &[]).await,
        Node::start("producer", &redis, &[]).await,
    ];
    for p in &producers {
        p.wait_ready().await;
    }
    let edge = Node::start("edge", &redis, &[]).await;
    edge.wait_ready().await;
    let mut clients = Vec::new();
    for _ in 0..10 {
        let mut f = Follower::new(channels());
        connect(&mut f, edge.port).await;
        clients.push(f);
    }
    read_all(&mut clients, Duration::from_millis(300))
        .await
        .unwrap();
    let epoch = clients[0].epoch;
    let leader = if producers[0].readyz().await["leading"] == true {
        0
    } else {
        1
    };
    assert_eq!(producers[leader].readyz().await["leading"], true);
    let standby = 1 - leader;
    let tick_before = edge.tick().await;
    let killed = Instant::now();
    producers[leader].kill9();
    let took_over = loop {
        if producers[standby].readyz().await["leading"] == true {
            break killed.elapsed();
        }
        assert!(killed.elapsed() < Duration::from_secs(15), "no takeover");
        read_all(&mut clients, Duration::from_millis(20))
            .await
            .unwrap();
    };
    let flowing = loop {
        if edge.tick().await > tick_before + 1 {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "the feed did not resume"
        );
        read_all(&mut clients, Duration::from_millis(20))
            .await
            .unwrap();
    };
    read_all(&mut clients, Duration::from_secs(2))
        .await
        .unwrap();
    println!(
        "kill -9 of the active producer: the standby led after {} ms, ticks flowed again after {} ms",
        took_over.as_millis(),
        flowing.as_millis()
    );
    for f in &clients {
        assert_eq!((f.gaps, f.duplicates), (0, 0));
        assert_eq!(f.epoch, epoch, "the same epoch");
        assert!(!f.reasons.contains(&SnapshotReason::EpochChanged));
        assert_eq!(f.conflicts, 0);
    }
}

/// Kills Redis under connected clients and brings it back; returns the clients.
async fn redis_outage(aof: bool) -> (Vec<Follower>, u64) {
    let mut redis = Redis::start(aof).await;
    let producer = Node::start("producer", &redis, &[]).await;
    producer.wait_ready().await;
    let e1 = Node::start("edge", &redis, &[]).await;
    let e2 = Node::start("edge", &redis, &[]).await;
    e1.wait_ready().await;
    e2.wait_ready().await;
    let lb = Balancer::start(&[&e1, &e2]).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut f = Follower::new(channels());
        connect(&mut f, lb.port).await;
        clients.push(f);
    }
    // Until every client has an update of this epoch (not only its snapshot): a loaded
    // machine may take more than a few ticks to get there.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        read_all(&mut clients, Duration::from_millis(300))
            .await
            .unwrap();
        let updated = |f: &Follower| f.seen.keys().any(|(e, _, _)| *e == f.epoch);
        if clients.iter().all(updated) {
            break;
        }
        assert!(
            Instant::now() < until,
            "a client got no update before the outage"
        );
    }
    let epoch = clients[0].epoch;
    let quotes = Channel::Quotes("AAPL".into());
    let before: Vec<u64> = clients.iter().map(|f| f.positions[&quotes]).collect();
    redis.kill9();
    // Three seconds without Redis: every client stays connected (heartbeats go on).
    read_all(&mut clients, Duration::from_secs(3))
        .await
        .expect("a client was disconnected while Redis was down");
    assert_eq!(e1.readyz().await["ready"], false, "not ready without Redis");
    redis.restart().await;
    // Ticks flow again; everyone follows without reconnecting.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        read_all(&mut clients, Duration::from_millis(200))
            .await
            .expect("a client was disconnected after Redis came back");
        let moved = clients.iter().zip(&before).all(|(f, b)| {
            f.epoch != epoch || f.positions.get(&quotes).copied().unwrap_or(0) > b + 3
        });
        if moved {
            break;
        }
        assert!(Instant::now() < until, "no ticks after Redis came back");
    }
    read_all(&mut clients, Duration::from_secs(1))
        .await
        .unwrap();
    (clients, epoch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_with_its_data_loses_nothing() {
    let (clients, epoch) = redis_outage(true).await;
    for f in &clients {
        assert_eq!(f.epoch, epoch, "the same epoch");
        assert_eq!((f.gaps, f.duplicates, f.conflicts), (0, 0, 0));
        assert!(!f.reasons.contains(&SnapshotReason::EpochChanged));
    }
    println!(
        "Redis kill -9 and restart with AOF: {} clients, none disconnected, {} updates applied, 0 gaps",
        clients.len(),
        clients.iter().map(|f| f.applied).sum::<u64>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_starts_a_new_epoch_and_never_reuses_a_seq() {
    let (clients, epoch) = redis_outage(false).await;
    for f in &clients {
        assert_ne!(f.epoch, epoch, "a new epoch");
        assert!(
            f.reasons.contains(&SnapshotReason::EpochChanged),
            "told with epoch_changed snapshots: {:?}",
            f.reasons
        );
        // Within each epoch every seq carried one thing only: nothing renumbered.
        assert_eq!((f.gaps, f.duplicates, f.conflicts), (0, 0, 0));
        assert!(f.seen.keys().any(|(e, _, _)| *e == epoch));
        assert!(f.seen.keys().any(|(e, _, _)| *e == f.epoch));
    }
    println!(
        "Redis kill -9 and restart without persistence: {} clients, none disconnected, all moved to the new epoch with epoch_changed snapshots",
        clients.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_whose_redis_connection_hangs_notices_and_reconnects() {
    let redis = Redis::start(true).await;
    let producer = Node::start("producer", &redis, &[]).await;
    producer.wait_ready().await;
    let proxy = FreezingProxy::start(redis.port).await;
    let edge = Node::start_url("edge", &format!("redis://127.0.0.1:{}", proxy.port), &[]).await;
    edge.wait_ready().await;
    let connections = proxy.connections();
    proxy.freeze_open_connections();
    let frozen_at = producer.tick().await;
    let started = Instant::now();
    // The producer goes on; the edge's connections carry nothing any more but stay open.
    let caught_up = loop {
        if edge.tick().await > frozen_at + 10 {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the edge stalled silently at tick {}",
            edge.tick().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "a hung Redis connection: the edge reconnected and was flowing again after {} ms",
        caught_up.as_millis()
    );
    assert!(
        proxy.connections() > connections,
        "it opened a new connection"
    );
}

/// POSTs a publish batch to a node; the status and the JSON answer.
async fn publish(port: u16, token: &str, body: &str) -> (u16, serde_json::Value) {
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/publish"))
        .bearer_auth(token)
        .body(body.to_string())
        .send()
        .await
        .expect("publish request");
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_published_to_one_edge_reaches_every_edge_numbered_once() {
    const TOKEN: &str = "cluster-publish-token-0123";
    let redis = Redis::start(false).await;
    let producer = Node::start("producer", &redis, &[]).await;
    producer.wait_ready().await;
    let publish_args = ["--publish-token", TOKEN, "--allow-new-symbols"];
    let edge_a = Node::start("edge", &redis, &publish_args).await;
    let edge_b = Node::start("edge", &redis, &publish_args).await;
    edge_a.wait_ready().await;
    edge_b.wait_ready().await;
    let quotes = Channel::Quotes("AAPL".into());
    let mut on_a = Follower::new(vec![quotes.clone()]);
    let mut on_b = Follower::new(vec![quotes.clone()]);
    connect(&mut on_a, edge_a.port).await;
    connect(&mut on_b, edge_b.port).await;
    let mut both = [on_a, on_b];
    read_all(&mut both, Duration::from_millis(300))
        .await
        .unwrap();

    // A price the simulator would not make, published to edge A.
    let (status, answer) = publish(
        edge_a.port,
        TOKEN,
        r#"{"events":[{"type":"quote","symbol":"AAPL","bid":1234.5,"ask":1234.6,"last":1234.55}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let tick = answer["tick"].as_u64().expect("the tick it went into");
    let carrying = |f: &Follower| -> Vec<Seq> {
        let mut seqs: Vec<Seq> = f
            .seen
            .iter()
            .filter(|((_, c, _), data)| {
                c == &quotes && matches!(data, Data::Quote(q) if q.last == 1234.55)
            })
            .map(|((_, _, seq), _)| *seq)
            .collect();
        seqs.sort();
        seqs
    };
    // Read a second, and on (up to five) until both edges delivered it: a busy machine is
    // slower, and the verdict below is on what arrived, not on when.
    read_all(&mut both, Duration::from_secs(1)).await.unwrap();
    for _ in 0..8 {
        if both.iter().all(|f| !carrying(f).is_empty()) {
            break;
        }
        read_all(&mut both, Duration::from_millis(500))
            .await
            .unwrap();
    }
    let (seqs_a, seqs_b) = (carrying(&both[0]), carrying(&both[1]));
    assert_eq!(seqs_a.len(), 1, "exactly one update carries it on edge A");
    assert_eq!(seqs_a, seqs_b, "the same seq on both edges");
    for f in &both {
        assert_eq!((f.gaps, f.duplicates, f.conflicts), (0, 0, 0));
    }
    assert!(edge_b.tick().await >= tick);

    // A refused batch moves nothing, whichever edge refuses it.
    let before: Vec<Seq> = both.iter().map(|f| f.positions[&quotes]).collect();
    let (status, answer) = publish(
        edge_b.port,
        TOKEN,
        r#"{"events":[{"type":"quote","symbol":"AAPL","bid":1300,"ask":1200,"last":1250}]}"#,
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    read_all(&mut both, Duration::from_millis(500))
        .await
        .unwrap();
    for (f, was) in both.iter().zip(&before) {
        assert!(f.positions[&quotes] >= *was);
        assert!(
            !f.seen
                .values()
                .any(|d| matches!(d, Data::Quote(q) if q.last == 1250.0)),
            "a refused batch reached a client"
        );
    }

    // A new symbol listed through edge B is announced to a client of edge A and can be
    // subscribed there.
    let (status, answer) = publish(
        edge_b.port,
        TOKEN,
        r#"{"events":[{"type":"quote","symbol":"ACME","bid":41.98,"ask":42.02,"last":42.0}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["listed"], serde_json::json!(["ACME"]));
    let until = Instant::now() + Duration::from_secs(5);
    let listed = loop {
        assert!(Instant::now() < until, "edge A never announced ACME");
        match both[0].step(Duration::from_secs(1)).await {
            Ok(Some(livetape::protocol::ServerMsg::Listed { symbols })) => break symbols,
            Ok(_) | Err(_) => continue,
        }
    };
    assert_eq!(listed, ["ACME"]);
    let mut acme = Follower::new(vec![Channel::Quotes("ACME".into())]);
    connect(&mut acme, edge_a.port).await;
    acme.read_for(Duration::from_millis(300)).await.unwrap();
    assert!(acme.positions.contains_key(&Channel::Quotes("ACME".into())));
}

/// A ranking is a function of the feed, not of the node: two edges fed by one producer send
/// the same window of the same view for the same tick (ties broken by listing on both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ranking_is_the_same_on_every_edge_for_the_same_tick() {
    use livetape::protocol::{ClientMsg, ServerMsg, SortKey, ViewSpec};
    use std::collections::BTreeMap;

    let redis = Redis::start(false).await;
    let producer = Node::start(
        "producer",
        &redis,
        &["--symbols", "1000", "--quote-rate", "1"],
    )
    .await;
    producer.wait_ready().await;
    let edges = [
        Node::start("edge", &redis, &[]).await,
        Node::start("edge", &redis, &[]).await,
    ];
    let mut viewers = Vec::new();
    for edge in &edges {
        edge.wait_ready().await;
        let mut f = Follower::new(Vec::new());
        connect(&mut f, edge.port).await;
        let view = ClientMsg::View {
            id: 1,
            view: 1,
            spec: ViewSpec {
                sort: SortKey::ChangePct,
                desc: true,
                // The middle of the ranking, where symbols are closest and trade places
                // every tick (the top movers settle as the day goes on).
                offset: 500,
                limit: 25,
                ..ViewSpec::default()
            },
            resume: None,
        };
        f.send(&view).await.unwrap();
        viewers.push(f);
    }
    // Each edge's windows by tick, read side by side for a few seconds.
    let mut windows: Vec<BTreeMap<u64, (u32, Vec<String>)>> = vec![BTreeMap::new(); 2];
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        for (i, f) in viewers.iter_mut().enumerate() {
            loop {
                match f.step(Duration::from_millis(20)).await {
                    Ok(Some(ServerMsg::Rows {
                        n, total, symbols, ..
                    })) => {
                        windows[i].insert(n, (total, symbols));
                    }
                    Ok(_) => {}
                    Err(e) if e == "timeout" => break,
                    Err(e) => panic!("edge {i}: {e}"),
                }
            }
        }
    }
    let common: Vec<u64> = windows[0]
        .keys()
        .filter(|n| windows[1].contains_key(n))
        .copied()
        .collect();
    println!(
        "windows: edge 1 {}, edge 2 {}, at the same tick {}",
        windows[0].len(),
        windows[1].len(),
        common.len()
    );
    // The middle of a fast market's ranking changes most ticks: many ticks in common.
    assert!(common.len() >= 10, "too few ticks in common: {common:?}");
    for n in &common {
        let (a, b) = (&windows[0][n], &windows[1][n]);
        assert_eq!(a.0, 1000, "the whole universe is ranked");
        assert_eq!(a, b, "tick {n}: the edges rank differently");
    }
    // And both saw the ranking move.
    let distinct: std::collections::BTreeSet<_> = common.iter().map(|n| &windows[0][n].1).collect();
    assert!(distinct.len() >= 3, "the ranking never moved");
}
