//! Leading with `--redis-wait-replicas K`: each tick is staged in Redis, and published only
//! once `WAIT K` says K replicas hold it (the store's module doc says why that keeps the
//! epoch across a Sentinel failover).
//!
//! Invariants:
//! - the world steps only when no tick of ours is staged: a tick that waits holds the world
//!   with it, so the feed pauses rather than run ahead of what replicas hold;
//! - a staged tick found in Redis is promoted before anything is numbered after it, whoever
//!   staged it (`finish_staged`): a node may already have applied it;
//! - our hub applies our tick only once it is published, as every other node does.

use super::{Node, Step};
use crate::server::cluster::store::Refused;
use crate::server::feed::hub::Commit;
use crate::server::metrics;
use crate::server::sources::simulator::Simulator;
use std::time::Duration;
use tokio::time::Instant;

/// Our tick, staged in Redis, waiting for replicas.
pub(super) struct Staged {
    tick: Commit,
    /// Since it was staged: the tick's publish latency.
    since: Instant,
    /// Rounds it waited. The world may have been resumed from the hub meanwhile (Redis
    /// unreachable), without this tick: it is resumed again once the tick is published.
    waited: u32,
}

/// The longest a `WAIT` holds the leading loop: well inside the lease refresh.
const WAIT_AT_MOST: Duration = Duration::from_secs(1);

impl Node {
    fn wait_timeout(&self) -> Duration {
        (self.config.lease / 5).min(WAIT_AT_MOST)
    }

    /// Stages `tick` and publishes it as soon as enough replicas hold it.
    pub(super) async fn publish_replicated(
        &mut self,
        tick: Commit,
        sim: &mut Box<Simulator>,
    ) -> Result<Step, Refused> {
        self.store.stage(&self.token, &tick).await?;
        self.staged = Some(Staged {
            tick,
            since: Instant::now(),
            waited: 0,
        });
        Ok(self.settle_staged(sim).await)
    }

    /// Our staged tick: waits for replicas, then publishes it. `Waiting` while too few
    /// acknowledge it (or Redis cannot be reached); the next round tries again.
    pub(super) async fn settle_staged(&mut self, sim: &mut Box<Simulator>) -> Step {
        if self.staged.is_none() {
            return Step::Quiet;
        }
        let wanted = self.config.wait_replicas;
        let acked = self.store.wait_replicas(wanted, self.wait_timeout()).await;
        let staged = self.staged.as_mut().expect("checked above");
        let acked = match acked {
            Ok(acked) => acked,
            Err(err) => {
                staged.waited += 1;
                self.redis_failed(&err);
                return Step::Waiting;
            }
        };
        if acked < wanted {
            if staged.waited == 0 {
                tracing::warn!(
                    tick = staged.tick.n,
                    acked,
                    wanted,
                    "too few Redis replicas hold the tick; the feed waits for them (--redis-wait-replicas)"
                );
            }
            staged.waited += 1;
            metrics::redis_wait_timeout();
            self.health.set_caught_up(false);
            return Step::Waiting;
        }
        loop {
            let ours = self.staged.as_ref().map_or(0, |s| s.tick.n);
            match self.store.promote(&self.token).await {
                Ok(Some((n, by))) if n == ours && by == self.token => {
                    let staged = self.staged.take().expect("ours is staged");
                    metrics::redis_commit(staged.since.elapsed().as_secs_f64());
                    if staged.waited > 0 {
                        tracing::info!(tick = n, "replicas hold the tick; published");
                    }
                    self.published_own(staged.tick);
                    if staged.waited > 0 {
                        **sim = self.resume_world();
                    }
                    return Step::Published;
                }
                // A tick we applied already, staged again on a promoted replica: published
                // now with the same content. Ours may still be staged after it.
                Ok(Some((n, _))) if n <= self.hub.n() => continue,
                Ok(Some((n, _))) => {
                    tracing::warn!(
                        tick = n,
                        "published a tick another producer staged; following"
                    );
                    self.staged = None;
                    self.loaded = false;
                    return Step::Follow;
                }
                Ok(None) => {
                    // Ours is gone (the primary that held it died before a replica had it);
                    // nobody saw it. Step the world again from what was published.
                    self.staged = None;
                    **sim = self.resume_world();
                    return Step::Quiet;
                }
                Err(err @ Refused::Unreachable(_)) => {
                    if let Some(s) = self.staged.as_mut() {
                        s.waited += 1;
                    }
                    self.redis_failed(&err);
                    return Step::Waiting;
                }
                Err(err) => {
                    tracing::warn!(%err, "Redis refused to publish our staged tick; following");
                    self.staged = None;
                    self.loaded = false;
                    return Step::Follow;
                }
            }
        }
    }

    /// Publishes whatever tick is staged in Redis (another producer's, or ours from before a
    /// failover), waiting for replicas first when asked to. `Ok(false)`: too few replicas
    /// hold it yet.
    pub(super) async fn finish_staged(&mut self) -> Result<bool, Refused> {
        loop {
            let Some(meta) = self.store.meta().await? else {
                return Ok(true);
            };
            if meta.staged.is_none() {
                return Ok(true);
            }
            let wanted = self.config.wait_replicas;
            if wanted > 0
                && self
                    .store
                    .wait_replicas(wanted, self.wait_timeout())
                    .await?
                    < wanted
            {
                metrics::redis_wait_timeout();
                return Ok(false);
            }
            if let Some((n, _)) = self.store.promote(&self.token).await? {
                tracing::info!(tick = n, "published the tick staged before this node led");
            }
        }
    }

    /// `stage` or `commit` was refused because a tick is staged: publishes it, applies it,
    /// and steps the world on from there.
    pub(super) async fn adopt_staged(&mut self, sim: &mut Box<Simulator>) -> Step {
        self.staged = None;
        let step = match self.finish_staged().await {
            Ok(true) => match self.catch_up().await {
                Ok(()) if !self.loaded => return Step::Follow,
                Ok(()) => Step::Published,
                Err(err) => {
                    self.redis_failed(&err);
                    Step::Waiting
                }
            },
            Ok(false) => Step::Waiting,
            Err(err) => {
                self.redis_failed(&err);
                Step::Waiting
            }
        };
        // The world stepped for a tick that was refused: on from what was published.
        **sim = self.resume_world();
        step
    }
}
