//! `cargo fargate init --ci github|gitlab`: the release workflow of one stage. On the default
//! branch it installs Rust and cargo-fargate (prebuilt through cargo-binstall where a release is
//! published), takes the stage's deployer role through the CI's OIDC token (the role
//! `setup --ci` makes: no stored keys), runs `doctor`, then `deploy`; on pull/merge requests,
//! `deploy --dry-run` and `diff`. One deploy per stage at a time (the CI's own concurrency
//! control). An existing file is kept unless `--force`.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::Config;
use crate::error::{display_path, Location, Result, UserError};

const GITHUB: &str = include_str!("../../task-templates/ci/github.yml");
const GITLAB: &str = include_str!("../../task-templates/ci/gitlab.yml");

#[derive(Debug, Serialize)]
pub struct WorkflowOutput {
    pub ci: String,
    pub path: PathBuf,
    pub stage: String,
    pub role: String,
}

impl fmt::Display for WorkflowOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "wrote {} (stage {})",
            display_path(&self.path),
            self.stage
        )?;
        let (setup, var) = match self.ci.as_str() {
            "github" => (
                "github --repo OWNER/NAME",
                "the repository variable AWS_ACCOUNT_ID",
            ),
            _ => (
                "gitlab --repo GROUP/PROJECT",
                "the CI/CD variable AWS_ACCOUNT_ID",
            ),
        };
        writeln!(
            f,
            "next: `cargo fargate setup --stage {} --ci {setup}` makes the role {}; set {var}",
            self.stage, self.role
        )
    }
}

/// The workflow's path under `root` and its text for `ci`.
pub fn render(ci: &str, config: &Config, branch: &str) -> Result<(PathBuf, String), UserError> {
    let (path, template) = match ci {
        "github" => (
            PathBuf::from(".github/workflows").join(format!("cargo-fargate-{}.yml", config.stage)),
            GITHUB,
        ),
        "gitlab" => (PathBuf::from(".gitlab-ci.yml"), GITLAB),
        other => {
            return Err(UserError::new(format!("unknown CI `{other}`"))
                .at(Location::Flag("--ci".into()))
                .fix("use --ci github or --ci gitlab"))
        }
    };
    let region = match (&config.region, ci) {
        (Some(r), _) => r.clone(),
        (None, "github") => "${{ vars.AWS_REGION }}".into(),
        (None, _) => "${AWS_DEFAULT_REGION}".into(),
    };
    let text = template
        .replace("__STAGE__", &config.stage)
        .replace("__PROJECT__", &config.project)
        .replace("__ROLE__", &crate::names::deployer_role(config))
        .replace("__REGION__", &region)
        .replace("__BRANCH__", branch);
    Ok((path, text))
}

/// Writes the workflow under the workspace `root`; an existing file needs `force`.
pub fn run(
    root: &std::path::Path,
    ci: &str,
    config: &Config,
    branch: &str,
    force: bool,
) -> Result<WorkflowOutput> {
    let (relative, text) = render(ci, config, branch)?;
    let path = root.join(&relative);
    if path.exists() && !force {
        return Err(UserError::new(format!(
            "{} already exists; nothing was written",
            display_path(&path)
        ))
        .fix("pass --force to replace it, or merge the jobs by hand (`--force` into a copy shows them)")
        .into());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            UserError::new(format!("cannot create {}: {e}", dir.display()))
                .fix("check the directory's permissions")
        })?;
    }
    std::fs::write(&path, text).map_err(|e| {
        UserError::new(format!("cannot write {}: {e}", path.display()))
            .fix("check the directory's permissions")
    })?;
    Ok(WorkflowOutput {
        ci: ci.to_string(),
        path,
        stage: config.stage.clone(),
        role: crate::names::deployer_role(config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_names_the_stage_role_and_branch() {
        let c = crate::config::test_config("region = \"eu-west-1\"");
        let (path, text) = render("github", &c, "main").unwrap();
        assert_eq!(
            path,
            PathBuf::from(".github/workflows/cargo-fargate-dev.yml")
        );
        assert!(!text.contains("__"), "{text}");
        assert!(text.contains(&format!("role/{}", crate::names::deployer_role(&c))));
        assert!(text.contains("aws-region: eu-west-1"));
        assert!(text.contains("group: cargo-fargate-dev"));
        let (path, text) = render("gitlab", &c, "trunk").unwrap();
        assert_eq!(path, PathBuf::from(".gitlab-ci.yml"));
        assert!(text.contains("$CI_COMMIT_BRANCH == \"trunk\""));
        assert!(render("jenkins", &c, "main")
            .unwrap_err()
            .to_string()
            .contains("unknown CI"));
    }
}
