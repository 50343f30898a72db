//! One WebSocket connection speaking the protocol: the handshake, the welcome, typed requests
//! out and typed messages in. No resume and no reconnect: that is [`Client`](super::Client)'s
//! job, built on this.
//!
//! It is public for the programs that must see every message as the server sends it, gaps
//! and all: the load generator (which counts updates in the raw text, see
//! [`Connection::recv_text`]), the soak, and the integration tests that check what the server
//! sends. They share this code for the wire instead of each speaking it their own way.

use super::error::Error;
use crate::protocol::{Channel, ClientMsg, Epoch, Resume, ServerMsg};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, http::HeaderMap, Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The socket under a [`Connection`] (tokio-tungstenite's).
pub type WebSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long the server has to send its welcome after the handshake.
const WELCOME_WITHIN: Duration = Duration::from_secs(5);

/// An open connection to a livetape server whose welcome has been read.
pub struct Connection {
    socket: WebSocket,
    epoch: Epoch,
    heartbeat: Duration,
    headers: HeaderMap,
    next_id: u64,
}

impl Connection {
    /// Connects to `url` (`ws://HOST:PORT/ws`) and reads the welcome, within `timeout`.
    pub async fn open(url: &str, timeout: Duration) -> Result<Connection, Error> {
        let connecting = tokio_tungstenite::connect_async(url);
        let handshake = tokio::time::timeout(timeout, connecting).await;
        Self::welcome(url, timeout, handshake).await
    }

    /// Like [`Connection::open`], on a TCP stream the caller connected (to choose its source
    /// address or receive buffer), with tungstenite's settings `config` (e.g. its read buffer).
    pub async fn open_on(
        stream: TcpStream,
        url: &str,
        timeout: Duration,
        config: Option<WebSocketConfig>,
    ) -> Result<Connection, Error> {
        let connecting =
            tokio_tungstenite::client_async_with_config(url, MaybeTlsStream::Plain(stream), config);
        let handshake = tokio::time::timeout(timeout, connecting).await;
        Self::welcome(url, timeout, handshake).await
    }

    async fn welcome(
        url: &str,
        timeout: Duration,
        handshake: Result<
            Result<(WebSocket, tungstenite::handshake::client::Response), tungstenite::Error>,
            tokio::time::error::Elapsed,
        >,
    ) -> Result<Connection, Error> {
        let (socket, response) = match handshake {
            Err(_) => {
                return Err(Error::Connect {
                    url: url.into(),
                    message: format!("no answer within {timeout:?}"),
                })
            }
            Ok(Err(tungstenite::Error::Http(response))) => {
                let body = response
                    .body()
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                return Err(Error::Rejected {
                    url: url.into(),
                    status: response.status().as_u16(),
                    body,
                });
            }
            Ok(Err(e)) => {
                return Err(Error::Connect {
                    url: url.into(),
                    message: e.to_string(),
                })
            }
            Ok(Ok(pair)) => pair,
        };
        let mut connection = Connection {
            socket,
            epoch: 0,
            heartbeat: Duration::ZERO,
            headers: response.headers().clone(),
            next_id: 1,
        };
        match tokio::time::timeout(WELCOME_WITHIN, connection.recv()).await {
            Ok(Ok(ServerMsg::Welcome {
                epoch,
                heartbeat_ms,
                ..
            })) => {
                connection.epoch = epoch;
                connection.heartbeat = Duration::from_millis(u64::from(heartbeat_ms.max(1)));
                Ok(connection)
            }
            Ok(Ok(other)) => Err(Error::Protocol {
                message: format!("expected a welcome, got {other:?}"),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Protocol {
                message: format!("no welcome within {WELCOME_WITHIN:?}"),
            }),
        }
    }

    /// The server's epoch, from its welcome.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// How often the server promised a message at least (its welcome's `heartbeat_ms`).
    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    /// A header of the handshake's response (e.g. the node a balancer chose, if it says).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A request id not used before on this connection.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Sends one request.
    pub async fn send(&mut self, msg: &ClientMsg) -> Result<(), Error> {
        let text = serde_json::to_string(msg).map_err(|e| Error::Protocol {
            message: e.to_string(),
        })?;
        self.socket
            .send(Message::text(text))
            .await
            .map_err(|e| Error::Dropped {
                message: e.to_string(),
            })
    }

    /// Subscribes `channels` (resuming from `resume`, if given); returns the request's id,
    /// which its ack or error carries.
    pub async fn subscribe(
        &mut self,
        channels: Vec<Channel>,
        resume: Option<Resume>,
    ) -> Result<u64, Error> {
        let id = self.next_id();
        let msg = ClientMsg::Subscribe {
            id,
            channels,
            resume,
        };
        self.send(&msg).await.map(|()| id)
    }

    /// The next protocol message. Control frames are answered and skipped, and so is a message
    /// of a type from a newer server (as the protocol allows).
    pub async fn recv(&mut self) -> Result<ServerMsg, Error> {
        loop {
            let text = self.recv_text().await?;
            match serde_json::from_str(text.as_str()) {
                Ok(msg) => return Ok(msg),
                Err(_) if is_unknown_type(text.as_str()) => continue,
                Err(e) => {
                    return Err(Error::Protocol {
                        message: format!("a message this client cannot read ({e}): {text}"),
                    })
                }
            }
        }
    }

    /// The next protocol message as the server sent it, unparsed: for a program that counts
    /// or forwards messages rather than reads them (the load generator finds the updates of
    /// 20,000 quotes a second for a thousand clients in the text; parsing them would be its
    /// bottleneck, not the server's).
    pub async fn recv_text(&mut self) -> Result<Utf8Bytes, Error> {
        loop {
            let frame = match self.socket.next().await {
                None => {
                    return Err(Error::Dropped {
                        message: "the stream ended".into(),
                    })
                }
                Some(Err(e)) => {
                    return Err(Error::Dropped {
                        message: e.to_string(),
                    })
                }
                Some(Ok(frame)) => frame,
            };
            match frame {
                Message::Text(text) => return Ok(text),
                Message::Close(close) => {
                    let (code, reason) = close
                        .map(|c| (u16::from(c.code), c.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    return Err(Error::Closed { code, reason });
                }
                Message::Binary(_) => {
                    return Err(Error::Protocol {
                        message: "a binary frame (the protocol is text only)".into(),
                    })
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            }
        }
    }

    /// Closes with a Close frame (1000) and waits, briefly, for the server's reply.
    pub async fn close(mut self) {
        if self.socket.close(None).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(Ok(_)) = self.socket.next().await {}
            })
            .await;
        }
    }

    /// The socket itself, for what the protocol's types cannot say: a test that sends a
    /// malformed frame, or reads the Close the server sends.
    pub fn websocket(&mut self) -> &mut WebSocket {
        &mut self.socket
    }
}

/// Whether `text` is a message whose `type` this client does not know.
fn is_unknown_type(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Tagged<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    const KNOWN: [&str; 10] = [
        "welcome",
        "ack",
        "snapshot",
        "batch",
        "listed",
        "symbols",
        "rows",
        "heartbeat",
        "pong",
        "error",
    ];
    serde_json::from_str::<Tagged>(text).is_ok_and(|t| !KNOWN.contains(&t.kind.as_ref()))
}
