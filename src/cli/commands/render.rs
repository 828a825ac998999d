//! `render`: the task definition as it would be registered.

use super::Session;
use crate::cli::ImageArgs;
use crate::deploy;
use crate::error::{display_path, Result};
use crate::image::PinnedImage;
use crate::steps::render::RenderReport;

pub async fn run(s: &Session, args: ImageArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let image = PinnedImage::parse(&args.image)?;
    let aws = s.connect(&config).await?;
    let prepared = deploy::compose::prepare(&aws, &config, image, &s.out).await?;
    s.out.result(&RenderReport {
        family: crate::names::family(&config),
        image: prepared.image.reference.clone(),
        template: config
            .task_template
            .as_deref()
            .map(display_path)
            .unwrap_or_else(|| "built-in".into()),
        definition: prepared.definition,
    });
    Ok(0)
}
