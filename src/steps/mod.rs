//! One module per user-visible step, in pipeline order. Each takes a typed input and returns a
//! typed report; the commands layer ([`crate::cli::commands`]) composes them.

pub mod init;
pub mod logs;
pub mod managed_role;
pub mod package;
pub mod permissions;
pub mod push;
pub mod register;
pub mod render;
pub mod roles;
pub mod run;
pub mod tasks;
