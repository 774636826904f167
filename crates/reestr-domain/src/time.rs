//! The register's one calendar: timestamps, calendar dates, and the time zone that relates them.
//!
//! - [`Timestamp`]: a point in time, microseconds since the Unix epoch (UTC). The API speaks
//!   `google.protobuf.Timestamp`, which is UTC too.
//! - [`Date`]: a calendar day, `YYYY-MM-DD` in the proleptic Gregorian calendar, years 0001 to
//!   9999. Dates carry no time zone of their own: a date in the register is always a day in the
//!   register's time zone.
//! - [`Calendar`]: the register's time zone (IANA name, `Asia/Tashkent` by default). It turns a
//!   timestamp into the day it falls on there ([`Calendar::date_of`]) and a day into the instant
//!   it starts ([`Calendar::start_of`]). Every conversion between the two goes through it: `as_of`
//!   dates, item validity, registration-number years, statistics by year.
//!
//! The arithmetic and the time-zone rules come from `jiff` with the IANA time-zone database
//! compiled in, so the register answers the same whatever the host's `/usr/share/zoneinfo` holds.

use std::fmt;
use std::str::FromStr;

use jiff::civil;
use jiff::tz::{self, TimeZone};

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
        // rem_euclid keeps it in 0..1_000_000, so the product fits in an i32.
        let nanos = i32::try_from(self.0.rem_euclid(1_000_000) * 1_000).unwrap_or_default();
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

    /// Parses an RFC 3339 time such as `2026-11-28T09:30:15.25Z` or `2026-11-28T14:30:15+05:00`
    /// (an offset is required). Fractions beyond microseconds are truncated.
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let t: jiff::Timestamp = s.parse().ok()?;
        Some(Timestamp(t.as_microsecond()))
    }

    fn to_jiff(self) -> Option<jiff::Timestamp> {
        jiff::Timestamp::from_microsecond(self.0).ok()
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_jiff() {
            Some(t) => write!(f, "{t}"),
            None => write!(f, "{}us", self.0),
        }
    }
}

/// A calendar day. Orders chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(civil::Date);

impl Date {
    /// Earliest date.
    pub const MIN: Date = Date(civil::date(1, 1, 1));
    /// Latest date.
    pub const MAX: Date = Date(civil::date(9999, 12, 31));

    /// The date, if it exists.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        if !(1..=9999).contains(&year) {
            return None;
        }
        let year = i16::try_from(year).ok()?;
        let month = i8::try_from(month).ok()?;
        let day = i8::try_from(day).ok()?;
        civil::Date::new(year, month, day).ok().map(Date)
    }

    /// Parses exactly `YYYY-MM-DD` (four-digit year, two-digit month and day, hyphens).
    pub fn parse(text: &str) -> Result<Date, &'static str> {
        let b = text.as_bytes();
        let shape = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape {
            return Err("must be a date written YYYY-MM-DD");
        }
        let number = |range: std::ops::Range<usize>| {
            b[range]
                .iter()
                .fold(0u16, |n, c| n * 10 + u16::from(c - b'0'))
        };
        let (year, month, day) = (number(0..4), number(5..7), number(8..10));
        if year == 0 {
            return Err("year must be 0001 to 9999");
        }
        let (Ok(month), Ok(day)) = (u8::try_from(month), u8::try_from(day)) else {
            return Err("must be a date written YYYY-MM-DD");
        };
        if !(1..=12).contains(&month) {
            return Err("month must be 01 to 12");
        }
        Date::new(year, month, day).ok_or("day does not exist in that month")
    }

    /// The year.
    pub fn year(self) -> u16 {
        // Dates are built only for years 1 to 9999.
        u16::try_from(self.0.year()).unwrap_or_default()
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        u8::try_from(self.0.month()).unwrap_or_default()
    }

    /// The day of the month, 1 to 31.
    pub fn day(self) -> u8 {
        u8::try_from(self.0.day()).unwrap_or_default()
    }

    /// The day after this one; `None` after [`Date::MAX`].
    pub fn next_day(self) -> Option<Date> {
        self.0.tomorrow().ok().and_then(Date::from_civil)
    }

    /// The day of the week as ISO 8601 numbers it: 1 for Monday to 7 for Sunday.
    pub fn iso_weekday(self) -> u8 {
        u8::try_from(self.0.weekday().to_monday_one_offset()).unwrap_or_default()
    }

    fn from_civil(d: civil::Date) -> Option<Date> {
        (Date::MIN.0..=Date::MAX.0).contains(&d).then_some(Date(d))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.year(),
            self.month(),
            self.day()
        )
    }
}

impl FromStr for Date {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Date::parse(s)
    }
}

/// The register's time zone: where its calendar days begin and end.
#[derive(Debug, Clone)]
pub struct Calendar {
    name: String,
    zone: TimeZone,
}

impl Calendar {
    /// The default time zone of the register.
    pub const DEFAULT_TIME_ZONE: &'static str = "Asia/Tashkent";

    /// The calendar of the IANA time zone `name` (e.g. `Asia/Tashkent`, `UTC`), from the
    /// time-zone database compiled into the server.
    pub fn new(name: &str) -> Result<Calendar, String> {
        let zone = tz::db().get(name).map_err(|_| {
            format!("{name:?} is not an IANA time zone name such as Asia/Tashkent or UTC")
        })?;
        Ok(Calendar {
            name: zone.iana_name().unwrap_or(name).to_string(),
            zone,
        })
    }

    /// The IANA name of the zone.
    pub fn time_zone(&self) -> &str {
        &self.name
    }

    /// The day `t` falls on in the register's time zone; `None` outside years 0001 to 9999.
    pub fn date_of(&self, t: Timestamp) -> Option<Date> {
        let zoned = t.to_jiff()?.to_zoned_datetime(self.zone.clone());
        Date::from_civil(zoned.date())
    }

    /// The first instant of `date` in the register's time zone (midnight, or the first moment
    /// after a gap where a zone's clocks skip midnight).
    pub fn start_of(&self, date: Date) -> Timestamp {
        match date.0.to_zoned_datetime(self.zone.clone()) {
            Ok(z) => Timestamp(
                z.start_of_day()
                    .map_or(z.timestamp(), |s| s.timestamp())
                    .as_microsecond(),
            ),
            // Only the extremes of the range can fall outside what the zone can represent.
            Err(_) if date == Date::MIN => Timestamp(i64::MIN),
            Err(_) => Timestamp(i64::MAX),
        }
    }
}

impl Default for Calendar {
    /// `Asia/Tashkent` (UTC+5 all year, no daylight saving since 1992).
    fn default() -> Self {
        Calendar::new(Calendar::DEFAULT_TIME_ZONE).unwrap_or_else(|_| Calendar {
            name: Calendar::DEFAULT_TIME_ZONE.to_string(),
            zone: tz::offset(5).to_time_zone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn rfc3339_times_parse_exactly() {
        assert_eq!(t("1970-01-01T00:00:00Z"), Timestamp(0));
        assert_eq!(
            t("2026-11-28T09:30:15.25Z"),
            Timestamp(1_795_858_215_250_000)
        );
        assert_eq!(
            t("2024-02-29T00:00:00+00:00"),
            Timestamp(1_709_164_800_000_000)
        );
        assert_eq!(t("2024-02-29T05:00:00+05:00"), t("2024-02-29T00:00:00Z"));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2026-11-28T09:30:15",
            "2026-13-01T00:00:00Z",
            "yesterday",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(
            Timestamp(1_795_858_215_250_000).to_string(),
            "2026-11-28T09:30:15.25Z"
        );
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

    #[test]
    fn february_29th_exists_only_in_leap_years() {
        assert!(Date::parse("2024-02-29").is_ok());
        assert!(Date::parse("2000-02-29").is_ok());
        assert_eq!(
            Date::parse("2023-02-29"),
            Err("day does not exist in that month")
        );
        assert!(Date::parse("1900-02-29").is_err());
        assert!(Date::parse("2100-02-29").is_err());
    }

    #[test]
    fn only_the_exact_iso_shape_is_accepted() {
        for bad in [
            "",
            "2024-1-01",
            "2024-01-1",
            "24-01-01",
            "2024/01/01",
            "2024-01-01T00:00",
            " 2024-01-01",
            "+024-01-01",
            "0000-01-01",
            "2024-00-10",
            "2024-13-01",
            "2024-04-31",
            "2024-01-00",
            "２０２４-01-01",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(d("0001-01-01"), Date::MIN);
        assert_eq!(d("9999-12-31"), Date::MAX);
        assert_eq!(Date::new(10_000, 1, 1), None);
        assert_eq!(Date::new(0, 1, 1), None);
    }

    #[test]
    fn dates_format_back_to_their_text_and_order_chronologically() {
        for s in ["2026-01-01", "0001-01-01", "1999-12-31", "2024-02-29"] {
            assert_eq!(d(s).to_string(), s);
        }
        assert!(d("2025-12-31") < d("2026-01-01"));
        assert!(d("2026-01-31") < d("2026-02-01"));
        assert!(d("2026-02-01") < d("2026-02-02"));
    }

    #[test]
    fn days_follow_one_another_and_know_their_weekday() {
        assert_eq!(d("2026-12-31").next_day(), Some(d("2027-01-01")));
        assert_eq!(d("2024-02-28").next_day(), Some(d("2024-02-29")));
        assert_eq!(Date::MAX.next_day(), None);
        // 2026-01-01 is a Thursday; 2027-01-03 a Sunday.
        assert_eq!(d("2026-01-01").iso_weekday(), 4);
        assert_eq!(d("2027-01-03").iso_weekday(), 7);
        assert_eq!(d("2027-01-04").iso_weekday(), 1);
    }

    #[test]
    fn a_day_in_tashkent_starts_at_19_utc_the_evening_before() {
        let tashkent = Calendar::default();
        assert_eq!(tashkent.time_zone(), "Asia/Tashkent");
        assert_eq!(
            tashkent.date_of(t("2026-12-31T18:59:59.999999Z")),
            Some(d("2026-12-31"))
        );
        assert_eq!(
            tashkent.date_of(t("2026-12-31T19:00:00Z")),
            Some(d("2027-01-01"))
        );
        assert_eq!(
            tashkent.start_of(d("2027-01-01")),
            t("2026-12-31T19:00:00Z")
        );
        let utc = Calendar::new("UTC").unwrap();
        assert_eq!(
            utc.date_of(t("2026-12-31T19:00:00Z")),
            Some(d("2026-12-31"))
        );
        assert_eq!(utc.start_of(d("2027-01-01")), t("2027-01-01T00:00:00Z"));
    }

    #[test]
    fn every_day_maps_back_to_itself_in_zones_with_and_without_daylight_saving() {
        for zone in ["Asia/Tashkent", "UTC", "Europe/Berlin", "America/Sao_Paulo"] {
            let calendar = Calendar::new(zone).unwrap();
            let mut day = d("1985-01-01");
            while day < d("2035-01-01") {
                assert_eq!(
                    calendar.date_of(calendar.start_of(day)),
                    Some(day),
                    "{zone} {day}"
                );
                day = Date::from_civil(day.0.checked_add(jiff::Span::new().days(13)).unwrap())
                    .unwrap();
            }
        }
        assert!(Calendar::default().start_of(Date::MIN).micros() < 0);
    }

    #[test]
    fn unknown_time_zones_are_refused() {
        assert!(Calendar::new("Asia/Tashkentt").is_err());
        assert!(Calendar::new("").is_err());
    }
}
