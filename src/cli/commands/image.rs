//! `build`, `push`, `render`, `register`, `diff`: the image and the task definition, one stage at
//! a time.

use super::Session;
use crate::cli::{BuildArgs, DiffArgs, ImageArgs};
use crate::deploy;
use crate::error::{display_path, Result};
use crate::image::PinnedImage;
use crate::steps::register::{self, DiffReport};
use crate::steps::render::RenderReport;

/// `build`: the image, in the Docker Engine or on the host.
pub async fn build(s: &Session, args: BuildArgs) -> Result<i32> {
    let (project, config) = s.load_with(args.config_layer())?;
    let plan = crate::build::plan(&project, &config)?;
    let access = crate::publish::base_access(&config, &s.aws_options(&config)).await?;
    crate::interrupt::note("the image build stopped; nothing was pushed");
    s.out
        .result(&crate::build::run(&project, &config, plan, access, &s.out).await?);
    Ok(0)
}

/// `push`: the repository ensured, the image built and pushed unless ECR holds it.
pub async fn push(s: &Session, args: BuildArgs) -> Result<i32> {
    let (project, config) = s.load_with(args.config_layer())?;
    let plan = crate::build::plan(&project, &config)?;
    let aws = s.connect(&config).await?;
    let login = crate::publish::login(&aws, &config).await?;
    let pushed = deploy::compose::push(&project, &config, plan, &aws, login, &s.out).await?;
    s.out.result(&pushed);
    Ok(0)
}

/// `render`: the task definition as it would be registered.
pub async fn render(s: &Session, args: ImageArgs) -> Result<i32> {
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

/// `register`: the task definition registered (when it changed), old revisions pruned.
pub async fn register(s: &Session, args: ImageArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let image = PinnedImage::parse(&args.image)?;
    let aws = s.connect(&config).await?;
    let prepared = deploy::compose::prepare(&aws, &config, image, &s.out).await?;
    let report = register::apply(&aws, &config, &prepared, None, &s.out).await?;
    crate::revisions::prune(&aws, &config, &s.out).await?;
    s.out.result(&report);
    Ok(0)
}

/// `diff`: the rendered definition (and a service's settings) against what is registered.
pub async fn diff(s: &Session, args: DiffArgs) -> Result<i32> {
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
