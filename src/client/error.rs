//! Why a connection ended or could not start.

use std::fmt;

/// Why a connection ended or could not start. The client reconnects after every one of
/// these; what they say is for the user's logs and decisions (a program that must not run
/// against a server that refuses it can stop on [`Error::is_refusal`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Nothing answered at the address, or the TCP or TLS connection failed.
    Connect { url: String, message: String },
    /// The server answered the WebSocket handshake with an HTTP error: 403 for an origin it
    /// does not allow, 429 when this address holds too many connections, 503 when it is full.
    Rejected {
        url: String,
        status: u16,
        body: String,
    },
    /// The server closed the connection (1001 when it shuts down, 1008 or 1009 for a message
    /// over its limits).
    Closed { code: u16, reason: String },
    /// Nothing arrived for this long, although the server promised a heartbeat at least every
    /// `heartbeat_ms`: the connection is treated as dead.
    Silent { for_ms: u64 },
    /// The connection broke without a close (reset, or the stream ended).
    Dropped { message: String },
    /// The server sent something this client does not understand where it expected a
    /// protocol message (e.g. no welcome).
    Protocol { message: String },
}

impl Error {
    /// A refusal the server will repeat however often the client retries: a handshake refused
    /// with a 4xx status other than 429 (too many connections from here may clear).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Error::Rejected { status, .. } if (400..500).contains(status) && *status != 429)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect { url, message } => write!(f, "cannot connect to {url}: {message}"),
            Error::Rejected { url, status, body } => {
                write!(f, "{url} refused the connection: HTTP {status}")?;
                if !body.trim().is_empty() {
                    write!(f, ": {}", body.trim())?;
                }
                Ok(())
            }
            Error::Closed { code, reason } => {
                write!(f, "the server closed the connection ({code}")?;
                if reason.is_empty() {
                    f.write_str(")")
                } else {
                    write!(f, ": {reason})")
                }
            }
            Error::Silent { for_ms } => write!(
                f,
                "nothing from the server for {for_ms} ms (heartbeats missed): connection dropped"
            ),
            Error::Dropped { message } => write!(f, "the connection broke: {message}"),
            Error::Protocol { message } => write!(f, "protocol error: {message}"),
        }
    }
}

impl std::error::Error for Error {}
