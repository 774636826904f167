//! Conclusion numbers: `EX-{year}-{sequence}`, issued by the register when a round ends with a
//! conclusion, like registration numbers of systems (`IS-{year}-{sequence}`).
//!
//! The year is the year, in the register's time zone, of the moment the conclusion is issued
//! ([`ConclusionNumber::year_at`]); the sequence counts the conclusions of that year from 1 and
//! is written with at least six digits. Numbers are unique and never reused.

use std::fmt;

use crate::time::{Calendar, Timestamp};

/// The number of a review conclusion, e.g. `EX-2026-000042`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConclusionNumber(String);

impl ConclusionNumber {
    /// The prefix of every conclusion number.
    pub const PREFIX: &'static str = "EX";

    /// The number of the `sequence`-th conclusion of `year`: `EX-{year}-{sequence:06}`.
    pub fn new(year: i32, sequence: i64) -> ConclusionNumber {
        ConclusionNumber(format!("{}-{year}-{sequence:06}", Self::PREFIX))
    }

    /// The year whose sequence a conclusion issued at `at` takes: the year of the day `at`
    /// falls on in `calendar`'s time zone (1970 for a moment outside years 0001 to 9999, as
    /// for registration numbers).
    pub fn year_at(calendar: &Calendar, at: Timestamp) -> i32 {
        calendar.date_of(at).map_or(1970, |d| i32::from(d.year()))
    }

    /// Reads a number as [`ConclusionNumber::new`] writes it (a four-digit year, a sequence
    /// from 1 of at least six digits, zero-padded to six); `None` for anything else.
    pub fn parse(text: &str) -> Option<ConclusionNumber> {
        let rest = text.strip_prefix(Self::PREFIX)?.strip_prefix('-')?;
        let (year, sequence) = rest.split_once('-')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if year.len() != 4 || !digits(year) || !digits(sequence) {
            return None;
        }
        let year: i32 = year.parse().ok()?;
        let sequence: i64 = sequence.parse().ok()?;
        let number = ConclusionNumber::new(year, sequence);
        (year >= 1 && sequence >= 1 && number.0 == text).then_some(number)
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConclusionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_padded_like_registration_numbers() {
        assert_eq!(ConclusionNumber::new(2026, 42).as_str(), "EX-2026-000042");
        assert_eq!(
            ConclusionNumber::new(2027, 1_234_567).as_str(),
            "EX-2027-1234567"
        );
    }

    #[test]
    fn the_year_is_the_register_zone_year_of_the_moment() {
        let tashkent = Calendar::default();
        // 19:30 UTC on New Year's Eve is already 2027 in Tashkent.
        let t = Timestamp::parse_rfc3339("2026-12-31T19:30:00Z").unwrap();
        assert_eq!(ConclusionNumber::year_at(&tashkent, t), 2027);
        assert_eq!(
            ConclusionNumber::year_at(&Calendar::new("UTC").unwrap(), t),
            2026
        );
    }

    #[test]
    fn only_numbers_as_the_register_writes_them_parse() {
        for good in ["EX-2026-000001", "EX-2027-1234567"] {
            assert_eq!(ConclusionNumber::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "EX-2026-1",
            "EX-2026-0000001",
            "EX-2026-000000",
            "ex-2026-000001",
            "IS-2026-000001",
            "EX-26-000001",
            "EX-2026-00000a",
            "EX-2026--00001",
            "EX-2026-000001-1",
            "EX-0000-000001",
        ] {
            assert_eq!(ConclusionNumber::parse(bad), None, "{bad:?}");
        }
    }
}
