//! The clock of `AuditRecord.ts_unix_nanos`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, saturating outside the i64 range.
pub fn unix_nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => nanos(d).unwrap_or(i64::MAX),
        Err(e) => nanos(e.duration()).map_or(i64::MIN, |n| -n),
    }
}

// Durations as whole units in 64-bit arithmetic: `Duration::as_nanos`,
// `as_micros` and `as_millis` compute in `u128`, and so does a checked or
// saturating `u64` multiply: both are library calls in the filter's wasm32.

/// `secs * per_sec + frac` (`frac < per_sec`) if it fits a `u64`. A bound
/// check first: every time of this era passes it with one plain multiply.
#[inline(always)]
fn whole(secs: u64, per_sec: u64, frac: u32) -> Option<u64> {
    if secs < u64::MAX / per_sec - 1 {
        Some(secs * per_sec + u64::from(frac))
    } else {
        secs.checked_mul(per_sec)?.checked_add(u64::from(frac))
    }
}

/// `d` in nanoseconds if that fits an `i64`.
fn nanos(d: Duration) -> Option<i64> {
    i64::try_from(whole(d.as_secs(), 1_000_000_000, d.subsec_nanos())?).ok()
}

/// `d` in whole microseconds, saturating.
pub fn micros(d: Duration) -> u64 {
    whole(d.as_secs(), 1_000_000, d.subsec_micros()).unwrap_or(u64::MAX)
}

/// `d` in whole milliseconds, saturating.
pub fn millis(d: Duration) -> u64 {
    whole(d.as_secs(), 1000, d.subsec_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::{micros, millis, unix_nanos};

    #[test]
    fn whole_units_truncate_and_saturate() {
        let d = Duration::new(3, 456_789_999);
        assert_eq!((micros(d), millis(d)), (3_456_789, 3_456));
        assert_eq!(micros(Duration::MAX), u64::MAX);
        assert_eq!(millis(Duration::MAX), u64::MAX);
        // Either side of the bound where the plain multiply stops.
        let edge = u64::MAX / 1000 - 1;
        assert_eq!(
            millis(Duration::new(edge - 1, 999_000_000)),
            (edge - 1) * 1000 + 999
        );
        assert_eq!(millis(Duration::new(edge, 999_000_000)), edge * 1000 + 999);
        assert_eq!(
            millis(Duration::new(u64::MAX / 1000, 615_000_000)),
            u64::MAX
        );
        assert_eq!(
            millis(Duration::new(u64::MAX / 1000, 616_000_000)),
            u64::MAX
        );
    }

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
