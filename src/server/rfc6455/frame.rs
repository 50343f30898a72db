//! RFC 6455 framing, server side: headers of the frames we send, and parsing of the frames a
//! client sends (masked, possibly fragmented, with control frames in between).
//!
//! Parsing is incremental and allocation-free until a frame is complete: [`parse`] looks at
//! the bytes buffered so far and either returns a whole frame and how many bytes it used, or
//! says more are needed. A frame that breaks the protocol is refused with the close code the
//! RFC prescribes, before its payload is buffered (a client cannot make us hold more than
//! the size limit).

/// Frame opcodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_u8(b: u8) -> Option<Opcode> {
        Some(match b {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    pub(crate) fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// Close codes we send.
pub(crate) mod close_code {
    pub(crate) const NORMAL: u16 = 1000;
    pub(crate) const AWAY: u16 = 1001;
    pub(crate) const PROTOCOL: u16 = 1002;
    pub(crate) const INVALID_DATA: u16 = 1007;
    pub(crate) const POLICY: u16 = 1008;
    pub(crate) const SIZE: u16 = 1009;
}

/// A frame the client broke the protocol with: close with `code`, saying `reason`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub reason: String,
}

impl Violation {
    pub(crate) fn new(code: u16, reason: impl Into<String>) -> Self {
        Violation {
            code,
            reason: reason.into(),
        }
    }
}

/// One frame from a client, unmasked.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub(crate) fin: bool,
    /// RSV1: the message this frame starts is compressed (permessage-deflate).
    pub compressed: bool,
    pub opcode: Opcode,
    pub payload: Vec<u8>,
}

/// The header of an unmasked, final frame of `len` bytes, with RSV1 set when the message is
/// `compressed` (permessage-deflate): the bytes and how many are used.
pub fn header(opcode: Opcode, compressed: bool, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | if compressed { 0x40 } else { 0 } | opcode.to_u8();
    if len < 126 {
        h[1] = len as u8;
        (h, 2)
    } else if len <= u16::MAX as usize {
        h[1] = 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        (h, 4)
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (h, 10)
    }
}

/// A client's frame: `first` is its first byte (FIN, RSV bits, opcode), the payload masked
/// with `mask`. The server never sends one; the tests and the load generator do.
#[cfg(any(test, feature = "test-support"))]
pub fn encode_masked(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(first);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 65535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// The payload of a Close frame with `code` and `reason` (cut to fit a control frame).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&reason.as_bytes()[..end]);
    out
}

/// FIN, RSV1 (compressed) and the opcode, checked against what was agreed.
fn first_byte(b0: u8, deflate: bool) -> Result<(bool, bool, Opcode), Violation> {
    let fin = b0 & 0x80 != 0;
    let compressed = b0 & 0x40 != 0;
    if b0 & 0x30 != 0 || (compressed && !deflate) {
        return Err(Violation::new(
            close_code::PROTOCOL,
            "reserved bits set without an extension",
        ));
    }
    let opcode = Opcode::from_u8(b0 & 0x0F)
        .ok_or_else(|| Violation::new(close_code::PROTOCOL, "unknown opcode"))?;
    if compressed && !matches!(opcode, Opcode::Text | Opcode::Binary) {
        return Err(Violation::new(
            close_code::PROTOCOL,
            "RSV1 is only for the first frame of a data message",
        ));
    }
    Ok((fin, compressed, opcode))
}

/// The payload length and where the mask starts; `None` until the whole length is here.
fn payload_length(buf: &[u8]) -> Result<Option<(u64, usize)>, Violation> {
    Ok(Some(match buf[1] & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            let len = u64::from_be_bytes(b);
            if len >> 63 != 0 {
                return Err(Violation::new(
                    close_code::PROTOCOL,
                    "frame length too large",
                ));
            }
            (len, 10)
        }
        n => (u64::from(n), 2),
    }))
}

/// Control frames are whole and short; nothing is over the limit.
fn check_length(opcode: Opcode, fin: bool, len: u64, max_payload: usize) -> Result<(), Violation> {
    if opcode.is_control() {
        if !fin {
            return Err(Violation::new(
                close_code::PROTOCOL,
                "control frames must not be fragmented",
            ));
        }
        if len > 125 {
            return Err(Violation::new(
                close_code::PROTOCOL,
                "control frame payload over 125 bytes",
            ));
        }
    }
    if len > max_payload as u64 {
        return Err(Violation::new(
            close_code::SIZE,
            format!("message too big: the limit is {} KiB", max_payload / 1024),
        ));
    }
    Ok(())
}

/// Parses one client frame from the start of `buf`. `Ok(None)`: not all of it is here yet.
/// Frames with a payload over `max_payload` are refused (1009) from their header alone.
/// `deflate`: permessage-deflate was agreed, so RSV1 may mark the first frame of a message.
pub fn parse(
    buf: &[u8],
    max_payload: usize,
    deflate: bool,
) -> Result<Option<(Frame, usize)>, Violation> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (fin, compressed, opcode) = first_byte(buf[0], deflate)?;
    if buf[1] & 0x80 == 0 {
        return Err(Violation::new(
            close_code::PROTOCOL,
            "client frames must be masked",
        ));
    }
    let Some((len, mut at)) = payload_length(buf)? else {
        return Ok(None);
    };
    check_length(opcode, fin, len, max_payload)?;
    let len = len as usize;
    if buf.len() < at + 4 + len {
        return Ok(None);
    }
    let mask = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
    at += 4;
    let payload: Vec<u8> = buf[at..at + len]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    Ok(Some((
        Frame {
            fin,
            compressed,
            opcode,
            payload,
        },
        at + len,
    )))
}

/// Checks a Close frame's payload: empty, or a valid code and a UTF-8 reason.
pub fn parse_close(payload: &[u8]) -> Result<Option<(u16, String)>, Violation> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(Violation::new(
            close_code::PROTOCOL,
            "close payload of one byte",
        )),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return Err(Violation::new(
                    close_code::PROTOCOL,
                    format!("invalid close code {code}"),
                ));
            }
            let reason = std::str::from_utf8(&payload[2..]).map_err(|_| {
                Violation::new(close_code::INVALID_DATA, "close reason is not UTF-8")
            })?;
            Ok(Some((code, reason.to_string())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn client(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        encode_masked(
            (u8::from(fin) << 7) | opcode,
            payload,
            [0x37, 0xfa, 0x21, 0x3d],
        )
    }

    #[test]
    fn headers_use_the_shortest_length_form() {
        assert_eq!(&header(Opcode::Text, false, 5).0[..2], &[0x81, 5]);
        assert_eq!(&header(Opcode::Text, true, 5).0[..2], &[0xC1, 5]);
        let (h, n) = header(Opcode::Text, false, 300);
        assert_eq!(&h[..n], &[0x81, 126, 1, 44]);
        let (h, n) = header(Opcode::Binary, false, 70_000);
        assert_eq!(&h[..n], &[0x82, 127, 0, 0, 0, 0, 0, 1, 17, 112]);
    }

    #[test]
    fn frames_are_parsed_whole_or_not_at_all() {
        let bytes = client(true, 1, b"hello");
        for cut in 0..bytes.len() {
            assert_eq!(parse(&bytes[..cut], 1024, false), Ok(None), "cut at {cut}");
        }
        let mut two = bytes.clone();
        two.extend(client(true, 9, b"p"));
        let (f, used) = parse(&two, 1024, false).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(
            (f.fin, f.opcode, &f.payload[..]),
            (true, Opcode::Text, &b"hello"[..])
        );
        let long = vec![b'x'; 70_000];
        let (f, _) = parse(&client(true, 1, &long), 100_000, false)
            .unwrap()
            .unwrap();
        assert_eq!(f.payload, long);
    }

    #[test]
    fn protocol_violations_get_their_close_codes() {
        let code = |bytes: &[u8]| parse(bytes, 1024, false).unwrap_err().code;
        let mut unmasked = client(true, 1, b"x");
        unmasked[1] &= 0x7F;
        assert_eq!(code(&unmasked), close_code::PROTOCOL);
        assert_eq!(
            code(&client(true, 3, b"")),
            close_code::PROTOCOL,
            "reserved opcode"
        );
        let mut rsv = client(true, 1, b"x");
        rsv[0] |= 0x40;
        assert_eq!(code(&rsv), close_code::PROTOCOL, "RSV1 without deflate");
        let (f, _) = parse(&rsv, 1024, true).unwrap().unwrap();
        assert!(f.compressed, "RSV1 with deflate");
        let mut ping = client(true, 9, b"");
        ping[0] |= 0x40;
        assert_eq!(
            parse(&ping, 1024, true).unwrap_err().code,
            close_code::PROTOCOL,
            "RSV1 on a control frame"
        );
        let mut rsv2 = client(true, 1, b"x");
        rsv2[0] |= 0x20;
        assert!(parse(&rsv2, 1024, true).is_err(), "RSV2 is never ours");
        assert_eq!(
            code(&client(false, 9, b"")),
            close_code::PROTOCOL,
            "fragmented ping"
        );
        assert_eq!(code(&client(true, 9, &[0; 126])), close_code::PROTOCOL);
        // Too big is known from the header, before the payload arrives.
        let big = client(true, 1, &vec![0; 2048]);
        assert_eq!(code(&big[..8]), close_code::SIZE);
    }

    #[test]
    fn close_payloads() {
        assert_eq!(parse_close(&[]), Ok(None));
        assert_eq!(
            parse_close(&close_payload(1000, "bye")),
            Ok(Some((1000, "bye".into())))
        );
        assert!(parse_close(&[3]).is_err());
        assert!(parse_close(&1005u16.to_be_bytes()).is_err());
        assert!(parse_close(&999u16.to_be_bytes()).is_err());
        let mut bad = 1000u16.to_be_bytes().to_vec();
        bad.extend_from_slice(&[0xff, 0xfe]);
        assert_eq!(
            parse_close(&bad).unwrap_err().code,
            close_code::INVALID_DATA
        );
        assert!(close_payload(1000, &"é".repeat(100)).len() <= 125);
    }
}
