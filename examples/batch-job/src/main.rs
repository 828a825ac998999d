//! A batch job for cargo-fargate: sums a list of integers and reports count, sum, min, max and mean.
//!
//! Input, first found wins: the command-line arguments (`cargo fargate run -- 1 2 3`), else
//! `NUMBERS` (integers separated by spaces, commas or newlines), else the file named by
//! `INPUT_FILE`. Progress and the summary go to stdout, errors to stderr as one `error:` line, and
//! the process exits with a code per failure kind, which `cargo fargate run`/`deploy` hand back:
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | done |
//! | 64   | no input: no arguments, `NUMBERS` nor `INPUT_FILE` |
//! | 65   | bad data: an item is not an integer, or the sum overflows 64 bits |
//! | 66   | `INPUT_FILE` cannot be read |

use std::process::ExitCode;

/// A failure of the job, each kind with its own exit code (sysexits.h numbering).
#[derive(Debug, PartialEq)]
enum Failure {
    NoInput,
    BadItem { index: usize, item: String },
    Overflow { index: usize },
    Unreadable { path: String, reason: String },
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::NoInput => 64,
            Failure::BadItem { .. } | Failure::Overflow { .. } => 65,
            Failure::Unreadable { .. } => 66,
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::NoInput => {
                "no input: pass numbers as arguments, or set NUMBERS or INPUT_FILE".into()
            }
            Failure::BadItem { index, item } => {
                format!(
                    "item {index} `{item}` is not an integer; give whole numbers such as 42 or -7"
                )
            }
            Failure::Overflow { index } => {
                format!("the sum overflows 64 bits at item {index}; split the input into smaller batches")
            }
            Failure::Unreadable { path, reason } => {
                format!("cannot read INPUT_FILE `{path}`: {reason}")
            }
        }
    }
}

/// The raw input text and where it came from.
fn input() -> Result<(String, String), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        return Ok(("arguments".into(), args.join(" ")));
    }
    if let Ok(numbers) = std::env::var("NUMBERS") {
        return Ok(("NUMBERS".into(), numbers));
    }
    if let Ok(path) = std::env::var("INPUT_FILE") {
        let text = std::fs::read_to_string(&path).map_err(|e| Failure::Unreadable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        return Ok((format!("INPUT_FILE {path}"), text));
    }
    Err(Failure::NoInput)
}

fn items(text: &str) -> Vec<&str> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect()
}

#[derive(Debug, PartialEq)]
struct Summary {
    count: usize,
    sum: i64,
    min: i64,
    max: i64,
}

/// Parses and sums the items, calling `progress` after each one.
fn run(items: &[&str], mut progress: impl FnMut(usize, i64, i64)) -> Result<Summary, Failure> {
    if items.is_empty() {
        return Err(Failure::NoInput);
    }
    let mut s = Summary {
        count: 0,
        sum: 0,
        min: i64::MAX,
        max: i64::MIN,
    };
    for (i, item) in items.iter().enumerate() {
        let index = i + 1;
        let n: i64 = item.parse().map_err(|_| Failure::BadItem {
            index,
            item: item.to_string(),
        })?;
        s.sum = s.sum.checked_add(n).ok_or(Failure::Overflow { index })?;
        s.count += 1;
        s.min = s.min.min(n);
        s.max = s.max.max(n);
        progress(index, n, s.sum);
    }
    Ok(s)
}

fn main() -> ExitCode {
    let result = input().and_then(|(source, text)| {
        let items = items(&text);
        println!("batch-job: {} items from {source}", items.len());
        let total = items.len();
        run(&items, |i, n, sum| {
            println!("[{i}/{total}] {n} (running sum {sum})")
        })
    });
    match result {
        Ok(s) => {
            let mean = s.sum as f64 / s.count as f64;
            println!(
                "done: count={} sum={} min={} max={} mean={mean:.3}",
                s.count, s.sum, s.min, s.max
            );
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("error: {}", f.message());
            ExitCode::from(f.code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_reports_each_item() {
        let mut seen = vec![];
        let s = run(&items("3, 1\n4 -2"), |i, n, _| seen.push((i, n))).unwrap();
        assert_eq!(
            s,
            Summary {
                count: 4,
                sum: 6,
                min: -2,
                max: 4
            }
        );
        assert_eq!(seen, [(1, 3), (2, 1), (3, 4), (4, -2)]);
    }

    #[test]
    fn each_failure_kind_has_its_code() {
        let bad = run(&["1", "x"], |_, _, _| {}).unwrap_err();
        assert_eq!(
            bad,
            Failure::BadItem {
                index: 2,
                item: "x".into()
            }
        );
        assert_eq!(bad.code(), 65);
        let max = i64::MAX.to_string();
        assert_eq!(
            run(&[&max, "1"], |_, _, _| {}).unwrap_err(),
            Failure::Overflow { index: 2 }
        );
        assert_eq!(run(&[], |_, _, _| {}).unwrap_err().code(), 64);
    }
}
