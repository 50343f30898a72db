//! Where the client is in each channel: the epoch and the last seq it handed its user. It
//! decides what an incoming update is (the next one, one already seen, or one after a gap),
//! and what to ask the server for on a reconnect.

use crate::protocol::{Channel, ChannelState, Epoch, Resume, Seq, Update};
use std::collections::BTreeMap;

/// What an update is, given what the user already has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Exactly one after the last: hand it over.
    Next,
    /// At or before the last (a replay overlapping what arrived live): drop it.
    Seen,
    /// After a gap, or on a channel without a state in this epoch: the channel must be
    /// resumed from its last position (the server replays, or says why it cannot).
    Gap,
}

/// Invariant: a position is only ever advanced by a state (a snapshot) or by the update
/// that is exactly one after it, so what the user was handed per channel and epoch is gap-free
/// and without duplicates.
#[derive(Clone, Debug, Default)]
pub(crate) struct Positions {
    /// The epoch of the last state or update handed over: the one a reconnect resumes in.
    epoch: Option<Epoch>,
    last: BTreeMap<Channel, (Epoch, Seq)>,
}

impl Positions {
    /// A channel's whole state was handed over: the channel continues from its seq.
    pub(crate) fn state(&mut self, epoch: Epoch, state: &ChannelState) {
        self.epoch = Some(epoch);
        self.last.insert(state.channel.clone(), (epoch, state.seq));
    }

    /// Judges `update`, received on a connection in `epoch`, and advances on [`Verdict::Next`].
    pub(crate) fn update(&mut self, epoch: Epoch, update: &Update) -> Verdict {
        match self.last.get_mut(&update.channel) {
            Some((e, seq)) if *e == epoch => {
                if update.seq == *seq + 1 {
                    *seq = update.seq;
                    self.epoch = Some(epoch);
                    Verdict::Next
                } else if update.seq <= *seq {
                    Verdict::Seen
                } else {
                    Verdict::Gap
                }
            }
            _ => Verdict::Gap,
        }
    }

    /// The channel is no longer followed: a later subscribe starts it with a snapshot.
    pub(crate) fn forget(&mut self, channel: &Channel) {
        self.last.remove(channel);
    }

    /// What a subscribe to `channels` resumes: the positions held in the current epoch. A
    /// server of another epoch answers them with `epoch_changed` snapshots.
    pub(crate) fn resume<'a>(
        &self,
        channels: impl IntoIterator<Item = &'a Channel>,
    ) -> Option<Resume> {
        let epoch = self.epoch?;
        let from: BTreeMap<Channel, Seq> = channels
            .into_iter()
            .filter_map(|c| match self.last.get(c) {
                Some(&(e, seq)) if e == epoch => Some((c.clone(), seq)),
                _ => None,
            })
            .collect();
        (!from.is_empty()).then_some(Resume {
            epoch,
            from,
            latest: false,
        })
    }

    /// The last seq handed over on `channel`, and its epoch.
    #[cfg(test)]
    pub(crate) fn get(&self, channel: &Channel) -> Option<(Epoch, Seq)> {
        self.last.get(channel).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Data, Quote};
    use chrono::Utc;

    fn quote(seq: Seq) -> Update {
        Update {
            channel: Channel::Quotes("AAPL".into()),
            seq,
            data: Data::Quote(Quote {
                symbol: "AAPL".into(),
                bid: 1.0,
                ask: 1.1,
                last: 1.05,
                open: 1.0,
                volume: 0,
                ts: Utc::now(),
            }),
        }
    }

    fn state(seq: Seq) -> ChannelState {
        let u = quote(seq);
        ChannelState {
            channel: u.channel,
            seq,
            data: u.data,
        }
    }

    #[test]
    fn next_seen_and_gap() {
        let mut p = Positions::default();
        assert_eq!(p.update(7, &quote(1)), Verdict::Gap, "no state yet");
        p.state(7, &state(10));
        assert_eq!(p.update(7, &quote(10)), Verdict::Seen);
        assert_eq!(p.update(7, &quote(11)), Verdict::Next);
        assert_eq!(p.update(7, &quote(11)), Verdict::Seen);
        assert_eq!(p.update(7, &quote(13)), Verdict::Gap);
        assert_eq!(
            p.get(&quote(0).channel),
            Some((7, 11)),
            "a gap does not advance"
        );
        assert_eq!(p.update(8, &quote(12)), Verdict::Gap, "another epoch");
    }

    #[test]
    fn resume_names_the_positions_of_the_current_epoch() {
        let mut p = Positions::default();
        let ch = quote(0).channel;
        assert_eq!(p.resume([&ch]), None);
        p.state(7, &state(10));
        p.update(7, &quote(11));
        let r = p.resume([&ch, &Channel::Breadth]).unwrap();
        assert_eq!(r.epoch, 7);
        assert_eq!(r.from, BTreeMap::from([(ch.clone(), 11)]));
        p.forget(&ch);
        assert_eq!(p.resume([&ch]), None);
    }
}
