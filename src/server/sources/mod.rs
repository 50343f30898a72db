//! Where a tick's events come from: the simulator, a recording being replayed, publishers
//! (the publish API's inbox), in any combination the configuration allows. The pump draws from every source once per tick and commits what it drew as one tick, so nothing
//! downstream (seqs, history, candles, snapshots, resume) knows where an event came from.
//!
//! # Layout
//!
//! - `simulator`: the seeded market (quotes, trades at real price levels) and games.
//! - `replay`: a recording, played at its own pace or as fast as possible.
//! - `inbox`: publish requests waiting for the next tick, checked against the market.
//! - `draw`: what one tick drew from every source.
//! - `reply`: how a publish request is answered (a receipt, or why it was refused).
//! - `recorder`: writes every committed tick to a file (NDJSON, rotated by size).
//! - `pump`: the sources a server runs, and the task that draws from them every tick and
//!   commits what they drew.

pub(crate) mod draw;
pub(crate) mod inbox;
pub(crate) mod pump;
pub(crate) mod recorder;
pub(crate) mod replay;
pub(crate) mod reply;
pub(crate) mod simulator;

pub(crate) use draw::Draw;
pub(crate) use pump::Sources;
