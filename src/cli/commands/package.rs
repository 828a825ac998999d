//! `package`: the source archive.

use super::Session;
use crate::cli::PackageArgs;
use crate::error::Result;
use crate::steps::package;

pub fn run(s: &Session, args: PackageArgs) -> Result<i32> {
    let (project, config) = s.load()?;
    let sources = crate::sources::SourceSet::of(&project)?;
    let input =
        package::PackageInput::for_project(&project, &sources, &config, args.output, args.allow);
    s.out.result(&package::run(&input, &s.out)?);
    Ok(0)
}
