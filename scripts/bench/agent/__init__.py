"""The bench's AWS stand-in: moto, plus an agent that carries out ECS tasks and CodeBuild builds on the
local Docker Engine.

Test equipment for cargo-fargate, started by `scripts/bench.sh up` (`python -m agent`, PYTHONPATH
scripts/bench) as ONE Python process: moto's server on 127.0.0.1:<port> with its backends in reach,
and the agent hooked into moto's ECS and CodeBuild APIs. moto still answers every API call and keeps its own
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
  - ECR's image list agrees with the registry (ecrsync.py): before moto's ECR lists, describes or
    deletes a repository's images, the registry's tags it does not know are PutImage'd from the
    registry's manifests, so DeleteRepository without force refuses a repository holding images.
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
  - dependsOn START, COMPLETE, SUCCESS, HEALTHY (the dependency's healthCheck must pass first).
  - healthCheck: run by Docker (command CMD/CMD-SHELL, interval, timeout, retries, startPeriod; ECS's
    defaults 30/5/3/0); containers' healthStatus and the task's (from its essential containers)
    HEALTHY/UNHEALTHY/UNKNOWN in DescribeTasks.
  - awsvpc (network.py): every task gets its own network namespace on the bench's bridge network
    `cargo-fargate-bench-<port>` (a "pause" container from the local Debian base image that the task's
    containers join), so its containers reach each other on localhost and two tasks can listen on one
    port. Its address is in DescribeTasks as ECS reports it (the ElasticNetworkInterface attachment's
    privateIPv4Address, ATTACHED once the namespace exists, DELETED after the task; the containers'
    networkInterfaces), and the host reaches it directly. Inside the task, 127.0.0.1:<port> is the agent
    (a forwarder in the pause container), so AWS_ENDPOINT_URL, the task role's credentials and
    ECS_CONTAINER_METADATA_URI_V4 (metadata.py: the container's and /task's JSON) work there.
  - services (services.py, rollout.py): the scheduler keeps desiredCount real tasks per service, rolls
    deployments within minimumHealthyPercent/maximumPercent, replaces tasks that exit or turn
    UNHEALTHY, shows running/pending/failedTasks, rolloutState and ECS's events, and trips the circuit
    breaker at min(200, max(3, ceil(0.5 * desiredCount))) failed tasks, rolling back to the last
    COMPLETED deployment when asked to.
  - blue/green, canary and linear (shifting.py, deploymentConfiguration.strategy with
    loadBalancers[].advancedConfiguration): the new revision starts behind the target group that does
    not serve, the production listener rule's weights move in ECS's documented steps, bakeTimeInMinutes
    keeps the old tasks, an alarm of deploymentConfiguration.alarms in ALARM or the circuit breaker
    rolls back. Time: one bake "minute" lasts 60 s unless a test said otherwise for its service:
    `POST /_bench/ecs/minute?service=<name>&seconds=<n>` (deployments started afterwards).
  - target groups (lb.py): one HAProxy per target group on 127.0.0.1 (GET /_bench/lb lists them),
    targets registered as service tasks run, HTTP health checks per the target group, draining for the
    deregistration delay before the task is stopped, DescribeTargetHealth from HAProxy.
  - listeners (listeners.py): each HTTP listener is an HAProxy on 127.0.0.1 in front of the target
    groups' (forward with weights, redirect, fixed-response; ModifyListener applies at once). An ALB's
    DNS name does not resolve here: GET /_bench/lb lists each served listener as "<DNS name>:<port>" ->
    its local URL, which is how a test reaches the URL `deploy` prints.
  - when an essential container exits, the others get SIGTERM, then SIGKILL after their stopTimeout:
    stopCode EssentialContainerExited, "Essential container in task exited". A non-essential container's
    exit does not stop the task. An OOM kill reads "OutOfMemoryError: Container killed due to memory usage".

Limits (it is a bench, not Fargate):
  - a task's address is on the bench's Docker bridge, not in its subnet's CIDR (the EC2 ENI keeps moto's
    made-up address); security groups, subnets, assignPublicIp and public IPs have no effect: every
    task reaches every other and the host; the host and the tasks reach the agent on the bridge's
    gateway address too (only they can route to it). Inside a task 127.0.0.1:<moto port> is taken by
    the forwarder. The metadata endpoint is at a loopback URI, not 169.254.170.2; no stats endpoints.
  - bench only: AWS_ENDPOINT_URL=http://127.0.0.1:<port> is set in every container so the app's SDK
    reaches moto. No ECS Exec, no volumes, no FireLens, no secrets in logConfiguration, no
    environmentFiles, no ulimits/linuxParameters.
  - the task cpu/memory is applied to each container separately, not to the task as a whole.
  - the task is RUNNING once its first container has started; StopTask signals all containers at once
    (ECS stops dependents first).
  - IAM Condition blocks, permission boundaries, SCPs, resource policies and KMS are not evaluated
    (for a task; iam:SimulatePrincipalPolicy evaluates conditions: simulate.py; trust policies of
    AssumeRoleWithWebIdentity: oidc.py evaluates the token's claims).
  - services: no capacity providers, placement, service discovery/Service Connect, task sets,
    lifecycle hooks, test listener rules or scale-in protection; ECS's launch throttling is one start
    per RETRY seconds after a failure. Load balancers: of the listener rules only a catch-all one (path
    "/*", the production rule of blue/green, canary and linear) is served; no TLS (HTTPS listeners are
    not served); a target group is also served on its own port.
    Express Mode (express.py): an ECS service whose tasks run, with the Express description on top,
    and the target group ECS makes for it, served by HAProxy like any other. Its URL
    https://<service>.ecs.<region>.on.aws does not resolve here; it maps to 127.0.0.1 through the
    service's target group: DescribeServices loadBalancers[0].targetGroupArn -> GET /_bench/lb ->
    http://127.0.0.1:<port>; a request there with the URL's Host header reaches the tasks (plain
    HTTP: no listener, certificate or HTTPS).
  - RunTask and service tasks are carried out (not StartTask); tasks are lost when the process stops.
    Docker containers are labelled cargo-fargate-bench.task=<arn> and .endpoint=<host:port>, removed
    after the task stops, and leftovers of this endpoint (and its network) are removed at start and by
    `scripts/bench.sh down`.

CodeBuild (codebuild.py: the API; cbrun.py: one build; buildspec.py: the buildspec as one shell script;
ecrpush.py: pushes recorded in ECR). moto's CodeBuild never runs anything; here:
  CreateProject/BatchGetProjects are moto's (timeoutInMinutes defaults to 60, queued to 480, as on AWS);
  UpdateProject (missing in moto) sets the given attributes. StartBuild starts a real build and answers
  at once; BatchGetBuilds shows it live; StopBuild kills it; ListBuilds(ForProject) newest first.
  - the build walks SUBMITTED, QUEUED, PROVISIONING, DOWNLOAD_SOURCE, INSTALL, PRE_BUILD, BUILD, POST_BUILD,
    UPLOAD_ARTIFACTS, FINALIZING, COMPLETED; the running phase has a startTime only, finished ones
    phaseStatus, endTime, durationInSeconds and contexts (statusCode, message on failure). INSTALL or
    PRE_BUILD failing goes straight to FINALIZING (later phases are absent); BUILD failing still runs
    POST_BUILD. buildStatus SUCCEEDED | FAILED | STOPPED | TIMED_OUT, buildComplete, endTime,
    exportedEnvironmentVariables.
  - PROVISIONING: the service role must exist and trust codebuild.amazonaws.com; it must allow
    logs:CreateLogStream and logs:PutLogEvents on the stream (+ logs:CreateLogGroup when the group is
    missing), else FAILED / ACCESS_DENIED. Its credentials (moto STS, session AWSCodeBuild-<uuid>) are
    served to the build as task credentials are (FULL_URI + token).
  - DOWNLOAD_SOURCE: source type S3 (`bucket/key` of a zip; sourceLocationOverride, sourceVersion = object
    version) read as the service role (s3:GetObject; + s3:GetObjectVersion with a version), unzipped with
    its file modes to CODEBUILD_SRC_DIR=/codebuild/output/src<N>/src; or NO_SOURCE with an inline buildspec.
    The buildspec: buildspecOverride, else the project's source.buildspec, else buildspec.yml in the
    source; inline when it holds a newline, else a path in the source. Bad YAML -> YAML_FILE_ERROR.
  - the buildspec (version 0.2) runs as ONE shell script (env.shell bash or /bin/sh, default /bin/sh):
    variables and `cd` persist from command to command; a failing command fails its phase (the phase's
    other commands are skipped, `finally` runs); on-failure ABORT or CONTINUE; CODEBUILD_BUILD_SUCCEEDING
    turns 0 after a failure; env.exported-variables are reported after POST_BUILD. Under bash `exit N`
    in a command fails that command only (as on CodeBuild); a command that still ends the shell
    (`exit` under /bin/sh, `set -e`) fails the running phase with its exit status, later phases skipped.
  - environment: buildspec env.variables < project environmentVariables < environmentVariablesOverride
    (PLAINTEXT only), then CodeBuild's own: CODEBUILD_SRC_DIR, _BUILD_ID, _BUILD_ARN, _BUILD_NUMBER (per
    project from 1), _BUILD_IMAGE, _BUILD_SUCCEEDING, _INITIATOR (user name, or role/session), _KMS_KEY_ID,
    _LOG_PATH, _SOURCE_REPO_URL, _SOURCE_VERSION, _START_TIME, _RESOLVED_SOURCE_VERSION (versioned S3
    objects only), AWS_REGION, AWS_DEFAULT_REGION, HOME. AWS_ACCOUNT_ID is not set (CodeBuild sets none).
  - the container: image aws/codebuild/* -> the stand-in cargo-fargate-bench/codebuild-standard:7.0
    (scripts/base-images.sh: Debian bookworm, docker CLI 20.10 with DOCKER_BUILDKIT=1, aws-cli 2.9, git,
    zip, unzip, curl, jq); environment type ARM_CONTAINER (an aws/codebuild/*aarch64* image) -> the same
    tools for linux/arm64, cargo-fargate-bench/codebuild-aarch64-standard:3.0, run as linux/arm64 under
    qemu (a curated image of the other architecture fails PROVISIONING, as on CodeBuild); another
    image only if it is already in the Engine. `--network host`.
    privilegedMode mounts the Engine's socket (what privileged mode gives: Docker); without it the build
    has no Docker, as on AWS.
  - logs: every line (stdout and stderr) goes to CloudWatch Logs as it is written, group
    logsConfig.cloudWatchLogs.groupName or /aws/codebuild/<project>, stream [<streamName>/]<build uuid>,
    with CodeBuild's `[Container] <time> ...` lines; BatchGetBuilds logs.groupName/streamName/deepLink.
  - timeoutInMinutes(Override) enforced: the container is killed, the phase and build TIMED_OUT.
    StopBuild: killed, phase and build STOPPED.
  - pushes: `docker push` / buildx `pushing manifest for` lines in the log that name the bench registry
    are recorded in moto's ECR when the repository exists there: PutImage with the registry's manifest
    bytes, media type and digest, so DescribeImages agrees with the registry.

CodeBuild limits (bench, not CodeBuild):
  - ECR's data plane is the bench registry: in the build container `docker` is a wrapper that rewrites
    <account>.dkr.ecr.<region>.amazonaws.com in its arguments to the registry's host:port, and `aws` a
    wrapper adding --endpoint-url $AWS_ENDPOINT_URL (Debian's aws-cli 2.9 does not read
    AWS_ENDPOINT_URL). AWS_ENDPOINT_URL is set in the build. The build shares the host's network; Docker
    is the bench Engine itself, so images built by earlier builds are its cache too.
  - time: one "minute" of a timeout lasts 60 s, unless a test said otherwise for its project:
    `POST /_bench/codebuild/minute?project=<name>&seconds=<n>` (builds started afterwards). No queueing
    (queuedTimeoutInMinutes is reported, never reached), no compute-type limits. The ARM environment's
    Docker (privileged mode) is the bench Engine, which is x86_64: a build there sees an amd64 daemon
    (cargo-fargate's buildspec then cross-compiles in its build stage, as the docker builder does).
  - not carried out: artifacts (NO_ARTIFACTS), cache, reports, batch builds, VPC, file systems,
    secondary sources, source types other than S3/NO_SOURCE, PARAMETER_STORE/SECRETS_MANAGER variables
    and env.parameter-store/secrets-manager, on-failure RETRY, run-as, proxy, git-credential-helper.
    ECR permissions of the service role and IAM Conditions are not evaluated.
  - builds are lost when the process stops; their containers are labelled like tasks' and removed after
    the build, and leftovers by the next start or `scripts/bench.sh down`.

Every API request is recorded as IAM would authorize it (action, resource ARN, condition keys), for the
IAM coverage test: GET/DELETE /_bench/record, POST /_bench/record/evaluate (see record.py); the image
pushes and pulls, which go to the registry, are read from its access log (--registry-log, see
registrylog.py) and mapped to the ECR actions they are authorized as. Application Auto Scaling's
(autoscaling.py) carry the scalable target's ARN and its tags (moto drops them; here a target keeps the
tags it is registered with, and TagResource, UntagResource and ListTagsForResource answer) as
aws:ResourceTag, the tags sent as aws:RequestTag; the service-linked role Application Auto Scaling
makes for ECS is not made, so each RegisterScalableTarget records the iam:CreateServiceLinkedRole AWS
checks on the first. For doctor's
tests, keys starting with ROOT sign as the account's root user and access keys can be aged (accounts.py).

Everything the agent does is bounded (timeouts on Docker calls; a log stream is closed at most 10 s
after its container exits; a build's at most 60 s past its timeout); an error in a task's thread ends
the task STOPPED with the error as its reason, never a task stuck RUNNING, and an error in a build's
thread ends the build FAILED (phase FAULT, BENCH_AGENT_ERROR), never a build stuck IN_PROGRESS.
It logs what it does to stderr (.bench/moto.log).
"""

# Answered at GET /_bench/agent, so scripts/bench.sh can tell this process from a bare moto_server.
VERSION = 13
