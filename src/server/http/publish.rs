//! `POST /api/publish`: data from outside onto the feed.
//!
//! A publisher authenticates with a bearer token (`--publish-token`, `--publish-token-file`)
//! and sends a [`PublishBatch`] as JSON, or a stream of them as NDJSON (one per line, for a
//! long-lived publisher; each line is its own batch). Every batch is applied whole in one
//! tick or refused whole, and answered once it is on the feed:
//!
//! | status | when |
//! |---|---|
//! | 200 | `{"tick":N,"events":K,"listed":[..]}` (NDJSON: `{"lines":L,"events":K,"tick":N}`) |
//! | 400 | not JSON, or not a batch: `line` and `column` say where |
//! | 401 | no token or a wrong one (compared in constant time) |
//! | 404 | no token configured: the API is off |
//! | 413 | a body (or NDJSON line) over `--publish-max-bytes` |
//! | 422 | an event breaks a rule: `index` says which, `message` why |
//! | 429 | over the token's `--publish-rate` (Retry-After) |
//! | 503 | the inbox is full (Retry-After) |
//!
//! Errors are `{"error":{"code":..,"message":..,(index|line|column)}}`. Tokens are hashed
//! (SHA-1, to a fixed length) and compared with `subtle` against every configured token
//! without stopping at a match, so the time taken says nothing about any token.

use crate::protocol::publish::PublishBatch;
use crate::server::bucket::Bucket;
use crate::server::sources::reply::{Receipt, Rejection, Request};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha1::{Digest, Sha1};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot};

/// How long a publisher waits for its tick before it is told to retry.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Where accepted batches go: this node's feed, or (in a cluster) the producer's inbox in
/// Redis.
pub(crate) enum Route {
    Local(mpsc::Sender<Request>),
    Cluster(crate::server::cluster::publish_queue::Forwarder),
}

/// The publish API's configuration and per-token state.
pub(crate) struct Publish {
    tokens: Vec<[u8; 20]>,
    buckets: Vec<Mutex<Bucket>>,
    max_bytes: usize,
    route: Route,
}

impl Publish {
    pub(crate) fn new(tokens: &[String], rate: f64, max_bytes: usize, route: Route) -> Publish {
        Publish {
            tokens: tokens.iter().map(|t| digest(t.as_bytes())).collect(),
            buckets: tokens
                .iter()
                .map(|_| Mutex::new(Bucket::new(rate, 2.0 * rate)))
                .collect(),
            max_bytes,
            route,
        }
    }

    /// The index of the token `given` is, checking every token whatever matches.
    fn token(&self, given: &[u8]) -> Option<usize> {
        let given = digest(given);
        let mut found = None;
        for (i, t) in self.tokens.iter().enumerate() {
            if bool::from(t.ct_eq(&given)) {
                found = Some(i);
            }
        }
        found
    }

    /// Applies one batch for token `who`: checked, rate limited, committed.
    async fn apply(&self, who: usize, batch: PublishBatch) -> Result<Receipt, Failure> {
        for (i, e) in batch.events.iter().enumerate() {
            e.check().map_err(|m| Failure::invalid(Some(i), m))?;
        }
        let cost = batch.events.len().max(1) as f64;
        {
            let mut bucket = self.buckets[who].lock().unwrap_or_else(|p| p.into_inner());
            if !bucket.take(cost) {
                let wait = bucket.wait_for(cost).ceil().max(1.0) as u64;
                return Err(Failure {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    code: "rate_limited",
                    message: format!("over this token's rate of events; retry in {wait} s"),
                    retry_after: Some(wait),
                    ..Failure::default()
                });
            }
        }
        match &self.route {
            Route::Local(tx) => {
                let (reply, answer) = oneshot::channel();
                tx.try_send(Request {
                    events: batch.events,
                    reply,
                })
                .map_err(|_| Failure::busy())?;
                match tokio::time::timeout(ANSWER_WITHIN, answer).await {
                    Ok(Ok(Ok(receipt))) => Ok(receipt),
                    Ok(Ok(Err(Rejection { index, message }))) => {
                        Err(Failure::invalid(index, message))
                    }
                    Ok(Err(_)) | Err(_) => Err(Failure::busy()),
                }
            }
            Route::Cluster(forwarder) => {
                forwarder.forward(batch.events).await.map_err(|r| match r {
                    crate::server::cluster::publish_queue::Refused::Invalid(rejection) => {
                        Failure::invalid(rejection.index, rejection.message)
                    }
                    crate::server::cluster::publish_queue::Refused::Unavailable(why) => Failure {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        code: "unavailable",
                        message: why,
                        retry_after: Some(1),
                        ..Failure::default()
                    },
                })
            }
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 20] {
    Sha1::digest(bytes).into()
}

/// An error answer.
#[derive(Debug, Default)]
struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
    index: Option<usize>,
    line: Option<usize>,
    column: Option<usize>,
    retry_after: Option<u64>,
}

impl Failure {
    fn invalid(index: Option<usize>, message: String) -> Failure {
        Failure {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid",
            message,
            index,
            ..Failure::default()
        }
    }

    fn busy() -> Failure {
        Failure {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "busy",
            message: "the feed is not taking publishes fast enough; retry".into(),
            retry_after: Some(1),
            ..Failure::default()
        }
    }

    fn too_large(max: usize) -> Failure {
        Failure {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "too_large",
            message: format!("over {max} bytes (--publish-max-bytes)"),
            ..Failure::default()
        }
    }

    fn malformed(err: serde_json::Error) -> Failure {
        Failure {
            status: StatusCode::BAD_REQUEST,
            code: "malformed",
            message: err.to_string(),
            line: Some(err.line()),
            column: Some(err.column()),
            ..Failure::default()
        }
    }

    fn into_response(self, extra: Option<serde_json::Value>) -> Response {
        let mut error = serde_json::json!({"code": self.code, "message": self.message});
        for (k, v) in [
            ("index", self.index),
            ("line", self.line),
            ("column", self.column),
        ] {
            if let Some(v) = v {
                error[k] = v.into();
            }
        }
        let mut body = serde_json::json!({ "error": error });
        if let Some(serde_json::Value::Object(extra)) = extra {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"livetape\""),
            );
        }
        res
    }
}

/// `POST /api/publish`.
pub(crate) async fn publish(
    State(api): State<Option<Arc<Publish>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(api) = api.as_ref() else {
        return Failure {
            status: StatusCode::NOT_FOUND,
            code: "off",
            message: "the publish API is off: start the server with --publish-token".into(),
            ..Failure::default()
        }
        .into_response(None);
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .map(<[u8]>::trim_ascii);
    let Some(who) = given.and_then(|t| api.token(t)) else {
        crate::server::metrics::refused(401, "publish_token");
        return Failure {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "send Authorization: Bearer <a publish token>".into(),
            ..Failure::default()
        }
        .into_response(None);
    };
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/x-ndjson") || v.starts_with("application/jsonl")
        });
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if ndjson {
        return stream(api, who, body).await;
    }
    if declared.is_some_and(|n| n > api.max_bytes) {
        return Failure::too_large(api.max_bytes).into_response(None);
    }
    let bytes = match axum::body::to_bytes(body, api.max_bytes).await {
        Ok(b) => b,
        Err(_) => return Failure::too_large(api.max_bytes).into_response(None),
    };
    let batch: PublishBatch = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => return Failure::malformed(e).into_response(None),
    };
    match api.apply(who, batch).await {
        Ok(receipt) => {
            crate::server::metrics::published(receipt.events);
            (StatusCode::OK, axum::Json(receipt)).into_response()
        }
        Err(f) => f.into_response(None),
    }
}

/// An NDJSON body: one batch per line, each applied before the next is read. Stops at the
/// first bad line (the lines before it are on the feed, and the answer says how many).
async fn stream(api: &Publish, who: usize, body: Body) -> Response {
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    let (mut lines, mut events, mut tick) = (0usize, 0usize, None);
    let progress = |lines: usize, events: usize, tick: Option<u64>| serde_json::json!({"lines": lines, "events": events, "tick": tick});
    let mut ended = false;
    loop {
        // Every complete line in the buffer.
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            let failure = match serde_json::from_slice::<PublishBatch>(line) {
                Err(e) => Some(Failure::malformed(e)),
                Ok(batch) => match api.apply(who, batch).await {
                    Ok(receipt) => {
                        crate::server::metrics::published(receipt.events);
                        lines += 1;
                        events += receipt.events;
                        tick = Some(receipt.tick);
                        None
                    }
                    Err(f) => Some(f),
                },
            };
            if let Some(mut f) = failure {
                // Positions in the stream: the line (1-based, counting blank lines out).
                f.line = Some(lines + 1);
                return f.into_response(Some(progress(lines, events, tick)));
            }
        }
        if ended {
            break;
        }
        if buf.len() > api.max_bytes {
            let mut f = Failure::too_large(api.max_bytes);
            f.line = Some(lines + 1);
            return f.into_response(Some(progress(lines, events, tick)));
        }
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(chunk) = frame.data_ref() {
                    buf.extend_from_slice(chunk);
                }
            }
            Some(Err(_)) => {
                return Failure {
                    status: StatusCode::BAD_REQUEST,
                    code: "aborted",
                    message: "the request body broke off".into(),
                    ..Failure::default()
                }
                .into_response(Some(progress(lines, events, tick)))
            }
            None => {
                // A last line without its newline.
                if !buf.trim_ascii().is_empty() {
                    buf.push(b'\n');
                }
                ended = true;
            }
        }
    }
    (StatusCode::OK, axum::Json(progress(lines, events, tick))).into_response()
}
