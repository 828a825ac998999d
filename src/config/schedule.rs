//! EventBridge Scheduler expressions: `cron(minutes hours day-of-month month day-of-week year)` and
//! `rate(N unit)`, checked before anything is created (AWS would refuse them only after the roles
//! and the task definition exist), and their next run times for `status`.
//!
//! No kept crate reads AWS's cron dialect (6 fields with a year, `?`, `L`, `W`, `#`, SUN=1), so
//! the parser is here; the calendar and time zones are jiff's.

use std::fmt;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    Cron(Box<Cron>),
    Rate { every: u32, unit: RateUnit },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    pub fn seconds(self) -> i64 {
        match self {
            RateUnit::Minute => 60,
            RateUnit::Hour => 3600,
            RateUnit::Day => 86400,
        }
    }
}

/// The six fields, each as the set of values it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    day_of_month: DayOfMonth,
    months: Vec<bool>,
    day_of_week: DayOfWeek,
    years: Vec<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfMonth {
    /// `?`: the day of week decides.
    Unspecified,
    Days(Vec<bool>),
    /// `L`
    Last,
    /// `LW`
    LastWeekday,
    /// `15W`: the weekday nearest the 15th, within the month.
    NearestWeekday(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfWeek {
    Unspecified,
    /// 1 = Sunday … 7 = Saturday.
    Days(Vec<bool>),
    /// `5L`: the last Thursday of the month (`L` alone: the last Saturday).
    Last(u8),
    /// `3#2`: the second Tuesday.
    Nth(u8, u8),
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const FIRST_YEAR: i16 = 1970;
const LAST_YEAR: i16 = 2199;

/// What a valid expression looks like, for messages.
pub const EXAMPLES: &str =
    "`cron(0 3 * * ? *)` (03:00 every day), `cron(0/15 8-17 ? * MON-FRI *)` or `rate(5 minutes)`";

impl std::str::FromStr for Expression {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        parse(text)
    }
}

impl fmt::Display for RateUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RateUnit::Minute => "minute",
            RateUnit::Hour => "hour",
            RateUnit::Day => "day",
        })
    }
}

/// Parses and checks an expression as EventBridge Scheduler would; the error says what is wrong.
pub fn parse(text: &str) -> Result<Expression, String> {
    let text = text.trim();
    if let Some(body) = inner(text, "cron") {
        return parse_cron(body).map(|c| Expression::Cron(Box::new(c)));
    }
    if let Some(body) = inner(text, "rate") {
        return parse_rate(body);
    }
    if text.starts_with("at(") {
        return Err(format!(
            "`{text}` is a one-time schedule; cargo-fargate schedules recurring jobs (run it once with `cargo fargate run`)"
        ));
    }
    Err(format!(
        "`{text}` is not a schedule expression: write `cron(…)` or `rate(…)`"
    ))
}

fn inner<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.strip_prefix(name)?
        .strip_prefix('(')?
        .strip_suffix(')')
        .map(str::trim)
}

fn parse_rate(body: &str) -> Result<Expression, String> {
    let parts: Vec<&str> = body.split_whitespace().collect();
    let [value, unit] = parts[..] else {
        return Err(format!(
            "`rate({body})` must be `rate(VALUE UNIT)`, e.g. `rate(5 minutes)` or `rate(1 hour)`"
        ));
    };
    let every: u32 =
        value.parse().ok().filter(|v| *v >= 1).ok_or_else(|| {
            format!("`rate({body})`: `{value}` is not a whole number of at least 1")
        })?;
    let (unit, plural) = match unit {
        "minute" => (RateUnit::Minute, false),
        "minutes" => (RateUnit::Minute, true),
        "hour" => (RateUnit::Hour, false),
        "hours" => (RateUnit::Hour, true),
        "day" => (RateUnit::Day, false),
        "days" => (RateUnit::Day, true),
        other => {
            return Err(format!(
                "`rate({body})`: the unit `{other}` is not minute(s), hour(s) or day(s)"
            ))
        }
    };
    if plural != (every > 1) {
        let want = if every > 1 {
            format!("{unit}s")
        } else {
            unit.to_string()
        };
        return Err(format!(
            "`rate({body})`: AWS wants `rate({every} {want})` (singular for 1, plural otherwise)"
        ));
    }
    Ok(Expression::Rate { every, unit })
}

fn parse_cron(body: &str) -> Result<Cron, String> {
    let fields: Vec<&str> = body.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(format!(
            "`cron({body})` has {} fields; EventBridge cron takes 6: minutes hours day-of-month month day-of-week year, e.g. `cron(0 3 * * ? *)`",
            fields.len()
        ));
    }
    let field = |i: usize, what: &str, r: Result<Vec<bool>, String>| {
        r.map_err(|e| format!("`cron({body})`: {what} `{}`: {e}", fields[i]))
    };
    let minutes = field(0, "minutes", set(fields[0], 0, 59, &[]))?;
    let hours = field(1, "hours", set(fields[1], 0, 23, &[]))?;
    let months = field(3, "month", set(fields[3], 1, 12, MONTHS))?;
    let years = field(
        5,
        "year",
        set(fields[5], FIRST_YEAR as u32, LAST_YEAR as u32, &[]),
    )?;
    let day_of_month = day_of_month(fields[2])
        .map_err(|e| format!("`cron({body})`: day-of-month `{}`: {e}", fields[2]))?;
    let day_of_week = day_of_week(fields[4])
        .map_err(|e| format!("`cron({body})`: day-of-week `{}`: {e}", fields[4]))?;
    match (&day_of_month, &day_of_week) {
        (DayOfMonth::Unspecified, DayOfWeek::Unspecified) => {
            return Err(format!(
                "`cron({body})`: only one of day-of-month and day-of-week may be `?`; put `*` in the other"
            ))
        }
        (DayOfMonth::Unspecified, _) | (_, DayOfWeek::Unspecified) => {}
        _ => {
            return Err(format!(
                "`cron({body})`: day-of-month and day-of-week cannot both be given; put `?` in one of them, e.g. `cron(0 3 * * ? *)`"
            ))
        }
    }
    Ok(Cron {
        minutes,
        hours,
        day_of_month,
        months,
        day_of_week,
        years,
    })
}

fn day_of_month(text: &str) -> Result<DayOfMonth, String> {
    Ok(match text {
        "?" => DayOfMonth::Unspecified,
        "L" => DayOfMonth::Last,
        "LW" => DayOfMonth::LastWeekday,
        w if w.ends_with('W') => {
            let day = number(&w[..w.len() - 1], 1, 31, &[])?;
            DayOfMonth::NearestWeekday(day as u8)
        }
        other => DayOfMonth::Days(set(other, 1, 31, &[])?),
    })
}

fn day_of_week(text: &str) -> Result<DayOfWeek, String> {
    Ok(match text {
        "?" => DayOfWeek::Unspecified,
        "L" => DayOfWeek::Last(7),
        l if l.ends_with('L') => DayOfWeek::Last(number(&l[..l.len() - 1], 1, 7, WEEKDAYS)? as u8),
        nth if nth.contains('#') => {
            let (day, n) = nth.split_once('#').unwrap_or_default();
            let day = number(day, 1, 7, WEEKDAYS)? as u8;
            let n = number(n, 1, 5, &[])
                .map_err(|_| format!("`#{n}` must be 1–5 (the nth such day of the month)"))?;
            DayOfWeek::Nth(day, n as u8)
        }
        other => DayOfWeek::Days(set(other, 1, 7, WEEKDAYS)?),
    })
}

/// One value: a number in `min..=max`, or a name (`JAN`, `MON`) counted from `min`.
fn number(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    if let Some(i) = names.iter().position(|n| *n == upper) {
        return Ok(min + i as u32);
    }
    match text.parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ if names.is_empty() => Err(format!("`{text}` is not a number from {min} to {max}")),
        _ => Err(format!(
            "`{text}` is not a number from {min} to {max} or one of {}",
            names.join(", ")
        )),
    }
}

/// A comma list of `*`, `N`, `A-B`, each with an optional `/STEP`; as a mask indexed by value.
fn set(text: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let mut mask = vec![false; max as usize + 1];
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().ok().filter(|s| *s >= 1).ok_or_else(|| {
                    format!("the step `/{s}` is not a whole number of at least 1")
                })?;
                (r, step)
            }
            None => (item, 1),
        };
        let (first, last) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (number(a, min, max, names)?, number(b, min, max, names)?);
            if a > b {
                return Err(format!("the range `{range}` runs backwards"));
            }
            (a, b)
        } else if range.is_empty() {
            return Err("an empty item in the list".into());
        } else {
            let a = number(range, min, max, names)?;
            // `5/10` starts at 5 and goes on to the end of the field.
            (a, if item.contains('/') { max } else { a })
        };
        let mut v = first;
        while v <= last {
            mask[v as usize] = true;
            v += step;
        }
    }
    Ok(mask)
}

impl Cron {
    fn day_matches(&self, date: Date) -> bool {
        let dom = date.day() as u8;
        let last = date.days_in_month() as u8;
        // 1 = Sunday … 7 = Saturday, as AWS counts.
        let weekday = date.weekday().to_sunday_one_offset() as u8;
        let dom_ok = match &self.day_of_month {
            DayOfMonth::Unspecified => true,
            DayOfMonth::Days(mask) => mask[dom as usize],
            DayOfMonth::Last => dom == last,
            DayOfMonth::LastWeekday => dom == nearest_weekday(date, last),
            DayOfMonth::NearestWeekday(d) => dom == nearest_weekday(date, (*d).min(last)),
        };
        let dow_ok = match &self.day_of_week {
            DayOfWeek::Unspecified => true,
            DayOfWeek::Days(mask) => mask[weekday as usize],
            DayOfWeek::Last(d) => weekday == *d && dom + 7 > last,
            DayOfWeek::Nth(d, n) => weekday == *d && (dom - 1) / 7 + 1 == *n,
        };
        dom_ok && dow_ok
    }

    /// The next `count` times after `after`, read as wall-clock times in `tz`.
    pub fn next(&self, tz: &TimeZone, after: Timestamp, count: usize) -> Vec<Zoned> {
        let mut found = Vec::new();
        let start = after.to_zoned(tz.clone()).datetime();
        for year in start.year().max(FIRST_YEAR)..=LAST_YEAR {
            if !self.years[year as usize] {
                continue;
            }
            for month in 1..=12i8 {
                if !self.months[month as usize] || (year, month) < (start.year(), start.month()) {
                    continue;
                }
                let Ok(first) = Date::new(year, month, 1) else {
                    continue;
                };
                for day in 1..=first.days_in_month() {
                    let Ok(date) = Date::new(year, month, day) else {
                        continue;
                    };
                    if date < start.date() || !self.day_matches(date) {
                        continue;
                    }
                    for hour in (0..24i8).filter(|h| self.hours[*h as usize]) {
                        for minute in (0..60i8).filter(|m| self.minutes[*m as usize]) {
                            let at =
                                DateTime::from_parts(date, jiff::civil::time(hour, minute, 0, 0));
                            if at < start {
                                continue;
                            }
                            // A wall-clock time that DST skips runs at the shifted instant.
                            let Ok(zoned) = at.to_zoned(tz.clone()) else {
                                continue;
                            };
                            if zoned.timestamp() > after
                                && found
                                    .last()
                                    .is_none_or(|l: &Zoned| l.timestamp() < zoned.timestamp())
                            {
                                found.push(zoned);
                                if found.len() == count {
                                    return found;
                                }
                            }
                        }
                    }
                }
            }
        }
        found
    }
}

/// The weekday nearest `target` (a day of `date`'s month), not leaving the month.
fn nearest_weekday(date: Date, target: u8) -> u8 {
    let Ok(day) = Date::new(date.year(), date.month(), target as i8) else {
        return 0;
    };
    let last = date.days_in_month() as u8;
    match day.weekday().to_sunday_one_offset() {
        // Saturday: Friday, or Monday when the 1st is a Saturday.
        7 if target == 1 => 3,
        7 => target - 1,
        // Sunday: Monday, or Friday when it is the month's last day.
        1 if target == last => target - 2,
        1 => target + 1,
        _ => target,
    }
}

impl Expression {
    /// The next `count` run times after `after`. A rate schedule counts from `anchor` (when the
    /// schedule was created or last changed), as EventBridge Scheduler does.
    pub fn next(
        &self,
        tz: &TimeZone,
        after: Timestamp,
        anchor: Option<Timestamp>,
        count: usize,
    ) -> Vec<Zoned> {
        match self {
            Expression::Cron(cron) => cron.next(tz, after, count),
            Expression::Rate { every, unit } => {
                let period = i64::from(*every) * unit.seconds();
                let anchor = anchor.unwrap_or(after).as_second();
                let now = after.as_second();
                let mut k = if now < anchor {
                    0
                } else {
                    (now - anchor) / period + 1
                };
                let mut out = Vec::new();
                while out.len() < count {
                    if let Ok(t) = Timestamp::from_second(anchor + k * period) {
                        out.push(t.to_zoned(tz.clone()));
                    }
                    k += 1;
                }
                out
            }
        }
    }
}

/// Checks a `schedule-timezone` value: an IANA name EventBridge Scheduler knows.
pub fn timezone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!("`{name}` is not an IANA time zone name such as `UTC`, `Europe/Paris` or `America/New_York`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn runs(expr: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
        let tz = timezone(tz).unwrap();
        parse(expr)
            .unwrap()
            .next(&tz, at(after), None, n)
            .iter()
            .map(|z| z.strftime("%Y-%m-%d %H:%M %a %Z").to_string())
            .collect()
    }

    #[test]
    fn valid_expressions_parse() {
        for ok in [
            "cron(0 3 * * ? *)",
            "cron(0/15 8-17 ? * MON-FRI *)",
            "cron(0 12 L * ? 2030-2032)",
            "cron(0 9 LW * ? *)",
            "cron(0 9 15W * ? *)",
            "cron(0 9 ? * 6L *)",
            "cron(0 9 ? * 3#2 *)",
            "cron(5,35 1,13 1-7/2 JAN,jul ? *)",
            "cron(0 0 ? * L *)",
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(1 hour)",
            "rate(12 hours)",
            "rate(1 day)",
            "rate(7 days)",
            " rate( 2 days ) ",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok));
        }
    }

    #[test]
    fn invalid_expressions_say_why() {
        for (bad, says) in [
            ("cron(0 3 * * ?)", "has 5 fields"),
            ("cron(0 3 * * * *)", "cannot both be given"),
            ("cron(0 3 ? * ? *)", "only one of"),
            ("cron(60 3 * * ? *)", "minutes `60`"),
            ("cron(0 24 * * ? *)", "hours `24`"),
            ("cron(0 3 0 * ? *)", "day-of-month `0`"),
            ("cron(0 3 * 13 ? *)", "month `13`"),
            ("cron(0 3 * FOO ? *)", "one of JAN"),
            ("cron(0 3 ? * 8 *)", "day-of-week `8`"),
            ("cron(0 3 ? * 2#6 *)", "must be 1–5"),
            ("cron(0 3 * * ? 1969)", "year `1969`"),
            ("cron(0 3 * * ? 2200)", "year `2200`"),
            ("cron(0 5-3 * * ? *)", "runs backwards"),
            ("cron(0/0 3 * * ? *)", "step `/0`"),
            ("cron(0,,1 3 * * ? *)", "empty item"),
            ("cron(0 3 * * ? * *)", "has 7 fields"),
            ("rate(5 minute)", "rate(5 minutes)"),
            ("rate(1 minutes)", "rate(1 minute)"),
            ("rate(0 minutes)", "at least 1"),
            ("rate(5 seconds)", "`seconds`"),
            ("rate(5)", "rate(VALUE UNIT)"),
            ("at(2030-01-01T00:00:00)", "one-time"),
            ("0 3 * * *", "not a schedule expression"),
            ("cron 0 3 * * ? *", "not a schedule expression"),
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn cron_next_runs_in_utc() {
        // 2026-11-23 is a Monday.
        assert_eq!(
            runs("cron(0 3 * * ? *)", "UTC", "2026-11-23T12:00:00Z", 2),
            ["2026-11-24 03:00 Tue UTC", "2026-11-25 03:00 Wed UTC"]
        );
        assert_eq!(
            runs(
                "cron(0/20 8-9 ? * MON-FRI *)",
                "UTC",
                "2026-11-27T09:30:00Z",
                4
            ),
            [
                "2026-11-27 09:40 Fri UTC",
                "2026-11-30 08:00 Mon UTC",
                "2026-11-30 08:20 Mon UTC",
                "2026-11-30 08:40 Mon UTC"
            ]
        );
        // Strictly after: a run exactly now is not next.
        assert_eq!(
            runs("cron(0 12 * * ? *)", "UTC", "2026-11-23T12:00:00Z", 1),
            ["2026-11-24 12:00 Tue UTC"]
        );
    }

    #[test]
    fn last_weekday_nth_and_years() {
        assert_eq!(
            runs("cron(0 0 L * ? *)", "UTC", "2028-01-31T12:00:00Z", 2),
            ["2028-02-29 00:00 Tue UTC", "2028-03-31 00:00 Fri UTC"]
        );
        // The last weekday of May 2026 (31st is a Sunday) is Friday the 29th.
        assert_eq!(
            runs("cron(0 0 LW * ? *)", "UTC", "2026-05-01T00:00:00Z", 1),
            ["2026-05-29 00:00 Fri UTC"]
        );
        // The weekday nearest Saturday 1 Aug 2026 is Monday the 3rd (not July).
        assert_eq!(
            runs("cron(0 0 1W * ? *)", "UTC", "2026-07-31T00:00:00Z", 1),
            ["2026-08-03 00:00 Mon UTC"]
        );
        assert_eq!(
            runs("cron(0 0 15W * ? *)", "UTC", "2026-11-01T00:00:00Z", 1),
            ["2026-11-16 00:00 Mon UTC"]
        );
        // The second Tuesday and the last Friday of each month.
        assert_eq!(
            runs("cron(30 6 ? * 3#2 *)", "UTC", "2026-11-23T00:00:00Z", 1),
            ["2026-12-08 06:30 Tue UTC"]
        );
        assert_eq!(
            runs("cron(0 18 ? * 6L *)", "UTC", "2026-11-23T00:00:00Z", 2),
            ["2026-11-27 18:00 Fri UTC", "2026-12-25 18:00 Fri UTC"]
        );
        assert_eq!(
            runs(
                "cron(0 0 1 JAN ? 2030,2035)",
                "UTC",
                "2026-11-23T00:00:00Z",
                3
            ),
            ["2030-01-01 00:00 Tue UTC", "2035-01-01 00:00 Mon UTC"]
        );
        assert!(runs("cron(0 0 1 JAN ? 2020)", "UTC", "2026-11-23T00:00:00Z", 3).is_empty());
    }

    #[test]
    fn cron_follows_the_time_zone_and_its_daylight_saving() {
        // 02:30 does not exist in Paris on 29 March 2026: that day's run moves forward an hour.
        assert_eq!(
            runs(
                "cron(30 2 * * ? *)",
                "Europe/Paris",
                "2026-03-28T12:00:00Z",
                2
            ),
            ["2026-03-29 03:30 Sun CEST", "2026-03-30 02:30 Mon CEST"]
        );
        // 09:00 in New York is 14:00 UTC in winter.
        let tz = timezone("America/New_York").unwrap();
        let next =
            parse("cron(0 9 * * ? *)")
                .unwrap()
                .next(&tz, at("2026-11-23T00:00:00Z"), None, 1);
        assert_eq!(next[0].timestamp(), at("2026-11-23T14:00:00Z"));
        assert!(timezone("Mars/Olympus").unwrap_err().contains("IANA"));
    }

    #[test]
    fn rate_counts_from_its_anchor() {
        let tz = TimeZone::UTC;
        let rate = parse("rate(15 minutes)").unwrap();
        let next: Vec<Timestamp> = rate
            .next(
                &tz,
                at("2026-11-23T10:20:00Z"),
                Some(at("2026-11-23T10:00:00Z")),
                3,
            )
            .iter()
            .map(Zoned::timestamp)
            .collect();
        assert_eq!(
            next,
            [
                at("2026-11-23T10:30:00Z"),
                at("2026-11-23T10:45:00Z"),
                at("2026-11-23T11:00:00Z")
            ]
        );
        // Before the anchor, the first run is the anchor itself.
        let first = rate.next(
            &tz,
            at("2026-11-23T09:00:00Z"),
            Some(at("2026-11-23T10:00:00Z")),
            1,
        );
        assert_eq!(first[0].timestamp(), at("2026-11-23T10:00:00Z"));
    }
}
