//! `cargo fargate`: take a cargo project to AWS Fargate in one command.
//!
//! Layers, each calling only the ones below it:
//! - [`cli`]: the command line (clap types stay here) and [`cli::commands`], which composes the
//!   pipeline stages for each command.
//! - [`steps`]: one module per user-visible step, in pipeline order: [`steps::package`] (the source
//!   archive), [`build`] (the image), [`steps::push`] (ECR), [`steps::render`] (the task
//!   definition), [`steps::roles`], [`steps::register`], [`steps::run`] / [`steps::deploy`] (+
//!   [`steps::logs`], [`steps::tasks`]). A step never calls a later or a sibling step.
//! - [`schedule`] (scheduled jobs: EventBridge Scheduler) and [`revisions`] (keep-revisions), used
//!   by deploy after register.
//! - [`project`] + [`config`] (what to deploy), [`sources`] (the source set every builder and the
//!   content hash use), [`output`] (what the user sees), [`error`].
//! - [`aws`] (every AWS call, one set of clients per run), [`registry`] (the OCI registry).

pub mod aws;
pub mod build;
pub mod cli;
pub mod config;
pub mod deploy;
pub mod doctor;
pub mod error;
pub mod iam;
pub mod image;
pub mod local;
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
