//! `push`: the repository ensured, the image built and pushed unless ECR holds it.

use super::Session;
use crate::cli::BuildArgs;
use crate::deploy;
use crate::error::Result;

pub async fn run(s: &Session, args: BuildArgs) -> Result<i32> {
    let (project, config) = s.load_with(args.config_layer())?;
    let plan = crate::build::plan(&project, &config)?;
    let aws = s.connect(&config).await?;
    let login = crate::publish::login(&aws, &config).await?;
    let pushed = deploy::compose::push(&project, &config, plan, &aws, login, &s.out).await?;
    s.out.result(&pushed);
    Ok(0)
}
