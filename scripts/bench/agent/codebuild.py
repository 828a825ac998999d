"""CodeBuild builds carried out: moto's CodeBuild API hooked in process. moto keeps CreateProject,
BatchGetProjects, ListProjects and DeleteProject (its validation included); the agent adds UpdateProject
(moto has none) and owns StartBuild, BatchGetBuilds, StopBuild and ListBuilds(ForProject): every build is a
Build record here, run by a BuildRunner thread (cbrun.py). See the package header for what is carried out."""

import json
import logging
import threading
import urllib.parse
import uuid
from datetime import datetime, timezone

from moto.codebuild.exceptions import InvalidInputException, ResourceNotFoundException
from moto.codebuild import responses
from moto.codebuild.responses import CodeBuildResponse
from moto.codebuild.models import codebuild_backends
from moto.core.responses import ActionResult
from moto.sts.models import sts_backends

from .cbrun import BuildRunner

log = logging.getLogger("agent.codebuild")

MINUTE_PATH = "/_bench/codebuild/minute"
DEFAULT_TIMEOUT = 60  # minutes, CodeBuild's default
DEFAULT_QUEUED_TIMEOUT = 480
COMPUTE_TYPES = (
    "BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE", "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE", "BUILD_LAMBDA_1GB", "BUILD_LAMBDA_2GB", "BUILD_LAMBDA_4GB", "BUILD_LAMBDA_8GB",
    "BUILD_LAMBDA_10GB",
)
ENVIRONMENT_TYPES = ("LINUX_CONTAINER", "ARM_CONTAINER", "LINUX_GPU_CONTAINER", "ARM_LAMBDA_CONTAINER",
                     "LINUX_LAMBDA_CONTAINER")
# UpdateProject's request keys that are project attributes of the same name.
UPDATABLE = (
    "description", "source", "secondarySources", "sourceVersion", "secondarySourceVersions", "artifacts",
    "secondaryArtifacts", "cache", "environment", "serviceRole", "timeoutInMinutes", "queuedTimeoutInMinutes",
    "encryptionKey", "tags", "vpcConfig", "logsConfig", "fileSystemLocations", "buildBatchConfig",
    "concurrentBuildLimit",
)


def now():
    return datetime.now(timezone.utc)


class Build:
    """One build, as BatchGetBuilds shows it. Phases are appended as they begin; `end_phase` closes the last."""

    def __init__(self, account, region, project: dict, number: int, request: dict, initiator: str):
        self.account, self.region = account, region
        self.project_name = project["name"]
        self.uuid = str(uuid.uuid4())
        self.id = f"{self.project_name}:{self.uuid}"
        self.arn = f"arn:aws:codebuild:{region}:{account}:build/{self.id}"
        self.number = number
        self.start = now()
        self.end = None
        self.status = "IN_PROGRESS"
        self.phases = []
        self.exported = None
        self.lock = threading.Lock()
        self.initiator = initiator
        r = request
        self.source = dict(project.get("source") or {})
        if r.get("sourceTypeOverride"):
            self.source["type"] = r["sourceTypeOverride"]
        if r.get("sourceLocationOverride"):
            self.source["location"] = r["sourceLocationOverride"]
        if r.get("buildspecOverride"):
            self.source["buildspec"] = r["buildspecOverride"]
        self.source_version = r.get("sourceVersion") or project.get("sourceVersion")
        env = dict(project.get("environment") or {})
        for key, field in (("imageOverride", "image"), ("computeTypeOverride", "computeType"),
                           ("environmentTypeOverride", "type"), ("privilegedModeOverride", "privilegedMode")):
            if r.get(key) is not None:
                env[field] = r[key]
        variables = {v["name"]: v for v in env.get("environmentVariables") or []}
        variables.update({v["name"]: v for v in r.get("environmentVariablesOverride") or []})
        env["environmentVariables"] = list(variables.values())
        self.environment = env
        self.service_role = r.get("serviceRoleOverride") or project.get("serviceRole")
        self.timeout = int(r.get("timeoutInMinutesOverride") or project.get("timeoutInMinutes") or DEFAULT_TIMEOUT)
        self.queued_timeout = int(
            r.get("queuedTimeoutInMinutesOverride") or project.get("queuedTimeoutInMinutes") or DEFAULT_QUEUED_TIMEOUT
        )
        logs = (r.get("logsConfigOverride") or project.get("logsConfig") or {}).get("cloudWatchLogs") or {}
        self.logs_enabled = logs.get("status", "ENABLED") == "ENABLED"
        self.log_group = logs.get("groupName") or f"/aws/codebuild/{self.project_name}"
        self.log_stream = f"{logs['streamName']}/{self.uuid}" if logs.get("streamName") else self.uuid
        self.encryption_key = project.get("encryptionKey") or f"arn:aws:kms:{region}:{account}:alias/aws/s3"
        self.resolved_source_version = None
        self.begin_phase("SUBMITTED", self.start)

    # ---------------------------------------------------------------- phases ---

    def begin_phase(self, phase: str, at=None) -> None:
        with self.lock:
            self.phases.append({"phaseType": phase, "startTime": at or now()})

    def end_phase(self, status: str, at=None, code: str = "", message: str = "") -> None:
        """Closes the running phase (no-op when none runs)."""
        with self.lock:
            p = self.phases[-1] if self.phases else None
            if p is None or "endTime" in p or p["phaseType"] == "COMPLETED":
                return
            end = at or now()
            p["phaseStatus"] = status
            p["endTime"] = max(end, p["startTime"])
            p["durationInSeconds"] = int((p["endTime"] - p["startTime"]).total_seconds())
            if p["phaseType"] not in ("SUBMITTED", "QUEUED"):
                p["contexts"] = [{"statusCode": code, "message": message}]

    def step(self, phase: str, at=None) -> None:
        """The running phase SUCCEEDED, `phase` begins."""
        self.end_phase("SUCCEEDED", at)
        self.begin_phase(phase, at)

    def running(self) -> str | None:
        p = self.phases[-1] if self.phases else None
        return p["phaseType"] if p is not None and "endTime" not in p else None

    def finish(self, status: str) -> None:
        """FINALIZING (after UPLOAD_ARTIFACTS when the caller ran it) then COMPLETED with `status`."""
        self.step("FINALIZING")
        self.end_phase("SUCCEEDED")
        self.begin_phase("COMPLETED")
        with self.lock:
            self.end = now()
            self.status = status

    # ---------------------------------------------------------------- the view ---

    @property
    def complete(self) -> bool:
        return self.status != "IN_PROGRESS"

    def view(self) -> dict:
        with self.lock:
            phases = [dict(p) for p in self.phases]
        logs_arn = f"arn:aws:logs:{self.region}:{self.account}:log-group:{self.log_group}:log-stream:{self.log_stream}"
        deep = (
            f"https://console.aws.amazon.com/cloudwatch/home?region={self.region}#logEvent:"
            f"group={self.log_group};stream={self.log_stream}"
        )
        v = {
            "id": self.id,
            "arn": self.arn,
            "buildNumber": self.number,
            "startTime": self.start,
            "currentPhase": phases[-1]["phaseType"],
            "buildStatus": self.status,
            "projectName": self.project_name,
            "phases": phases,
            "source": self.source,
            "secondarySources": [],
            "secondarySourceVersions": [],
            "artifacts": {"location": ""},
            "secondaryArtifacts": [],
            "cache": {"type": "NO_CACHE"},
            "environment": self.environment,
            "serviceRole": self.service_role,
            "logs": {
                "groupName": self.log_group if self.logs_enabled else None,
                "streamName": self.log_stream if self.logs_enabled else None,
                "deepLink": deep,
                "cloudWatchLogsArn": logs_arn,
                "cloudWatchLogs": {"status": "ENABLED" if self.logs_enabled else "DISABLED",
                                   "groupName": self.log_group},
                "s3Logs": {"status": "DISABLED", "encryptionDisabled": False},
            },
            "timeoutInMinutes": self.timeout,
            "queuedTimeoutInMinutes": self.queued_timeout,
            "buildComplete": self.complete,
            "initiator": self.initiator,
            "encryptionKey": self.encryption_key,
        }
        if self.source_version:
            v["sourceVersion"] = self.source_version
        if self.resolved_source_version:
            v["resolvedSourceVersion"] = self.resolved_source_version
        if self.end is not None:
            v["endTime"] = self.end
        if self.exported is not None:
            v["exportedEnvironmentVariables"] = [{"name": k, "value": val} for k, val in self.exported.items()]
        return {k: val for k, val in v.items() if val is not None}


class CodeBuildAgent:
    def __init__(self, engine, credentials, registry: str, endpoint_url: str, image: str, arm64_image: str):
        self.engine, self.credentials = engine, credentials
        self.registry, self.endpoint_url, self.image = registry, endpoint_url, image
        self.arm64_image = arm64_image  # the ARM environment's (ARM_CONTAINER) stand-in, linux/arm64
        self.builds = {}  # id -> Build
        self.runners = {}  # id -> BuildRunner
        self.numbers = {}  # (account, region, project) -> last build number
        self.minute = {}  # project name -> seconds a "minute" lasts (bench limit, see header)
        self.lock = threading.Lock()

    # ---------------------------------------------------------------- hooks ---

    def install(self) -> None:
        agent = self
        original_create = CodeBuildResponse.create_project
        original_source_check = responses._validate_required_params_source
        original_environment_check = responses._validate_required_params_environment

        def source_check(source):
            """NO_SOURCE and CODEPIPELINE sources have no location on AWS; moto demands one."""
            if source.get("type") in ("NO_SOURCE", "CODEPIPELINE") and not source.get("location"):
                return
            original_source_check(source)

        def environment_check(environment):
            """moto knows only the four oldest compute types; AWS has more."""
            if environment.get("computeType") in COMPUTE_TYPES and environment.get("type") in ENVIRONMENT_TYPES:
                return
            original_environment_check(environment)

        responses._validate_required_params_source = source_check
        responses._validate_required_params_environment = environment_check

        def backend(resp):
            return codebuild_backends[resp.current_account][resp.region]

        def project_arn(resp, name):
            return f"arn:aws:codebuild:{resp.region}:{resp.current_account}:project/{name}"

        def create_project(resp):
            result = original_create(resp)
            meta = result.result["project"]
            meta["timeoutInMinutes"] = meta.get("timeoutInMinutes") or DEFAULT_TIMEOUT
            meta["queuedTimeoutInMinutes"] = meta.get("queuedTimeoutInMinutes") or DEFAULT_QUEUED_TIMEOUT
            meta["lastModifiedDate"] = meta["created"] = now()
            return result

        def update_project(resp):
            name = resp._get_param("name")
            project = backend(resp).codebuild_projects.get(name)
            if project is None:
                raise ResourceNotFoundException(f"Project cannot be found: {project_arn(resp, name)}")
            meta = project.project_metadata
            for key in UPDATABLE:
                value = resp._get_param(key)
                if value is not None:
                    meta[key] = value
            if resp._get_param("serviceRole"):
                project.service_role = resp._get_param("serviceRole")
            meta["lastModifiedDate"] = now()
            return ActionResult({"project": meta})

        def start_build(resp):
            name = resp._get_param("projectName")
            project = backend(resp).codebuild_projects.get(name)
            if project is None:
                raise ResourceNotFoundException(f"Project cannot be found: {project_arn(resp, name)}")
            request = {k: resp._get_param(k) for k in (
                "sourceVersion", "sourceTypeOverride", "sourceLocationOverride", "buildspecOverride",
                "environmentVariablesOverride", "imageOverride", "computeTypeOverride", "environmentTypeOverride",
                "privilegedModeOverride", "serviceRoleOverride", "timeoutInMinutesOverride",
                "queuedTimeoutInMinutesOverride", "logsConfigOverride",
            )}
            timeout = request["timeoutInMinutesOverride"]
            if timeout is not None and not 5 <= int(timeout) <= 2160:
                raise InvalidInputException("timeoutInMinutesOverride must be between 5 and 2160")
            build = agent.start(resp.current_account, resp.region, project.project_metadata, request,
                                initiator(resp))
            backend(resp).build_history.setdefault(name, []).insert(0, build.id)
            return ActionResult({"build": build.view()})

        def batch_get_builds(resp):
            ids = resp._get_param("ids") or []
            found = [agent.builds[i].view() for i in ids if i in agent.builds]
            missing = [i for i in ids if i not in agent.builds]
            return ActionResult({"builds": found, "buildsNotFound": missing})

        def stop_build(resp):
            build_id = resp._get_param("id")
            if ":" not in build_id:
                raise InvalidInputException("Invalid build ID provided")
            build = agent.builds.get(build_id)
            if build is None:
                raise ResourceNotFoundException(f"Build {build_id} does not exist")
            runner = agent.runners.get(build_id)
            if runner is not None and not build.complete:
                runner.request_stop()
            return ActionResult({"build": build.view()})

        def initiator(resp):
            """Who started the build: a user's name, or role/session for an assumed role."""
            try:
                _, arn, _ = sts_backends[resp.current_account]["aws"].get_caller_identity(
                    resp.get_access_key(), resp.region)
            except Exception:
                return "unknown"
            resource = arn.split(":", 5)[-1]
            kind, _, rest = resource.partition("/")
            return rest if kind in ("user", "assumed-role") else resource

        CodeBuildResponse.create_project = create_project
        CodeBuildResponse.update_project = update_project
        CodeBuildResponse.start_build = start_build
        CodeBuildResponse.batch_get_builds = batch_get_builds
        CodeBuildResponse.stop_build = stop_build

    def start(self, account, region, project: dict, request: dict, initiator: str) -> Build:
        key = (account, region, project["name"])
        with self.lock:
            self.numbers[key] = self.numbers.get(key, 0) + 1
            number = self.numbers[key]
        build = Build(account, region, project, number, request, initiator)
        minute = self.minute.get(project["name"], 60.0)
        runner = BuildRunner(self, build, minute)
        self.builds[build.id] = build
        self.runners[build.id] = runner
        log.info("build %s: started (#%d, timeout %d min of %ss)", build.id, number, build.timeout, minute)
        runner.start()
        return build

    # ---------------------------------------------------------------- bench control ---

    def wsgi_minute(self, environ, start_response):
        """POST /_bench/codebuild/minute?project=<name>&seconds=<n>: builds of that project started from
        now on count a "minute" of their timeout as n seconds (a test's time compression)."""
        q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        try:
            project = q["project"][0]
            seconds = float(q["seconds"][0])
            if seconds <= 0:
                raise ValueError
        except (KeyError, ValueError, IndexError):
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [b'{"error": "usage: POST /_bench/codebuild/minute?project=<name>&seconds=<n > 0>"}']
        self.minute[project] = seconds
        log.info("project %s: a timeout minute lasts %ss", project, seconds)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"project": project, "seconds": seconds}).encode()]
