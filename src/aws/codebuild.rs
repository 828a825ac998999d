//! CodeBuild: the build project (read, created, updated when it differs) and one build's life
//! (start, read, stop).

use std::collections::BTreeMap;

use aws_sdk_codebuild::types::{
    ArtifactsType, Build, CloudWatchLogsConfig, ComputeType, EnvironmentType, EnvironmentVariable,
    EnvironmentVariableType, ImagePullCredentialsType, LogsConfig, LogsConfigStatusType, Project,
    ProjectArtifacts, ProjectEnvironment, ProjectSource, SourceType, Tag,
};

use super::Aws;
use crate::error::Result;

/// What the project must look like.
#[derive(Debug, Clone)]
pub struct ProjectSpec {
    pub name: String,
    pub buildspec: String,
    pub image: String,
    pub arm: bool,
    pub compute_type: String,
    pub service_role: String,
    pub timeout_minutes: i32,
    pub log_group: String,
    pub tags: BTreeMap<String, String>,
}

/// Where a build runs: CodeBuild's ARM environment (ARM_CONTAINER) or its x86_64 one, and the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildEnvironment {
    pub arm: bool,
    pub image: String,
}

impl BuildEnvironment {
    pub fn environment_type(&self) -> EnvironmentType {
        if self.arm {
            EnvironmentType::ArmContainer
        } else {
            EnvironmentType::LinuxContainer
        }
    }
}

impl ProjectSpec {
    /// The settings of `found` that differ from this spec, by name (empty: nothing to update).
    pub fn differences(&self, found: &Project) -> Vec<&'static str> {
        let mut d = Vec::new();
        let source = found.source();
        if source.map(|s| s.r#type().as_str()) != Some("NO_SOURCE")
            || source.and_then(|s| s.buildspec()) != Some(self.buildspec.as_str())
        {
            d.push("buildspec");
        }
        let env = found.environment();
        if env.map(|e| e.image()) != Some(self.image.as_str())
            || env.map(|e| e.r#type().as_str()) != Some(self.environment_type().as_str())
        {
            d.push("image");
        }
        if env.map(|e| e.compute_type().as_str()) != Some(self.compute_type.as_str()) {
            d.push("compute type");
        }
        if env.and_then(|e| e.privileged_mode()) != Some(true) {
            d.push("privileged mode");
        }
        if found.service_role() != Some(self.service_role.as_str()) {
            d.push("service role");
        }
        if found.timeout_in_minutes() != Some(self.timeout_minutes) {
            d.push("timeout");
        }
        let logs = found.logs_config().and_then(|l| l.cloud_watch_logs());
        if logs.and_then(|l| l.group_name()) != Some(self.log_group.as_str())
            || logs.map(|l| l.status().as_str()) != Some("ENABLED")
        {
            d.push("log group");
        }
        let tags: BTreeMap<String, String> = found
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        if tags != self.tags {
            d.push("tags");
        }
        d
    }

    fn environment_type(&self) -> EnvironmentType {
        BuildEnvironment {
            arm: self.arm,
            image: String::new(),
        }
        .environment_type()
    }

    fn parts(
        &self,
    ) -> Result<(
        ProjectSource,
        ProjectArtifacts,
        ProjectEnvironment,
        LogsConfig,
        Vec<Tag>,
    )> {
        let source = ProjectSource::builder()
            .r#type(SourceType::NoSource)
            .buildspec(&self.buildspec)
            .build()?;
        let artifacts = ProjectArtifacts::builder()
            .r#type(ArtifactsType::NoArtifacts)
            .build()?;
        let environment = ProjectEnvironment::builder()
            .r#type(self.environment_type())
            .image(&self.image)
            .compute_type(ComputeType::from(self.compute_type.as_str()))
            .privileged_mode(true)
            .image_pull_credentials_type(ImagePullCredentialsType::Codebuild)
            .build()?;
        let logs = LogsConfig::builder()
            .cloud_watch_logs(
                CloudWatchLogsConfig::builder()
                    .status(LogsConfigStatusType::Enabled)
                    .group_name(&self.log_group)
                    .build()?,
            )
            .build();
        let tags = self
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        Ok((source, artifacts, environment, logs, tags))
    }
}

impl Aws {
    pub async fn codebuild_project(&self, name: &str) -> Result<Option<Project>> {
        let out = self
            .codebuild()
            .batch_get_projects()
            .names(name)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "codebuild:BatchGetProjects", |m| {
                    anyhow::anyhow!("reading CodeBuild project {name}: {m}")
                })
            })?;
        Ok(out
            .projects()
            .iter()
            .find(|p| p.name() == Some(name))
            .cloned())
    }

    pub async fn create_codebuild_project(&self, spec: &ProjectSpec) -> Result<()> {
        let (source, artifacts, environment, logs, tags) = spec.parts()?;
        self.codebuild()
            .create_project()
            .name(&spec.name)
            .description("cargo-fargate: builds the image of this project and stage")
            .source(source)
            .artifacts(artifacts)
            .environment(environment)
            .service_role(&spec.service_role)
            .timeout_in_minutes(spec.timeout_minutes)
            .logs_config(logs)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "codebuild:CreateProject", |m| {
                    anyhow::anyhow!("creating CodeBuild project {}: {m}", spec.name)
                })
            })?;
        Ok(())
    }

    pub async fn update_codebuild_project(&self, spec: &ProjectSpec) -> Result<()> {
        let (source, artifacts, environment, logs, tags) = spec.parts()?;
        self.codebuild()
            .update_project()
            .name(&spec.name)
            .source(source)
            .artifacts(artifacts)
            .environment(environment)
            .service_role(&spec.service_role)
            .timeout_in_minutes(spec.timeout_minutes)
            .logs_config(logs)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "codebuild:UpdateProject", |m| {
                    anyhow::anyhow!("updating CodeBuild project {}: {m}", spec.name)
                })
            })?;
        Ok(())
    }

    /// Starts a build of the archive at `s3://{location}` with the project's buildspec, in the
    /// environment of `on` (the ARM one for arm64: each platform of an image builds on its own).
    pub async fn start_codebuild(
        &self,
        project: &str,
        location: &str,
        buildspec: &str,
        env: &[(String, String)],
        on: &BuildEnvironment,
    ) -> Result<Build> {
        let vars = env
            .iter()
            .map(|(k, v)| {
                EnvironmentVariable::builder()
                    .name(k)
                    .value(v)
                    .r#type(EnvironmentVariableType::Plaintext)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .codebuild()
            .start_build()
            .project_name(project)
            .source_type_override(SourceType::S3)
            .source_location_override(location)
            // An overriding source would otherwise be searched for a buildspec.yml of its own.
            .buildspec_override(buildspec)
            .set_environment_variables_override(Some(vars))
            .environment_type_override(on.environment_type())
            .image_override(&on.image)
            // A retried StartBuild of the same archive starts one build (CodeBuild keeps the
            // token 5 minutes).
            .idempotency_token(super::idempotency_token(
                &[project, location, buildspec, &format!("{env:?}"), &on.image],
                64,
            ))
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "codebuild:StartBuild", |m| {
                    anyhow::anyhow!("starting a build of CodeBuild project {project}: {m}")
                })
            })?;
        out.build_value()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("CodeBuild started no build of {project}"))
    }

    pub async fn codebuild_build(&self, id: &str) -> Result<Build> {
        let out = self
            .codebuild()
            .batch_get_builds()
            .ids(id)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "codebuild:BatchGetBuilds", |m| {
                    anyhow::anyhow!("reading CodeBuild build {id}: {m}")
                })
            })?;
        out.builds()
            .iter()
            .find(|b| b.id() == Some(id))
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("CodeBuild does not know build {id}"))
    }

    pub async fn stop_codebuild(&self, id: &str) -> Result<()> {
        self.codebuild()
            .stop_build()
            .id(id)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "codebuild:StopBuild", |m| {
                    anyhow::anyhow!("stopping CodeBuild build {id}: {m}")
                })
            })?;
        Ok(())
    }

    pub async fn delete_codebuild_project(&self, name: &str) -> Result<()> {
        self.codebuild()
            .delete_project()
            .name(name)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "codebuild:DeleteProject", |m| {
                    anyhow::anyhow!("deleting CodeBuild project {name}: {m}")
                })
            })?;
        Ok(())
    }
}
