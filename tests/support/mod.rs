//! A test client for the feed: the real server on a loopback port, read through
//! `livetape::client::Connection` (the Rust client's own connection: every message as sent).
#![allow(dead_code)]

pub mod cluster;
pub mod crowd;
pub mod cutter;
pub mod raw_ws;
pub mod sse;

use futures_util::{SinkExt, StreamExt};
use livetape::client::{Connection, WebSocket};
use livetape::protocol::{Batch, Channel, ClientMsg, League, Resume, Seq, ServerMsg, Snapshot};
use livetape::server::{config::Config, start, Running};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// How long a test waits for a connection and its welcome.
const OPEN_WITHIN: Duration = Duration::from_secs(5);

/// Test defaults: the server's own (as the command line gives them), on an ephemeral port,
/// with a short warm-up (integration tests start many servers) and a fast tick.
pub fn config() -> Config {
    use clap::Parser;
    let mut c = Config::parse_from(["livetape"]);
    c.addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    c.warmup_secs = 5;
    c.tick_ms = 20;
    c
}

pub async fn server(config: Config) -> Running {
    start(&config).await.expect("server starts")
}

pub async fn connect(server: &Running) -> Client {
    Client::connect(server).await
}

pub fn quotes(symbol: &str) -> Channel {
    Channel::Quotes(symbol.into())
}

/// Every channel of the first `n` symbols plus every league's scores.
pub fn all_channels(symbols: &[String], n: usize) -> Vec<Channel> {
    use livetape::protocol::Interval;
    let mut v = Vec::new();
    for s in symbols.iter().take(n) {
        v.push(Channel::Quotes(s.clone()));
        v.push(Channel::Trades(s.clone()));
        v.push(Channel::Candles(s.clone(), Interval::OneSecond));
        v.push(Channel::Candles(s.clone(), Interval::OneMinute));
    }
    v.extend(League::ALL.into_iter().map(Channel::Scores));
    v
}

/// How a connection ended.
#[derive(Debug)]
pub enum End {
    /// The server sent Close with this code and reason.
    Closed(u16, String),
    /// The stream ended or failed without a Close frame.
    Abrupt(String),
}

pub struct Client {
    pub conn: Connection,
    pub epoch: u64,
    pub symbols: Vec<String>,
}

impl Client {
    pub async fn connect(server: &Running) -> Client {
        Self::connect_addr(&server.addr.to_string()).await
    }

    /// A client of the server at `addr` (`HOST:PORT`), e.g. a node started as a process.
    pub async fn connect_addr(addr: &str) -> Client {
        let conn = Connection::open(&format!("ws://{addr}/ws"), OPEN_WITHIN)
            .await
            .expect("websocket connects");
        Self::welcome(conn).await
    }

    /// A client whose TCP receive buffer is tiny (no autotuning), so that reading slowly
    /// really pushes back on the server instead of filling megabytes of kernel buffer.
    pub async fn connect_small_buffer(server: &Running) -> Client {
        let tcp = tokio::net::TcpSocket::new_v4().unwrap();
        tcp.set_recv_buffer_size(4096).unwrap();
        let stream = tcp.connect(server.addr).await.unwrap();
        let url = format!("ws://{}/ws", server.addr);
        let conn = Connection::open_on(stream, &url, OPEN_WITHIN, None)
            .await
            .expect("websocket connects");
        Self::welcome(conn).await
    }

    async fn welcome(conn: Connection) -> Client {
        let mut c = Client {
            epoch: conn.epoch(),
            conn,
            symbols: Vec::new(),
        };
        // The names of the universe (and, from then on, its new listings).
        c.send(&ClientMsg::Symbols {
            id: 0,
            offset: 0,
            limit: 10_000,
        })
        .await;
        loop {
            match c.next().await {
                ServerMsg::Symbols { symbols, .. } => {
                    c.symbols = symbols;
                    break;
                }
                ServerMsg::Heartbeat { .. } => continue,
                other => panic!("expected the list of symbols, got {other:?}"),
            }
        }
        c
    }

    /// The WebSocket itself: for frames the protocol's types cannot say.
    pub fn socket(&mut self) -> &mut WebSocket {
        self.conn.websocket()
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        self.conn.send(msg).await.expect("send");
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.socket().send(msg).await.expect("send");
    }

    /// Sends a subscribe and returns its id.
    pub async fn subscribe(&mut self, channels: Vec<Channel>, resume: Option<Resume>) -> u64 {
        self.conn.subscribe(channels, resume).await.expect("send")
    }

    pub async fn unsubscribe(&mut self, channels: Vec<Channel>) -> u64 {
        let id = self.conn.next_id();
        self.send(&ClientMsg::Unsubscribe { id, channels }).await;
        id
    }

    /// The next protocol message, skipping control frames; fails after 5 s of silence.
    pub async fn next(&mut self) -> ServerMsg {
        self.next_within(Duration::from_secs(5)).await
    }

    pub async fn next_within(&mut self, limit: Duration) -> ServerMsg {
        tokio::time::timeout(limit, self.conn.recv())
            .await
            .expect("a message in time")
            .unwrap_or_else(|e| panic!("a protocol message, got: {e}"))
    }

    /// The next message that is not a heartbeat or a batch.
    pub async fn next_reply(&mut self) -> ServerMsg {
        loop {
            match self.next().await {
                ServerMsg::Heartbeat { .. } | ServerMsg::Batch(_) => continue,
                other => return other,
            }
        }
    }

    /// Subscribes and waits for the ack and the snapshot that follows it.
    pub async fn subscribe_all(&mut self, channels: Vec<Channel>) -> (Snapshot, Tracker) {
        let id = self.subscribe(channels.clone(), None).await;
        match self.next_reply().await {
            ServerMsg::Ack { id: got, .. } => assert_eq!(got, id),
            other => panic!("expected an ack, got {other:?}"),
        }
        // The snapshot may come in several messages (about 2 KiB each).
        let mut snap = match self.next_reply().await {
            ServerMsg::Snapshot(s) => s,
            other => panic!("expected a snapshot, got {other:?}"),
        };
        while snap.channels.len() < channels.len() {
            match self.next_reply().await {
                ServerMsg::Snapshot(more) => snap.channels.extend(more.channels),
                other => panic!("expected the rest of the snapshot, got {other:?}"),
            }
        }
        assert_eq!(snap.channels.len(), channels.len());
        let mut tracker = Tracker::default();
        tracker.snapshot(&snap);
        (snap, tracker)
    }

    /// Reads until the server closes; returns how.
    pub async fn end(&mut self, limit: Duration) -> End {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.socket().next()).await {
                Err(_) => panic!("the server did not close within {limit:?}"),
                Ok(None) => return End::Abrupt("stream ended".into()),
                Ok(Some(Err(e))) => return End::Abrupt(e.to_string()),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    let (code, reason) = frame
                        .map(|CloseFrame { code, reason }| (u16::from(code), reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    // Keep reading so that tungstenite flushes our reply and the handshake
                    // completes, as a real client's would.
                    while let Ok(Some(Ok(_))) =
                        tokio::time::timeout(Duration::from_secs(2), self.socket().next()).await
                    {
                    }
                    return End::Closed(code, reason);
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }
}

/// Follows per-channel sequence numbers like a careful client: counts what it applies,
/// duplicates and gaps.
#[derive(Default, Debug)]
pub struct Tracker {
    pub positions: BTreeMap<Channel, Seq>,
    pub applied: u64,
    pub duplicates: u64,
    pub gaps: u64,
}

impl Tracker {
    pub fn snapshot(&mut self, snap: &Snapshot) {
        for c in &snap.channels {
            self.positions.insert(c.channel.clone(), c.seq);
        }
    }

    pub fn batch(&mut self, batch: &Batch) {
        for u in &batch.updates {
            let last = self.positions.get(&u.channel).copied().unwrap_or(0);
            if u.seq == last + 1 {
                self.applied += 1;
                self.positions.insert(u.channel.clone(), u.seq);
            } else if u.seq <= last {
                self.duplicates += 1;
            } else {
                self.gaps += 1;
                self.positions.insert(u.channel.clone(), u.seq);
            }
        }
    }

    pub fn resume(&self, epoch: u64) -> Resume {
        Resume {
            epoch,
            from: self.positions.clone(),
            latest: false,
        }
    }
}
