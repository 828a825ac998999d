//! `completions`: the shell's completion script.

use crate::cli::CompletionsArgs;
use crate::error::Result;

pub fn run(args: CompletionsArgs) -> Result<i32> {
    crate::cli::shell::print(&crate::cli::shell::completions(args.shell));
    Ok(0)
}
