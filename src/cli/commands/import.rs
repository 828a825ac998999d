//! `import copilot`.

use super::Session;
use crate::cli::ImportCommand;
use crate::error::Result;

pub fn run(s: &Session, command: ImportCommand) -> Result<i32> {
    let ImportCommand::Copilot(args) = command;
    let opts = crate::adopt::Options {
        dir: args.dir.as_deref(),
        manifest_path: s.global.manifest_path.as_deref(),
        package: s.global.package.as_deref(),
        bin: s.global.bin.as_deref(),
        dry_run: args.dry_run,
        force: args.force,
    };
    s.out.result(&crate::adopt::import(&opts)?);
    Ok(0)
}
