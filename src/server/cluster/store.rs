//! Everything livetape keeps in Redis, and the scripts that change it atomically.
//!
//! Keys (all under the prefix, `livetape` by default):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P:meta` | hash | `epoch`, `n` (the last tick numbered), `alive` (the producer's last heartbeat, ms); with `--redis-wait-replicas`, `staged` and `stage` (a tick waiting for replicas) |
//! | `P:lease` | string | the active producer's token, with a TTL |
//! | `P:E:ticks` | stream | one entry per tick of epoch `E`, id `0-n`: the tick, numbered and encoded |
//! | `P:E:ch:ID` | stream | per channel of epoch `E`, id `0-seq`: that update, for resumes from any node |
//! | `P:checkpoint`, `P:checkpoint:n` | strings | the producer's latest whole state, and its tick |
//!
//! Numbering happens in one Lua script per tick ([`Store::commit`]): it checks that the caller
//! holds the lease (fencing: a producer that was paused past its lease cannot write), that
//! the epoch is the current one and that the tick is exactly the next, then appends the tick
//! and each channel's update and moves `n`. A tick is therefore published once, in order, or
//! not at all, whichever producer sends it. If Redis lost data (restarted without
//! persistence, or an older copy took over), `meta` is gone or behind: the producer starts a
//! new epoch ([`Store::new_epoch`]) rather than number anything twice within one.
//!
//! With `--redis-wait-replicas K` a tick is published in two steps: [`Store::stage`] checks it
//! as `commit` would and keeps it in `meta`, where no node reads it; once `WAIT K` says K
//! replicas hold it, [`Store::promote`] appends it as `commit` would. A client therefore only
//! ever sees ticks that K replicas held before it saw them. If the primary dies after the
//! promotion but before the replica received it, the replica still holds the staged tick:
//! whoever leads next promotes it first (`commit` and `stage` refuse while a tick is staged),
//! so it becomes the next tick with the same content, and a node that already applied it is
//! not "behind" (`invalidate` counts a staged tick as held). The epoch survives the
//! failover; numbering from the replica's top would otherwise have started a new one.
//!
//! One Redis, not Redis Cluster: the scripts touch keys they compute.

use super::endpoint::Endpoint;
use crate::protocol::{Epoch, Seq};
use crate::server::feed::hub::Commit;
use crate::server::feed::tick::{Encoded, TickNo};
use bytes::Bytes;
use chrono::DateTime;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Script, Value};
use std::sync::Arc;
use std::time::Duration;

/// Why a write was refused.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Another producer holds the lease.
    Lease,
    /// There is no current epoch: Redis lost its data (or the cluster is new).
    NoEpoch,
    /// The current epoch is another one.
    Epoch(Epoch),
    /// The last tick in Redis is `n`, not the one before ours.
    Order(TickNo),
    /// A tick is staged, waiting for replicas: it must be promoted before anything else.
    Staged,
    /// Redis could not be reached or answered with an error.
    Unreachable(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Lease => write!(f, "another producer holds the lease"),
            Refused::NoEpoch => write!(f, "no current epoch in Redis"),
            Refused::Epoch(e) => write!(f, "the current epoch is {e}"),
            Refused::Order(n) => write!(f, "the last tick in Redis is {n}"),
            Refused::Staged => write!(f, "a tick is staged for replicas; promote it first"),
            Refused::Unreachable(why) => write!(f, "Redis unreachable: {why}"),
        }
    }
}

fn refused(err: redis::RedisError) -> Refused {
    // Script errors come back as `LEASE`, `NOEPOCH`, `EPOCH <e>`, `ORDER <n>`, `STAGED`.
    let text = err.to_string();
    let word = |w: &str| {
        text.split_whitespace()
            .skip_while(|t| !t.ends_with(w))
            .nth(1)
            .and_then(|v| v.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
    };
    if text.contains("LEASE") {
        Refused::Lease
    } else if text.contains("STAGED") {
        Refused::Staged
    } else if text.contains("NOEPOCH") {
        Refused::NoEpoch
    } else if text.contains("EPOCH") {
        word("EPOCH").map_or(Refused::Unreachable(text.clone()), Refused::Epoch)
    } else if text.contains("ORDER") {
        word("ORDER").map_or(Refused::Unreachable(text.clone()), Refused::Order)
    } else {
        Refused::Unreachable(text)
    }
}

/// The checks before a tick is numbered (lease, epoch, nothing staged, the next tick), as
/// `local n`. KEYS: meta, lease, the tick stream. ARGV: token, epoch, n, ts, payload,
/// ticks kept, updates kept, channel key prefix, now (ms), inbox mark, then (channel, seq,
/// json) per update.
const CHECKS: &str = r#"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('LEASE') end
local e = redis.call('HGET', KEYS[1], 'epoch')
if not e then return redis.error_reply('NOEPOCH') end
if e ~= ARGV[2] then return redis.error_reply('EPOCH ' .. e) end
if redis.call('HEXISTS', KEYS[1], 'staged') == 1 then return redis.error_reply('STAGED') end
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if n + 1 ~= tonumber(ARGV[3]) then return redis.error_reply('ORDER ' .. n) end
"#;

/// Appends a checked tick (arguments as for `CHECKS`) to the tick stream and the channels'
/// streams, and moves `n`.
const APPEND: &str = r#"
local function append(meta, ticks, a)
  redis.call('XADD', ticks, 'MAXLEN', '~', a[6], '0-' .. a[3], 'p', a[5])
  for i = 11, #a, 3 do
    redis.call('XADD', a[8] .. a[i], 'MAXLEN', '~', a[7], '0-' .. a[i + 1],
      'n', a[3], 't', a[4], 'j', a[i + 2])
  end
  redis.call('HSET', meta, 'n', a[3], 'alive', a[9])
  if a[10] ~= '' then redis.call('HSET', meta, 'inbox', a[10]) end
end
"#;

/// Publishes a tick at once.
fn commit_script() -> String {
    format!("{APPEND}{CHECKS}append(KEYS[1], KEYS[3], ARGV)\nreturn n + 1\n")
}

/// Stages a tick in `meta` (fields `staged`: its number, `stage`: the whole call), where no
/// node reads it, until a replica has acknowledged it (`WAIT`) and `PROMOTE` publishes it.
fn stage_script() -> String {
    format!(
        "{CHECKS}redis.call('HSET', KEYS[1], 'staged', ARGV[3], 'stage', cmsgpack.pack({{KEYS[3], ARGV}}))\nreturn n + 1\n"
    )
}

/// Publishes the staged tick, if it still continues the feed: `{n, token}` of the tick
/// published, `{0, ''}` when nothing was staged (or what was is stale and dropped). Whoever
/// holds the lease may promote a staged tick, also one another producer staged: a node may
/// already have applied it from a primary that died after promoting it, so it must become
/// the next tick, with the same content, and nothing else may.
/// KEYS: meta, lease. ARGV: token, now (ms).
fn promote_script() -> String {
    format!(
        "{APPEND}{}",
        r#"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('LEASE') end
local blob = redis.call('HGET', KEYS[1], 'stage')
redis.call('HDEL', KEYS[1], 'staged', 'stage')
if not blob then return {0, ''} end
local s = cmsgpack.unpack(blob)
local ticks, a = s[1], s[2]
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if redis.call('HGET', KEYS[1], 'epoch') ~= a[2] or n + 1 ~= tonumber(a[3]) then
  return {0, ''}
end
append(KEYS[1], ticks, a)
redis.call('HSET', KEYS[1], 'alive', ARGV[2])
return {tonumber(a[3]), a[1]}
"#
    )
}

const NEW_EPOCH: &str = r#"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('LEASE') end
local e = redis.call('HGET', KEYS[1], 'epoch')
if e and e ~= ARGV[2] then return redis.error_reply('EPOCH ' .. e) end
local inbox = redis.call('HGET', KEYS[1], 'inbox')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'epoch', ARGV[3], 'n', ARGV[4], 'alive', ARGV[6])
if inbox then redis.call('HSET', KEYS[1], 'inbox', inbox) end
redis.call('SET', KEYS[3], ARGV[5])
redis.call('SET', KEYS[4], ARGV[4])
return 1
"#;

const REFRESH: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'alive', ARGV[3])
return 1
"#;

const CHECKPOINT: &str = r#"
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
local at = tonumber(redis.call('GET', KEYS[3]) or '-1')
if at >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[2])
return 1
"#;

const INVALIDATE: &str = r#"
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'n') or '0') >= tonumber(ARGV[2]) then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'staged') or '0') >= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
"#;

/// A cluster node reads a channel's updates older than its hub's history from the channel's
/// stream (a client resuming after a long absence, or coming from another node).
impl crate::server::feed::archive::Archive for Store {
    fn updates(
        &self,
        epoch: Epoch,
        id: u32,
        after: Seq,
        upto: Seq,
    ) -> crate::server::feed::archive::Fetch<'_> {
        Box::pin(async move {
            self.channel_range(epoch, id, after, upto)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// The cluster's position as Redis has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) epoch: Epoch,
    pub(crate) n: TickNo,
    /// The producer's last heartbeat, ms since the Unix epoch.
    pub(crate) alive_ms: i64,
    /// A tick staged for replicas (`--redis-wait-replicas`), not published yet.
    pub(crate) staged: Option<TickNo>,
}

/// How much history Redis keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Retention {
    /// Ticks in the tick stream (about).
    pub(crate) ticks: u32,
    /// Updates per channel stream (about).
    pub(crate) per_channel: u32,
}

pub(crate) struct Store {
    /// Where Redis is: one URL, or the primary Sentinel names (see `endpoint`).
    endpoint: Endpoint,
    /// The server commands go to now; `None` until Sentinel has named a primary.
    primary: std::sync::Mutex<Option<Primary>>,
    /// Wakes the Sentinel watcher at once when a command failed as a failover makes it fail.
    recheck: tokio::sync::Notify,
    prefix: String,
    retention: Retention,
    commit: Script,
    stage: Script,
    promote: Script,
    new_epoch: Script,
    refresh: Script,
    checkpoint: Script,
    invalidate: Script,
}

/// One Redis server and the shared connection to it. The connection is replaced when a
/// command times out: the manager reconnects by itself only when a connection is seen to
/// drop, and a half-open one (after a failover) never is.
struct Primary {
    client: redis::Client,
    conn: ConnectionManager,
    /// Its address, to notice that Sentinel named another.
    addr: String,
}

impl Primary {
    fn new(client: redis::Client) -> Result<Primary, String> {
        let conn =
            manager(&client).map_err(|e| format!("cannot set up a Redis connection: {e}"))?;
        let addr = client.get_connection_info().addr().to_string();
        Ok(Primary { client, conn, addr })
    }
}

/// Publish requests kept in the inbox stream (about): settled ones are only history.
const INBOX_KEEP: u32 = 10_000;

/// How long a command may take before Redis counts as unreachable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

impl Store {
    /// Connects (lazily: Redis may be down when a node starts; every call retries). With
    /// Sentinel, asks for the primary now and keeps asking (a task that ends with the store).
    pub(crate) async fn open(
        url: &str,
        prefix: &str,
        retention: Retention,
    ) -> Result<Arc<Store>, String> {
        let endpoint = Endpoint::parse(url)?;
        let primary = match &endpoint {
            Endpoint::Direct(client) => Some(Primary::new(client.clone())?),
            Endpoint::Sentinel { .. } => None,
        };
        let store = Arc::new(Store {
            endpoint,
            primary: std::sync::Mutex::new(primary),
            recheck: tokio::sync::Notify::new(),
            prefix: prefix.to_string(),
            retention,
            commit: Script::new(&commit_script()),
            stage: Script::new(&stage_script()),
            promote: Script::new(&promote_script()),
            new_epoch: Script::new(NEW_EPOCH),
            refresh: Script::new(REFRESH),
            checkpoint: Script::new(CHECKPOINT),
            invalidate: Script::new(INVALIDATE),
        });
        if store.endpoint.sentinel_name().is_some() {
            store.find_primary().await;
            tokio::spawn(watch_primary(Arc::downgrade(&store)));
        }
        Ok(store)
    }

    /// Asks Sentinel for the primary and moves to it if it is another server.
    async fn find_primary(&self) {
        let asked = tokio::time::timeout(RESPONSE_TIMEOUT, self.endpoint.primary()).await;
        let client = match asked {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => {
                tracing::warn!(%err, sentinel = self.endpoint.sentinel_name(), "Sentinel names no primary");
                return;
            }
            Err(_) => {
                tracing::warn!(
                    sentinel = self.endpoint.sentinel_name(),
                    "Sentinel did not answer"
                );
                return;
            }
        };
        let addr = client.get_connection_info().addr().to_string();
        let mut primary = self.primary.lock().unwrap_or_else(|p| p.into_inner());
        if primary.as_ref().is_some_and(|p| p.addr == addr) {
            return;
        }
        match Primary::new(client) {
            Ok(fresh) => {
                if let Some(old) = primary.as_ref() {
                    tracing::warn!(old = %old.addr, new = %addr, "Sentinel named another Redis primary; moving to it");
                    crate::server::metrics::redis_primary_changed();
                } else {
                    tracing::info!(primary = %addr, "Redis primary (from Sentinel)");
                }
                *primary = Some(fresh);
            }
            Err(err) => tracing::warn!(%err, "cannot connect to the primary Sentinel named"),
        }
    }

    fn conn(&self) -> Result<ConnectionManager, Refused> {
        let primary = self.primary.lock().unwrap_or_else(|p| p.into_inner());
        match &*primary {
            Some(p) => Ok(p.conn.clone()),
            None => Err(Refused::Unreachable(
                "Sentinel has named no primary yet".into(),
            )),
        }
    }

    /// Classifies an error. A timeout replaces the connection; with Sentinel, an error a
    /// failover causes has the primary looked up again at once.
    fn failed(&self, err: redis::RedisError) -> Refused {
        if self.endpoint.sentinel_name().is_some() {
            let readonly = err.code() == Some("READONLY");
            if err.is_timeout()
                || err.is_io_error()
                || err.is_connection_dropped()
                || err.is_connection_refusal()
                || readonly
            {
                self.recheck.notify_one();
            }
        } else if err.is_timeout() {
            let mut primary = self.primary.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(p) = primary.as_mut() {
                if let Ok(fresh) = manager(&p.client) {
                    p.conn = fresh;
                }
            }
        }
        refused(err)
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    fn ticks_key(&self, epoch: Epoch) -> String {
        self.key(&format!("{epoch}:ticks"))
    }

    fn channel_prefix(&self, epoch: Epoch) -> String {
        self.key(&format!("{epoch}:ch:"))
    }

    /// The current epoch and tick, `None` when Redis holds none.
    pub(crate) async fn meta(&self) -> Result<Option<Meta>, Refused> {
        let mut conn = self.conn()?;
        type Fields = (Option<u64>, Option<u64>, Option<i64>, Option<u64>);
        let (epoch, n, alive, staged): Fields = redis::cmd("HMGET")
            .arg(self.key("meta"))
            .arg("epoch")
            .arg("n")
            .arg("alive")
            .arg("staged")
            .query_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(epoch.map(|epoch| Meta {
            epoch,
            n: n.unwrap_or(0),
            alive_ms: alive.unwrap_or(0),
            staged,
        }))
    }

    /// The inbox stream id up to which publish requests are settled ("0-0": none yet).
    pub(crate) async fn inbox_cursor(&self) -> Result<String, Refused> {
        let mut conn = self.conn()?;
        let at: Option<String> = redis::cmd("HGET")
            .arg(self.key("meta"))
            .arg("inbox")
            .query_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(at.unwrap_or_else(|| "0-0".into()))
    }

    /// Queues a publish request (a `PublishBatch` as JSON) for the producer; its stream id.
    pub(crate) async fn inbox_add(&self, batch: &str) -> Result<String, Refused> {
        let mut conn = self.conn()?;
        redis::cmd("XADD")
            .arg(self.key("inbox"))
            .arg("MAXLEN")
            .arg("~")
            .arg(INBOX_KEEP)
            .arg("*")
            .arg("b")
            .arg(batch)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))
    }

    /// Up to `count` entries of the stream at `key` after (not including) stream id `after`.
    async fn entries_after(
        &self,
        key: &str,
        after: &str,
        count: usize,
    ) -> Result<redis::streams::StreamRangeReply, Refused> {
        let mut conn = self.conn()?;
        redis::cmd("XRANGE")
            .arg(key)
            .arg(format!("({after}"))
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))
    }

    /// Up to `count` queued requests after stream id `cursor`: (id, batch JSON).
    pub(crate) async fn inbox_after(
        &self,
        cursor: &str,
        count: usize,
    ) -> Result<Vec<(String, String)>, Refused> {
        let reply = self
            .entries_after(&self.key("inbox"), cursor, count)
            .await?;
        Ok(reply
            .ids
            .into_iter()
            .map(|entry| {
                let batch = entry.get::<String>("b").unwrap_or_default();
                (entry.id, batch)
            })
            .collect())
    }

    /// Takes the producer lease if nobody holds it.
    pub(crate) async fn acquire_lease(&self, token: &str, ttl: Duration) -> Result<bool, Refused> {
        let mut conn = self.conn()?;
        let got: Option<String> = redis::cmd("SET")
            .arg(self.key("lease"))
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(got.is_some())
    }

    /// Extends our lease and records a heartbeat; false if it is no longer ours.
    pub(crate) async fn refresh_lease(&self, token: &str, ttl: Duration) -> Result<bool, Refused> {
        let mut conn = self.conn()?;
        let kept: i64 = self
            .refresh
            .key(self.key("lease"))
            .key(self.key("meta"))
            .arg(token)
            .arg(ttl.as_millis() as u64)
            .arg(now_ms())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(kept == 1)
    }

    /// Gives the lease up (a producer stopping cleanly), if it is ours.
    pub(crate) async fn release_lease(&self, token: &str) {
        let Ok(mut conn) = self.conn() else { return };
        let _: Result<i64, _> = Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        )
        .key(self.key("lease"))
        .arg(token)
        .invoke_async(&mut conn)
        .await;
    }

    /// Publishes a tick numbered by the caller, atomically (see the module doc).
    pub(crate) async fn commit(&self, token: &str, tick: &Commit) -> Result<(), Refused> {
        self.numbered(&self.commit, token, tick).await
    }

    /// Stages a tick numbered by the caller for replicas to acknowledge (see the module doc).
    pub(crate) async fn stage(&self, token: &str, tick: &Commit) -> Result<(), Refused> {
        self.numbered(&self.stage, token, tick).await
    }

    /// How many replicas acknowledged every write this node sent so far, waiting up to
    /// `timeout` for `replicas` of them (Redis's `WAIT`, on the connection that wrote).
    pub(crate) async fn wait_replicas(
        &self,
        replicas: u32,
        timeout: Duration,
    ) -> Result<u32, Refused> {
        let mut conn = self.conn()?;
        redis::cmd("WAIT")
            .arg(replicas)
            .arg(timeout.as_millis() as u64)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))
    }

    /// Publishes the staged tick: `Some((n, token))` of the tick published, `None` when
    /// nothing was staged (see the module doc).
    pub(crate) async fn promote(&self, token: &str) -> Result<Option<(TickNo, String)>, Refused> {
        let mut conn = self.conn()?;
        let (n, by): (TickNo, String) = self
            .promote
            .key(self.key("meta"))
            .key(self.key("lease"))
            .arg(token)
            .arg(now_ms())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))?;
        Ok((n > 0).then_some((n, by)))
    }

    async fn numbered(&self, script: &Script, token: &str, tick: &Commit) -> Result<(), Refused> {
        let mut conn = self.conn()?;
        let mut inv = script.prepare_invoke();
        inv.key(self.key("meta"))
            .key(self.key("lease"))
            .key(self.ticks_key(tick.epoch))
            .arg(token)
            .arg(tick.epoch)
            .arg(tick.n)
            .arg(tick.ts.timestamp_micros())
            .arg(crate::server::cluster::payload::encode(tick))
            .arg(self.retention.ticks)
            .arg(self.retention.per_channel)
            .arg(self.channel_prefix(tick.epoch))
            .arg(now_ms())
            .arg(tick.inbox.as_ref().map_or("", |m| m.to.as_str()));
        for u in &tick.updates {
            inv.arg(u.channel).arg(u.seq).arg(&u.json[..]);
        }
        let _: i64 = inv
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(())
    }

    /// Starts epoch `epoch` at tick `n` with this checkpoint, if the current epoch is still
    /// `old` (or there is none). The old epoch's streams are dropped.
    pub(crate) async fn new_epoch(
        &self,
        token: &str,
        old: Option<Epoch>,
        epoch: Epoch,
        n: TickNo,
        checkpoint: &str,
        channels: usize,
    ) -> Result<(), Refused> {
        let mut conn = self.conn()?;
        let _: i64 = self
            .new_epoch
            .key(self.key("meta"))
            .key(self.key("lease"))
            .key(self.key("checkpoint"))
            .key(self.key("checkpoint:n"))
            .arg(token)
            .arg(old.map(|e| e.to_string()).unwrap_or_default())
            .arg(epoch)
            .arg(n)
            .arg(checkpoint)
            .arg(now_ms())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))?;
        if let Some(old) = old.filter(|o| *o != epoch) {
            // Best effort: an old epoch's streams are of no use to anyone now.
            let mut keys = vec![self.ticks_key(old)];
            keys.extend((0..channels).map(|id| format!("{}{id}", self.channel_prefix(old))));
            for chunk in keys.chunks(512) {
                let _: Result<i64, _> =
                    redis::cmd("UNLINK").arg(chunk).query_async(&mut conn).await;
            }
        }
        Ok(())
    }

    /// Stores a checkpoint of epoch `epoch` at tick `n`, unless a later one is there.
    pub(crate) async fn write_checkpoint(
        &self,
        epoch: Epoch,
        n: TickNo,
        json: &str,
    ) -> Result<bool, Refused> {
        let mut conn = self.conn()?;
        let written: i64 = self
            .checkpoint
            .key(self.key("meta"))
            .key(self.key("checkpoint"))
            .key(self.key("checkpoint:n"))
            .arg(epoch)
            .arg(n)
            .arg(json)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(written == 1)
    }

    /// The latest checkpoint's JSON.
    pub(crate) async fn checkpoint(&self) -> Result<Option<String>, Refused> {
        let mut conn = self.conn()?;
        redis::cmd("GET")
            .arg(self.key("checkpoint"))
            .query_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))
    }

    /// Ticks of `epoch` after tick `n`, at most `count`, in order.
    pub(crate) async fn ticks_after(
        &self,
        epoch: Epoch,
        n: TickNo,
        count: usize,
    ) -> Result<Vec<Commit>, Refused> {
        let reply = self
            .entries_after(&self.ticks_key(epoch), &format!("0-{n}"), count)
            .await?;
        reply
            .ids
            .iter()
            .map(|entry| tick_of(epoch, entry))
            .collect()
    }

    /// One channel's updates after `seq`, up to and including `upto`, from its stream.
    pub(crate) async fn channel_range(
        &self,
        epoch: Epoch,
        channel: u32,
        seq: Seq,
        upto: Seq,
    ) -> Result<Vec<Encoded>, Refused> {
        let mut conn = self.conn()?;
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(format!("{}{channel}", self.channel_prefix(epoch)))
            .arg(format!("(0-{seq}"))
            .arg(format!("0-{upto}"))
            .query_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))?;
        let mut out = Vec::with_capacity(reply.ids.len());
        for entry in &reply.ids {
            let seq = entry_seq(&entry.id)?;
            let n: u64 = field(entry, "n")?
                .parse()
                .map_err(|_| Refused::Unreachable("bad n in a channel entry".into()))?;
            let ts: i64 = field(entry, "t")?
                .parse()
                .map_err(|_| Refused::Unreachable("bad t in a channel entry".into()))?;
            out.push(Encoded {
                channel,
                seq,
                n,
                ts: DateTime::from_timestamp_micros(ts).unwrap_or_default(),
                json: Bytes::from(field(entry, "j")?),
            });
        }
        Ok(out)
    }

    /// Drops the current epoch if it is `epoch` and Redis stands before tick `n`: somebody
    /// saw tick `n` of it, so Redis lost data, and numbering must not go on under it.
    pub(crate) async fn invalidate(&self, epoch: Epoch, n: TickNo) -> Result<bool, Refused> {
        let mut conn = self.conn()?;
        let dropped: i64 = self
            .invalidate
            .key(self.key("meta"))
            .arg(epoch)
            .arg(n)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(dropped == 1)
    }

    /// A connection for blocking reads of the tick stream (a blocking command would hold up
    /// every other command on a shared connection).
    pub(crate) async fn reader(&self) -> Result<TickReader, Refused> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(None);
        let client = {
            let primary = self.primary.lock().unwrap_or_else(|p| p.into_inner());
            match &*primary {
                Some(p) => p.client.clone(),
                None => {
                    return Err(Refused::Unreachable(
                        "Sentinel has named no primary yet".into(),
                    ))
                }
            }
        };
        let conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(TickReader {
            conn,
            ticks_prefix: self.prefix.clone(),
        })
    }
}

/// Asks Sentinel for the primary every half second, and at once when a command failed as a
/// failover makes it fail, for as long as the store lives.
async fn watch_primary(store: std::sync::Weak<Store>) {
    loop {
        let Some(s) = store.upgrade() else { return };
        let _ = tokio::time::timeout(Duration::from_millis(500), s.recheck.notified()).await;
        s.find_primary().await;
    }
}

/// Ticks read at most per blocking read.
pub(crate) const READ_COUNT: usize = 512;

fn manager(client: &redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client.clone(), config)
}

/// Reads the tick stream, blocking in Redis until ticks arrive.
pub(crate) struct TickReader {
    conn: MultiplexedConnection,
    ticks_prefix: String,
}

impl TickReader {
    /// Ticks of `epoch` after `n`, waiting up to `block` for the first. A read that takes
    /// much longer than `block` means the connection is stuck (a failover that left it
    /// half-open): it fails, so the caller reconnects instead of waiting forever.
    pub(crate) async fn after(
        &mut self,
        epoch: Epoch,
        n: TickNo,
        block: Duration,
    ) -> Result<Vec<Commit>, Refused> {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(block.as_millis() as u64)
            .arg("STREAMS")
            .arg(format!("{}:{epoch}:ticks", self.ticks_prefix))
            .arg(format!("0-{n}"));
        let read = cmd.query_async::<Option<redis::streams::StreamReadReply>>(&mut self.conn);
        let reply = tokio::time::timeout(block + Duration::from_secs(1), read)
            .await
            .map_err(|_| Refused::Unreachable("a blocking read did not come back".into()))?
            .map_err(refused)?;
        let Some(reply) = reply else {
            return Ok(Vec::new());
        };
        reply
            .keys
            .iter()
            .flat_map(|k| k.ids.iter())
            .map(|entry| tick_of(epoch, entry))
            .collect()
    }
}

fn field(entry: &redis::streams::StreamId, name: &str) -> Result<String, Refused> {
    match entry.map.get(name) {
        Some(Value::BulkString(b)) => String::from_utf8(b.clone())
            .map_err(|_| Refused::Unreachable(format!("field {name} is not UTF-8"))),
        Some(Value::SimpleString(s)) => Ok(s.clone()),
        _ => Err(Refused::Unreachable(format!(
            "entry {} has no field {name}",
            entry.id
        ))),
    }
}

fn entry_seq(id: &str) -> Result<u64, Refused> {
    id.strip_prefix("0-")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Refused::Unreachable(format!("unexpected entry id {id}")))
}

fn tick_of(epoch: Epoch, entry: &redis::streams::StreamId) -> Result<Commit, Refused> {
    let n = entry_seq(&entry.id)?;
    crate::server::cluster::payload::decode(epoch, n, &field(entry, "p")?)
        .map_err(|e| Refused::Unreachable(format!("tick {n} cannot be read: {e}")))
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_errors_are_told_apart() {
        let err = |msg: &str| {
            redis::RedisError::from((redis::ErrorKind::Client, "script", msg.to_string()))
        };
        assert!(matches!(refused(err("LEASE")), Refused::Lease));
        assert!(matches!(refused(err("NOEPOCH")), Refused::NoEpoch));
        assert!(matches!(refused(err("EPOCH 77")), Refused::Epoch(77)));
        assert!(matches!(refused(err("ORDER 12")), Refused::Order(12)));
        assert!(matches!(
            refused(err("connection refused")),
            Refused::Unreachable(_)
        ));
    }
}
