//! When a schedule runs next: cron fields matched against the calendar in the schedule's time zone,
//! rate schedules counted from their anchor.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use super::{Cron, DayOfMonth, DayOfWeek, Expression, FIRST_YEAR, LAST_YEAR};

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
