//! `diff`: the rendered definition (and a service's settings) against what is registered.

use super::Session;
use crate::cli::DiffArgs;
use crate::deploy;
use crate::error::Result;
use crate::image::PinnedImage;
use crate::steps::register::{self, DiffReport};

pub async fn run(s: &Session, args: DiffArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let image = PinnedImage::parse(&args.image.image)?;
    let aws = s.connect(&config).await?;
    let prepared = deploy::compose::prepare(&aws, &config, image, &s.out).await?;
    let family = crate::names::family(&config);
    let latest = register::latest(&aws, &family, &prepared.definition).await?;
    let rendered = register::normalise(&prepared.definition);
    let (old, label) = match &latest {
        Some(l) => (
            l.definition.clone(),
            format!("{family}:{} (registered)", l.revision),
        ),
        None => (
            serde_json::Value::Null,
            format!("{family} (none registered)"),
        ),
    };
    let mut changed = old != rendered;
    let mut diff = register::unified_diff(&old, &rendered, &label, "rendered");
    // kind = "service": the service's settings too (the revision it would run included).
    let running = latest.as_ref().filter(|_| !changed).map(|l| l.arn.as_str());
    let attached = crate::service::balancer::attach(&aws, &config).await?;
    let service =
        crate::service::deploy::diff(&aws, attached.as_ref().unwrap_or(&config), running).await?;
    changed |= !service.is_empty();
    diff.extend(service.iter().map(|l| format!("{l}\n")));
    let report = DiffReport {
        family,
        latest_revision: latest.as_ref().map(|l| l.revision),
        changed,
        diff,
    };
    s.out.result(&report);
    Ok(if args.exit_code && changed {
        crate::error::exit::CHANGED
    } else {
        0
    })
}
