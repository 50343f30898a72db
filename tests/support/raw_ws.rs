//! A small WebSocket client that can offer permessage-deflate, for the tests and the load
//! generator (tokio-tungstenite, the Rust client elsewhere, has no compression). It speaks
//! just enough RFC 6455 for a feed client: the handshake with an extension offer, masked text
//! frames out (compressed if asked), whole frames in, pings answered.
#![allow(dead_code)]

use flate2::{Compress, Compression, Decompress};
use livetape::testing::websocket::deflate::{compress_with, inflate_with};
use livetape::testing::websocket::frame::encode_masked;
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the browsers offer.
pub const BROWSER_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// One frame from the server.
#[derive(Debug)]
pub struct Frame {
    pub opcode: u8,
    /// RSV1: the payload is compressed.
    pub compressed: bool,
    pub payload: Vec<u8>,
}

pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The server's `Sec-WebSocket-Extensions`, if it sent one.
    pub extensions: Option<String>,
    /// The client's compressor (it keeps its context, as browsers do).
    compressor: Option<Compress>,
    /// Bytes of frames read (headers included).
    pub wire_bytes: u64,
}

impl RawWs {
    /// Opens `ws://addr/path` on an already connected socket, offering `offer` if given.
    pub async fn handshake(
        mut stream: TcpStream,
        addr: SocketAddr,
        path: &str,
        offer: Option<&str>,
    ) -> io::Result<RawWs> {
        let ext = offer.map_or(String::new(), |o| {
            format!("Sec-WebSocket-Extensions: {o}\r\n")
        });
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
        );
        stream.write_all(req.as_bytes()).await?;
        let mut buf = Vec::with_capacity(4096);
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 2048];
            let n = stream.read(&mut chunk).await?;
            if n == 0 || buf.len() > 16 * 1024 {
                return Err(io::Error::other("no handshake response"));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        if !head.starts_with("HTTP/1.1 101") {
            return Err(io::Error::other(format!("not upgraded: {head}")));
        }
        let extensions = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-extensions")
                .then(|| value.trim().to_string())
        });
        // The window the server asked us to compress with, if it did.
        let bits = extensions
            .as_deref()
            .and_then(|e| e.split("client_max_window_bits=").nth(1))
            .and_then(|v| {
                let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .unwrap_or(15);
        let compressor = extensions
            .as_ref()
            .map(|_| Compress::new_with_window_bits(Compression::new(6), false, bits));
        buf.drain(..end);
        Ok(RawWs {
            stream,
            buf,
            extensions,
            compressor,
            wire_bytes: 0,
        })
    }

    pub async fn connect(addr: SocketAddr, path: &str, offer: Option<&str>) -> io::Result<RawWs> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Self::handshake(stream, addr, path, offer).await
    }

    /// Sends a text message, compressed when the extension was agreed and `compress` is set.
    pub async fn send_text(&mut self, text: &[u8], compress: bool) -> io::Result<()> {
        match (&mut self.compressor, compress) {
            (Some(c), true) => {
                let out = compress_with(c, text).map_err(io::Error::other)?;
                self.send_frame(0x80 | 0x40 | 0x1, &out).await
            }
            _ => self.send_frame(0x81, text).await,
        }
    }

    /// Sends one frame with this first byte (FIN, RSV, opcode) and payload, masked.
    pub async fn send_frame(&mut self, first: u8, payload: &[u8]) -> io::Result<()> {
        let frame = encode_masked(first, payload, [0x12, 0x34, 0x56, 0x78]);
        self.stream.write_all(&frame).await
    }

    /// The next frame that is not a ping (pings are answered).
    pub async fn next(&mut self) -> io::Result<Frame> {
        loop {
            if let Some((f, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                self.wire_bytes += used as u64;
                if f.opcode == 0x9 {
                    self.send_frame(0x8A, &f.payload).await?;
                    continue;
                }
                return Ok(f);
            }
            // Into the spare capacity, without zeroing a fresh chunk per read.
            self.buf.reserve(16 * 1024);
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// The next text message's bytes, inflated if it came compressed.
    pub async fn next_text(&mut self) -> io::Result<Vec<u8>> {
        loop {
            let f = self.next().await?;
            match f.opcode {
                0x1 if f.compressed => return inflate(&f.payload),
                0x1 => return Ok(f.payload),
                0x8 => return Err(io::Error::other(format!("closed: {:?}", close_of(&f)))),
                _ => {}
            }
        }
    }
}

/// A Close frame's code and reason.
pub fn close_of(f: &Frame) -> Option<(u16, String)> {
    (f.opcode == 0x8 && f.payload.len() >= 2).then(|| {
        (
            u16::from_be_bytes([f.payload[0], f.payload[1]]),
            String::from_utf8_lossy(&f.payload[2..]).to_string(),
        )
    })
}

/// A message the server compressed: each on its own (it agrees to no context takeover), so a
/// fresh inflater reads it.
pub fn inflate(payload: &[u8]) -> io::Result<Vec<u8>> {
    inflate_with(&mut Decompress::new(false), payload, usize::MAX - 1)
        .map_err(|v| io::Error::other(v.reason))
}

/// One unmasked server frame from the start of `buf`, and the bytes it used.
fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (len, at) = match buf[1] & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(b) as usize, 10)
        }
        n => (n as usize, 2),
    };
    let payload = buf.get(at..at + len)?.to_vec();
    Some((
        Frame {
            opcode: buf[0] & 0x0f,
            compressed: buf[0] & 0x40 != 0,
            payload,
        },
        at + len,
    ))
}
