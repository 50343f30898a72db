//! Many nodes on one Redis: producers number the feed in Redis, every node applies it.
//!
//! - `store`: the keys and the Lua scripts (numbering, lease, epochs, checkpoints).
//! - `endpoint`: where Redis is: one URL, or the primary Redis Sentinel names now.
//! - `payload`: a tick as the tick stream stores it.
//! - `checkpoint`: a producer's whole state, for nodes that start or lost continuity.
//! - `publish_queue`: publish requests from any node, queued in Redis, taken into ticks by the
//!   producer.
//! - `node`: the node's feed loop, following or leading.
//! - `role`: a node's part in the cluster (`--role`).
//!
//! Every node runs one feed loop. A node **follows**: it loads the latest checkpoint into its
//! hub and applies every tick after it from the tick stream (a blocking read on a connection
//! of its own), so its sessions, snapshots, history and page are the cluster's. A node that
//! may produce (`--role all|producer`) also tries for the lease; holding it, it **leads**: it
//! continues the simulated world from its hub's state (the last published prices and scores,
//! not a restart), numbers each tick in Redis and applies it locally. When it loses the lease
//! it follows again. Only one loop per node writes to its hub, so a node's hub only ever sees
//! ticks in Redis's order.
//!
//! Failures and what they look like to a client:
//! - producer dies: its lease expires (`--lease-ms`), a standby takes over within it, same
//!   epoch, next tick: no gap;
//! - Redis unreachable: followers keep their clients (heartbeats continue; the dashboard says
//!   Stale), report not ready, retry with backoff; the leader stops stepping the world (a tick
//!   it could not publish is undone) and retries;
//! - Redis back with its data: followers read on from their last tick: no gap;
//! - Redis back empty (or behind what someone saw): a new epoch, every client gets
//!   `epoch_changed` snapshots; no seq is ever reused within an epoch;
//! - a follower's read hangs while Redis has moved on (a half-open connection after a
//!   failover): the read's deadline or the position check notices within a few seconds, and
//!   it reconnects rather than stall silently;
//! - the Redis primary's machine dies, with Sentinel (`--redis redis+sentinel://...`):
//!   Sentinel promotes a replica, every node finds it (`endpoint`), the producer takes its
//!   lease there. A replica that was behind holds less than was published: that is the
//!   "behind what someone saw" case above, a new epoch, never a reused seq.

pub(crate) mod checkpoint;
pub(crate) mod endpoint;
pub(crate) mod node;
pub(crate) mod payload;
pub(crate) mod publish_queue;
pub(crate) mod role;
pub(crate) mod store;

pub(crate) use node::{run, NodeConfig};
pub use role::Role;
