//! Parsing AWS's cron and rate dialect, and the next run times in a time zone.

use super::*;
use jiff::{Timestamp, Zoned};

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
    let next = parse("cron(0 9 * * ? *)")
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
