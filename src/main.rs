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
mod output;
mod package;
mod project;
mod push;
mod register;
mod registry;
mod render;
mod roles;
mod run;
mod tasks;

fn main() {
    let cli = cli::parse();
    let out = output::Output::new(&cli.global);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = match runtime.block_on(commands::run(cli, &out)) {
        Ok(code) => code,
        Err(err) => {
            // One line: the error and its causes, joined.
            out.error(format!("{err:#}").replace('\n', " "));
            1
        }
    };
    std::process::exit(code);
}
