//! Deadlines in working days: the calendar of days off, and the due date it gives.
//!
//! A review round is due a number of working days (20 by default,
//! [`DEFAULT_WORKING_DAYS`]) after it starts; while changes are requested, the owner's
//! revision is due likewise after the round ended. A working day is a Monday to Friday that
//! is not a day off, or a Saturday or Sunday declared a working day. The day a period starts
//! on does not count, whatever it is: a period of 1 working day that starts on a Friday is due
//! on the next Monday.
//!
//! A deadline is the *end* of its due day in the register's time zone: [`due_time`] gives the
//! first instant of the day after the due day (midnight, `Asia/Tashkent` by default), an
//! exclusive bound. An answer before that instant is in time; at or after it, it is late.
//!
//! [`due_time`]: HolidayCalendar::due_time
//!
//! # The holiday file
//!
//! Days off and declared working days are read from a plain UTF-8 text file, one date a line
//! ([`HolidayCalendar::parse`]); the register ships Uzbekistan's
//! ([`HolidayCalendar::UZBEKISTAN`], `holidays-uz.txt`) and uses it unless configured
//! otherwise:
//!
//! ```text
//! # Uzbekistan, 2027
//! 2027-01-01  New Year's Day
//! 2027-03-10  Ramazon Hayit   # to be confirmed by the Cabinet's decree
//! 2027-01-09  working  day off moved to 2027-01-04
//! ```
//!
//! - `#` starts a comment, which runs to the end of the line. Blank lines are ignored.
//! - A line is a date written `YYYY-MM-DD`, white space (spaces or tabs), and text.
//! - When the text's first word is `working`, the date is a *working day* (a Saturday or
//!   Sunday declared working, as when a day off is moved to bridge a holiday), and the rest of
//!   the text says why. Otherwise the date is a *day off* and the text is its name. The text
//!   is required either way (a name can therefore not begin with the word `working`).
//! - A date may appear once. A working day must be a Saturday or a Sunday (any other day is
//!   working already); a day off may fall on any day.
//! - A day off that the law moves (a holiday on a Sunday, a bridge day) is listed as the day
//!   it is actually taken, with its own line.
//!
//! Every problem is reported, each with its line number (counted from 1). The calendar
//! [`covers`](HolidayCalendar::covers) the years that have at least one line; beyond them it
//! knows only weekends, and a server should warn when a deadline falls there.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::time::{Calendar, Date, Timestamp};

/// Working days a review round takes unless the server is configured otherwise.
pub const DEFAULT_WORKING_DAYS: u32 = 20;

/// The days off and the declared working days of the register's calendar. The default
/// knows weekends only; the register's own is [`HolidayCalendar::uzbekistan`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HolidayCalendar {
    days_off: BTreeMap<Date, String>,
    working_days: BTreeMap<Date, String>,
    years: BTreeSet<u16>,
}

/// One problem of a holiday file, on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    /// The line, counted from 1.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A holiday file that could not be read: every problem found, in line order. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("holiday calendar: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct HolidayFileError {
    /// The problems, in line order.
    pub problems: Vec<LineProblem>,
}

/// The first word of the text that marks a declared working day.
const WORKING: &str = "working";

impl HolidayCalendar {
    /// The holiday file the register ships: Uzbekistan's public days off (see the file's own
    /// comments for which dates await the Cabinet of Ministers' annual decree).
    pub const UZBEKISTAN: &'static str = include_str!("holidays-uz.txt");

    /// A calendar in which only Saturdays and Sundays are days off.
    pub fn weekends_only() -> HolidayCalendar {
        HolidayCalendar::default()
    }

    /// The calendar of [`HolidayCalendar::UZBEKISTAN`].
    pub fn uzbekistan() -> HolidayCalendar {
        // A test proves the shipped file reads; should it not, weekends still count.
        HolidayCalendar::parse(HolidayCalendar::UZBEKISTAN).unwrap_or_default()
    }

    /// Reads a holiday file (format in the [module documentation](self)).
    pub fn parse(text: &str) -> Result<HolidayCalendar, HolidayFileError> {
        let mut calendar = HolidayCalendar::default();
        let mut seen: BTreeMap<Date, usize> = BTreeMap::new();
        let mut problems = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let mut problem = |message: String| problems.push(LineProblem { line, message });
            let content = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
            if content.is_empty() {
                continue;
            }
            let (date_text, rest) = content
                .split_once([' ', '\t'])
                .map_or((content, ""), |(d, r)| (d, r.trim()));
            let date = match Date::parse(date_text) {
                Ok(date) => date,
                Err(why) => {
                    problem(format!("{date_text:?}: {why}"));
                    continue;
                }
            };
            let (working, text) = match rest.split_once([' ', '\t']) {
                Some((WORKING, reason)) => (true, reason.trim()),
                _ if rest == WORKING => (true, ""),
                _ => (false, rest),
            };
            if text.is_empty() {
                problem(if working {
                    format!("{date}: a working day needs a reason after `working`")
                } else {
                    format!("{date}: a day off needs a name after the date")
                });
                continue;
            }
            if let Some(first) = seen.get(&date) {
                problem(format!("{date} is already listed on line {first}"));
                continue;
            }
            if working && date.iso_weekday() < 6 {
                problem(format!(
                    "{date} is a weekday, a working day already; only a Saturday or Sunday can \
                     be declared working"
                ));
                continue;
            }
            seen.insert(date, line);
            calendar.years.insert(date.year());
            let days = if working {
                &mut calendar.working_days
            } else {
                &mut calendar.days_off
            };
            days.insert(date, text.to_string());
        }
        if problems.is_empty() {
            Ok(calendar)
        } else {
            Err(HolidayFileError { problems })
        }
    }

    /// Whether `date` is a working day: a Monday to Friday that is not a day off, or a
    /// Saturday or Sunday declared working.
    pub fn is_working_day(&self, date: Date) -> bool {
        if date.iso_weekday() >= 6 {
            self.working_days.contains_key(&date)
        } else {
            !self.days_off.contains_key(&date)
        }
    }

    /// The name of the day off listed for `date`, if any.
    pub fn day_off(&self, date: Date) -> Option<&str> {
        self.days_off.get(&date).map(String::as_str)
    }

    /// Whether the file listed any date of `date`'s year. In other years only weekends are
    /// known, so a deadline there may fall on a holiday nobody listed.
    pub fn covers(&self, date: Date) -> bool {
        self.years.contains(&date.year())
    }

    /// The `working_days`-th working day after `start` (which does not count, even when it is
    /// a working day); `start` itself for 0. A due date beyond 9999-12-31 is 9999-12-31.
    pub fn due_date(&self, start: Date, working_days: u32) -> Date {
        let mut day = start;
        let mut left = working_days;
        while left > 0 {
            let Some(next) = day.next_day() else {
                return Date::MAX;
            };
            day = next;
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }

    /// The end of the due day of a period of `working_days` that starts at `start`: the first
    /// instant of the day after [`HolidayCalendar::due_date`] of the day `start` falls on,
    /// both in `calendar`'s time zone.
    pub fn due_time(&self, start: Timestamp, working_days: u32, calendar: &Calendar) -> Timestamp {
        // Only a timestamp outside years 0001 to 9999 has no day; the register's clock never
        // gives one, and the extremes keep the order.
        let first = calendar.date_of(start).unwrap_or(if start.micros() < 0 {
            Date::MIN
        } else {
            Date::MAX
        });
        match self.due_date(first, working_days).next_day() {
            Some(after) => calendar.start_of(after),
            None => Timestamp::from_micros(i64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn calendar(text: &str) -> HolidayCalendar {
        HolidayCalendar::parse(text).unwrap()
    }

    #[test]
    fn the_start_day_does_not_count_and_weekends_are_skipped() {
        let weekends = HolidayCalendar::weekends_only();
        // 2026-11-27 is a Friday.
        assert_eq!(weekends.due_date(d("2026-11-27"), 1), d("2026-11-30"));
        assert_eq!(weekends.due_date(d("2026-11-27"), 0), d("2026-11-27"));
        // Monday + 5 working days: the next Monday.
        assert_eq!(weekends.due_date(d("2026-11-30"), 5), d("2026-12-07"));
    }

    #[test]
    fn a_window_with_a_weekend_and_a_holiday_skips_both() {
        let cal = calendar("2026-12-08  Constitution Day\n");
        // Thursday 2026-12-03 + 3: Fri 4, (Sat, Sun), Mon 7, (Tue 8 off), Wed 9.
        assert_eq!(cal.due_date(d("2026-12-03"), 3), d("2026-12-09"));
        assert!(!cal.is_working_day(d("2026-12-08")));
        assert_eq!(cal.day_off(d("2026-12-08")), Some("Constitution Day"));
    }

    #[test]
    fn a_period_starting_on_a_holiday_counts_from_the_next_working_day() {
        let cal = calendar("2026-01-01 New Year's Day\n");
        // Thursday 2026-01-01 (a day off) + 1: Friday 2026-01-02.
        assert_eq!(cal.due_date(d("2026-01-01"), 1), d("2026-01-02"));
        // Starting on a Sunday: Monday is the first working day.
        assert_eq!(cal.due_date(d("2026-01-04"), 1), d("2026-01-05"));
    }

    #[test]
    fn a_saturday_declared_working_counts() {
        let cal = calendar(
            "2027-01-04  day off moved from Saturday 9 January\n\
             2027-01-09  working  moved to Monday 4 January\n",
        );
        assert!(cal.is_working_day(d("2027-01-09")));
        assert!(!cal.is_working_day(d("2027-01-04")));
        assert!(!cal.is_working_day(d("2027-01-10")));
        // Friday 2027-01-08 + 1: Saturday the 9th, declared working.
        assert_eq!(cal.due_date(d("2027-01-08"), 1), d("2027-01-09"));
        // Friday 2027-01-01 + 2: Tue 5 (Mon 4 off), Wed 6.
        assert_eq!(cal.due_date(d("2027-01-01"), 2), d("2027-01-06"));
    }

    #[test]
    fn the_deadline_is_the_first_instant_after_the_due_day_in_the_register_zone() {
        let tashkent = Calendar::default();
        let cal = HolidayCalendar::weekends_only();
        // 2026-11-27T20:00Z is already Saturday the 28th in Tashkent (UTC+5): the period
        // starts on Saturday, so 1 working day is Monday the 30th, which ends at
        // 2026-11-30T19:00Z.
        let start = Timestamp::parse_rfc3339("2026-11-27T20:00:00Z").unwrap();
        assert_eq!(
            cal.due_time(start, 1, &tashkent),
            Timestamp::parse_rfc3339("2026-11-30T19:00:00Z").unwrap()
        );
        let utc = Calendar::new("UTC").unwrap();
        // In UTC the start is Friday the 27th; Monday the 30th still, ending at midnight UTC.
        assert_eq!(
            cal.due_time(start, 1, &utc),
            Timestamp::parse_rfc3339("2026-12-01T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn due_dates_stop_at_the_last_representable_day() {
        let cal = HolidayCalendar::weekends_only();
        assert_eq!(cal.due_date(d("9999-12-30"), 10), Date::MAX);
        assert_eq!(
            cal.due_time(Timestamp::from_micros(i64::MAX), 1, &Calendar::default()),
            Timestamp::from_micros(i64::MAX)
        );
    }

    #[test]
    fn comments_blank_lines_and_tabs_are_allowed() {
        let cal = calendar(
            "# Uzbekistan\n\n   \n2026-03-21\tNavruz # spring\n2026-03-20  Ramazon Hayit  \
             # to be confirmed\n",
        );
        assert_eq!(cal.day_off(d("2026-03-21")), Some("Navruz"));
        assert_eq!(cal.day_off(d("2026-03-20")), Some("Ramazon Hayit"));
        assert!(cal.covers(d("2026-07-01")));
        assert!(!cal.covers(d("2028-01-03")));
    }

    #[test]
    fn parse_errors_name_every_bad_line() {
        let err = HolidayCalendar::parse(
            "# header\n\
             2026-13-01  Nothing\n\
             2026-01-01\n\
             2026-01-01  New Year's Day\n\
             2026-01-01  New Year again\n\
             2026-01-05  working  a Monday\n\
             2026-01-10  working\n\
             1 January 2026  New Year\n",
        )
        .unwrap_err();
        let lines: Vec<usize> = err.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 5, 6, 7, 8]);
        assert!(err.problems[0].message.contains("month must be 01 to 12"));
        assert!(err.problems[1].message.contains("needs a name"));
        assert_eq!(
            err.problems[2].message,
            "2026-01-01 is already listed on line 4"
        );
        assert!(
            err.problems[3]
                .message
                .contains("only a Saturday or Sunday")
        );
        assert!(err.problems[4].message.contains("needs a reason"));
        assert!(err.to_string().starts_with(
            "holiday calendar: line 2: \"2026-13-01\": month must be 01 to 12; line 3:"
        ));
    }

    #[test]
    fn the_shipped_uzbek_calendar_reads_and_lists_the_public_days_off() {
        let parsed = HolidayCalendar::parse(HolidayCalendar::UZBEKISTAN);
        assert!(parsed.is_ok(), "{parsed:?}");
        let uz = HolidayCalendar::uzbekistan();
        assert_eq!(Ok(uz.clone()), parsed);
        for year in ["2026", "2027"] {
            for day in [
                "01-01", "03-08", "03-21", "05-09", "09-01", "10-01", "12-08",
            ] {
                let date = d(&format!("{year}-{day}"));
                assert!(uz.day_off(date).is_some(), "{date}");
            }
        }
        for moon in ["2026-03-20", "2026-05-27", "2027-03-10", "2027-05-17"] {
            assert!(uz.day_off(d(moon)).is_some(), "{moon}");
        }
        assert!(uz.covers(d("2027-06-01")));
        // Tuesday 2026-09-01 is Independence Day: Monday 2026-08-31 + 1 is Wednesday.
        assert_eq!(uz.due_date(d("2026-08-31"), 1), d("2026-09-02"));
    }
}
