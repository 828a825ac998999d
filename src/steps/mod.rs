//! One module per user-visible step, in pipeline order. Each takes a typed input and returns a
//! typed report; the commands layer (`cli::commands`) composes them.

pub mod init;
pub mod init_ci;
pub mod logs;
pub mod loopback;
pub mod package;
pub mod register;
pub mod render;
pub mod run;
pub mod tasks;
