//! The flags every command takes (stage, manifest, region, output), and parsing the command
//! line as cargo hands it over.

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, ValueEnum};

use super::{CargoCli, FargateCli};
use crate::config::{Layer, Origin, Setting, Source, Value};
use crate::output::OutputOptions;

#[derive(Args, Debug)]
pub struct GlobalArgs {
    /// Path to Cargo.toml.
    #[arg(long, global = true, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Package of the workspace to deploy.
    #[arg(short = 'p', long, global = true, value_name = "SPEC")]
    pub package: Option<String>,
    /// Binary target to deploy.
    #[arg(long, global = true, value_name = "NAME")]
    pub bin: Option<String>,
    /// Stage whose settings override the base configuration [default: dev].
    #[arg(long, global = true, env = "CARGO_FARGATE_STAGE", value_name = "NAME")]
    pub stage: Option<String>,
    /// Whether `stage` came from `CARGO_FARGATE_STAGE` rather than `--stage` (for error locations).
    #[arg(skip)]
    pub stage_from_env: bool,
    /// Named AWS profile (not cargo's build --profile) [default: AWS_PROFILE or the default chain].
    #[arg(long = "aws-profile", global = true, value_name = "NAME")]
    pub aws_profile: Option<String>,
    /// AWS region [default: the config's region, else AWS_REGION or the profile's].
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Endpoint URL for every AWS service [env: AWS_ENDPOINT_URL, and AWS_ENDPOINT_URL_<SERVICE>].
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Seconds one AWS or registry call may take, retries included (following a task or a build is
    /// not cut by it).
    #[arg(long, global = true, env = "CARGO_FARGATE_TIMEOUT", value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// More output (-vv for debug).
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors and the final result.
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    /// When to use colour.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Output format: human text, or JSON lines for CI (events, then one result).
    #[arg(long, global = true, value_enum, value_name = "FMT", default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageFormat {
    Human,
    Json,
}

impl GlobalArgs {
    /// What the output layer needs of the flags (it does not know clap).
    pub fn output_options(&self) -> OutputOptions {
        OutputOptions {
            json: self.message_format == MessageFormat::Json,
            verbosity: if self.quiet { -1 } else { self.verbose as i8 },
            color: match self.color {
                ColorChoice::Always => Some(true),
                ColorChoice::Never => Some(false),
                ColorChoice::Auto => None,
            },
        }
    }

    /// The flags that set configuration keys, as the highest-precedence raw layer.
    pub fn config_layer(&self) -> Layer {
        let mut layer = Layer::default();
        let mut put = |key: &'static str, flag: &str, value: Option<&String>| {
            if let Some(v) = value {
                layer.settings.insert(
                    key,
                    Setting {
                        value: Value::Str(v.clone()),
                        origin: Origin {
                            source: Source::Flag(flag.into()),
                            location: None,
                        },
                    },
                );
            }
        };
        put("region", "--region", self.region.as_ref());
        put("aws-profile", "--aws-profile", self.aws_profile.as_ref());
        layer
    }
}

/// Parses `std::env::args`, accepting both `cargo fargate …` and a direct `cargo-fargate …`.
pub fn parse() -> FargateCli {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).map(|a| a != "fargate").unwrap_or(true) {
        args.insert(1, "fargate".into());
    }
    let parsed = CargoCli::command()
        .try_get_matches_from(&args)
        .and_then(|matches| {
            let from_env = matches
                .subcommand_matches("fargate")
                .and_then(|m| m.value_source("stage"))
                == Some(clap::parser::ValueSource::EnvVariable);
            CargoCli::from_arg_matches(&matches).map(|cli| (cli, from_env))
        });
    match parsed {
        Ok((CargoCli::Fargate(mut cli), from_env)) => {
            cli.global.stage_from_env = from_env;
            cli
        }
        Err(e) if e.use_stderr() => usage_error(&e, wants_json(&args)),
        // --help and --version are not errors and print as clap does.
        Err(e) => e.exit(),
    }
}

/// A refused command line: with JSON, an `error` event naming what was wrong (the missing
/// arguments too, which clap lists on the lines after its first); then clap's text on stderr in
/// one write (clap's own `exit` writes it in pieces, which another process's lines can split).
fn usage_error(e: &clap::Error, json: bool) -> ! {
    let text = e.render().to_string();
    if json {
        println!(
            "{}",
            serde_json::json!({"type": "error", "message": usage_message(&text), "exit_code": e.exit_code()})
        );
    }
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let shown = if colour {
        e.render().ansi().to_string()
    } else {
        text
    };
    crate::output::write_stderr(format_args!("{shown}"));
    std::process::exit(e.exit_code())
}

/// Clap's first paragraph in one line, without its `error: `: "the following required arguments
/// were not provided: --image <URI@sha256:DIGEST>".
fn usage_message(text: &str) -> String {
    text.lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string()
}

/// `--message-format json` (or `=json`) anywhere on the command line.
fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.windows(2)
        .any(|w| w[0] == "--message-format" && w[1] == "json")
        || args.iter().any(|a| a == "--message-format=json")
}
