//! The dashboard page, rendered at most once per tick and kept with its compressed forms.
//!
//! The page is the same for every visitor at a given tick (preferences are applied in the
//! browser), so a storm of page loads should cost a lookup and a copy, not a render and a
//! gzip each: on this 2-core machine 1,000 pages/s rendered per request took the feed's p99
//! from 12 ms to over 100 ms. Here:
//!
//! - a page is keyed by the tick its snapshot was taken at (epoch and tick number): requests
//!   in the same tick get the same bytes, and a request after the next tick gets a new render,
//!   so the page is exactly as fresh as a render per request, and its embedded seqs resume;
//! - one request renders, the others for the same tick wait for it (single flight);
//! - rendering and compressing (brotli and gzip, each once per render) run on a runtime of
//!   their own thread, so page work never holds up the feed's tick or the sessions' sends on
//!   the main runtime;
//! - past `max_pending` page requests in flight, more get a fast 503 with `Retry-After`
//!   instead of queueing.

use crate::app::shell;
use crate::server::http::page::{page_state, PageKey, PageRequest};
use crate::server::transport::feed_view::FeedView;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use leptos::prelude::{provide_context, LeptosOptions};
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// `GET /`: the whole page (not streamed out of order), so that it is a complete, readable
/// snapshot even with JavaScript disabled; rendered at most once per tick (for each view an
/// address asks for). The snapshot (with each channel's seq) is embedded for hydration, so the
/// client resumes the feed from exactly what the HTML shows.
pub(crate) async fn page(
    axum::extract::State(pages): axum::extract::State<Arc<PageCache>>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    pages
        .respond(&headers, PageRequest::from_query(&query))
        .await
}

/// Pages kept, one per request (view and selection) of the current tick: past it the cache
/// starts again (addresses with views are many, a tick is 100 ms).
const KEEP: usize = 64;

/// One rendered page and its encodings.
pub(crate) struct Rendered {
    pub(crate) key: PageKey,
    pub(crate) html: Bytes,
    pub(crate) gzip: Bytes,
    pub(crate) brotli: Bytes,
}

/// What the page cache has done, for metrics and tests.
#[derive(Default)]
pub(crate) struct PageStats {
    pub(crate) renders: AtomicU64,
    pub(crate) hits: AtomicU64,
    pub(crate) shed: AtomicU64,
}

pub(crate) struct PageCache {
    feed: Arc<FeedView>,
    options: LeptosOptions,
    latest: Mutex<HashMap<PageRequest, Arc<Rendered>>>,
    /// Held by the one request rendering; the others wait on it, then find the page.
    rendering: tokio::sync::Mutex<()>,
    /// Page requests in flight (cache hits included), bounded.
    pending: Semaphore,
    /// The runtime pages render on.
    renderer: tokio::runtime::Handle,
    pub(crate) stats: PageStats,
}

/// An encoding a client accepts, best first.
fn wants(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            name.eq_ignore_ascii_case(coding) && !refused
        })
}

impl PageCache {
    /// A cache rendering on its own thread; at most `max_pending` page requests in flight.
    pub(crate) fn new(
        feed: Arc<FeedView>,
        options: LeptosOptions,
        max_pending: usize,
    ) -> std::io::Result<Self> {
        // Leptos renders with spawned futures and needs to know how to spawn them (route-list
        // generation would do this, but there is a single page and no router). A second call
        // is a no-op; tokio's spawn lands on the render runtime, where rendering runs.
        let _ = any_spawner::Executor::init_tokio();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("livetape-render")
            .enable_all()
            .build()?;
        let renderer = runtime.handle().clone();
        // The runtime lives as long as the process: park it on a thread of its own.
        std::thread::Builder::new()
            .name("livetape-render-rt".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
        Ok(PageCache {
            feed,
            options,
            latest: Mutex::new(HashMap::new()),
            rendering: tokio::sync::Mutex::new(()),
            pending: Semaphore::new(max_pending.max(1)),
            renderer,
            stats: PageStats::default(),
        })
    }

    fn fresh(&self, request: &PageRequest) -> Option<Arc<Rendered>> {
        let hub = &self.feed.hub;
        let (epoch, n, channels) = (hub.epoch(), hub.n(), hub.catalog().len());
        self.latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(request)
            .filter(|r| (r.key.0, r.key.1, r.key.2) == (epoch, n, channels))
            .cloned()
    }

    /// The page for `request` at the hub's current tick, rendering it if nobody has yet.
    pub(crate) async fn page(&self, request: PageRequest) -> Result<Arc<Rendered>, String> {
        if let Some(r) = self.fresh(&request) {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(r);
        }
        let _rendering = self.rendering.lock().await;
        // Someone may have rendered this tick while we waited.
        if let Some(r) = self.fresh(&request) {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(r);
        }
        let feed = self.feed.clone();
        let options = self.options.clone();
        let asked = request.clone();
        let rendered = self
            .renderer
            .spawn(async move { render(feed, asked, options).await })
            .await
            .map_err(|e| format!("the render task failed: {e}"))??;
        let rendered = Arc::new(rendered);
        self.stats.renders.fetch_add(1, Ordering::Relaxed);
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if latest.len() >= KEEP {
            latest.clear();
        }
        latest.insert(request, rendered.clone());
        Ok(rendered)
    }

    /// The `/` handler's work: the page in the best encoding the client takes, or 503.
    pub(crate) async fn respond(&self, headers: &HeaderMap, request: PageRequest) -> Response {
        let Ok(_permit) = self.pending.try_acquire() else {
            self.stats.shed.fetch_add(1, Ordering::Relaxed);
            crate::server::metrics::refused(503, "pages_in_flight");
            let mut res = (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy rendering pages; try again in a second\n",
            )
                .into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return res;
        };
        let page = match self.page(request).await {
            Ok(p) => p,
            Err(err) => {
                tracing::error!(%err, "cannot render the page");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot render the page\n",
                )
                    .into_response();
            }
        };
        let (body, coding) = if wants(headers, "br") {
            (page.brotli.clone(), Some("br"))
        } else if wants(headers, "gzip") {
            (page.gzip.clone(), Some("gzip"))
        } else {
            (page.html.clone(), None)
        };
        let mut res = Response::new(Body::from(body));
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        // Live state: never served from a cache.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if let Some(coding) = coding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        res
    }
}

/// Renders the page for `request` at the hub's current tick and compresses it.
async fn render(
    feed: Arc<FeedView>,
    request: PageRequest,
    options: LeptosOptions,
) -> Result<Rendered, String> {
    use http_body_util::BodyExt;
    let (page, key) = page_state(&feed, &request);
    let handler = leptos_axum::render_app_async_with_context(
        move || provide_context(page.clone()),
        move || shell(options.clone()),
    );
    let response = handler(Request::new(Body::empty())).await.into_response();
    let html = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the rendered page: {e}"))?
        .to_bytes();
    let (gzip, brotli) = tokio::task::block_in_place(|| compress(&html));
    Ok(Rendered {
        key,
        html,
        gzip,
        brotli,
    })
}

/// The page's gzip and brotli forms. Quality is a trade: once per tick, a few milliseconds.
fn compress(html: &[u8]) -> (Bytes, Bytes) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    let _ = gz.write_all(html);
    let gzip = gz.finish().unwrap_or_default();
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 8192, 5, 22);
        let _ = w.write_all(html);
    }
    (Bytes::from(gzip), Bytes::from(br))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(accept).unwrap(),
        );
        h
    }

    #[test]
    fn accepted_encodings() {
        assert!(wants(&headers("gzip, deflate, br"), "br"));
        assert!(wants(&headers("gzip"), "gzip"));
        assert!(!wants(&headers("gzip"), "br"));
        assert!(!wants(&headers("br;q=0, gzip"), "br"));
        assert!(wants(&headers("br;q=0.5"), "br"));
        assert!(!wants(&HeaderMap::new(), "gzip"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_limit_a_page_request_gets_a_fast_503_with_retry_after() {
        let hub = Arc::new(crate::server::feed::hub::Hub::new(
            1,
            crate::server::feed::state::LiveState::new(chrono::Utc::now(), vec![], vec![]),
            8,
            8,
        ));
        let feed = Arc::new(FeedView::new(hub, None));
        let pages =
            PageCache::new(feed, LeptosOptions::builder().output_name("t").build(), 1).unwrap();
        let held = pages.pending.try_acquire().unwrap();
        let res = pages
            .respond(&HeaderMap::new(), PageRequest::default())
            .await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
        assert_eq!(pages.stats.shed.load(Ordering::Relaxed), 1);
        drop(held);
        let res = pages
            .respond(&HeaderMap::new(), PageRequest::default())
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let again = pages
            .respond(&HeaderMap::new(), PageRequest::default())
            .await;
        assert_eq!(again.status(), StatusCode::OK);
        assert_eq!(
            pages.stats.renders.load(Ordering::Relaxed),
            1,
            "the same tick: one render"
        );
        assert_eq!(pages.stats.hits.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn both_forms_decompress_to_the_page() {
        use std::io::Read;
        let html = "<html>".to_string() + &"<tr><td>229.64</td></tr>".repeat(500) + "</html>";
        let (gzip, brotli) = compress(html.as_bytes());
        let mut back = String::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, html);
        let mut back = String::new();
        brotli::Decompressor::new(&brotli[..], 4096)
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, html);
        assert!(brotli.len() < html.len() / 10);
    }
}
