//! `man`: the manual page, or one per command into a directory.

use super::Session;
use crate::cli::ManArgs;
use crate::error::Result;

pub fn run(s: &Session, args: ManArgs) -> Result<i32> {
    match args.dir {
        Some(dir) => s.out.result(&crate::cli::shell::man_pages(&dir)?),
        None => crate::cli::shell::print(&crate::cli::shell::man()?),
    }
    Ok(0)
}
