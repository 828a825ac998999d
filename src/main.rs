//! `cargo fargate`: take a cargo project to AWS Fargate in one command.
//!
//! The pipeline, one module per stage: [`project`] + [`config`] (what to deploy), [`package`] (the
//! source archive), [`build`] and [`push`] (the image), [`render`] (the task definition), [`roles`], [`register`], [`run`] (+ [`logs`],
//! [`tasks`]). AWS clients are made, and AWS is called, in [`aws`] only.

mod aws;
mod build;
mod cli;
mod commands;
mod config;
mod deploy;
mod error;
mod init;
mod local;
mod logs;
mod net;
mod output;
mod package;
mod permissions;
mod project;
mod push;
mod register;
mod registry;
mod render;
mod revisions;
mod roles;
mod run;
mod schedule;
mod tasks;

fn main() {
    let cli = cli::parse();
    let out = output::Output::new(&cli.global);
    net::set_timeout(std::time::Duration::from_secs(cli.global.timeout));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = match runtime.block_on(commands::run(cli, &out)) {
        Ok(code) => code,
        Err(err) => {
            // One line: the error and its causes, joined.
            out.error(format!("{err:#}").replace('\n', " "));
            error::exit_code(&err)
        }
    };
    std::process::exit(code);
}
