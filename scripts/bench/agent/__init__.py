"""The bench's AWS stand-in: moto, plus an agent that carries out ECS tasks on the local Docker Engine.

Test equipment for cargo-fargate, started by `scripts/bench.sh up` (`python -m agent`, PYTHONPATH
scripts/bench) as ONE Python process: moto's server on 127.0.0.1:<port> with its backends in reach,
and the agent hooked into moto's ECS backend. moto still answers every API call and keeps its own
validation (RunTask's network checks, ...); the agent only owns what happens to a task after RunTask:

  RunTask   every task becomes real containers on the local Docker Engine, one per container definition
            (essential or not), driven through PROVISIONING -> PENDING -> RUNNING -> DEPROVISIONING ->
            STOPPED, with real exit codes, reasons, stop codes and timestamps in DescribeTasks.
  StopTask  SIGTERM (the image's STOPSIGNAL) to each container, SIGKILL after its stopTimeout
            (default 30 s), stopCode UserInitiated, stoppedReason the given reason or "Task stopped by user".

Where it has to choose it follows ECS's documented behaviour:
  - images are pulled by digest; an ECR URI <acct>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:... is
    pulled from the bench registry (--registry), which stands in for ECR's data plane, with the login
    moto's ECR hands out (AWS / <acct>-auth-token). moto's ECR is not asked: a push to the registry
    (what cargo-fargate does on the bench) never reaches it. A failed pull stops the task: stopCode
    TaskFailedToStart, `CannotPullContainerError: ...` as task and container reason.
  - the execution role is evaluated (its inline and attached policies, Allow/Deny, Action/NotAction,
    Resource/NotResource, `*` and `?` wildcards) for what the task needs: ecr:GetAuthorizationToken,
    ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on the repository, logs:CreateLogStream and
    logs:PutLogEvents on the stream, ssm:GetParameters / secretsmanager:GetSecretValue on each secret.
    A missing secret or a denied permission fails the task as ECS does (TaskFailedToStart,
    `ResourceInitializationError: unable to pull secrets or registry auth: ...`).
  - `secrets` (SSM parameter name or ARN, Secrets Manager ARN with optional
    `:json-key:version-stage:version-id`) are read from moto and handed to the process as env vars.
  - the task role's credentials (moto STS AssumeRole, session name = task ID) are served as ECS serves
    them, from this process at http://127.0.0.1:<port>/_bench/credentials/<per-task id>, given to the
    containers as AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN. No AWS keys
    go into a container's environment. AWS_REGION and AWS_DEFAULT_REGION are set, as Fargate does.
  - awslogs: every line a container writes (stdout and stderr) goes to moto's CloudWatch Logs, group
    `awslogs-group`, stream `<awslogs-stream-prefix>/<container>/<task id>`, as it is written, with
    Docker's timestamp. A missing group fails the task unless awslogs-create-group is "true".
  - containerOverrides (command, environment on top of the definition's, cpu, memory), task overrides
    (cpu, memory, taskRoleArn, executionRoleArn); cpu units / 1024 -> --cpus, MiB -> --memory, per
    container (the container's own cpu/memory if set, else the task's); user, entryPoint, workingDirectory.
  - dependsOn START, COMPLETE, SUCCESS; HEALTHY is treated as START (no health checks are run).
  - when an essential container exits, the others get SIGTERM, then SIGKILL after their stopTimeout:
    stopCode EssentialContainerExited, "Essential container in task exited". A non-essential container's
    exit does not stop the task. An OOM kill reads "OutOfMemoryError: Container killed due to memory usage".

Limits (it is a bench, not Fargate):
  - Fargate gives each task its own ENI. Here every task container runs with `--network host` (the SDKs
    accept a FULL_URI over plain http only on loopback), so tasks share the host's network: two tasks
    listening on one port clash, and security groups, subnets and public IPs have no effect.
  - bench only: AWS_ENDPOINT_URL=http://127.0.0.1:<port> is set in every container so the app's SDK
    reaches moto. No ECS_CONTAINER_METADATA_URI_V4, no ECS Exec, no volumes, no health checks, no
    FireLens, no secrets in logConfiguration, no environmentFiles, no ulimits/linuxParameters.
  - the task cpu/memory is applied to each container separately, not to the task as a whole.
  - the task is RUNNING once its first container has started; StopTask signals all containers at once
    (ECS stops dependents first).
  - IAM Condition blocks, permission boundaries, SCPs, resource policies and KMS are not evaluated.
  - services (services.py): moto's service API with a static rollout that completes at once; no
    task is started for a service.
  - only RunTask tasks are carried out (not StartTask, not services); tasks are lost when the process
    stops. Docker containers are labelled cargo-fargate-bench.task=<arn> and .endpoint=<host:port>,
    removed after the task stops, and leftovers of this endpoint are removed at start and by
    `scripts/bench.sh down`.

Everything the agent does is bounded (timeouts on Docker calls; a log stream is closed at most 10 s
after its container exits); an error in a task's thread ends the task STOPPED with the error as its
reason, never a task stuck RUNNING. It logs what it does to stderr (.bench/moto.log).
"""

# Answered at GET /_bench/agent, so scripts/bench.sh can tell this process from a bare moto_server.
VERSION = 1
