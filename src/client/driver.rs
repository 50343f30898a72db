//! The client's task: owns the socket, the subscription set and the positions; connects,
//! resumes, reads, repairs gaps and reconnects, and hands events to the user in order.
//!
//! One task per client, so that the user's handle stays a pair of channels: commands in,
//! events out. The event channel is bounded: a user who stops reading stops this task from
//! reading the socket, and the server's slow-reader handling (a `lagged` snapshot) takes over,
//! instead of the client buffering without end or dropping updates on the floor.

use super::backoff::Backoff;
use super::connection::Connection;
use super::error::Error;
use super::event::Event;
use super::positions::{Positions, Verdict};
use super::Options;
use crate::protocol::{Batch, Channel, ClientMsg, Epoch, ServerMsg, Snapshot};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What the user's handle asks of the task.
#[derive(Debug)]
pub(crate) enum Command {
    Subscribe(Vec<Channel>),
    Unsubscribe(Vec<Channel>),
}

/// Why a connection's loop returned.
enum Ended {
    /// The connection failed; the client reconnects.
    Lost(Error),
    /// The user dropped the client (or stopped reading events for good): the task ends.
    UserGone,
}

pub(crate) struct Driver {
    options: Options,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<Event>,
    /// Every channel the user asked for and the server did not refuse.
    wanted: BTreeSet<Channel>,
    positions: Positions,
    /// Channels resumed after a gap, until their replay (or snapshot) arrives: further gaps
    /// on them are the same gap, not a new one.
    repairing: BTreeSet<Channel>,
    /// Requests in flight on the current connection: their channels, for a refusal.
    pending: BTreeMap<u64, Vec<Channel>>,
}

impl Driver {
    pub(crate) fn new(
        options: Options,
        commands: mpsc::UnboundedReceiver<Command>,
        events: mpsc::Sender<Event>,
    ) -> Driver {
        Driver {
            options,
            commands,
            events,
            wanted: BTreeSet::new(),
            positions: Positions::default(),
            repairing: BTreeSet::new(),
            pending: BTreeMap::new(),
        }
    }

    /// Connects, follows, and reconnects until the user goes away. URLs are tried in turn:
    /// the client stays on one while it works and moves to the next when it cannot connect.
    pub(crate) async fn run(mut self) {
        let mut backoff = Backoff::new(self.options.first_retry, self.options.max_retry);
        let mut at = 0;
        loop {
            let url = self.options.urls[at % self.options.urls.len()].clone();
            let opening = Connection::open(&url, self.options.connect_timeout);
            let (error, reached) = match opening.await {
                Ok(connection) => {
                    let epoch = connection.epoch();
                    backoff.reset();
                    if !self
                        .emit(Event::Connected {
                            url: url.clone(),
                            epoch,
                        })
                        .await
                    {
                        return;
                    }
                    match self.follow(connection).await {
                        Ended::Lost(e) => (e, true),
                        Ended::UserGone => return,
                    }
                }
                Err(e) => (e, false),
            };
            if !reached {
                at += 1;
            }
            let retry_in = backoff.next_wait();
            let disconnected = Event::Disconnected {
                url,
                error,
                retry_in,
            };
            if !self.emit(disconnected).await || !self.wait(retry_in).await {
                return;
            }
        }
    }

    /// Hands an event to the user; false once the user has dropped the client.
    async fn emit(&self, event: Event) -> bool {
        self.events.send(event).await.is_ok()
    }

    /// Waits before the next attempt, taking the user's commands meanwhile; false once the
    /// user has dropped the client.
    async fn wait(&mut self, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                command = self.commands.recv() => match command {
                    Some(c) => self.note(&c),
                    None => return false,
                },
            }
        }
    }

    /// Takes a command into the wanted set (the request itself is sent on a connection).
    fn note(&mut self, command: &Command) {
        match command {
            Command::Subscribe(channels) => self.wanted.extend(channels.iter().cloned()),
            Command::Unsubscribe(channels) => {
                for c in channels {
                    self.wanted.remove(c);
                    self.positions.forget(c);
                    self.repairing.remove(c);
                }
            }
        }
    }

    /// Follows one connection: subscribes (resuming) what the user wants, then reads until
    /// the connection fails or the user goes away.
    ///
    /// The epoch batches are read in is the welcome's until a snapshot names another: a
    /// server (or cluster) that moves to a new epoch under an open connection sends its
    /// `epoch_changed` snapshots on it, and the updates after them are of the new epoch.
    async fn follow(&mut self, mut socket: Connection) -> Ended {
        let mut epoch = socket.epoch();
        self.pending.clear();
        self.repairing.clear();
        let all: Vec<Channel> = self.wanted.iter().cloned().collect();
        if let Err(e) = self.subscribe(&mut socket, all).await {
            return Ended::Lost(e);
        }
        // A server promises a message at least every `heartbeat`; a few missed mean it is gone.
        let silence = socket.heartbeat() * self.options.heartbeats_missed;
        loop {
            let deadline = Instant::now() + silence;
            tokio::select! {
                msg = socket.recv() => {
                    let msg = match msg {
                        Ok(m) => m,
                        Err(e) => return Ended::Lost(e),
                    };
                    if let ServerMsg::Snapshot(s) = &msg {
                        epoch = s.epoch;
                    }
                    match self.on_message(&mut socket, epoch, msg).await {
                        Ok(true) => {}
                        Ok(false) => return Ended::UserGone,
                        Err(e) => return Ended::Lost(e),
                    }
                }
                command = self.commands.recv() => {
                    let Some(command) = command else { return Ended::UserGone };
                    self.note(&command);
                    let sent = match command {
                        Command::Subscribe(channels) => self.subscribe(&mut socket, channels).await,
                        Command::Unsubscribe(channels) => {
                            let id = socket.next_id();
                            socket.send(&ClientMsg::Unsubscribe { id, channels }).await
                        }
                    };
                    if let Err(e) = sent {
                        return Ended::Lost(e);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return Ended::Lost(Error::Silent { for_ms: silence.as_millis() as u64 });
                }
            }
        }
    }

    /// Subscribes `channels`, resuming those with a position in the current epoch.
    async fn subscribe(
        &mut self,
        socket: &mut Connection,
        channels: Vec<Channel>,
    ) -> Result<(), Error> {
        if channels.is_empty() {
            return Ok(());
        }
        let resume = self.positions.resume(&channels);
        let id = socket.subscribe(channels.clone(), resume).await?;
        self.pending.insert(id, channels);
        Ok(())
    }

    /// Acts on one message; `Ok(false)` once the user has gone.
    async fn on_message(
        &mut self,
        socket: &mut Connection,
        epoch: Epoch,
        msg: ServerMsg,
    ) -> Result<bool, Error> {
        match msg {
            ServerMsg::Snapshot(snapshot) => Ok(self.on_snapshot(snapshot).await),
            ServerMsg::Batch(batch) => self.on_batch(socket, epoch, batch).await,
            ServerMsg::Ack { id, .. } => {
                self.pending.remove(&id);
                Ok(true)
            }
            ServerMsg::Error(error) => {
                let request = error
                    .id
                    .and_then(|id| self.pending.remove(&id))
                    .unwrap_or_default();
                // A subscribe is all or nothing, and the server names the channel it refused
                // ("... in channel quotes:X"): only that one is given up, the rest of the
                // request is asked for again (one delisted symbol must not cost the others).
                let (refused, rest): (Vec<Channel>, Vec<Channel>) = request
                    .iter()
                    .cloned()
                    .partition(|c| error.message.ends_with(&format!("in channel {c}")));
                let (refused, rest) = if refused.is_empty() {
                    (rest, Vec::new())
                } else {
                    (refused, rest)
                };
                for c in &refused {
                    self.wanted.remove(c);
                    self.positions.forget(c);
                    self.repairing.remove(c);
                }
                self.subscribe(socket, rest).await?;
                Ok(self
                    .emit(Event::Refused {
                        channels: refused,
                        error,
                    })
                    .await)
            }
            // Heartbeats only keep the connection alive; this client opens no views and does
            // not ask for the list of symbols.
            _ => Ok(true),
        }
    }

    async fn on_snapshot(&mut self, mut snapshot: Snapshot) -> bool {
        // A state for a channel the user has let go of meanwhile is not theirs any more.
        snapshot
            .channels
            .retain(|s| self.wanted.contains(&s.channel));
        if snapshot.channels.is_empty() {
            return true;
        }
        for state in &snapshot.channels {
            self.positions.state(snapshot.epoch, state);
            self.repairing.remove(&state.channel);
        }
        self.emit(Event::Snapshot(snapshot)).await
    }

    /// Hands over the updates that continue their channels, drops those already handed over,
    /// and resumes the channels that show a gap.
    async fn on_batch(
        &mut self,
        socket: &mut Connection,
        epoch: Epoch,
        mut batch: Batch,
    ) -> Result<bool, Error> {
        let mut gaps = Vec::new();
        batch.updates.retain(|u| {
            if !self.wanted.contains(&u.channel) {
                return false;
            }
            match self.positions.update(epoch, u) {
                Verdict::Next => {
                    self.repairing.remove(&u.channel);
                    true
                }
                Verdict::Seen => false,
                Verdict::Gap => {
                    if self.repairing.insert(u.channel.clone()) {
                        gaps.push(u.channel.clone());
                    }
                    false
                }
            }
        });
        if !gaps.is_empty() {
            self.subscribe(socket, gaps).await?;
        }
        if batch.updates.is_empty() {
            return Ok(true);
        }
        Ok(self.emit(Event::Batch(batch)).await)
    }
}
