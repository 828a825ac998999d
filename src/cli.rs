//! Command-line flags, parsed as cargo hands them to an external subcommand
//! (`cargo fargate <command>` runs `cargo-fargate fargate <command>`).
//!
//! Flags are the first, raw stage: every one that maps to a configuration key is an `Option`, so a
//! flag the user did not pass never overrides the configuration file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{Layer, Origin, Setting, Source, Value};

#[derive(Parser, Debug)]
#[command(name = "cargo", bin_name = "cargo", disable_help_subcommand = true)]
pub enum CargoCli {
    /// Take a cargo project to AWS Fargate: package, build, push to ECR, register, run.
    #[command(name = "fargate", version, author)]
    Fargate(FargateCli),
}

#[derive(Args, Debug)]
pub struct FargateCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the resolved configuration of a stage and where each value came from.
    Config(ConfigArgs),
    /// Add a commented [package.metadata.fargate] section to Cargo.toml and a .dockerignore.
    Init(InitArgs),
    /// Make the deterministic source archive (zip) that a remote build uploads.
    Package(PackageArgs),
    /// Build the container image (Docker Engine, or on the host without Docker).
    Build(ImageArgs),
    /// Ensure the ECR repository and its lifecycle policy, then build and push the image unless the
    /// registry already holds it.
    Push(ImageArgs),
    /// Check AWS credentials, region and endpoint before a deploy.
    Doctor,
}

/// Flags that set image settings; each overrides its configuration key only when given.
#[derive(Args, Debug, Default)]
pub struct ImageArgs {
    /// Where the image is built [config: builder; default: docker].
    #[arg(long, value_parser = ["docker", "host", "codebuild"])]
    pub builder: Option<String>,
    /// Cargo build profile of the binary [config: cargo-profile; default: release].
    #[arg(long, value_name = "PROFILE")]
    pub cargo_profile: Option<String>,
    /// Cargo features, comma-separated [config: features].
    #[arg(long, value_delimiter = ',', value_name = "FEATURES")]
    pub features: Option<Vec<String>>,
    /// Registry host[:port] or URL to push to instead of the one ECR reports (VPC endpoint, proxy)
    /// [config: registry-endpoint; env: CARGO_FARGATE_REGISTRY_ENDPOINT].
    #[arg(long, value_name = "HOST")]
    pub registry_endpoint: Option<String>,
}

impl ImageArgs {
    pub fn config_layer(&self) -> Layer {
        let mut layer = Layer::default();
        let mut put = |key: &'static str, flag: &str, value: Option<Value>| {
            if let Some(value) = value {
                layer.settings.insert(
                    key,
                    Setting {
                        value,
                        origin: Origin {
                            source: Source::Flag(flag.into()),
                            location: None,
                        },
                    },
                );
            }
        };
        put("builder", "--builder", self.builder.clone().map(Value::Str));
        put(
            "cargo-profile",
            "--cargo-profile",
            self.cargo_profile.clone().map(Value::Str),
        );
        put(
            "features",
            "--features",
            self.features.clone().map(Value::StrList),
        );
        put(
            "registry-endpoint",
            "--registry-endpoint",
            self.registry_endpoint.clone().map(Value::Str),
        );
        layer
    }
}

#[derive(Args, Debug)]
pub struct ConfigArgs {}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Replace an existing [package.metadata.fargate] section and .dockerignore.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct PackageArgs {
    /// Where to write the archive [default: <target-dir>/fargate/<project>-source.zip].
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Let files that look like secrets into the archive when they match this glob (repeatable).
    #[arg(long = "allow", value_name = "GLOB")]
    pub allow: Vec<String>,
}

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
    /// Named AWS profile (not cargo's build --profile) [default: AWS_PROFILE or the default chain].
    #[arg(long = "aws-profile", global = true, value_name = "NAME")]
    pub aws_profile: Option<String>,
    /// AWS region [default: the config's region, else AWS_REGION or the profile's].
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Endpoint URL for every AWS service [env: AWS_ENDPOINT_URL, and AWS_ENDPOINT_URL_<SERVICE>].
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
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
    let CargoCli::Fargate(cli) = CargoCli::parse_from(args);
    cli
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        CargoCli::command().debug_assert();
    }

    #[test]
    fn unpassed_flags_leave_the_layer_empty() {
        let CargoCli::Fargate(cli) = CargoCli::parse_from(["cargo", "fargate", "config"]);
        assert!(cli.global.config_layer().settings.is_empty());
        let CargoCli::Fargate(cli) =
            CargoCli::parse_from(["cargo", "fargate", "config", "--region", "eu-west-1"]);
        assert!(cli.global.config_layer().settings.contains_key("region"));
    }
}
