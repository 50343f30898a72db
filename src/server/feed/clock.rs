//! The feed's clock.

use chrono::{DateTime, Utc};

/// Now, to the microsecond (what the protocol carries), so that every node of a cluster holds
/// exactly the timestamps the producer published.
pub(crate) fn micros_now() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap_or_else(Utc::now)
}
