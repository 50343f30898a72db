//! A node's feed loop: it follows the tick stream in Redis into its hub, and a node that may
//! produce tries for the lease and, holding it, leads (see the module above for what each
//! failure looks like to a client).

mod replicated;

use super::checkpoint;
use super::publish_queue::{self, Settled};
use super::role::Role;
use super::store::{self, Refused, Store};
use crate::protocol::{Epoch, SnapshotReason};
use crate::server::feed::clock::micros_now;
use crate::server::feed::hub::{Commit, Hub, HubImage};
use crate::server::feed::numbering::prepare;
use crate::server::health::Health;
use crate::server::metrics;
use crate::server::sources::simulator::SimConfig;
use crate::server::sources::simulator::Simulator;
use crate::server::sources::Draw;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// How the feed loop runs.
#[derive(Clone, Debug)]
pub(crate) struct NodeConfig {
    pub(crate) role: Role,
    pub(crate) lease: Duration,
    pub(crate) checkpoint_every: Duration,
    pub(crate) tick: Duration,
    pub(crate) sim: SimConfig,
    /// How long a follower's blocking read waits.
    pub(crate) block: Duration,
    /// Replicas that must acknowledge a tick before it is published (`WAIT`); 0: none.
    pub(crate) wait_replicas: u32,
}

/// The lease as the leading loop holds it.
struct Lease {
    refreshed: Instant,
    /// False while Redis cannot be reached: the world waits.
    held: bool,
}

/// What one tick of leading came to.
enum Step {
    /// Nothing happened this tick.
    Quiet,
    Published,
    /// Redis could not be reached: the tick was not published.
    Unpublished,
    /// Someone else leads, or Redis refused: follow.
    Follow,
    /// A staged tick waits for replicas (`--redis-wait-replicas`): the world waits with it.
    Waiting,
}

/// What the feed loop is doing.
enum Mode {
    Follow,
    /// Boxed: the simulator is large and the mode is moved on every round.
    Lead(Box<Simulator>),
}

struct Node {
    store: Arc<Store>,
    hub: Arc<Hub>,
    health: Arc<Health>,
    config: NodeConfig,
    /// This process's lease token.
    token: String,
    /// The hub holds the cluster's state (loaded from Redis, or published by us).
    loaded: bool,
    /// Whether the hub's epoch was ever published: a new cluster may start from an epoch
    /// nobody saw, but one that clients saw must never be continued from a different past.
    published: bool,
    reader: Option<store::TickReader>,
    backoff: Duration,
    next_lease_try: Instant,
    /// Leading: the inbox stream id through which publish requests are settled.
    inbox_cursor: String,
    /// What the applied ticks settled, for this node's waiting publishers.
    settled: tokio::sync::watch::Sender<Settled>,
    /// Leading with `wait_replicas`: our tick staged in Redis, not yet published.
    staged: Option<replicated::Staged>,
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// How often a standby producer tries for the lease: a dead producer's lease is taken over
/// within the lease time plus this.
const LEASE_POLL: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Runs the node's feed loop until `stop`. `warmed` says whether `hub` holds a warmed-up
/// world of this node's own (a producer's start) that may seed a new cluster.
pub(crate) async fn run(
    store: Arc<Store>,
    hub: Arc<Hub>,
    health: Arc<Health>,
    config: NodeConfig,
    settled: tokio::sync::watch::Sender<Settled>,
    stop: CancellationToken,
) {
    let token = format!("{}-{:x}", std::process::id(), Utc::now().timestamp_micros());
    let mut node = Node {
        store,
        hub,
        health,
        config,
        token,
        loaded: false,
        published: false,
        reader: None,
        backoff: BACKOFF_MIN,
        next_lease_try: Instant::now(),
        inbox_cursor: "0-0".into(),
        settled,
        staged: None,
    };
    let mut mode = Mode::Follow;
    loop {
        if stop.is_cancelled() {
            if let Mode::Lead(_) = mode {
                node.store.release_lease(&node.token).await;
            }
            return;
        }
        mode = match mode {
            Mode::Follow => tokio::select! {
                next = node.follow() => next,
                _ = stop.cancelled() => Mode::Follow,
            },
            Mode::Lead(sim) => tokio::select! {
                next = node.lead(sim) => next,
                _ = stop.cancelled() => {
                    node.store.release_lease(&node.token).await;
                    return;
                }
            },
        };
    }
}

impl Node {
    fn redis_failed(&mut self, err: &Refused) {
        if self.health.redis_up() {
            tracing::warn!(%err, "Redis unreachable; retrying");
        }
        self.health.set_redis_up(false);
        self.health.set_caught_up(false);
        self.reader = None;
    }

    async fn wait_backoff(&mut self) {
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    fn redis_ok(&mut self) {
        if !self.health.redis_up() {
            tracing::info!("Redis reachable");
        }
        self.health.set_redis_up(true);
        self.backoff = BACKOFF_MIN;
    }

    /// One round of following; returns the next mode.
    async fn follow(&mut self) -> Mode {
        if self.config.role.produces() && Instant::now() >= self.next_lease_try {
            self.next_lease_try = Instant::now() + LEASE_POLL;
            if let Some(sim) = self.try_lead().await {
                return Mode::Lead(Box::new(sim));
            }
        }
        if !self.loaded {
            match self.load().await {
                Ok(true) => {}
                Ok(false) => {
                    // No cluster state yet: wait for a producer to start one.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    return Mode::Follow;
                }
                Err(err) => {
                    self.redis_failed(&err);
                    self.wait_backoff().await;
                    return Mode::Follow;
                }
            }
        }
        if self.reader.is_none() {
            match self.store.reader().await {
                Ok(r) => self.reader = Some(r),
                Err(err) => {
                    self.redis_failed(&err);
                    self.wait_backoff().await;
                    return Mode::Follow;
                }
            }
        }
        // A producer standing by reads in short rounds, to try for the lease often enough.
        let block = if self.config.role.produces() {
            self.config.block.min(LEASE_POLL)
        } else {
            self.config.block
        };
        let (epoch, n) = (self.hub.epoch(), self.hub.n());
        let read = self
            .reader
            .as_mut()
            .expect("just set")
            .after(epoch, n, block)
            .await;
        match read {
            Ok(ticks) if !ticks.is_empty() => {
                self.redis_ok();
                self.apply(ticks);
                Mode::Follow
            }
            Ok(_) => {
                self.redis_ok();
                self.check_position().await;
                Mode::Follow
            }
            Err(err) => {
                self.redis_failed(&err);
                self.wait_backoff().await;
                Mode::Follow
            }
        }
    }

    /// Commits ticks read from Redis to the hub, in order. A tick that does not continue the
    /// hub's feed stops it: the node reloads the cluster's state on its next round.
    fn apply(&mut self, ticks: Vec<Commit>) {
        // A full read may have more behind it; a short one reached the top.
        let caught_up = ticks.len() < store::READ_COUNT;
        self.health.set_caught_up(caught_up);
        if caught_up {
            metrics::consumer_lag(0);
        }
        for tick in ticks {
            let (n, mark) = (tick.n, tick.inbox.clone());
            match self.hub.commit(tick) {
                Ok(updates) => metrics::tick(updates),
                Err(err) => {
                    tracing::warn!(%err, "the feed in Redis does not continue ours; reloading");
                    self.loaded = false;
                    return;
                }
            }
            if let Some(mark) = mark {
                self.settled.send_modify(|s| s.add(&mark, n));
            }
            self.published = true;
            self.health.beat();
        }
    }

    /// After a quiet read: are we where Redis is?
    async fn check_position(&mut self) {
        let meta = match self.store.meta().await {
            Ok(m) => m,
            Err(err) => return self.redis_failed(&err),
        };
        let Some(meta) = meta else {
            // Redis has no epoch: it lost its data. A producer starts a new one.
            self.health.set_caught_up(false);
            return;
        };
        if meta.alive_ms >= store::now_ms() - self.health.stale_after.as_millis() as i64 {
            // The producer is alive: a quiet feed is not a stale one.
            self.health.beat();
        }
        let (epoch, n) = (self.hub.epoch(), self.hub.n());
        if meta.epoch == epoch {
            metrics::consumer_lag(meta.n.saturating_sub(n));
        }
        if meta.epoch != epoch {
            tracing::info!(
                old = epoch,
                new = meta.epoch,
                "a new epoch in Redis; reloading"
            );
            self.loaded = false;
        } else if meta.n > n {
            // Redis has ticks our blocking read did not deliver: the connection is stuck.
            tracing::warn!(
                ours = n,
                redis = meta.n,
                "the tick stream stalled; reconnecting"
            );
            self.reader = None;
            self.health.set_caught_up(false);
        } else if meta.n < n && meta.staged.is_some_and(|s| s >= n) {
            // The tick we applied is staged here (a promoted replica, with
            // --redis-wait-replicas): held, not lost; the leader publishes it next.
            self.health.set_caught_up(false);
        } else if meta.n < n {
            // We applied ticks Redis no longer has: it lost data. Numbering must not continue
            // in this epoch.
            tracing::warn!(
                ours = n,
                redis = meta.n,
                "Redis is behind what we saw; dropping the epoch"
            );
            let _ = self.store.invalidate(epoch, n).await;
            self.health.set_caught_up(false);
        } else {
            self.health.set_caught_up(true);
        }
    }

    /// Loads the latest checkpoint and the ticks after it into the hub. `Ok(false)`: there is
    /// nothing to load yet.
    async fn load(&mut self) -> Result<bool, Refused> {
        let Some(meta) = self.store.meta().await? else {
            return Ok(false);
        };
        let Some(json) = self.store.checkpoint().await? else {
            return Ok(false);
        };
        let image = match checkpoint::decode(&json) {
            Ok(image) if image.epoch == meta.epoch => image,
            Ok(_) => return Ok(false), // a new epoch's checkpoint is being written
            Err(err) => {
                tracing::error!(%err, "unreadable checkpoint in Redis");
                return Ok(false);
            }
        };
        self.redis_ok();
        let reason = if image.epoch == self.hub.epoch() {
            // Same epoch: positions stay valid, but what happened in between is only known
            // as the latest state.
            SnapshotReason::Lagged
        } else {
            SnapshotReason::EpochChanged
        };
        let same_place = image.epoch == self.hub.epoch() && image.n <= self.hub.n();
        if !same_place {
            tracing::info!(epoch = image.epoch, tick = image.n, "loaded the checkpoint");
            self.hub.reset(image, reason);
        }
        self.loaded = true;
        self.published = true;
        self.reader = None;
        // Read on from the checkpoint's tick to the top.
        self.catch_up().await?;
        Ok(true)
    }

    /// Applies every tick Redis has after the hub's; fails over to a reload on a hole.
    async fn catch_up(&mut self) -> Result<(), Refused> {
        loop {
            let ticks = self
                .store
                .ticks_after(self.hub.epoch(), self.hub.n(), 1024)
                .await?;
            if ticks.is_empty() {
                let meta = self.store.meta().await?;
                self.health.set_caught_up(
                    meta.is_some_and(|m| m.epoch == self.hub.epoch() && m.n <= self.hub.n()),
                );
                return Ok(());
            }
            for tick in ticks {
                if let Err(err) = self.hub.commit(tick).map(metrics::tick) {
                    // The stream was trimmed past us: start over from a newer checkpoint.
                    tracing::warn!(%err, "ticks after the checkpoint are gone; reloading");
                    self.loaded = false;
                    return Ok(());
                }
            }
            self.health.beat();
        }
    }

    /// Takes the lease if it is free and prepares to lead from the cluster's latest state.
    async fn try_lead(&mut self) -> Option<Simulator> {
        match self
            .store
            .acquire_lease(&self.token, self.config.lease)
            .await
        {
            Ok(true) => {}
            Ok(false) => return None,
            Err(err) => {
                self.redis_failed(&err);
                return None;
            }
        }
        let took = Instant::now();
        // A tick staged before us (a failover, with --redis-wait-replicas) is published first.
        match self.finish_staged().await {
            Ok(true) => {}
            Ok(false) => {
                self.store.release_lease(&self.token).await;
                return None;
            }
            Err(err) => {
                self.redis_failed(&err);
                self.store.release_lease(&self.token).await;
                return None;
            }
        }
        let meta = match self.store.meta().await {
            Ok(m) => m,
            Err(err) => {
                self.redis_failed(&err);
                return None;
            }
        };
        match meta {
            None => {
                // No epoch in Redis: a new cluster, or Redis lost everything.
                if let Err(err) = self.start_epoch(None).await {
                    tracing::warn!(%err, "cannot start an epoch");
                    return None;
                }
            }
            Some(meta) => {
                if !self.continue_from(meta).await {
                    return None;
                }
            }
        }
        self.inbox_cursor = match self.store.inbox_cursor().await {
            Ok(c) => c,
            Err(err) => {
                self.redis_failed(&err);
                self.store.release_lease(&self.token).await;
                return None;
            }
        };
        self.reader = None;
        self.health.set_leading(true);
        self.health.set_caught_up(true);
        tracing::info!(
            epoch = self.hub.epoch(),
            tick = self.hub.n(),
            took_ms = took.elapsed().as_millis() as u64,
            "leading: this node produces the feed"
        );
        Some(self.resume_world())
    }

    /// Holding the lease, brings the hub to the cluster's state `meta` in Redis: loads or
    /// catches up, and starts a new epoch if Redis holds less than we applied (it lost data;
    /// numbering on would reuse seqs). False, with the lease let go where it was taken, when
    /// this node cannot lead from there.
    async fn continue_from(&mut self, meta: store::Meta) -> bool {
        if !self.loaded || meta.epoch != self.hub.epoch() {
            self.loaded = false;
            if !matches!(self.load().await, Ok(true)) {
                self.store.release_lease(&self.token).await;
                return false;
            }
        } else if let Err(err) = self.catch_up().await {
            self.redis_failed(&err);
            self.store.release_lease(&self.token).await;
            return false;
        }
        if !self.loaded {
            self.store.release_lease(&self.token).await;
            return false;
        }
        let n = self.hub.n();
        if meta.n > n {
            // Still behind (ticks trimmed?): let someone else lead.
            self.store.release_lease(&self.token).await;
            return false;
        }
        if meta.n < n {
            // We applied ticks that Redis no longer has: it lost data.
            if let Err(err) = self.start_epoch(Some(meta.epoch)).await {
                tracing::warn!(%err, "cannot start a new epoch");
                return false;
            }
        }
        true
    }

    /// The simulated world continued from the hub's state.
    fn resume_world(&self) -> Simulator {
        let image = self.hub.image();
        Simulator::resume(
            &self.config.sim,
            image.n ^ image.epoch,
            image.state.quotes(),
            image.state.games(),
            Utc::now(),
        )
    }

    /// Publishes a new epoch: the hub's own (a fresh cluster from our warm-up), or, if
    /// clients may have seen the current one, a new one whose numbering starts again.
    async fn start_epoch(&mut self, old: Option<Epoch>) -> Result<(), Refused> {
        let mut image: HubImage = self.hub.image();
        if self.published || old.is_some() {
            let epoch = Utc::now()
                .timestamp_micros()
                .unsigned_abs()
                .max(image.epoch + 1);
            image = HubImage {
                epoch,
                n: 0,
                seqs: vec![0; image.seqs.len()],
                ..image
            };
            tracing::warn!(epoch, "starting a new epoch: Redis lost the old one's data");
            self.hub.reset(image.clone(), SnapshotReason::EpochChanged);
        }
        let channels = image.seqs.len();
        self.store
            .new_epoch(
                &self.token,
                old,
                image.epoch,
                image.n,
                &checkpoint::encode(&image),
                channels,
            )
            .await?;
        self.loaded = true;
        self.published = true;
        Ok(())
    }

    /// Leads until the lease is lost (or Redis says someone else leads); returns `Follow`.
    async fn lead(&mut self, mut sim: Box<Simulator>) -> Mode {
        let mut interval = tokio::time::interval(self.config.tick);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut lease = Lease {
            refreshed: Instant::now(),
            held: true,
        };
        let mut checkpointed = Instant::now() - self.config.checkpoint_every;
        loop {
            interval.tick().await;
            if let Some(follow) = self.keep_lease(&mut lease, &mut sim).await {
                return follow;
            }
            if !lease.held {
                continue;
            }
            match self.lead_one_tick(&mut sim).await {
                Step::Quiet | Step::Published | Step::Waiting => {}
                Step::Unpublished => {
                    // The tick was not published: undo it in the world too.
                    *sim = self.resume_world();
                    lease.held = false;
                    continue;
                }
                Step::Follow => return self.stop_leading(),
            }
            if checkpointed.elapsed() >= self.config.checkpoint_every {
                checkpointed = Instant::now();
                self.checkpoint();
            }
        }
    }

    /// Refreshes the lease when due. `Some(Follow)` when it is lost; `lease.held` is false
    /// while Redis cannot be reached (the world does not move then).
    async fn keep_lease(&mut self, lease: &mut Lease, sim: &mut Box<Simulator>) -> Option<Mode> {
        if lease.refreshed.elapsed() < self.config.lease / 5 {
            return None;
        }
        match self
            .store
            .refresh_lease(&self.token, self.config.lease)
            .await
        {
            Ok(true) => {
                lease.refreshed = Instant::now();
                self.redis_ok();
                if self.staged.is_none() {
                    // Alive and current (not while a tick waits for replicas: the feed
                    // waits then, and readiness says so).
                    self.health.set_caught_up(true);
                    self.health.beat();
                }
            }
            Ok(false) => {
                tracing::warn!("lost the lease; following");
                return Some(self.stop_leading());
            }
            Err(err) => {
                self.redis_failed(&err);
                if lease.refreshed.elapsed() >= self.config.lease {
                    // Our lease has expired in Redis by now: someone else may lead.
                    return Some(self.stop_leading());
                }
                lease.held = false;
                return None;
            }
        }
        if !lease.held {
            // Back after an outage: the world did not move while it could not be published;
            // carry on from the hub.
            **sim = self.resume_world();
            lease.held = true;
        }
        None
    }

    /// Steps the world, takes the publish queue, numbers the tick in Redis and applies it
    /// (with `wait_replicas`, once replicas hold it: a staged tick is settled first).
    async fn lead_one_tick(&mut self, sim: &mut Box<Simulator>) -> Step {
        if self.staged.is_some() {
            return self.settle_staged(sim).await;
        }
        let now = micros_now();
        let mut draw = Draw {
            events: sim.step(now),
            ..Default::default()
        };
        let mark = match publish_queue::take(&self.store, &self.hub, &self.inbox_cursor, &mut draw)
            .await
        {
            Ok(mark) => mark,
            Err(err) => {
                tracing::warn!(%err, "cannot read the publish queue this tick");
                None
            }
        };
        if draw.is_empty() && mark.is_none() {
            return Step::Quiet;
        }
        let mut tick = prepare(&self.hub, now, draw.events, draw.new_symbols);
        tick.inbox = mark.clone();
        if self.config.wait_replicas > 0 {
            match self.publish_replicated(tick, sim).await {
                Ok(step) => return step,
                Err(err) => return self.refused(err, sim).await,
            }
        }
        let sent = Instant::now();
        let committed = self.store.commit(&self.token, &tick).await;
        metrics::redis_commit(sent.elapsed().as_secs_f64());
        match committed {
            Ok(()) => {
                self.redis_ok();
                self.published_own(tick);
                Step::Published
            }
            Err(err) => self.refused(err, sim).await,
        }
    }

    /// Applies our own tick, published, to the hub, and settles the publish requests it took.
    fn published_own(&mut self, tick: Commit) {
        self.redis_ok();
        let (n, mark) = (tick.n, tick.inbox.clone());
        match self.hub.commit(tick) {
            Ok(updates) => metrics::tick(updates),
            Err(err) => tracing::error!(%err, "our own tick did not continue our hub"),
        }
        if let Some(mark) = mark {
            self.inbox_cursor = mark.to.clone();
            self.settled.send_modify(|s| s.add(&mark, n));
        }
        self.health.beat();
    }

    /// What to do when Redis refused our tick.
    async fn refused(&mut self, err: Refused, sim: &mut Box<Simulator>) -> Step {
        match err {
            Refused::Unreachable(why) => {
                self.redis_failed(&Refused::Unreachable(why));
                Step::Unpublished
            }
            // Redis lost the epoch, or ticks we published: never number them again in it.
            Refused::NoEpoch => self.restart_epoch(sim).await,
            Refused::Order(m) if m < self.hub.n() => self.restart_epoch(sim).await,
            // A tick staged for replicas (a failover, or a producer before us): it goes first.
            Refused::Staged => self.adopt_staged(sim).await,
            err => {
                tracing::warn!(%err, "Redis refused our tick; following");
                self.loaded = false;
                Step::Follow
            }
        }
    }

    /// A new epoch after Redis lost data, and the world continued from the hub.
    async fn restart_epoch(&mut self, sim: &mut Box<Simulator>) -> Step {
        if let Err(err) = self.start_epoch(Some(self.hub.epoch())).await {
            tracing::warn!(%err, "cannot start a new epoch; following");
            return Step::Follow;
        }
        **sim = self.resume_world();
        Step::Published
    }

    /// Writes the hub's image as the cluster's checkpoint, off the feed's task.
    fn checkpoint(&self) {
        let image = self.hub.image();
        let store = self.store.clone();
        tokio::spawn(async move {
            let json = tokio::task::spawn_blocking(move || {
                (image.epoch, image.n, checkpoint::encode(&image))
            })
            .await;
            if let Ok((epoch, n, json)) = json {
                if let Err(err) = store.write_checkpoint(epoch, n, &json).await {
                    tracing::warn!(%err, "cannot write a checkpoint");
                }
            }
        });
    }

    fn stop_leading(&mut self) -> Mode {
        // A tick of ours still staged is for whoever leads next to publish.
        self.staged = None;
        self.health.set_leading(false);
        self.next_lease_try = Instant::now() + self.config.lease;
        Mode::Follow
    }
}
