//! `build`: the image, in the Docker Engine or on the host.

use super::Session;
use crate::cli::BuildArgs;
use crate::error::Result;

pub async fn run(s: &Session, args: BuildArgs) -> Result<i32> {
    let (project, config) = s.load_with(args.config_layer())?;
    let plan = crate::build::plan(&project, &config)?;
    let access = crate::publish::base_access(&config, &s.aws_options(&config)).await?;
    crate::interrupt::note("the image build stopped; nothing was pushed");
    s.out
        .result(&crate::build::run(&project, &config, plan, access, &s.out).await?);
    Ok(0)
}
