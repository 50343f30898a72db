//! The user interface: the reactive store and the components that read it. Compiled for both
//! the server (to render the first paint) and the browser (to hydrate and update it); each
//! uses a part of it (and the server runs its tests), so what only the browser calls is not
//! dead code.
//!
//! # Layout
//!
//! - `store`: the dashboard's state (`Dashboard`): what the page holds and how the feed's
//!   messages change it. `rows`: a quote row and a scoreboard slot as signals.
//!   `grid`: the grid's window of the ranked universe. `page_state`: what the server embeds
//!   for hydration. `address`: a view's address (the query the server renders a page from).
//!   `alerts`: the user's alert rules, what fires them, the toasts. `follow`: followed teams
//!   and leagues, the league filter, the spoiler switch. `lists`: named watchlists, CSV.
//!   `chart_view`: what the chart shows (zoom, the newest candle shown) and its arithmetic.
//! - Components: `status` (the connection and controls), `ticker` (the watchlist tape),
//!   `market` (the virtualised grid), `breadth` (the market at a glance), `detail` (the
//!   selected symbol's panel), `chart` (its candles: zoom, pan, crosshair, volume, moving
//!   averages), `scoreboard`, `announcer` (the screen readers' live region), `alert_panel`
//!   (the alerts' settings, the price alert form, the toasts), `list_panel` (the watchlists'
//!   bar and their management), `sparkline`. `format`: how numbers and times are written, in
//!   the reader's `locale` (separators, time zone).

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

pub(crate) mod address;
pub(crate) mod alert_panel;
pub(crate) mod alerts;
pub(crate) mod announcer;
pub(crate) mod breadth;
pub(crate) mod chart;
pub(crate) mod chart_view;
pub(crate) mod detail;
pub(crate) mod follow;
pub(crate) mod format;
pub(crate) mod grid;
pub(crate) mod list_panel;
pub(crate) mod lists;
pub(crate) mod locale;
pub(crate) mod market;
pub(crate) mod page_state;
pub(crate) mod rows;
pub(crate) mod scoreboard;
pub(crate) mod sparkline;
pub(crate) mod status;
pub(crate) mod store;
pub(crate) mod ticker;
