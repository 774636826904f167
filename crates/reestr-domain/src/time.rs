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

impl Timestamp {
    /// Parses an RFC 3339 UTC time, `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (a `+00:00` offset is
    /// accepted too). Fractions beyond microseconds are truncated.
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let s = s
            .strip_suffix('Z')
            .or_else(|| s.strip_suffix("+00:00"))
            .or_else(|| s.strip_suffix('z'))?;
        let (date, time) = s.split_once(['T', 't'])?;
        let mut d = date.splitn(3, '-');
        let year: i64 = digits(d.next()?, 4)?;
        let month: i64 = digits(d.next()?, 2)?;
        let day: i64 = digits(d.next()?, 2)?;
        let (hms, fraction) = match time.split_once('.') {
            Some((hms, f)) => (hms, Some(f)),
            None => (time, None),
        };
        let mut t = hms.splitn(3, ':');
        let hour: i64 = digits(t.next()?, 2)?;
        let minute: i64 = digits(t.next()?, 2)?;
        let second: i64 = digits(t.next()?, 2)?;
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let micros = match fraction {
            None => 0,
            Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                let mut padded: String = f.chars().take(6).collect();
                while padded.len() < 6 {
                    padded.push('0');
                }
                padded.parse::<i64>().ok()?
            }
            Some(_) => return None,
        };
        let days = days_from_civil(year, month, day);
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
        Some(Timestamp(seconds * 1_000_000 + micros))
    }
}

fn digits(s: &str, len: usize) -> Option<i64> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse_exactly() {
        assert_eq!(
            Timestamp::parse_rfc3339("1970-01-01T00:00:00Z"),
            Some(Timestamp(0))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-28T09:30:15.25Z"),
            Some(Timestamp(1_795_858_215_250_000))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2024-02-29T00:00:00+00:00"),
            Some(Timestamp(1_709_164_800_000_000))
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2026-11-28 09:30:15Z",
            "2026-11-28T09:30:15",
            "2026-13-01T00:00:00Z",
            "yesterday",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

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
