//! EventBridge Scheduler expressions: `cron(minutes hours day-of-month month day-of-week year)` and
//! `rate(N unit)`, checked before anything is created (AWS would refuse them only after the roles
//! and the task definition exist), and their next run times for `status`.
//!
//! No kept crate reads AWS's cron dialect (6 fields with a year, `?`, `L`, `W`, `#`, SUN=1), so
//! the parser is here; the calendar and time zones are jiff's.

use std::fmt;

use jiff::tz::TimeZone;

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

/// Checks a `schedule-timezone` value: an IANA name EventBridge Scheduler knows.
pub fn timezone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!("`{name}` is not an IANA time zone name such as `UTC`, `Europe/Paris` or `America/New_York`")
    })
}

mod next;

#[cfg(test)]
mod tests;
