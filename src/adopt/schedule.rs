//! Copilot's `on.schedule` into an EventBridge Scheduler expression. Copilot reads its schedules
//! in UTC, as cargo-fargate's default `schedule-timezone` does, so the times stay the same.

/// What a Copilot schedule becomes.
#[derive(Debug, PartialEq, Eq)]
pub enum Converted {
    /// A `cron(…)` or `rate(…)` expression.
    Expression(String),
    /// `none`: the job only runs when asked to.
    Never,
}

/// Converts `@daily`, `@every 1h30m`, a five-field cron or `none`; the error says why not.
pub fn convert(schedule: &str) -> Result<Converted, String> {
    let s = schedule.trim();
    let expr = match s {
        "none" => return Ok(Converted::Never),
        "@yearly" | "@annually" => "cron(0 0 1 1 ? *)".to_string(),
        "@monthly" => "cron(0 0 1 * ? *)".to_string(),
        "@weekly" => "cron(0 0 ? * 1 *)".to_string(),
        "@daily" | "@midnight" => "cron(0 0 * * ? *)".to_string(),
        "@hourly" => "cron(0 * * * ? *)".to_string(),
        _ => match s.strip_prefix("@every") {
            Some(d) => every(d.trim())?,
            None => cron(s)?,
        },
    };
    crate::config::schedule::parse(&expr)?;
    Ok(Converted::Expression(expr))
}

/// `@every 1h30m` (a Go duration) as a rate in the largest whole unit.
fn every(duration: &str) -> Result<String, String> {
    let d = humantime::parse_duration(duration)
        .map_err(|e| format!("`@every {duration}` is not a duration: {e}"))?;
    let secs = d.as_secs();
    if secs < 60 || secs % 60 != 0 || d.subsec_nanos() != 0 {
        return Err(format!(
            "`@every {duration}` is not a whole number of minutes (EventBridge Scheduler's finest rate is 1 minute)"
        ));
    }
    let minutes = secs / 60;
    let (n, unit) = if minutes % 1440 == 0 {
        (minutes / 1440, "day")
    } else if minutes % 60 == 0 {
        (minutes / 60, "hour")
    } else {
        (minutes, "minute")
    };
    let plural = if n == 1 { "" } else { "s" };
    Ok(format!("rate({n} {unit}{plural})"))
}

/// A five-field cron (`min hour day-of-month month day-of-week`, Sunday = 0) in AWS's six-field
/// dialect: a year, `?` in one of the day fields, Sunday = 1.
fn cron(text: &str) -> Result<String, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [min, hour, dom, month, dow] = fields[..] else {
        return Err(format!(
            "`{text}` is not `@daily`/`@every …`/`none` or a five-field cron expression"
        ));
    };
    let (dom, dow) = match (dom, dow) {
        (d, "*") => (d.to_string(), "?".to_string()),
        ("*", w) => ("?".to_string(), weekdays(w)?),
        _ => {
            return Err(format!(
                "`{text}` sets both the day of month and the day of week, which cron reads as either; EventBridge Scheduler allows one of them"
            ))
        }
    };
    Ok(format!("cron({min} {hour} {dom} {month} {dow} *)"))
}

/// Day-of-week numbers from cron's Sunday = 0 (or 7) to AWS's Sunday = 1; names stay.
fn weekdays(field: &str) -> Result<String, String> {
    let shift = |n: &str| -> Result<String, String> {
        match n.parse::<u8>() {
            Ok(d @ 0..=7) => Ok((d % 7 + 1).to_string()),
            Ok(_) => Err(format!("`{n}` is not a day of week (0–7)")),
            Err(_) => Ok(n.to_string()),
        }
    };
    let mut parts = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let range = match range.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (shift(a)?, shift(b)?);
                if a.parse::<u8>().ok() > b.parse::<u8>().ok() {
                    return Err(format!(
                        "the day-of-week range `{item}` wraps past Saturday in AWS's numbering; split it (e.g. `5,6,0`)"
                    ));
                }
                format!("{a}-{b}")
            }
            None if range == "*" => "*".to_string(),
            None => shift(range)?,
        };
        parts.push(match step {
            Some(s) => format!("{range}/{s}"),
            None => range,
        });
    }
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(s: &str) -> String {
        match convert(s).unwrap() {
            Converted::Expression(e) => e,
            Converted::Never => "never".into(),
        }
    }

    #[test]
    fn every_form() {
        assert_eq!(expr("@daily"), "cron(0 0 * * ? *)");
        assert_eq!(expr("@weekly"), "cron(0 0 ? * 1 *)");
        assert_eq!(expr("@hourly"), "cron(0 * * * ? *)");
        assert_eq!(expr("@monthly"), "cron(0 0 1 * ? *)");
        assert_eq!(expr("@yearly"), "cron(0 0 1 1 ? *)");
        assert_eq!(expr("@every 1h"), "rate(1 hour)");
        assert_eq!(expr("@every 90m"), "rate(90 minutes)");
        assert_eq!(expr("@every 1h30m"), "rate(90 minutes)");
        assert_eq!(expr("@every 48h"), "rate(2 days)");
        assert_eq!(expr("0 9 * * 1-5"), "cron(0 9 ? * 2-6 *)");
        assert_eq!(expr("*/15 * * * *"), "cron(*/15 * * * ? *)");
        assert_eq!(expr("30 2 1 * *"), "cron(30 2 1 * ? *)");
        assert_eq!(expr("0 0 * * 0,SAT"), "cron(0 0 ? * 1,SAT *)");
        assert_eq!(expr("none"), "never");
    }

    #[test]
    fn refusals_say_why() {
        assert!(convert("@every 30s").unwrap_err().contains("minute"));
        assert!(convert("0 0 1 * 1").unwrap_err().contains("either"));
        assert!(convert("0 0 * * 5-0").unwrap_err().contains("wraps"));
        assert!(convert("every day").unwrap_err().contains("five-field"));
    }
}
