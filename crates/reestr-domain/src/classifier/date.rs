//! Calendar dates, as classifiers write them: `YYYY-MM-DD` in the proleptic Gregorian
//! calendar, years 0001 to 9999.
//!
//! Items are valid from and to a date, and normative acts are dated; neither carries a time of
//! day or a time zone. [`Date::of_timestamp`] and [`Date::start`] relate a date to the
//! register's [`Timestamp`] in UTC.

use std::fmt;
use std::str::FromStr;

use crate::time::Timestamp;

const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Days from 0001-01-01 to 1970-01-01.
const EPOCH_OFFSET_DAYS: i64 = 719_162;

/// A calendar date. Orders chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    // Field order matters: the derived ordering compares year, then month, then day.
    year: u16,
    month: u8,
    day: u8,
}

/// Whether `year` has a 29th of February.
pub fn is_leap_year(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Days in `month` (1 to 12) of `year`; 0 for a month that does not exist.
pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 0001-01-01 to January 1st of `year`.
fn days_before_year(year: i64) -> i64 {
    let y = year - 1;
    365 * y + y / 4 - y / 100 + y / 400
}

impl Date {
    /// Earliest date.
    pub const MIN: Date = Date {
        year: 1,
        month: 1,
        day: 1,
    };
    /// Latest date.
    pub const MAX: Date = Date {
        year: 9999,
        month: 12,
        day: 31,
    };

    /// The date, if it exists.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        ((1..=9999).contains(&year) && day >= 1 && day <= days_in_month(year, month))
            .then_some(Date { year, month, day })
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
        if !(1..=12).contains(&month) {
            return Err("month must be 01 to 12");
        }
        // Both fit in a u8: month ≤ 12 was checked, and day < 100 has two digits.
        let (month, day) = (month as u8, day as u8);
        Date::new(year, month, day).ok_or("day does not exist in that month")
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1 to 31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn days_since_epoch(self) -> i64 {
        let mut days = days_before_year(i64::from(self.year));
        for m in 1..self.month {
            days += i64::from(days_in_month(self.year, m));
        }
        days + i64::from(self.day) - 1 - EPOCH_OFFSET_DAYS
    }

    /// The date `days` days after 1970-01-01; `None` outside years 0001 to 9999.
    pub fn from_days_since_epoch(days: i64) -> Option<Date> {
        let n = days.checked_add(EPOCH_OFFSET_DAYS)?;
        if n < 0 || n >= days_before_year(10_000) {
            return None;
        }
        // An estimate from the mean Gregorian year, then corrected by at most a year or so.
        let mut year = n * 400 / 146_097 + 1;
        while days_before_year(year) > n {
            year -= 1;
        }
        while days_before_year(year + 1) <= n {
            year += 1;
        }
        let year = u16::try_from(year).ok()?;
        let mut rest = n - days_before_year(i64::from(year));
        let mut month = 1u8;
        while rest >= i64::from(days_in_month(year, month)) {
            rest -= i64::from(days_in_month(year, month));
            month += 1;
        }
        Date::new(year, month, u8::try_from(rest + 1).ok()?)
    }

    /// The UTC date of a timestamp; `None` outside years 0001 to 9999.
    pub fn of_timestamp(t: Timestamp) -> Option<Date> {
        Date::from_days_since_epoch(t.micros().div_euclid(MICROS_PER_DAY))
    }

    /// Midnight UTC at the start of this date.
    pub fn start(self) -> Timestamp {
        Timestamp::from_micros(self.days_since_epoch() * MICROS_PER_DAY)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Date::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
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
    fn days_since_epoch_round_trips_over_the_whole_range() {
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(d("1970-01-02").days_since_epoch(), 1);
        assert_eq!(d("1969-12-31").days_since_epoch(), -1);
        assert_eq!(d("2000-03-01").days_since_epoch(), 11_017);
        assert_eq!(Date::from_days_since_epoch(-719_162), Some(Date::MIN));
        assert_eq!(Date::from_days_since_epoch(-719_163), None);
        assert_eq!(
            Date::from_days_since_epoch(Date::MAX.days_since_epoch() + 1),
            None
        );
        assert_eq!(Date::from_days_since_epoch(i64::MAX), None);
        let mut day = Date::MIN.days_since_epoch();
        let last = Date::MAX.days_since_epoch();
        let mut previous: Option<Date> = None;
        while day <= last {
            let date = Date::from_days_since_epoch(day).unwrap();
            assert_eq!(date.days_since_epoch(), day);
            if let Some(p) = previous {
                assert!(p < date);
            }
            previous = Some(date);
            day += 97;
        }
    }

    #[test]
    fn timestamps_map_to_their_utc_date() {
        let t = Timestamp::from_micros(1_764_309_000_123_456);
        assert_eq!(Date::of_timestamp(t), Some(d("2025-11-28")));
        assert_eq!(
            Date::of_timestamp(Timestamp::from_micros(-1)),
            Some(d("1969-12-31"))
        );
        assert_eq!(d("2025-11-28").start().micros(), 1_764_288_000_000_000);
        assert_eq!(
            Date::of_timestamp(d("2024-02-29").start()),
            Some(d("2024-02-29"))
        );
    }
}
