//! Command-line flags, parsed as cargo hands them to an external subcommand
//! (`cargo fargate <command>` runs `cargo-fargate fargate <command>`).
//!
//! Flags are the first, raw stage: every one that maps to a configuration key is an `Option`, so a
//! flag the user did not pass never overrides the configuration file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Layer, Origin, Setting, Source, Value};
use crate::output::Output;

pub mod commands;
mod global;
mod iam;
pub mod shell;

pub use global::{parse, ColorChoice, GlobalArgs, MessageFormat};
pub use iam::{IamCommand, IamPolicyArgs, PrincipalArg};

/// The whole program: parse the command line, run the command, and return the exit code.
pub fn main() -> i32 {
    let cli = parse();
    let out = Output::new(&cli.global.output_options());
    crate::net::set_timeout(std::time::Duration::from_secs(cli.global.timeout));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        // Before anything else: from here on Ctrl-C is ours to report, never a silent kill.
        crate::interrupt::install();
        crate::interrupt::or_interrupted(commands::run(cli, &out)).await
    });
    // An interrupted command may leave a blocking task (a host build's cargo) behind: not
    // waited for.
    if matches!(&result, Err(e) if crate::error::exit_code(e) == crate::error::exit::INTERRUPTED) {
        runtime.shutdown_background();
    }
    match result {
        Ok(code) => code,
        Err(err) => {
            // One line: the error and its causes, joined.
            let message = format!("{err:#}").replace('\n', " ");
            if out.ci() == Some(crate::ci::Ci::GitHub) {
                out.line(crate::ci::error_annotation(&err, &message));
            }
            out.error(message);
            crate::error::exit_code(&err)
        }
    }
}

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
    /// Write the configuration from what a team already runs (AWS Copilot manifests).
    #[command(subcommand)]
    Import(ImportCommand),
    /// Make the deterministic source archive (zip) that a remote build uploads.
    Package(PackageArgs),
    /// Build the container image (Docker Engine, or on the host without Docker).
    Build(BuildArgs),
    /// Ensure the ECR repository and its lifecycle policy, then build and push the image unless the
    /// registry already holds it.
    Push(BuildArgs),
    /// Package, build, push, register and run, as one command; --dry-run shows the plan.
    Deploy(DeployArgs),
    /// Check credentials, region, network, bucket, roles, permissions, image, log group and secrets:
    /// [ok]/[warn]/[fail] lines, each with its fix; exits non-zero on any fail.
    Doctor,
    /// Least-privilege IAM policies for this stage's principals.
    #[command(subcommand)]
    Iam(IamCommand),
    /// Create what the stage needs (repository, cluster, log groups, bucket, roles), idempotently;
    /// the plan is shown first.
    Setup(SetupArgs),
    /// Remove what setup and deploy created for the stage (found by cargo-fargate's tags).
    Teardown(TeardownArgs),
    /// Print the task definition `register` would send, rendered from the template.
    Render(ImageArgs),
    /// Register the task definition with its roles and log group; a new revision only on change.
    Register(ImageArgs),
    /// Show how the rendered task definition differs from the latest registered revision.
    Diff(DiffArgs),
    /// Run the task on Fargate (or on the local Docker Engine with --local), stream its logs, exit
    /// with its essential container's exit code.
    Run(RunArgs),
    /// Print the tasks' logs from CloudWatch Logs (-f to follow).
    Logs(LogsArgs),
    /// List the tasks of this project's stage.
    Ps(PsArgs),
    /// Stop tasks of this project's stage.
    Stop(StopArgs),
    /// The stage's service (deployments, rollout state, counts, revision and digest each task
    /// runs, last events), or its tasks for kind = "task".
    Status,
    /// Roll the service back to the previous (or given) task definition revision, and wait.
    Rollback(RollbackArgs),
    /// Set how many tasks the service runs, and wait until they do.
    Scale(ScaleArgs),
    /// Delete the stage's service (scaled to 0 first).
    Delete(DeleteArgs),
    /// Open a shell (or run CMD) in a running task of the stage with ECS Exec (`exec = true`).
    Exec(ExecArgs),
    /// Print a completion script for your shell (zsh also completes `cargo fargate …`).
    Completions(CompletionsArgs),
    /// Print the man page cargo-fargate(1), or write one page per command with --dir.
    Man(ManArgs),
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write cargo-fargate.1 and cargo-fargate-<command>.1 into this directory instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SetupArgs {
    /// Show the plan, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Make the deployer role `{project}-{stage}-deployer` for CI through its OIDC provider
    /// (no stored keys): github or gitlab.
    #[arg(long, value_name = "github|gitlab")]
    pub ci: Option<String>,
    /// The repository the CI deploys from: OWNER/NAME (GitLab: GROUP/PROJECT).
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// The branch whose jobs may deploy (default: main).
    #[arg(long, conflicts_with = "environment")]
    pub branch: Option<String>,
    /// The GitHub environment whose jobs may deploy, instead of a branch.
    #[arg(long)]
    pub environment: Option<String>,
    /// Let the repository's pull/merge request jobs take the role too (for the plan and diff
    /// that `init --ci` writes; they could deploy as well).
    #[arg(long, requires = "ci")]
    pub pull_requests: bool,
    /// Your GitLab's address (default: https://gitlab.com).
    #[arg(long, value_name = "URL")]
    pub gitlab_url: Option<String>,
    /// IAM users or roles of the account that may take the deployer role (prints the
    /// ~/.aws/config profile that does).
    #[arg(long, value_name = "ARN", num_args = 1..)]
    pub deployer_trust: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TeardownArgs {
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also delete a repository that still holds images.
    #[arg(long)]
    pub force: bool,
    /// Show what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl From<&TeardownArgs> for crate::teardown::Options {
    fn from(a: &TeardownArgs) -> Self {
        crate::teardown::Options {
            yes: a.yes,
            force: a.force,
            dry_run: a.dry_run,
        }
    }
}

#[derive(Args, Debug)]
pub struct ImageArgs {
    /// The image to deploy, pinned by digest (as `cargo fargate push` prints it).
    #[arg(long, value_name = "URI@sha256:DIGEST")]
    pub image: String,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    /// Exit with 3 when the definition differs from the latest revision (for CI; 1 is a failure).
    #[arg(long)]
    pub exit_code: bool,
}

#[derive(Args, Debug)]
#[command(group(
    clap::ArgGroup::new("local-build")
        .args(["builder", "cargo_profile", "features"])
        .multiple(true)
        .requires("local")
))]
pub struct RunArgs {
    /// The image to run, pinned by digest (as `cargo fargate push` prints it); with --local, any
    /// image, and without it the project is built.
    #[arg(
        long,
        value_name = "URI@sha256:DIGEST",
        required_unless_present = "local"
    )]
    pub image: Option<String>,
    /// Run the task definition's container on the local Docker Engine instead of Fargate: its
    /// environment, secrets, task role credentials, command, user, size and ports (on 127.0.0.1).
    #[arg(long, conflicts_with_all = ["count", "detach", "stop_on_interrupt", "allow_default_vpc"])]
    pub local: bool,
    /// With --local: do not assume the task role (the container gets no AWS credentials).
    #[arg(long, requires = "local")]
    pub no_task_role: bool,
    /// Image settings for --local's build.
    #[command(flatten)]
    pub build: BuildArgs,
    #[command(flatten)]
    pub run: RunOptions,
}

/// How to run the task: shared by `run` and `deploy`.
#[derive(Args, Debug)]
pub struct RunOptions {
    /// How many tasks to start (1–10).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=10))]
    pub count: i32,
    /// Set an environment variable for this run (repeatable); secrets cannot be overridden.
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Return once the task is placed, printing its ARN, instead of waiting for it to stop.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// On Ctrl-C, stop the task too (by default Ctrl-C only stops following it).
    #[arg(long, conflicts_with = "detach")]
    pub stop_on_interrupt: bool,
    /// Let the task run in the default VPC (refused by default).
    #[arg(long)]
    pub allow_default_vpc: bool,
    /// Command for the container instead of the configured one (after `--`).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

impl RunOptions {
    pub fn options(&self) -> crate::steps::run::RunOptions {
        crate::steps::run::RunOptions {
            count: self.count,
            env: self.env.clone(),
            detach: self.detach,
            stop_on_interrupt: self.stop_on_interrupt,
            allow_default_vpc: self.allow_default_vpc,
            command: self.command.clone(),
            state_dir: None,
        }
    }
}

#[derive(Args, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    pub build: BuildArgs,
    #[command(flatten)]
    pub run: RunOptions,
    /// Show what each step would do, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Stop after registering the task definition (do not run a task).
    #[arg(long, conflicts_with_all = ["detach", "stop_on_interrupt"])]
    pub no_run: bool,
    /// For a stage with a `schedule`: also run the task once now (by default deploy only
    /// registers and schedules it).
    #[arg(long, conflicts_with = "no_run")]
    pub run_now: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// How long a service deployment is waited for (kind = "service" and "web").
#[derive(Args, Debug, Clone)]
pub struct WaitArgs {
    /// Give up (and fail) when the deployment has not completed after this long: 90s, 15m, 1h.
    #[arg(long, default_value = "15m", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub wait_timeout: std::time::Duration,
    /// Return once ECS has accepted the change, without waiting for the deployment.
    #[arg(long)]
    pub no_wait: bool,
}

impl WaitArgs {
    pub fn options(&self) -> crate::service::deploy::WaitOptions {
        crate::service::deploy::WaitOptions {
            timeout: self.wait_timeout,
            no_wait: self.no_wait,
        }
    }
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// The revision to go back to [default: the one before the running one].
    #[arg(long, value_name = "REVISION")]
    pub to: Option<i64>,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Args, Debug)]
pub struct ScaleArgs {
    /// How many tasks the service runs (0–1000).
    #[arg(value_name = "N", value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub count: u32,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Delete without asking (needed when not run in a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// The task (ID or ARN) [default: the newest running task of the stage].
    #[arg(long, value_name = "ID")]
    pub task: Option<String>,
    /// The container [default: the task's first].
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
    /// The command to run [default: /bin/sh] (after `--`).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

impl DeployArgs {
    pub fn options(&self) -> crate::deploy::DeployOptions {
        crate::deploy::DeployOptions {
            run: self.run.options(),
            dry_run: self.dry_run,
            no_run: self.no_run,
            wait: self.wait.options(),
            run_now: self.run_now,
        }
    }
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Keep printing new events until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only this task's logs (its ID or ARN) [default: every task of the stage].
    #[arg(long, value_name = "ID")]
    pub task: Option<String>,
    /// How far back to start, without --task: 90s, 15m, 2h, 1d.
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub since: String,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Include stopped tasks (ECS keeps them for about an hour).
    #[arg(long, short = 'a')]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Task IDs or ARNs (from `cargo fargate ps`).
    #[arg(value_name = "TASK")]
    pub tasks: Vec<String>,
    /// Stop every running task of this stage.
    #[arg(long, conflicts_with = "tasks")]
    pub all: bool,
    /// Reason recorded on the tasks.
    #[arg(long, default_value = "stopped with cargo fargate stop")]
    pub reason: String,
}

/// Flags that set image settings; each overrides its configuration key only when given.
#[derive(Args, Debug, Default)]
pub struct BuildArgs {
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
    /// CPU architecture of the image and the task; `both`: one image index of x86_64 and arm64
    /// [config: architecture; default: x86_64].
    #[arg(long, value_parser = ["x86_64", "arm64", "both"])]
    pub architecture: Option<String>,
}

impl BuildArgs {
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
            "architecture",
            "--architecture",
            self.architecture.clone().map(Value::Str),
        );
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
    /// Write [workspace.metadata.fargate] (every member's defaults) in the workspace root's
    /// Cargo.toml instead.
    #[arg(long, conflicts_with_all = ["from_service", "from_task_definition"])]
    pub workspace: bool,
    /// Write the stage's release workflow instead: github (.github/workflows/) or gitlab
    /// (.gitlab-ci.yml); `--force` replaces an existing one.
    #[arg(long, value_name = "github|gitlab", conflicts_with_all = ["from_service", "from_task_definition"])]
    pub ci: Option<String>,
    /// The branch the workflow deploys from (with --ci).
    #[arg(long, default_value = "main", requires = "ci")]
    pub branch: String,
    /// Write the configuration that reproduces this running ECS service and its task definition
    /// (taken over in place by `deploy`).
    #[arg(
        long,
        value_name = "CLUSTER/SERVICE",
        conflicts_with = "from_task_definition"
    )]
    pub from_service: Option<String>,
    /// Write the configuration that reproduces this task definition.
    #[arg(long, value_name = "FAMILY[:REVISION]")]
    pub from_task_definition: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Read AWS Copilot's manifests and write [package.metadata.fargate], one stage per
    /// environment, with a report of every field it cannot carry (file:line, what to do instead).
    Copilot(ImportCopilotArgs),
}

#[derive(Args, Debug)]
pub struct ImportCopilotArgs {
    /// The Copilot directory [default: the workspace root's copilot/].
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print the TOML and the report; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Replace an existing [package.metadata.fargate] section.
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
