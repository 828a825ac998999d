//! The one table of configuration keys. Validation ("unknown key, did you mean"), the
//! `CARGO_FARGATE_*` env layer, `cargo fargate config` and the book's configuration reference (`docs/src/reference/config.md`,
//! generated and checked by `tests/book.rs`) all read it.

mod shape;

pub use shape::{find, names_under, KeyDef, Kind};

pub const ARCHITECTURES: &[&str] = &["x86_64", "arm64", "both"];
pub const BUILDERS: &[&str] = &["docker", "host", "codebuild"];
pub const CODEBUILD_COMPUTE_TYPES: &[&str] = &[
    "BUILD_GENERAL1_SMALL",
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
];
pub const EXECUTION_ROLE_POLICIES: &[&str] = &["scoped", "aws-managed"];
pub const TAG_MUTABILITY: &[&str] = &["IMMUTABLE", "MUTABLE"];
pub const KINDS: &[&str] = &["task", "service", "web"];
pub const NETWORKS: &[&str] = &["public", "private"];

/// Sub-tables that hold keys of their own (not stages: those are handled apart).
pub const SECTIONS: &[&str] = &["lifecycle", "health-check", "scale-on"];
pub const LOAD_BALANCERS: &[&str] = &["public", "internal"];
pub const LISTENERS: &[&str] = &["http", "https"];
pub const DEPLOYMENTS: &[&str] = &["rolling", "blue-green", "canary", "linear"];

pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "name",
        kind: Kind::Str,
        default: "{package name}",
        doc: "Project name; resource names default to `{project}-{stage}`.",
    },
    KeyDef {
        name: "bin",
        kind: Kind::Str,
        default: "the package's only binary",
        doc: "Binary target to deploy when the package has several.",
    },
    KeyDef {
        name: "region",
        kind: Kind::Str,
        default: "AWS_REGION or the profile's region",
        doc: "AWS region.",
    },
    KeyDef {
        name: "aws-profile",
        kind: Kind::Str,
        default: "AWS_PROFILE or the default chain",
        doc: "Named AWS profile (SSO, assume-role and credential_process profiles work).",
    },
    KeyDef {
        name: "cluster",
        kind: Kind::Str,
        default: "{project}-{stage}",
        doc: "ECS cluster the task runs in.",
    },
    KeyDef {
        name: "family",
        kind: Kind::Str,
        default: "{project}-{stage}",
        doc: "Task definition family the stage registers under; an existing family (not cargo-fargate's) is taken over only with `adopt`.",
    },
    KeyDef {
        name: "create-cluster",
        kind: Kind::Bool,
        default: "true",
        doc: "Create the cluster when it does not exist.",
    },
    KeyDef {
        name: "adopt",
        kind: Kind::Bool,
        default: "false",
        doc: "Take over existing resources of the stage's names that cargo-fargate did not make (not tagged as this stage's): they are tagged, then updated. Without it such a resource is never changed.",
    },
    KeyDef {
        name: "repository",
        kind: Kind::Str,
        default: "{project}-{stage}",
        doc: "ECR repository name.",
    },
    KeyDef {
        name: "tag-mutability",
        kind: Kind::Choice(TAG_MUTABILITY),
        default: "IMMUTABLE",
        doc: "ECR image tag mutability.",
    },
    KeyDef {
        name: "registry-endpoint",
        kind: Kind::Str,
        default: "the registry ECR reports",
        doc: "Registry host[:port] or URL to push to instead (VPC endpoint, proxy).",
    },
    KeyDef {
        name: "bucket",
        kind: Kind::Str,
        default: "{project}-{account}-{region}",
        doc: "S3 bucket of the `codebuild` builder's source archives: created when missing (private, SSE-S3, public access blocked, owner-enforced, archives expire after 30 days); an existing one must be this account's, in this region and private.",
    },
    KeyDef {
        name: "cpu",
        kind: Kind::Int,
        default: "256",
        doc: "Task CPU units: 256, 512, 1024, 2048, 4096, 8192 or 16384.",
    },
    KeyDef {
        name: "memory",
        kind: Kind::Int,
        default: "512",
        doc: "Task memory in MiB; must fit the cpu (Fargate table).",
    },
    KeyDef {
        name: "architecture",
        kind: Kind::Choice(ARCHITECTURES),
        default: "x86_64",
        doc: "Image and task CPU architecture; arm64 (Graviton) is cross-compiled on an x86_64 machine, `both` pushes one image index (every builder; codebuild builds arm64 on its ARM environment; tasks x86_64, or arm64 with `architecture = \"arm64\"` and `--image`): docs/src/arm64.md.",
    },
    KeyDef {
        name: "network",
        kind: Kind::Choice(NETWORKS),
        default: "public",
        doc: "Without `subnets`: the project's VPC `setup` makes (two zones; `private` adds private subnets and VPC endpoints). Parts and monthly costs: docs/src/network.md.",
    },
    KeyDef {
        name: "network-cidr",
        kind: Kind::Str,
        default: "10.0.0.0/16",
        doc: "The address range of the VPC `setup` makes (/16 to /24); its subnets are sixteenths of it.",
    },
    KeyDef {
        name: "zones",
        kind: Kind::Int,
        default: "2",
        doc: "Availability zones the VPC `setup` makes spans (2 to 4).",
    },
    KeyDef {
        name: "subnets",
        kind: Kind::StrList,
        default: "the VPC `setup` makes",
        doc: "Subnet IDs for the task's network interface.",
    },
    KeyDef {
        name: "security-groups",
        kind: Kind::StrList,
        default: "[]",
        doc: "Security group IDs for the task.",
    },
    KeyDef {
        name: "assign-public-ip",
        kind: Kind::Bool,
        default: "false",
        doc: "Give the task a public IP (needed in public subnets without NAT).",
    },
    KeyDef {
        name: "task-role",
        kind: Kind::Str,
        default: "managed: {project}-{stage}-task",
        doc: "Task role name or ARN; when given, cargo-fargate does not manage it.",
    },
    KeyDef {
        name: "task-role-policies",
        kind: Kind::StrList,
        default: "[]",
        doc: "Managed policy ARNs attached to the managed task role.",
    },
    KeyDef {
        name: "task-role-policy-files",
        kind: Kind::StrList,
        default: "[]",
        doc: "JSON policy files attached inline to the managed task role.",
    },
    KeyDef {
        name: "execution-role",
        kind: Kind::Str,
        default: "managed: {project}-{stage}-execution",
        doc: "Execution role name or ARN; when given, cargo-fargate does not manage it.",
    },
    KeyDef {
        name: "execution-role-policy",
        kind: Kind::Choice(EXECUTION_ROLE_POLICIES),
        default: "scoped",
        doc: "The managed execution role's permissions: `scoped` (this repository, log group and the configured secrets only) or `aws-managed` (AmazonECSTaskExecutionRolePolicy).",
    },
    KeyDef {
        name: "secrets-kms-keys",
        kind: Kind::StrList,
        default: "[] (secrets encrypted with the AWS managed key)",
        doc: "ARNs of the customer managed KMS keys the configured secrets are encrypted with; the execution role may decrypt with exactly these, through SSM or Secrets Manager.",
    },
    KeyDef {
        name: "log-group",
        kind: Kind::Str,
        default: "/ecs/{project}-{stage}",
        doc: "CloudWatch Logs group for the container's output.",
    },
    KeyDef {
        name: "log-retention-days",
        kind: Kind::Int,
        default: "30",
        doc: "Retention of the log group (a value CloudWatch accepts).",
    },
    KeyDef {
        name: "environment",
        kind: Kind::StrMap,
        default: "{}",
        doc: "Plain environment variables of the container (never secrets).",
    },
    KeyDef {
        name: "secrets",
        kind: Kind::StrMap,
        default: "{}",
        doc: "Variable name → SSM parameter (name or ARN) or Secrets Manager ARN.",
    },
    KeyDef {
        name: "command",
        kind: Kind::StrList,
        default: "the image's",
        doc: "Container command.",
    },
    KeyDef {
        name: "entrypoint",
        kind: Kind::StrList,
        default: "the image's",
        doc: "Container entrypoint.",
    },
    KeyDef {
        name: "ports",
        kind: Kind::IntList,
        default: "[]",
        doc: "Container ports (TCP) to map.",
    },
    // Services (kind = "service" | "web"): kept together so other key additions merge cleanly.
    KeyDef {
        name: "kind",
        kind: Kind::Choice(KINDS),
        default: "task",
        doc: "task: run to completion; service: an ECS service kept running; web: ECS Express Mode (HTTPS URL).",
    },
    KeyDef {
        name: "service-name",
        kind: Kind::Str,
        default: "{project}-{stage}",
        doc: "The ECS service of a `service` stage; an existing service (not cargo-fargate's) is taken over only with `adopt`.",
    },
    KeyDef {
        name: "desired-count",
        kind: Kind::Int,
        default: "1",
        doc: "Tasks a service keeps running (for web: the minimum of its scaling).",
    },
    KeyDef {
        name: "max-count",
        kind: Kind::Int,
        default: "{desired-count}",
        doc: "The most tasks a service scales out to (kind = \"web\": Express Mode's; kind = \"service\": autoscaling, with `scale-on`).",
    },
    KeyDef {
        name: "min-healthy-percent",
        kind: Kind::Int,
        default: "100",
        doc: "Service deployments keep at least this share of desired tasks running (0–100).",
    },
    KeyDef {
        name: "max-percent",
        kind: Kind::Int,
        default: "200",
        doc: "Service deployments run at most this share of desired tasks (100–200).",
    },
    KeyDef {
        name: "health-check-grace-period",
        kind: Kind::Int,
        default: "0 (only with a target group)",
        doc: "Seconds failing load balancer health checks of a new task are ignored (needs `target-group-arn`).",
    },
    KeyDef {
        name: "platform-version",
        kind: Kind::Str,
        default: "LATEST",
        doc: "Fargate platform version of the service's tasks.",
    },
    KeyDef {
        name: "target-group-arn",
        kind: Kind::Str,
        default: "none",
        doc: "An existing load balancer target group the service registers its tasks in.",
    },
    KeyDef {
        name: "container-port",
        kind: Kind::Int,
        default: "the first of `ports`",
        doc: "The container port the target group (or Express Mode's load balancer) sends traffic to.",
    },
    KeyDef {
        name: "health-check-path",
        kind: Kind::Str,
        default: "/ping",
        doc: "kind = \"web\": the HTTP path the load balancer checks.",
    },
    KeyDef {
        name: "load-balancer",
        kind: Kind::Choice(LOAD_BALANCERS),
        default: "none",
        doc: "`service`: `setup` makes an Application Load Balancer in the project's VPC, its security group, listener and a fast target group; instead of `target-group-arn`. `deploy` prints its URL. See docs/src/load-balancer.md.",
    },
    KeyDef {
        name: "listener",
        kind: Kind::Choice(LISTENERS),
        default: "https with `certificate-arn`, else http",
        doc: "The load balancer's listener; `https` needs `certificate-arn` (HTTP then redirects to it).",
    },
    KeyDef {
        name: "certificate-arn",
        kind: Kind::Str,
        default: "none",
        doc: "ACM certificate of the load balancer's HTTPS listener.",
    },
    KeyDef {
        name: "deployment",
        kind: Kind::Choice(DEPLOYMENTS),
        default: "rolling",
        doc: "How a service deploy moves traffic: rolling, or ECS's blue-green, canary or linear (with `load-balancer`).",
    },
    KeyDef {
        name: "canary-percent",
        kind: Kind::Number,
        default: "10",
        doc: "deployment = \"canary\": the share of traffic the new revision gets first (0.1–100).",
    },
    KeyDef {
        name: "canary-bake",
        kind: Kind::Int,
        default: "5",
        doc: "deployment = \"canary\": minutes the canary runs before the rest shifts (0–1440).",
    },
    KeyDef {
        name: "linear-step-percent",
        kind: Kind::Number,
        default: "10",
        doc: "deployment = \"linear\": the share of traffic shifted per step (3–100).",
    },
    KeyDef {
        name: "linear-bake",
        kind: Kind::Int,
        default: "1",
        doc: "deployment = \"linear\": minutes between steps (0–1440).",
    },
    KeyDef {
        name: "bake-time",
        kind: Kind::Int,
        default: "0",
        doc: "Minutes the old revision stays ready for a rollback after all traffic moved (0–1440).",
    },
    KeyDef {
        name: "rollback-alarms",
        kind: Kind::StrList,
        default: "[]",
        doc: "CloudWatch alarm names that roll a deployment back when they go to ALARM.",
    },
    KeyDef {
        name: "min-count",
        kind: Kind::Int,
        default: "{desired-count}",
        doc: "kind = \"service\": the fewest tasks autoscaling keeps (with `max-count` above it).",
    },
    KeyDef {
        name: "scale-on.cpu",
        kind: Kind::Int,
        default: "none",
        doc: "Target average CPU utilization (%) the service scales to between `min-count` and `max-count`.",
    },
    KeyDef {
        name: "scale-on.memory",
        kind: Kind::Int,
        default: "none",
        doc: "Target average memory utilization (%).",
    },
    KeyDef {
        name: "scale-on.requests",
        kind: Kind::Int,
        default: "none",
        doc: "Target requests per task per minute through the load balancer.",
    },
    KeyDef {
        name: "exec",
        kind: Kind::Bool,
        default: "false",
        doc: "Enable ECS Exec (`cargo fargate exec`) on runs and services; adds the SSM messages permissions to the managed task role.",
    },
    KeyDef {
        name: "stop-timeout",
        kind: Kind::Int,
        default: "30",
        doc: "Seconds between SIGTERM and SIGKILL (2–120).",
    },
    KeyDef {
        name: "health-check.command",
        kind: Kind::StrList,
        default: "none",
        doc: "The container's health check, exec form (works on `scratch`, e.g. `[\"/app/my-app\", \"--health\"]`); exit 0 = healthy. Services replace UNHEALTHY tasks.",
    },
    KeyDef {
        name: "health-check.interval",
        kind: Kind::Int,
        default: "30",
        doc: "Seconds between health checks (5–300).",
    },
    KeyDef {
        name: "health-check.timeout",
        kind: Kind::Int,
        default: "5",
        doc: "Seconds a health check may take (2–60, less than the interval).",
    },
    KeyDef {
        name: "health-check.retries",
        kind: Kind::Int,
        default: "3",
        doc: "Failed checks in a row that make the container UNHEALTHY (1–10).",
    },
    KeyDef {
        name: "health-check.start-period",
        kind: Kind::Int,
        default: "0",
        doc: "Seconds after start in which failed checks do not count (0–300).",
    },
    KeyDef {
        name: "tags",
        kind: Kind::StrMap,
        default: "{}",
        doc: "Tags put on every resource cargo-fargate creates.",
    },
    KeyDef {
        name: "builder",
        kind: Kind::Choice(BUILDERS),
        default: "docker",
        doc: "Where the image is built: `docker` (the Docker Engine), `host` (cargo on this machine, no Docker) or `codebuild` (AWS CodeBuild); see docs/src/concepts/builders.md.",
    },
    KeyDef {
        name: "codebuild-role",
        kind: Kind::Str,
        default: "managed: {project}-{stage}-codebuild",
        doc: "Service role of the CodeBuild project (name or ARN of this account, trusting `codebuild.amazonaws.com`); a given role is never modified.",
    },
    KeyDef {
        name: "codebuild-compute-type",
        kind: Kind::Choice(CODEBUILD_COMPUTE_TYPES),
        default: "BUILD_GENERAL1_MEDIUM",
        doc: "CodeBuild compute type. Example: `CARGO_FARGATE_CODEBUILD_COMPUTE_TYPE=BUILD_GENERAL1_LARGE cargo fargate push`.",
    },
    KeyDef {
        name: "codebuild-timeout",
        kind: Kind::Int,
        default: "60",
        doc: "Minutes a CodeBuild build may take before it fails as TIMED_OUT (5–2160).",
    },
    KeyDef {
        name: "dockerfile",
        kind: Kind::Str,
        default: "./Dockerfile if present, else the built-in template",
        doc: "Dockerfile to build with (relative to the package).",
    },
    KeyDef {
        name: "builder-image",
        kind: Kind::Str,
        default: "rust:1.95.0-slim-bookworm",
        doc: "Base image of the template's build stage.",
    },
    KeyDef {
        name: "runtime-image",
        kind: Kind::Str,
        default: "scratch",
        doc: "Base of the image (template's runtime stage and `host` builder): `scratch` is the minimal runtime (docs/src/concepts/images.md); a full image such as `debian:bookworm-slim` for a shell or system packages.",
    },
    KeyDef {
        name: "tzdata",
        kind: Kind::Bool,
        default: "false",
        doc: "Put the time zone database (/usr/share/zoneinfo) in a minimal (`scratch`) image.",
    },
    KeyDef {
        name: "cargo-profile",
        kind: Kind::Str,
        default: "release",
        doc: "Cargo build profile of the binary.",
    },
    KeyDef {
        name: "features",
        kind: Kind::StrList,
        default: "[]",
        doc: "Cargo features to enable.",
    },
    KeyDef {
        name: "task-template",
        kind: Kind::Str,
        default: "the built-in template",
        doc: "Task definition template file (JSON with placeholders).",
    },
    KeyDef {
        name: "schedule",
        kind: Kind::Str,
        default: "none (deploy runs the task once)",
        doc: "Run the task on a schedule instead of once per deploy: `cron(minutes hours day-of-month month day-of-week year)` or `rate(N minute|minutes|hour|hours|day|days)`, EventBridge Scheduler syntax. Example: `schedule = \"cron(0 3 * * ? *)\"`.",
    },
    KeyDef {
        name: "schedule-timezone",
        kind: Kind::Str,
        default: "UTC",
        doc: "IANA time zone the `schedule`'s cron fields are read in, e.g. `Europe/Paris`.",
    },
    KeyDef {
        name: "scheduler-role",
        kind: Kind::Str,
        default: "managed: {project}-{stage}-scheduler",
        doc: "Role EventBridge Scheduler assumes to run the task; when given, cargo-fargate does not manage it.",
    },
    KeyDef {
        name: "keep-revisions",
        kind: Kind::Int,
        default: "10",
        doc: "Task definition revisions kept per stage; older ones cargo-fargate registered are deregistered unless in use (0 keeps all).",
    },
    KeyDef {
        name: "lifecycle.untagged-expire-days",
        kind: Kind::Int,
        default: "1",
        doc: "Expire untagged images after this many days.",
    },
    KeyDef {
        name: "lifecycle.keep-last",
        kind: Kind::Int,
        default: "10",
        doc: "Keep this many images per stage tag prefix.",
    },
    KeyDef {
        name: "lifecycle.short-lived-prefixes",
        kind: Kind::StrList,
        default: "[\"testing\", \"builder\", \"git-\"]",
        doc: "Tag prefixes of short-lived images.",
    },
    KeyDef {
        name: "lifecycle.short-lived-expire-days",
        kind: Kind::Int,
        default: "3",
        doc: "Expire short-lived tags after this many days.",
    },
];
