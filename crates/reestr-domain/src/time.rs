//! The register's timestamp.

/// A point in time: microseconds since 1970-01-01T00:00:00Z.
///
/// Stored as a 64-bit integer in both databases, so it orders and compares exactly the same on
/// SQLite and PostgreSQL, and keyset paging over time columns is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The timestamp `micros` microseconds after the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the epoch.
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch and the nanoseconds within that second (always 0 to
    /// 999,999,999), as `google.protobuf.Timestamp` wants them.
    pub fn seconds_nanos(self) -> (i64, i32) {
        let secs = self.0.div_euclid(1_000_000);
        let nanos = (self.0.rem_euclid(1_000_000) * 1_000) as i32;
        (secs, nanos)
    }

    /// The timestamp of `seconds` and `nanos` (truncated to microseconds); `None` when out of
    /// range.
    pub fn from_seconds_nanos(seconds: i64, nanos: i32) -> Option<Self> {
        if !(0..1_000_000_000).contains(&nanos) {
            return None;
        }
        seconds
            .checked_mul(1_000_000)?
            .checked_add(i64::from(nanos / 1_000))
            .map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_nanos_round_trip_including_before_the_epoch() {
        for micros in [
            0,
            1,
            999_999,
            1_000_000,
            -1,
            -1_000_001,
            1_764_309_000_123_456,
        ] {
            let t = Timestamp::from_micros(micros);
            let (s, n) = t.seconds_nanos();
            assert!((0..1_000_000_000).contains(&n));
            assert_eq!(Timestamp::from_seconds_nanos(s, n), Some(t));
        }
    }

    #[test]
    fn out_of_range_nanos_are_refused() {
        assert_eq!(Timestamp::from_seconds_nanos(0, -1), None);
        assert_eq!(Timestamp::from_seconds_nanos(0, 1_000_000_000), None);
        assert_eq!(Timestamp::from_seconds_nanos(i64::MAX, 0), None);
    }
}
