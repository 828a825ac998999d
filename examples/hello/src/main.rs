//! The example cargo-fargate deploys: prints a greeting and its arguments, then exits with the code in
//! `HELLO_EXIT_CODE` (default 0), so exit-code handling can be shown end to end.

fn main() {
    let greeting = std::env::var("GREETING").unwrap_or_else(|_| "Hello".to_string());
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("{greeting}! args={args:?}");
    let code = std::env::var("HELLO_EXIT_CODE").ok().and_then(|c| c.parse().ok()).unwrap_or(0);
    std::process::exit(code);
}
