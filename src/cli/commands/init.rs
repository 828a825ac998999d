//! `init`: the configuration section, a CI workflow (`--ci`), or what a live service or task

use super::Session;
use crate::cli::InitArgs;
use crate::error::Result;
use crate::steps::init;

/// `init`: the configuration section, a CI workflow (`--ci`), or what a live service or task
/// definition runs (`--from-service`, `--from-task-definition`).
pub async fn run(s: &Session, args: InitArgs) -> Result<i32> {
    let out = &s.out;
    if let Some(ci) = args.ci.as_deref() {
        let (project, config) = s.load()?;
        let root = &project.workspace_root;
        let written = crate::steps::init_ci::run(root, ci, &config, &args.branch, args.force)?;
        out.result(&written);
        return Ok(0);
    }
    let from = match (&args.from_service, &args.from_task_definition) {
        (Some(s), _) => Some(crate::adopt::live::Source::service(s)?),
        (None, Some(td)) => Some(crate::adopt::live::Source::TaskDefinition(td.clone())),
        _ => None,
    };
    match from {
        Some(from) => {
            let (project, config) = s.load()?;
            let aws = s.connect(&config).await?;
            out.result(&crate::adopt::live::init(&project, &aws, &from, args.force).await?);
        }
        None => {
            let project = s.project()?;
            out.result(&init::run(&project, args.force, args.workspace)?);
        }
    }
    Ok(0)
}
