//! What `deploy` prints: the plan (`--dry-run`) or what it did.

use std::fmt;

use serde::Serialize;

use crate::publish::PushOutput;
use crate::steps::register::{self, RegisterReport};
use crate::steps::run::RunReport;

/// One step of the plan, as `--dry-run` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub step: &'static str,
    /// Whether carrying the plan out changes anything at this step.
    pub changes: bool,
    pub action: String,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum DeployReport {
    Plan {
        dry_run: bool,
        project: String,
        stage: String,
        steps: Vec<Step>,
        /// Whether the deploying identity may do what the plan does.
        permissions: crate::deploy::permissions::Checked,
    },
    Done(Box<Deployed>),
}

#[derive(Debug, Serialize)]
pub struct Deployed {
    pub project: String,
    pub stage: String,
    pub image_uri: String,
    pub digest: String,
    pub up_to_date: bool,
    pub task_definition: register::Registration,
    pub log_group: String,
    /// `<prefix>/<container>/<task id>` of each task, as awslogs names the streams.
    pub log_streams: Vec<String>,
    pub tasks: Vec<String>,
    pub exit_code: i32,
    pub push: PushOutput,
    pub register: RegisterReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunReport>,
    /// kind = "service" | "web": the service deployed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<crate::service::deploy::ServiceReport>,
    /// The EventBridge Scheduler schedule of a scheduled stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<crate::schedule::ScheduleReport>,
    /// Old revisions deregistered (keep-revisions).
    pub revisions: crate::revisions::PruneReport,
}

/// What a deploy did, from each step's report: the task's log streams named as awslogs names
/// them.
#[allow(clippy::too_many_arguments)]
pub fn done(
    config: &crate::config::Config,
    prepared: &register::Prepared,
    pushed: PushOutput,
    registered: RegisterReport,
    run: Option<RunReport>,
    service: Option<crate::service::deploy::ServiceReport>,
    schedule: Option<crate::schedule::ScheduleReport>,
    revisions: crate::revisions::PruneReport,
) -> Deployed {
    let container = crate::steps::render::main_container(&prepared.definition)
        .and_then(|c| c["name"].as_str())
        .unwrap_or("app")
        .to_string();
    let prefix = crate::names::log_stream_prefix(config);
    let tasks: Vec<String> = run
        .iter()
        .flat_map(|r| r.tasks.iter().map(|t| t.arn.clone()))
        .collect();
    let log_streams = run
        .iter()
        .flat_map(|r| {
            r.tasks
                .iter()
                .map(|t| format!("{prefix}/{container}/{}", t.id))
        })
        .collect();
    Deployed {
        project: config.project.clone(),
        stage: config.stage.clone(),
        image_uri: pushed.image_uri.clone(),
        digest: pushed.digest.clone(),
        up_to_date: pushed.up_to_date,
        task_definition: registered.task_definition.clone(),
        log_group: config.container.log_group.clone(),
        log_streams,
        tasks,
        exit_code: run.as_ref().map(|r| r.exit_code).unwrap_or(0),
        push: pushed,
        register: registered,
        run,
        service,
        schedule,
        revisions,
    }
}

impl Deployed {
    /// The deploy as Markdown, for a CI's job summary.
    pub fn summary_markdown(&self) -> String {
        let mut md = format!(
            "### cargo fargate deploy: {} / {}\n\n| | |\n|---|---|\n",
            self.project, self.stage
        );
        let mut row = |k: &str, v: String| md.push_str(&format!("| {k} | `{v}` |\n"));
        row("image", self.image_uri.clone());
        row("digest", self.digest.clone());
        row(
            "task definition",
            format!(
                "{}:{}",
                self.task_definition.family, self.task_definition.revision
            ),
        );
        for task in &self.tasks {
            row("task", task.clone());
        }
        if let Some(service) = &self.service {
            row(
                "service",
                serde_json::to_value(service)
                    .ok()
                    .and_then(|v| v["service"].as_str().map(str::to_string))
                    .unwrap_or_default(),
            );
        }
        row("exit code", self.exit_code.to_string());
        row("log group", self.log_group.clone());
        for stream in &self.log_streams {
            row("log stream", stream.clone());
        }
        md.push('\n');
        md
    }
}

impl DeployReport {
    pub fn exit_code(&self) -> i32 {
        match self {
            DeployReport::Plan { .. } => 0,
            DeployReport::Done(d) => d.exit_code,
        }
    }
}

impl fmt::Display for DeployReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeployReport::Plan {
                project,
                stage,
                steps,
                permissions,
                ..
            } => {
                writeln!(
                    f,
                    "plan for {project} stage {stage} (dry run: nothing was changed)"
                )?;
                for s in steps {
                    writeln!(
                        f,
                        "  {:<9} {} {}",
                        s.step,
                        if s.changes { "~" } else { "=" },
                        s.action
                    )?;
                }
                writeln!(f, "  permissions: {permissions}")?;
                Ok(())
            }
            DeployReport::Done(d) => {
                let state = if d.up_to_date { "up to date" } else { "pushed" };
                writeln!(f, "image            {} ({state})", d.image_uri)?;
                let td = &d.task_definition;
                writeln!(
                    f,
                    "task definition  {}:{} ({})",
                    td.family,
                    td.revision,
                    if td.registered {
                        "registered"
                    } else {
                        "unchanged"
                    }
                )?;
                for t in &d.tasks {
                    writeln!(f, "task             {t}")?;
                }
                writeln!(f, "log group        {}", d.log_group)?;
                for s in &d.log_streams {
                    writeln!(f, "log stream       {s}")?;
                }
                if !d.revisions.deregistered.is_empty() {
                    writeln!(f, "old revisions    {}", d.revisions)?;
                }
                if let Some(service) = &d.service {
                    return write!(f, "{service}");
                }
                if let Some(s) = &d.schedule {
                    writeln!(f, "schedule         {s}")?;
                }
                match (&d.run, &d.schedule) {
                    (Some(r), _) if !r.detached && !r.interrupted => {
                        // A non-zero exit says why (a stop reason, a container that never ran).
                        match r.outcome.as_ref().filter(|o| o.exit_code != 0) {
                            Some(o) => writeln!(f, "exit code        {} ({})", d.exit_code, o.message),
                            None => writeln!(f, "exit code        {}", d.exit_code),
                        }
                    }
                    (Some(_), _) => writeln!(f, "exit code        (not waited for)"),
                    (None, Some(_)) => writeln!(
                        f,
                        "run              not now: the schedule runs it (`deploy --run-now` also runs it once)"
                    ),
                    (None, None) => writeln!(f, "run              skipped (--no-run)"),
                }
            }
        }
    }
}
