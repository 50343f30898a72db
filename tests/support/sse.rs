//! A Server-Sent Events client for tests: reqwest's body stream parsed by eventsource-stream
//! into events, each decoded with the shared protocol types.
#![allow(dead_code)]

use eventsource_stream::{Event, EventStream, Eventsource};
use futures_util::StreamExt;
use livetape::protocol::ServerMsg;
use std::pin::Pin;
use std::time::Duration;

type Body = Pin<Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, reqwest::Error>> + Send>>;

pub struct SseClient {
    events: EventStream<Body>,
    /// The last event id seen (what a browser sends back as Last-Event-ID).
    pub last_id: Option<String>,
}

/// One event: its type, its message.
pub struct SseEvent {
    pub kind: String,
    pub id: Option<String>,
    pub msg: ServerMsg,
}

impl SseClient {
    /// `GET url`; `Err` with the status and body when the server refuses.
    pub async fn connect(
        url: &str,
        last_event_id: Option<&str>,
    ) -> Result<SseClient, (u16, String)> {
        let mut req = reqwest::Client::new().get(url);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.map_err(|e| (0, e.to_string()))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err((status, resp.text().await.unwrap_or_default()));
        }
        let stream: Body = Box::pin(resp.bytes_stream());
        Ok(SseClient {
            events: stream.eventsource(),
            last_id: last_event_id.map(str::to_string),
        })
    }

    /// The next event, or `None` when the stream ended (or nothing came within `limit`).
    pub async fn next(&mut self, limit: Duration) -> Option<SseEvent> {
        let event: Event = tokio::time::timeout(limit, self.events.next())
            .await
            .ok()??
            .ok()?;
        if !event.id.is_empty() {
            self.last_id = Some(event.id.clone());
        }
        let msg: ServerMsg = serde_json::from_str(&event.data)
            .unwrap_or_else(|e| panic!("unreadable {} event {}: {e}", event.event, event.data));
        Some(SseEvent {
            kind: event.event,
            id: (!event.id.is_empty()).then_some(event.id),
            msg,
        })
    }
}
