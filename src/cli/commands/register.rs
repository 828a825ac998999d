//! `register`: the task definition registered (when it changed), old revisions pruned.

use super::Session;
use crate::cli::ImageArgs;
use crate::deploy;
use crate::error::Result;
use crate::image::PinnedImage;
use crate::steps::register::{self};

pub async fn run(s: &Session, args: ImageArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let image = PinnedImage::parse(&args.image)?;
    let aws = s.connect(&config).await?;
    let prepared = deploy::compose::prepare(&aws, &config, image, &s.out).await?;
    let report = register::apply(&aws, &config, &prepared, None, &s.out).await?;
    crate::revisions::prune(&aws, &config, &s.out).await?;
    s.out.result(&report);
    Ok(0)
}
