//! The write side of one WebSocket connection, shared by its session and the fan-out.
//!
//! While a session is in sync ("attached"), the fan-out writes each tick's shared frame to its
//! socket directly, without waking the session: at a thousand clients that removes a thousand
//! task wake-ups per tick, most of what was left of the fan-out's user-space cost. Everything
//! about the socket's write side is decided under one small lock, never held across an await:
//!
//! - `synced` is the last tick written (or known to hold nothing for the client); a tick is
//!   written only if it is exactly the next, by whoever gets there first (the fan-out or the
//!   session draining its receiver while it attaches), so no tick is written twice or skipped;
//! - a frame the socket does not take whole leaves its remainder in `pending` (a slice of the
//!   shared bytes, not a copy) for the session to finish; a tick that finds a remainder still
//!   there detaches the client, which then catches up on its own (see `session`);
//! - a write error marks the connection dead; the session ends.
//!
//! With permessage-deflate agreed, text frames of any size worth it go compressed; a tick's
//! frame is compressed once for every client that takes it (`websocket::deflate::shared`).

use crate::server::feed::tick::TickNo;
use crate::server::rfc6455::deflate;
use crate::server::rfc6455::frame::{self, Opcode};
use bytes::Bytes;
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// What the fan-out did with a tick for one outlet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Written whole.
    Written,
    /// Written in part; the session finishes it.
    Partial,
    /// Nothing to do (not attached, or already covered).
    Skipped,
    /// The outlet could not take the tick and is now detached (or dead).
    Detached,
    /// The outlet was re-attached since it was listed: drop this listing.
    Stale,
}

/// An unsent remainder: the rest of a header, then the rest of a body.
struct Pending {
    head: [u8; 10],
    head_len: usize,
    body: Bytes,
    /// Bytes of head+body already written.
    done: usize,
}

impl Pending {
    fn slices(&self) -> [IoSlice<'_>; 2] {
        if self.done < self.head_len {
            [
                IoSlice::new(&self.head[self.done..self.head_len]),
                IoSlice::new(&self.body),
            ]
        } else {
            [
                IoSlice::new(&self.body[self.done - self.head_len..]),
                IoSlice::new(&[]),
            ]
        }
    }

    fn len(&self) -> usize {
        self.head_len + self.body.len()
    }
}

struct Wire {
    attached: bool,
    synced: TickNo,
    pending: Option<Pending>,
    dead: bool,
    /// Incremented on every attach, so the fan-out can drop stale list entries.
    generation: u64,
}

pub struct Outlet {
    stream: Arc<TcpStream>,
    wire: Mutex<Wire>,
    /// Wakes the session: a remainder to finish, a detach, or a dead socket.
    pub(crate) wake: Notify,
    /// When a text message was last written, in ms since `epoch_instant`.
    last_text_ms: AtomicU64,
    started: Instant,
    /// Messages written (text), for the connection log.
    pub(crate) messages: AtomicU64,
    /// permessage-deflate was agreed.
    deflate: bool,
}

/// The fan-out's first attempt at a frame: one `sendmsg` straight on the socket, from the
/// shared bytes, without touching tokio's readiness state (or the frame's reference count,
/// which every shard thread would otherwise bounce between cores). The profile of the
/// fan-out at 1,000 clients showed tokio's `try_io` wrapper at 5% of the server's CPU. If the
/// kernel does not take the whole frame, the rest goes through [`try_write`] and tokio's
/// readiness, which a later `writable()` relies on.
fn send_direct(stream: &TcpStream, head: &[u8], body: &[u8]) -> io::Result<usize> {
    socket2::SockRef::from(stream).send_vectored(&[IoSlice::new(head), IoSlice::new(body)])
}

/// Result of trying to write without waiting.
enum Tried {
    All,
    Some(Pending),
    Failed,
}

fn try_write(stream: &TcpStream, mut p: Pending) -> Tried {
    loop {
        match stream.try_write_vectored(&p.slices()) {
            Ok(0) => return Tried::Failed,
            Ok(n) => {
                p.done += n;
                if p.done == p.len() {
                    return Tried::All;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Tried::Some(p),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Tried::Failed,
        }
    }
}

fn pending(opcode: Opcode, compressed: bool, body: Bytes) -> Pending {
    let (head, head_len) = frame::header(opcode, compressed, body.len());
    Pending {
        head,
        head_len,
        body,
        done: 0,
    }
}

impl Outlet {
    /// `deflate`: the client agreed to permessage-deflate.
    pub fn new(stream: Arc<TcpStream>, deflate: bool) -> Self {
        Outlet {
            deflate,
            stream,
            wire: Mutex::new(Wire {
                attached: false,
                synced: 0,
                pending: None,
                dead: false,
                generation: 0,
            }),
            wake: Notify::new(),
            last_text_ms: AtomicU64::new(0),
            started: Instant::now(),
            messages: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Wire> {
        self.wire.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sent_text(&self) {
        self.last_text_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.messages.fetch_add(1, Ordering::Relaxed);
    }

    /// How long since a text message was last written.
    pub(crate) fn since_text(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_text_ms.load(Ordering::Relaxed)))
    }

    /// Whether text frames to this client may go compressed.
    pub(crate) fn deflates(&self) -> bool {
        self.deflate
    }

    /// A text frame's body as this client takes it: compressed (and flagged so) when it agreed
    /// to permessage-deflate and that is worth it. `shared`: many clients get these bytes (a
    /// tick's frame), compress them once for all.
    fn text_body(&self, body: Bytes, shared: bool) -> (Bytes, bool) {
        if !self.deflate {
            return (body, false);
        }
        let compressed = if shared {
            deflate::shared(&body)
        } else {
            deflate::compress(&body)
        };
        match compressed {
            Some(c) => (c, true),
            None => (body, false),
        }
    }

    /// The fan-out's write of tick `n` (`frame`: its text frame for this client and whether
    /// that is compressed, `None` when the tick holds nothing for it). Never waits.
    pub(crate) fn deliver(
        &self,
        n: TickNo,
        frame: Option<(&Bytes, bool)>,
        generation: u64,
    ) -> Delivery {
        let mut wire = self.lock();
        if !wire.attached || wire.dead || wire.generation != generation {
            return Delivery::Stale;
        }
        if wire.synced >= n {
            return Delivery::Skipped;
        }
        if wire.synced + 1 != n || wire.pending.is_some() {
            // Missed a tick, or still finishing the last frame: the session takes over.
            wire.attached = false;
            drop(wire);
            self.wake.notify_one();
            return Delivery::Detached;
        }
        wire.synced = n;
        let Some((body, compressed)) = frame else {
            return Delivery::Skipped;
        };
        let (head, head_len) = frame::header(Opcode::Text, compressed, body.len());
        let first = match send_direct(&self.stream, &head[..head_len], body) {
            Ok(n) if n == head_len + body.len() => {
                drop(wire);
                self.sent_text();
                return Delivery::Written;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(_) => {
                wire.dead = true;
                wire.attached = false;
                drop(wire);
                self.wake.notify_one();
                return Delivery::Detached;
            }
        };
        let rest = Pending {
            head,
            head_len,
            body: body.clone(),
            done: first,
        };
        match try_write(&self.stream, rest) {
            Tried::All => {
                drop(wire);
                self.sent_text();
                Delivery::Written
            }
            Tried::Some(rest) => {
                wire.pending = Some(rest);
                drop(wire);
                self.sent_text();
                self.wake.notify_one();
                Delivery::Partial
            }
            Tried::Failed => {
                wire.dead = true;
                wire.attached = false;
                drop(wire);
                self.wake.notify_one();
                Delivery::Detached
            }
        }
    }

    /// The session's write of tick `n` while it hands over to the fan-out: written only if it
    /// is the next tick (the fan-out may have written it already).
    pub(crate) async fn deliver_from_session(
        &self,
        n: TickNo,
        frame: Option<Bytes>,
        timeout: Duration,
    ) -> io::Result<()> {
        {
            let mut wire = self.lock();
            if wire.synced >= n {
                return Ok(());
            }
            if wire.synced + 1 != n {
                // A tick went by that nobody wrote: only the fan-out can have skipped it, and
                // it has detached us for that; the session catches up.
                wire.attached = false;
                drop(wire);
                self.wake.notify_one();
                return Ok(());
            }
            wire.synced = n;
        }
        match frame {
            Some(body) => self.send_text(body, true, timeout).await,
            None => Ok(()),
        }
    }

    /// Writes a text message from the session, compressed if the client agreed to it;
    /// `shared` as for a tick's frame (see [`Outlet::send`] for the rest).
    pub async fn send_text(&self, body: Bytes, shared: bool, timeout: Duration) -> io::Result<()> {
        let (body, compressed) = self.text_body(body, shared);
        self.write(Opcode::Text, compressed, body, timeout).await
    }

    /// Writes one frame from the session, uncompressed, waiting while the socket is full (at
    /// most `timeout` in all). Finishes any remainder first, so frames never interleave.
    pub async fn send(&self, opcode: Opcode, body: Bytes, timeout: Duration) -> io::Result<()> {
        self.write(opcode, false, body, timeout).await
    }

    async fn write(
        &self,
        opcode: Opcode,
        compressed: bool,
        body: Bytes,
        timeout: Duration,
    ) -> io::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let len = body.len();
        let mut frame = Some(pending(opcode, compressed, body));
        while let Some(p) = frame.take() {
            self.flush_until(deadline).await?;
            let mut wire = self.lock();
            if wire.dead {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            if wire.pending.is_some() {
                // The fan-out wrote in between and left a remainder: queue behind it.
                frame = Some(p);
                continue;
            }
            match try_write(&self.stream, p) {
                Tried::All => {}
                Tried::Some(rest) => wire.pending = Some(rest),
                Tried::Failed => {
                    wire.dead = true;
                    wire.attached = false;
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
            }
        }
        if opcode == Opcode::Text {
            self.sent_text();
        }
        crate::server::metrics::WS_FRAMES.fetch_add(1, Ordering::Relaxed);
        crate::server::metrics::WS_BYTES.fetch_add(len as u64, Ordering::Relaxed);
        self.flush_until(deadline).await
    }

    /// Finishes the remainder of a partly written frame, if there is one.
    pub(crate) async fn flush(&self, timeout: Duration) -> io::Result<()> {
        self.flush_until(tokio::time::Instant::now() + timeout)
            .await
    }

    async fn flush_until(&self, deadline: tokio::time::Instant) -> io::Result<()> {
        loop {
            {
                let mut wire = self.lock();
                if wire.dead {
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
                let Some(p) = wire.pending.take() else {
                    return Ok(());
                };
                match try_write(&self.stream, p) {
                    Tried::All => return Ok(()),
                    Tried::Some(rest) => wire.pending = Some(rest),
                    Tried::Failed => {
                        wire.dead = true;
                        wire.attached = false;
                        return Err(io::ErrorKind::BrokenPipe.into());
                    }
                }
            }
            match tokio::time::timeout_at(deadline, self.stream.writable()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "client not reading",
                    ))
                }
            }
        }
    }

    /// Hands tick delivery to the fan-out from tick `synced + 1` on. Returns the generation
    /// that identifies this attachment.
    pub(crate) fn attach(&self, synced: TickNo) -> u64 {
        let mut wire = self.lock();
        wire.attached = true;
        wire.synced = synced;
        wire.generation += 1;
        wire.generation
    }

    /// Takes tick delivery back; returns the last tick written.
    pub(crate) fn detach(&self) -> TickNo {
        let mut wire = self.lock();
        wire.attached = false;
        wire.synced
    }

    /// Whether the fan-out still delivers (and under which attachment).
    pub(crate) fn attachment(&self) -> Option<u64> {
        let wire = self.lock();
        (wire.attached && !wire.dead).then_some(wire.generation)
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.lock().dead
    }

    /// Whether a remainder waits to be written.
    pub(crate) fn has_pending(&self) -> bool {
        self.lock().pending.is_some()
    }

    /// Detaches (if attached) and wakes the session: the fan-out fell behind or the hub was
    /// reset, and the session must catch up on its own.
    pub(crate) fn kick(&self) {
        self.lock().attached = false;
        self.wake.notify_one();
    }
}
