//! `scale`: the service's desired count.

use super::Session;
use crate::cli::ScaleArgs;
use crate::error::Result;

pub async fn run(s: &Session, args: ScaleArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let wait = args.wait.options();
    let aws = s.connect(&config).await?;
    let r = crate::service::status::scale(&aws, &config, args.count, &wait, &s.out);
    s.out.result(&r.await?);
    Ok(0)
}
