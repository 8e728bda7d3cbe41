//! The store's clock: every time in the database is unix seconds as an `f64`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in seconds; 0 on a clock set before 1970.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
