//! permessage-deflate (RFC 7692), shaped by this server's traffic: one tick frame for many
//! clients, small requests back.
//!
//! Every browser offers the extension, and JSON ticks shrink 3.5 to 4 times, so it cuts both
//! what a client downloads and what the server's kernel copies (on loopback and on a real
//! network, the send path's cost grows with the bytes). The usual way to run it, a compressor
//! per connection that keeps its window across messages, would make the server compress
//! every tick once per client and hold ~300 KB of zlib state per connection. Instead:
//!
//! - the server always agrees to `server_no_context_takeover`, so each message is compressed
//!   on its own and a tick frame compressed once is valid for every client that negotiated
//!   the extension ([`shared`] caches it by the identity of the frame's bytes);
//! - offers that ask the server for a smaller window (`server_max_window_bits` < 15) are
//!   declined, so there is one compressed form per frame; the client then uses its next offer
//!   or none, both of which the RFC allows;
//! - frames under [`MIN_SIZE`] go uncompressed (RSV1 is per message, so that is allowed);
//! - for messages from the client, the server asks for a 512-byte window when the client
//!   offers to take one (`client_max_window_bits`, as browsers do), and keeps no zlib state
//!   between messages: only the last window of what the client sent ([`Inflater`]), in a
//!   buffer that exists once the client has sent something compressed. An idle connection
//!   costs nothing more.

use crate::server::rfc6455::frame::{close_code, Violation};
use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};

/// Messages shorter than this are sent as they are: compressing a heartbeat saves nothing.
pub(crate) const MIN_SIZE: usize = 256;

/// zlib's level: 6 (its default) takes a 44 KB tick to 11.3 KB in 0.9 ms, level 1 to 13 KB in
/// 0.25 ms. Once per tick for all clients, the smaller frame is worth the milliseconds.
const LEVEL: u32 = 6;

/// The window the server asks a client to compress with, when the client lets it choose.
const CLIENT_WINDOW_BITS: u8 = 9;

/// What a sync flush ends with; RFC 7692 strips it from the message and the reader adds it.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// An agreed permessage-deflate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreed {
    /// The `Sec-WebSocket-Extensions` value of the 101 response.
    pub response: String,
    /// The client compresses each message on its own (no history to keep).
    pub(crate) client_no_context_takeover: bool,
    /// The window the client compresses with, at most.
    pub(crate) client_window_bits: u8,
}

/// Picks the first acceptable `permessage-deflate` offer from the request's
/// `Sec-WebSocket-Extensions` values; `None` when there is none (no compression).
pub fn negotiate<'a>(values: impl Iterator<Item = &'a str>) -> Option<Agreed> {
    values
        .flat_map(|v| v.split(','))
        .find_map(|offer| accept_offer(offer.trim()))
}

fn accept_offer(offer: &str) -> Option<Agreed> {
    let mut parts = offer.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut client_no_context_takeover = false;
    // Accepting an offer that names the server's window means naming it back (RFC 7692,
    // 7.1.2.1); only 15 gets here.
    let mut server_max = false;
    // `Some(None)`: the client takes a window size from us; `Some(Some(n))`: at most n.
    let mut client_max: Option<Option<u8>> = None;
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (param, None),
        };
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return None; // a parameter given twice: the RFC says decline
        }
        seen.push(name.clone());
        let bits = |v: Option<&str>| -> Option<u8> {
            let v = v?;
            if v.is_empty() || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            v.parse::<u8>().ok().filter(|b| (8..=15).contains(b))
        };
        match (name.as_str(), value) {
            ("server_no_context_takeover", None) => {}
            ("client_no_context_takeover", None) => client_no_context_takeover = true,
            // A smaller server window would need a second compressed form of every frame.
            ("server_max_window_bits", v) => {
                if bits(v)? != 15 {
                    return None;
                }
                server_max = true;
            }
            ("client_max_window_bits", None) => client_max = Some(None),
            ("client_max_window_bits", v) => client_max = Some(Some(bits(v)?)),
            _ => return None, // unknown, or a value where none belongs
        }
    }
    let mut response = String::from("permessage-deflate; server_no_context_takeover");
    if server_max {
        response.push_str("; server_max_window_bits=15");
    }
    if client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    let client_window_bits = match client_max {
        None => 15,
        Some(offered) => {
            let b = offered.unwrap_or(15).min(CLIENT_WINDOW_BITS);
            response.push_str(&format!("; client_max_window_bits={b}"));
            b
        }
    };
    Some(Agreed {
        response,
        client_no_context_takeover,
        client_window_bits,
    })
}

/// `body` compressed as one message (without the sync flush's tail); `None` when it is too
/// small to bother or does not get smaller.
pub fn compress(body: &[u8]) -> Option<Bytes> {
    if body.len() < MIN_SIZE {
        return None;
    }
    thread_local! {
        /// zlib's deflate state (window, hash chains: ~270 KB) is costly to set up and cheap to
        /// reset, and personalised frames are compressed one per client per tick: one state
        /// per thread, reset before each message, so each message is still on its own.
        static DEFLATE: RefCell<Compress> =
            RefCell::new(Compress::new(Compression::new(LEVEL), false));
    }
    let out = DEFLATE
        .with(|c| match c.try_borrow_mut() {
            Ok(mut c) => {
                c.reset();
                compress_with(&mut c, body)
            }
            Err(_) => compress_with(&mut Compress::new(Compression::new(LEVEL), false), body),
        })
        .ok()?;
    (out.len() < body.len()).then(|| Bytes::from(out))
}

/// `body` through the raw deflate stream `c` as one message: a sync flush, its tail stripped.
/// A fresh `c` gives a message on its own (the server's); one kept from message to message
/// carries its context over (a browser's, the test clients').
pub fn compress_with(c: &mut Compress, body: &[u8]) -> Result<Vec<u8>, flate2::CompressError> {
    // total_in counts everything `c` has taken, this message's input from `start`.
    let start = c.total_in();
    let taken = |c: &Compress| (c.total_in() - start) as usize;
    let mut out = Vec::with_capacity(body.len() / 3 + 64);
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        }
        c.compress_vec(&body[taken(c)..], &mut out, FlushCompress::Sync)?;
        // The flush is complete once all input is in and zlib left room in the output.
        if taken(c) == body.len() && out.len() < out.capacity() {
            break;
        }
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    Ok(out)
}

/// One compressed message's payload (without its tail) through the raw inflate stream `d`
/// (fresh, or given the sender's history as its dictionary). More than `limit` bytes out is
/// refused (1009) as soon as it is seen, whatever the compressed size; corrupt data is 1007.
pub fn inflate_with(d: &mut Decompress, data: &[u8], limit: usize) -> Result<Vec<u8>, Violation> {
    let corrupt = || Violation::new(close_code::INVALID_DATA, "invalid compressed data");
    let mut input = Vec::with_capacity(data.len() + TAIL.len());
    input.extend_from_slice(data);
    input.extend_from_slice(&TAIL);
    let start = d.total_in();
    let taken = |d: &Decompress| (d.total_in() - start) as usize;
    let mut out: Vec<u8> = Vec::with_capacity((data.len() * 4).max(64).min(limit + 1));
    loop {
        let (in_before, out_before) = (taken(d), out.len());
        let status = d
            .decompress_vec(&input[taken(d)..], &mut out, FlushDecompress::Sync)
            .map_err(|_| corrupt())?;
        if out.len() > limit {
            return Err(Violation::new(
                close_code::SIZE,
                format!("message too big: the limit is {} KiB", limit / 1024),
            ));
        }
        let all_in = taken(d) == input.len();
        if status == Status::StreamEnd || (all_in && out.len() < out.capacity()) {
            return Ok(out);
        }
        if out.len() == out.capacity() {
            out.reserve(out.capacity().min(limit + 1 - out.len()).max(64));
        } else if taken(d) == in_before && out.len() == out_before {
            return Err(corrupt());
        }
    }
}

/// Recently compressed shared frames, by the identity of their bytes (pointer and length of a
/// `Bytes` this cache holds a clone of, so the identity cannot be reused while cached).
struct Entry {
    source: Bytes,
    out: Arc<OnceLock<Option<Bytes>>>,
}

static SHARED: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// Entries kept: a few ticks' worth of the distinct frames (channel sets) being fanned out.
const SHARED_ENTRIES: usize = 32;

/// [`compress`] for a frame that many clients are sent (a tick's frame of a channel set): the
/// first caller compresses it, every other gets the same bytes.
pub(crate) fn shared(body: &Bytes) -> Option<Bytes> {
    if body.len() < MIN_SIZE {
        return None;
    }
    let out = {
        let mut cache = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        let found = cache
            .iter()
            .find(|e| e.source.as_ptr() == body.as_ptr() && e.source.len() == body.len())
            .map(|e| e.out.clone());
        match found {
            Some(out) => out,
            None => {
                if cache.len() >= SHARED_ENTRIES {
                    cache.remove(0);
                }
                let out = Arc::new(OnceLock::new());
                cache.push(Entry {
                    source: body.clone(),
                    out: out.clone(),
                });
                out
            }
        }
    };
    // Outside the lock: another frame's compression does not wait for this one; a second
    // caller for this frame waits for the first instead of compressing it again.
    out.get_or_init(|| compress(body)).clone()
}

/// Decompresses a client's messages.
#[derive(Debug)]
pub struct Inflater {
    /// The last window of what the client sent (when it keeps its context): the dictionary
    /// of its next message. Empty, and unallocated, until it sends something compressed.
    history: Vec<u8>,
    keep: usize,
}

impl Inflater {
    pub fn new(agreed: &Agreed) -> Self {
        Inflater {
            history: Vec::new(),
            // zlib turns a window of 8 bits into 9; be as generous as the client may be.
            keep: if agreed.client_no_context_takeover {
                0
            } else {
                1 << agreed.client_window_bits.max(9)
            },
        }
    }

    /// One compressed message's payload, decompressed (see [`inflate_with`]).
    pub fn inflate(&mut self, data: &[u8], limit: usize) -> Result<Vec<u8>, Violation> {
        let mut d = Decompress::new_with_window_bits(false, 15);
        if !self.history.is_empty() {
            d.set_dictionary(&self.history)
                .map_err(|_| Violation::new(close_code::INVALID_DATA, "invalid compressed data"))?;
        }
        let out = inflate_with(&mut d, data, limit)?;
        if self.keep > 0 {
            self.history.extend_from_slice(&out);
            if self.history.len() > self.keep {
                self.history.drain(..self.history.len() - self.keep);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(s: &str) -> Option<Agreed> {
        negotiate([s].into_iter())
    }

    #[test]
    fn offers_are_accepted_or_declined_as_the_rfc_says() {
        let chrome = offer("permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(
            chrome.response,
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=9"
        );
        assert_eq!(chrome.client_window_bits, 9);
        let bare = offer("permessage-deflate").unwrap();
        assert_eq!(
            (bare.response.as_str(), bare.client_window_bits),
            ("permessage-deflate; server_no_context_takeover", 15)
        );
        let nct = offer("permessage-deflate; client_no_context_takeover").unwrap();
        assert!(nct.client_no_context_takeover);
        assert!(nct.response.ends_with("; client_no_context_takeover"));
        assert_eq!(
            offer("permessage-deflate; client_max_window_bits=8")
                .unwrap()
                .client_window_bits,
            8
        );
        // Declined: a smaller server window, bad values, duplicates, unknown parameters.
        for bad in [
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=08",
            "permessage-deflate; client_max_window_bits=",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; x_custom",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(offer(bad), None, "{bad}");
        }
        // The first acceptable offer wins.
        let second =
            offer("permessage-deflate; server_max_window_bits=10, permessage-deflate").unwrap();
        assert_eq!(second, bare);
        assert_eq!(
            offer("permessage-deflate; server_max_window_bits=15")
                .unwrap()
                .response,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=15",
            "named back when accepted"
        );
    }

    #[test]
    fn a_compressed_message_inflates_to_itself() {
        let text = br#"{"type":"batch","n":1,"ts":1,"updates":["#.repeat(40);
        let small = compress(&text).unwrap();
        assert!(
            small.len() * 5 < text.len(),
            "{} -> {}",
            text.len(),
            small.len()
        );
        let agreed = offer("permessage-deflate").unwrap();
        let mut inflater = Inflater::new(&agreed);
        assert_eq!(inflater.inflate(&small, 1 << 20).unwrap(), text);
        assert!(compress(b"{}").is_none(), "too small to bother");
    }

    /// The thread's reused compressor starts each message afresh: the bytes are those of a
    /// new compressor, so any client inflates them on their own.
    #[test]
    fn each_message_is_compressed_on_its_own() {
        let a = br#"{"type":"batch","n":1,"ts":1,"updates":["#.repeat(20);
        let b = br#"{"type":"batch","n":2,"ts":2,"updates":["#.repeat(21);
        for body in [&a, &b, &a] {
            let fresh =
                compress_with(&mut Compress::new(Compression::new(LEVEL), false), body).unwrap();
            assert_eq!(compress(body).unwrap(), fresh);
        }
    }

    #[test]
    fn shared_frames_are_compressed_once() {
        let frame = Bytes::from("x".repeat(5000));
        let a = shared(&frame).unwrap();
        let b = shared(&frame.clone()).unwrap();
        assert_eq!(a.as_ptr(), b.as_ptr(), "the same compressed bytes");
        let other = Bytes::from("x".repeat(5000));
        assert_ne!(shared(&other).unwrap().as_ptr(), a.as_ptr(), "by identity");
    }

    /// A client that keeps its context: each message refers back into earlier ones.
    #[test]
    fn a_client_context_carries_over_messages() {
        let agreed = offer("permessage-deflate").unwrap();
        let mut inflater = Inflater::new(&agreed);
        let mut c = Compress::new(Compression::new(6), false);
        for msg in [
            &br#"{"type":"subscribe","id":1,"channels":["quotes:AAPL","quotes:MSFT"]}"#[..],
            br#"{"type":"subscribe","id":2,"channels":["quotes:AAPL","quotes:MSFT"]}"#,
        ] {
            let mut out = Vec::with_capacity(1024);
            c.compress_vec(msg, &mut out, FlushCompress::Sync).unwrap();
            assert!(out.ends_with(&TAIL));
            out.truncate(out.len() - 4);
            assert_eq!(inflater.inflate(&out, 4096).unwrap(), msg);
        }
    }

    /// Messages longer than the window, from clients with small and full windows.
    #[test]
    fn long_messages_with_history_inflate_at_every_window() {
        for (offer_text, bits) in [
            ("permessage-deflate; client_max_window_bits", 9),
            ("permessage-deflate", 15),
        ] {
            let agreed = offer(offer_text).unwrap();
            assert_eq!(agreed.client_window_bits, bits);
            let mut inflater = Inflater::new(&agreed);
            let mut c = Compress::new_with_window_bits(Compression::new(6), false, bits);
            let text: Vec<u8> = (0..6000u32)
                .map(|i| b"abcdefghij\xc3\xa9"[(i * 7 % 13 + i / 97) as usize % 12])
                .collect();
            for i in 0..6 {
                let msg = &text[i * 333..];
                let mut out = Vec::with_capacity(16 * 1024);
                c.compress_vec(msg, &mut out, FlushCompress::Sync).unwrap();
                out.truncate(out.len() - 4);
                assert_eq!(
                    inflater.inflate(&out, 1 << 20).unwrap(),
                    msg,
                    "{offer_text} #{i}"
                );
            }
        }
    }

    #[test]
    fn bombs_and_garbage_are_refused_with_their_codes() {
        let agreed = offer("permessage-deflate").unwrap();
        let bomb = compress(&vec![b'a'; 10 << 20]).unwrap();
        assert!(bomb.len() < 20_000);
        let err = Inflater::new(&agreed)
            .inflate(&bomb, 64 * 1024)
            .unwrap_err();
        assert_eq!(err.code, close_code::SIZE);
        let err = Inflater::new(&agreed)
            .inflate(&[0xff, 0xff, 0xff, 0x00], 1024)
            .unwrap_err();
        assert_eq!(err.code, close_code::INVALID_DATA);
        // Truncated input: no panic, no endless loop.
        let text = compress(&b"hello world, hello world ".repeat(30)).unwrap();
        let _ = Inflater::new(&agreed).inflate(&text[..text.len() / 2], 4096);
    }
}
