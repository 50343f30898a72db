//! The HTTP surface: what a browser, a balancer, a publisher and Prometheus ask for.
//!
//! # Layout
//!
//! - `router`: the routes and the state they are served from (each handler takes only the
//!   parts it needs, axum's `FromRef`).
//! - `page`: what the server-rendered page shows, from the hub's state at one tick.
//! - `page_cache`: `GET /`, rendered at most once per tick, single flight, precompressed.
//! - `publish`: `POST /api/publish`: tokens, limits, errors.
//! - `candles`: `GET /api/candles`: a symbol's older candles, for a chart panned into the past.
//! - `probes`: `/healthz` and `/readyz`.
//! - `metrics`: `GET /metrics`.
//!
//! The feed's own routes (`/ws`, `/sse`) are the transports'; the serve loop is `net::serve`.

pub(crate) mod candles;
pub(crate) mod metrics;
pub(crate) mod page;
pub(crate) mod page_cache;
pub(crate) mod probes;
pub(crate) mod publish;
pub(crate) mod router;
