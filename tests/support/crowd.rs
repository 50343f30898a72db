//! Many clients at once that follow their channels and reconnect on their own, as browsers
//! do, each reporting into shared counters: gaps, duplicates, snapshots in place of a replay,
//! when it lost its connection and when it was back.
#![allow(dead_code)]

use super::cluster::Follower;
use livetape::protocol::{Channel, ServerMsg, SnapshotReason};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Silence after which a client drops its connection and reconnects: three heartbeats, as
/// the browser client does (src/client/feed.rs).
pub const SILENCE: Duration = Duration::from_secs(3);

/// Per client: the node it is on, when it lost its connection, when it was back.
type Placement = (String, Option<Instant>, Option<Instant>);

pub struct Crowd {
    stop: Arc<AtomicBool>,
    pub gaps: Arc<AtomicU64>,
    pub duplicates: Arc<AtomicU64>,
    state: Arc<Mutex<Vec<Placement>>>,
    pub epoch_changes: Arc<AtomicU64>,
    /// Snapshots that came in place of a replay (history exhausted and the like).
    pub snapshots: Arc<AtomicU64>,
    /// Connections dropped for silence.
    pub silences: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Crowd {
    /// `n` clients on `port` (a node or the balancer), connecting 100 at a time.
    pub async fn start(n: usize, port: u16, channels: Vec<Channel>) -> Crowd {
        let mut crowd = Crowd {
            stop: Arc::new(AtomicBool::new(false)),
            gaps: Arc::new(AtomicU64::new(0)),
            duplicates: Arc::new(AtomicU64::new(0)),
            state: Arc::new(Mutex::new(vec![(String::new(), None, None); n])),
            epoch_changes: Arc::new(AtomicU64::new(0)),
            snapshots: Arc::new(AtomicU64::new(0)),
            silences: Arc::new(AtomicU64::new(0)),
            tasks: Vec::new(),
        };
        for i in 0..n {
            let (stop, gaps, dups, state, epochs, snapshots, silences) = (
                crowd.stop.clone(),
                crowd.gaps.clone(),
                crowd.duplicates.clone(),
                crowd.state.clone(),
                crowd.epoch_changes.clone(),
                crowd.snapshots.clone(),
                crowd.silences.clone(),
            );
            let channels = channels.clone();
            crowd.tasks.push(tokio::spawn(async move {
                let mut f = Follower::new(channels);
                f.keep_data = false;
                let (mut g, mut d) = (0, 0);
                let mut heard = Instant::now();
                let mut connects = 0u32;
                let lost = |state: &Mutex<Vec<Placement>>| {
                    let mut st = state.lock().unwrap();
                    st[i].1.get_or_insert(Instant::now());
                    st[i].2 = None;
                };
                while !stop.load(Ordering::Relaxed) {
                    if !f.connected() {
                        if f.connect(port).await.is_err() {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        }
                        heard = Instant::now();
                        connects += 1;
                        let node = f.edges.last().cloned().unwrap_or_else(|| "node".into());
                        state.lock().unwrap()[i].0 = node;
                    }
                    let before = f.applied;
                    match f.step(Duration::from_secs(1)).await {
                        Ok(Some(ServerMsg::Snapshot(s))) => {
                            heard = Instant::now();
                            match s.reason {
                                Some(SnapshotReason::EpochChanged) => {
                                    epochs.fetch_add(1, Ordering::Relaxed);
                                }
                                Some(SnapshotReason::HistoryExhausted | SnapshotReason::Lagged) => {
                                    snapshots.fetch_add(1, Ordering::Relaxed);
                                }
                                // A fresh start where a resume was asked for.
                                Some(SnapshotReason::Subscribed) if connects > 1 => {
                                    snapshots.fetch_add(1, Ordering::Relaxed);
                                }
                                _ => {}
                            }
                        }
                        Ok(_) => heard = Instant::now(),
                        Err(e) if e == "timeout" => {
                            if heard.elapsed() > SILENCE {
                                silences.fetch_add(1, Ordering::Relaxed);
                                f.drop_connection();
                                lost(&state);
                            }
                        }
                        Err(_) => {
                            lost(&state);
                            continue;
                        }
                    }
                    if f.applied > before {
                        let mut st = state.lock().unwrap();
                        if st[i].1.is_some() && st[i].2.is_none() {
                            st[i].2 = Some(Instant::now());
                        }
                    }
                    if f.gaps > g {
                        gaps.fetch_add(f.gaps - g, Ordering::Relaxed);
                        g = f.gaps;
                    }
                    if f.duplicates > d {
                        dups.fetch_add(f.duplicates - d, Ordering::Relaxed);
                        d = f.duplicates;
                    }
                }
            }));
            if i % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        crowd
    }

    /// Clients on the node named `node` (HAProxy's X-Livetape-Edge header).
    pub fn on(&self, node: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.0 == node)
            .count()
    }

    pub fn all_placed(&self) -> bool {
        self.state.lock().unwrap().iter().all(|s| !s.0.is_empty())
    }

    /// Clients that lost their connection, how many of those are back, and when the last
    /// came back.
    pub fn lost_and_back(&self) -> (usize, usize, Option<Instant>) {
        let st = self.state.lock().unwrap();
        let lost = st.iter().filter(|s| s.1.is_some()).count();
        let back: Vec<Instant> = st.iter().filter_map(|s| s.1.and(s.2)).collect();
        (lost, back.len(), back.into_iter().max())
    }

    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
        }
    }
}
