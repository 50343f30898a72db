//! The read side of one upgraded WebSocket connection: the client's messages. (Frames are
//! written through the connection's `Outlet`, shared with the fan-out.)
//!
//! Reads are cancel-safe (everything read is kept in the connection), so [`Conn::next`] can
//! sit in a `select!` beside the broadcast receiver and the timers. Fragmented messages are
//! reassembled, compressed ones (permessage-deflate) inflated, pings are reported (the session
//! answers them), and text must be UTF-8.

use crate::server::rfc6455::deflate::{Agreed, Inflater};
use crate::server::rfc6455::frame::{self, close_code, Frame, Opcode, Violation};
use bytes::Bytes;
use std::io;
use std::sync::Arc;
use tokio::net::TcpStream;

/// A message from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    /// A binary message (the feed's protocol is text only: the session refuses it; the
    /// Autobahn echo server sends it back).
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    /// The client's Close, with its code and reason if it gave one.
    Close(Option<(u16, String)>),
}

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The connection ended (EOF) or failed.
    Gone,
    /// The client broke the protocol: close with this code.
    Violation(Violation),
}

/// Bytes read per `read` call, at most. Client messages are small JSON requests.
const READ_CHUNK: usize = 2048;

pub struct Conn {
    stream: Arc<TcpStream>,
    /// Bytes received and not yet parsed; empty (no allocation) between messages.
    inbuf: Vec<u8>,
    /// A fragmented message being reassembled: its opcode, whether it is compressed, and the
    /// data so far.
    partial: Option<(Opcode, bool, Vec<u8>)>,
    max_message: usize,
    /// Set when permessage-deflate was agreed.
    inflater: Option<Inflater>,
}

impl Conn {
    /// A connection on `stream`; `read_ahead` is what the HTTP layer had already read past
    /// the upgrade request; `deflate`, the permessage-deflate agreed in the handshake.
    pub fn new(
        stream: Arc<TcpStream>,
        read_ahead: Bytes,
        max_message: usize,
        deflate: Option<&Agreed>,
    ) -> Self {
        Conn {
            stream,
            inbuf: read_ahead.to_vec(),
            partial: None,
            max_message,
            inflater: deflate.map(Inflater::new),
        }
    }

    /// The next message. Cancel-safe.
    pub async fn next(&mut self) -> Result<Incoming, ReadError> {
        loop {
            if let Some(msg) = self.parse_buffered()? {
                return Ok(msg);
            }
            self.stream.readable().await.map_err(|_| ReadError::Gone)?;
            let mut chunk = [0u8; READ_CHUNK];
            match self.stream.try_read(&mut chunk) {
                Ok(0) => return Err(ReadError::Gone),
                Ok(n) => self.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => return Err(ReadError::Gone),
            }
        }
    }

    /// Takes frames from the buffer until one completes a message.
    fn parse_buffered(&mut self) -> Result<Option<Incoming>, ReadError> {
        loop {
            let room = self.max_message - self.partial.as_ref().map_or(0, |(_, _, d)| d.len());
            let deflate = self.inflater.is_some();
            let Some((frame, used)) =
                frame::parse(&self.inbuf, room, deflate).map_err(ReadError::Violation)?
            else {
                return Ok(None);
            };
            self.inbuf.drain(..used);
            if self.inbuf.is_empty() && self.inbuf.capacity() > 4 * READ_CHUNK {
                self.inbuf = Vec::new();
            }
            if let Some(msg) = self.on_frame(frame)? {
                return Ok(Some(msg));
            }
        }
    }

    fn on_frame(&mut self, f: Frame) -> Result<Option<Incoming>, ReadError> {
        let violation = |code, reason: &str| ReadError::Violation(Violation::new(code, reason));
        match f.opcode {
            Opcode::Ping => Ok(Some(Incoming::Ping(f.payload))),
            Opcode::Pong => Ok(Some(Incoming::Pong)),
            Opcode::Close => frame::parse_close(&f.payload)
                .map(|c| Some(Incoming::Close(c)))
                .map_err(ReadError::Violation),
            Opcode::Text | Opcode::Binary => {
                if self.partial.is_some() {
                    return Err(violation(
                        close_code::PROTOCOL,
                        "a new message inside a fragmented one",
                    ));
                }
                if f.fin {
                    return self.message(f.opcode, f.compressed, f.payload).map(Some);
                }
                self.partial = Some((f.opcode, f.compressed, f.payload));
                Ok(None)
            }
            Opcode::Continuation => {
                let Some((opcode, compressed, mut data)) = self.partial.take() else {
                    return Err(violation(
                        close_code::PROTOCOL,
                        "a continuation frame without a message",
                    ));
                };
                data.extend_from_slice(&f.payload);
                if f.fin {
                    self.message(opcode, compressed, data).map(Some)
                } else {
                    self.partial = Some((opcode, compressed, data));
                    Ok(None)
                }
            }
        }
    }

    /// Ends the connection for both sides: the peer sees the end at once, even while a
    /// fan-out list still holds the socket for a moment.
    pub fn shutdown(&self) {
        let _ = socket2::SockRef::from(&*self.stream).shutdown(std::net::Shutdown::Both);
    }

    /// A whole message's data, inflated if it came compressed.
    fn message(
        &mut self,
        opcode: Opcode,
        compressed: bool,
        data: Vec<u8>,
    ) -> Result<Incoming, ReadError> {
        let data = match (&mut self.inflater, compressed) {
            (Some(inflater), true) => inflater
                .inflate(&data, self.max_message)
                .map_err(ReadError::Violation)?,
            _ => data,
        };
        message(opcode, data)
    }
}

fn message(opcode: Opcode, data: Vec<u8>) -> Result<Incoming, ReadError> {
    match opcode {
        Opcode::Text => String::from_utf8(data).map(Incoming::Text).map_err(|_| {
            ReadError::Violation(Violation::new(
                close_code::INVALID_DATA,
                "text message is not UTF-8",
            ))
        }),
        _ => Ok(Incoming::Binary(data)),
    }
}
