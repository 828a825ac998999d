//! `rollback`: the service back to an earlier revision.

use super::Session;
use crate::cli::RollbackArgs;
use crate::error::Result;

pub async fn run(s: &Session, args: RollbackArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let wait = args.wait.options();
    let aws = s.connect(&config).await?;
    let r = crate::service::status::rollback(&aws, &config, args.to, &wait, &s.out);
    s.out.result(&r.await?);
    Ok(0)
}
