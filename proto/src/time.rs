//! The clock of `AuditRecord.ts_unix_nanos`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, saturating outside the i64 range.
pub fn unix_nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}
