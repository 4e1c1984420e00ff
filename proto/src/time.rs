//! The clock of `AuditRecord.ts_unix_nanos`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, saturating outside the i64 range.
pub fn unix_nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => nanos(d).unwrap_or(i64::MAX),
        Err(e) => nanos(e.duration()).map_or(i64::MIN, |n| -n),
    }
}

/// `d` in nanoseconds if that fits an `i64`; in `u64` arithmetic, not
/// `Duration::as_nanos`'s `u128` (library calls in the filter's wasm32).
fn nanos(d: std::time::Duration) -> Option<i64> {
    let secs = i64::try_from(d.as_secs()).ok()?;
    secs.checked_mul(1_000_000_000)?
        .checked_add(i64::from(d.subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::unix_nanos;

    #[test]
    fn nanoseconds_either_side_of_the_epoch_and_at_the_limits() {
        let t = UNIX_EPOCH + Duration::new(1_780_000_000, 123_456_789);
        assert_eq!(unix_nanos(t), 1_780_000_000_123_456_789);
        assert_eq!(unix_nanos(UNIX_EPOCH - Duration::new(1, 5)), -1_000_000_005);
        let max = UNIX_EPOCH + Duration::from_nanos(i64::MAX as u64);
        assert_eq!(unix_nanos(max), i64::MAX);
        assert_eq!(unix_nanos(max + Duration::from_nanos(1)), i64::MAX);
        let min = UNIX_EPOCH - Duration::from_nanos(i64::MAX as u64);
        assert_eq!(unix_nanos(min), -i64::MAX);
        assert_eq!(unix_nanos(min - Duration::from_secs(1)), i64::MIN);
    }
}
