//! What a client may ask on `/ws`, answered in its session: subscribe and unsubscribe, open,
//! change and close views of the ranked universe, the list of symbols, a ping.
//!
//! The channels a session streams are the union of those it subscribed to itself and those its
//! views hold; a channel leaves the stream only when neither holds it any more. Every change
//! follows the same steps: take tick delivery back from the fan-out (`detach`), close what
//! left, tell the client (the `ack`, a view's `rows`), open what joined (a snapshot or a replay
//! from the client's position), and hand delivery back once in sync.

use super::session::{Session, Stop};
use crate::protocol::{
    Channel, ClientMsg, ErrorCode, ErrorReply, Resume, ServerMsg, SnapshotReason, ViewSpec,
};
use crate::server::feed::archive::older_updates;
use crate::server::feed::catalog::{Catalog, ChannelId};
use crate::server::feed::hub::Start;
use crate::server::transport::views::Change;
use chrono::Utc;
use std::collections::BTreeSet;

/// Symbols one `symbols` answer carries at most (the client asks for the next ones).
pub(crate) const MAX_SYMBOLS: u32 = 10_000;

impl Session {
    /// Answers one valid request.
    pub(super) async fn request(&mut self, request: ClientMsg) -> Result<(), Stop> {
        match request {
            ClientMsg::Ping { id } => self.send_msg(&ServerMsg::Pong { id, ts: Utc::now() }).await,
            ClientMsg::Subscribe {
                id,
                channels,
                resume,
            } => self.subscribe(id, channels, resume).await,
            ClientMsg::Unsubscribe { id, channels } => self.unsubscribe(id, channels).await,
            ClientMsg::View {
                id,
                view,
                spec,
                resume,
            } => self.view(id, view, spec, resume).await,
            ClientMsg::CloseView { id, view } => {
                self.send_msg(&ServerMsg::Ack {
                    id,
                    channels: Vec::new(),
                })
                .await?;
                let change = self.views.close(view);
                self.apply(change, None).await
            }
            ClientMsg::Symbols { id, offset, limit } => self.symbols(id, offset, limit).await,
        }
    }

    async fn subscribe(
        &mut self,
        id: u64,
        channels: Vec<Channel>,
        resume: Option<Resume>,
    ) -> Result<(), Stop> {
        let ids = match self.sub.resolve(&channels) {
            Ok(ids) => ids,
            Err((code, message)) => return self.refuse_request(id, code, message).await,
        };
        let added = ids
            .iter()
            .filter(|c| !self.sub.channels().contains(**c))
            .collect::<BTreeSet<_>>()
            .len();
        if self.sub.len() + added > self.limits.max_subscriptions {
            let message = format!(
                "subscribing to {added} more channels would exceed the limit of {} per connection",
                self.limits.max_subscriptions
            );
            return self
                .refuse_request(id, ErrorCode::TooManySubscriptions, message)
                .await;
        }
        for &c in &ids {
            self.explicit.insert(c);
        }
        self.detach();
        let starts = starts(&ids, &channels, resume.as_ref(), |c| {
            self.sub.channels().contains(c)
        });
        self.send_msg(&ServerMsg::Ack { id, channels }).await?;
        self.open(&starts).await?;
        self.attach_if_in_sync().await
    }

    async fn unsubscribe(&mut self, id: u64, channels: Vec<Channel>) -> Result<(), Stop> {
        self.detach();
        let catalog = self.sub.hub().catalog();
        let ids: Vec<ChannelId> = channels.iter().filter_map(|c| catalog.id(c).ok()).collect();
        for &c in &ids {
            self.explicit.remove(c);
        }
        // What a view still shows keeps streaming.
        let gone: Vec<ChannelId> = ids.into_iter().filter(|&c| !self.views.holds(c)).collect();
        self.sub.close(&gone);
        self.send_msg(&ServerMsg::Ack { id, channels }).await?;
        self.attach_if_in_sync().await
    }

    async fn view(
        &mut self,
        id: u64,
        view: u32,
        spec: ViewSpec,
        resume: Option<Resume>,
    ) -> Result<(), Stop> {
        if let Err((code, message)) = self.views.check(view, &spec) {
            return self.refuse_request(id, code, message).await;
        }
        // Counted as if the whole window were new (it may overlap what is held already).
        let held = self.sub.len();
        if held + spec.limit as usize > self.limits.max_subscriptions + self.views.rows_of(view) {
            let message = format!(
                "a view of {} rows beside {held} channels would exceed the limit of {} per connection",
                spec.limit, self.limits.max_subscriptions
            );
            return self
                .refuse_request(id, ErrorCode::TooManySubscriptions, message)
                .await;
        }
        self.send_msg(&ServerMsg::Ack {
            id,
            channels: Vec::new(),
        })
        .await?;
        let feed = self.sub.feed_arc();
        let change = self.views.set(view, spec, &feed.rankings, &feed.hub);
        self.apply(change, resume.as_ref()).await
    }

    /// Follows the rankings (every tick while the session has views).
    pub(super) async fn refresh_views(&mut self) -> Result<(), Stop> {
        let feed = self.sub.feed_arc();
        let change = self.views.refresh(&feed.rankings, &feed.hub);
        self.apply(change, None).await
    }

    /// Carries out a change of the views: the leavers closed, the `rows` messages, the
    /// joiners opened (resumed from `resume` where it has their position).
    async fn apply(&mut self, change: Change, resume: Option<&Resume>) -> Result<(), Stop> {
        if change.is_empty() {
            return Ok(());
        }
        let catalog = self.sub.hub().catalog();
        let plan = change.plan(&self.explicit, self.sub.channels(), resume, &catalog);
        if plan.only_rows() {
            for msg in &plan.rows {
                self.send_msg(msg).await?;
            }
            return Ok(());
        }
        self.detach();
        self.sub.close(&plan.close);
        for msg in &plan.rows {
            self.send_msg(msg).await?;
        }
        self.open(&plan.open).await?;
        self.attach_if_in_sync().await
    }

    /// Opens channels (the session is detached): their snapshots and replays, older updates
    /// read from the archive where the hub's history does not reach.
    async fn open(&mut self, starts: &[(ChannelId, Start)]) -> Result<(), Stop> {
        let feed = self.sub.feed_arc();
        let older = older_updates(feed.archive(), &feed.hub, starts).await;
        let outs = self.sub.open_with(starts, &older);
        self.send_outs(outs).await
    }

    async fn symbols(&mut self, id: u64, offset: u32, limit: u32) -> Result<(), Stop> {
        let catalog = self.sub.hub().catalog();
        let all = catalog.symbols();
        let start = (offset as usize).min(all.len());
        let end = start
            .saturating_add(limit.min(MAX_SYMBOLS) as usize)
            .min(all.len());
        // From now on the client follows the list: it is told of what comes after it.
        self.told = Some(all.len());
        let answer = ServerMsg::Symbols {
            id,
            total: all.len() as u32,
            offset: start as u32,
            symbols: all[start..end].to_vec(),
        };
        self.send_msg(&answer).await
    }

    async fn refuse_request(
        &mut self,
        id: u64,
        code: ErrorCode,
        message: String,
    ) -> Result<(), Stop> {
        self.refuse(ErrorReply {
            id: Some(id),
            code,
            message,
        })
        .await
    }
}

/// What a subscribe asks for each channel: a resume where the client gave a position, a
/// snapshot for a new channel, nothing for one already streaming without a position.
pub(crate) fn starts(
    ids: &[ChannelId],
    channels: &[Channel],
    resume: Option<&Resume>,
    held: impl Fn(ChannelId) -> bool,
) -> Vec<(ChannelId, Start)> {
    let mut seen = std::collections::BTreeSet::new();
    ids.iter()
        .zip(channels)
        .filter(|(&cid, _)| seen.insert(cid))
        .filter_map(|(&cid, channel)| {
            let from = resume.and_then(|r| r.from.get(channel).map(|&s| (r.epoch, s, r.latest)));
            let start = match from {
                Some((epoch, seq, latest)) => {
                    Start::resume(epoch, seq, latest, Catalog::kind(cid).0)
                }
                None if held(cid) => return None,
                None => Start::Snapshot(SnapshotReason::Subscribed),
            };
            Some((cid, start))
        })
        .collect()
}
