//! `cargo fargate`: take a cargo project to AWS Fargate in one command.
//!
//! Layers, each using only the ones before it in this list (no import circle between top-level
//! modules: `tests/layout.rs` fails on one):
//! - Foundations: [`error`] (one-line errors, exit codes), [`interrupt`] (the one Ctrl-C
//!   listener; what an interrupt left behind), [`ci`] (GitHub Actions
//!   annotations, groups and job summary; GitLab sections), [`net`] (timeouts and retries;
//!   `net::poll_until` for every wait),
//!   [`output`] (human / JSON / progress), [`project`] (cargo metadata), [`sources`] (the source set every builder and the content hash
//!   use: members and every path dependency), [`image`] (image
//!   references pinned by digest), [`registry`] (the OCI registry's HTTP API), [`config`] (raw
//!   layers → the resolved `Config`, one sub-structure per concern; `config::schedule`: cron and
//!   rate expressions), [`names`]
//!   (every resource name and tag of a stage, computed from the `Config`: the one owner), [`aws`]
//!   (every AWS call, one set of clients per run).
//! - [`iam`]: every role cargo-fargate makes (task, execution, CodeBuild, scheduler, Express Mode
//!   infrastructure, the ECS Exec policy) and every least-privilege policy.
//! - The pipeline stages, in order; a stage never calls a later one: [`steps::package`] (the
//!   source archive) → [`build`] (the image; a build returns a `build::Artifact`) → [`publish`]
//!   (ships the artifact to ECR: repository, login, push, tags, SBOM) → [`steps::render`] (the task
//!   definition) → [`steps::register`] → [`steps::run`] (+ [`steps::logs`], [`steps::tasks`],
//!   [`steps::init`]).
//! - The kinds of stage beyond a one-off task, side by side: [`service`] (`service` and `web`),
//!   [`schedule`] (EventBridge Scheduler), and [`revisions`] (keep-revisions, after register).
//! - The commands that compose stages: [`deploy`] (the stages chained, the plan and its IAM
//!   simulation, the report), [`setup`], [`teardown`], [`doctor`], [`local`] (`run --local`),
//!   [`adopt`] (what teams already run, into the configuration: `import copilot`,
//!   `init --from-service` / `--from-task-definition`).
//! - [`cli`]: the command line (clap types stay here) and the dispatcher.

pub mod adopt;
pub mod aws;
pub mod build;
pub mod ci;
pub mod cli;
pub mod config;
pub mod deploy;
pub mod doctor;
pub mod error;
pub mod iam;
pub mod image;
pub mod interrupt;
pub mod local;
pub mod names;
pub mod net;
pub mod output;
pub mod project;
pub mod publish;
pub mod registry;
pub mod revisions;
pub mod schedule;
pub mod service;
pub mod setup;
pub mod sources;
pub mod steps;
pub mod teardown;
