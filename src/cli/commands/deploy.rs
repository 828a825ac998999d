//! `deploy`: package, build, push, register and run (or roll out the service, or schedule).

use super::Session;
use crate::cli::DeployArgs;
use crate::deploy;
use crate::error::Result;

pub async fn run(s: &Session, args: DeployArgs) -> Result<i32> {
    let out = &s.out;
    let (project, config) = s.load_with(args.build.config_layer())?;
    let mut opts = args.options();
    opts.run.state_dir = Some(project.target_dir.join("fargate"));
    let report = deploy::deploy(&project, &config, &s.aws_options(&config), &opts, out).await?;
    out.result(&report);
    if let (Some(crate::ci::Ci::GitHub), deploy::DeployReport::Done(done)) = (out.ci(), &report) {
        if let Err(e) = crate::ci::append_summary(&done.summary_markdown()) {
            out.warn(format_args!("could not write the job summary: {e}"));
        }
    }
    Ok(report.exit_code())
}
