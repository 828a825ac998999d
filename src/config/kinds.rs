//! The typed values of configuration keys that are not plain strings or numbers.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    X86_64,
    Arm64,
}

impl Architecture {
    /// As `architecture` is written in the configuration.
    pub fn as_config(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
    /// The Docker/OCI platform the image is built for.
    pub fn platform(self) -> &'static str {
        match self {
            Architecture::X86_64 => "linux/amd64",
            Architecture::Arm64 => "linux/arm64",
        }
    }
    /// ECS `runtimePlatform.cpuArchitecture`.
    pub fn ecs(self) -> &'static str {
        match self {
            Architecture::X86_64 => "X86_64",
            Architecture::Arm64 => "ARM64",
        }
    }
    /// The Rust target triple of a Fargate task of this architecture.
    pub fn rust_target(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64-unknown-linux-gnu",
            Architecture::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }
}

/// `runtime-image` for the minimal runtime: an empty base plus exactly what the binary needs.
pub const SCRATCH: &str = "scratch";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Builder {
    Docker,
    Host,
    Codebuild,
}

/// ECR's image tag mutability (`tag-mutability`), serialised as ECR spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TagMutability {
    Mutable,
    Immutable,
}

impl TagMutability {
    /// As ECR's API and the configuration spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            TagMutability::Mutable => "MUTABLE",
            TagMutability::Immutable => "IMMUTABLE",
        }
    }
}

impl std::fmt::Display for TagMutability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role is either given by the user (never modified) or managed by cargo-fargate under this name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "role")]
pub enum Role {
    Given(String),
    Managed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lifecycle {
    pub untagged_expire_days: u32,
    pub keep_last: u32,
    pub short_lived_prefixes: Vec<String>,
    pub short_lived_expire_days: u32,
}
