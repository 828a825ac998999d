"""One CodeBuild build, carried out: PROVISIONING (service role, log stream, image), DOWNLOAD_SOURCE (the
S3 zip, read as the service role; the buildspec), then the buildspec's script (buildspec.py) in a container
of the standard-image stand-in, its output shipped to CloudWatch Logs as it comes and its phase markers
turned into BatchGetBuilds' phases; timeout and StopBuild kill the container."""

import base64
import io
import logging
import re
import stat
import tarfile
import tempfile
import threading
import time
import zipfile
from datetime import datetime, timezone

from moto.iam.models import iam_backends
from moto.logs.models import logs_backends
from moto.s3.models import s3_backends

from . import buildspec, ecrpush, iam
from .logs import _parse

log = logging.getLogger("agent.codebuild")

SRC_ROOT = "/codebuild/output"
SCRIPT = "/codebuild/bench/build.sh"
STOP_GRACE = 15  # seconds the log stream may take to end once the container is killed
ECR_HOST = r"[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com"
RUNNING = re.compile(r"^\[Container\] \S+ \S+ Running command (.*)$")


def now():
    return datetime.now(timezone.utc)


def _stamp() -> str:
    return now().strftime("%Y/%m/%d %H:%M:%S.%f")


class Failed(Exception):
    """A phase failed before the build's script ran: (statusCode, message)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def wrappers(registry: str) -> dict:
    """Bench-only tools on PATH before the image's own: ECR's data plane is the bench registry, and
    Debian's aws-cli 2.9 does not read AWS_ENDPOINT_URL."""
    docker = (
        "#!/bin/bash\n# bench: ECR registry hosts are the bench registry here\n"
        f"re='{ECR_HOST}'\nargs=()\n"
        'for a in "$@"; do\n'
        '  while [[ $a =~ $re ]]; do a="${a/${BASH_REMATCH[0]}/' + registry + '}"; done\n'
        '  args+=("$a")\ndone\nexec /usr/bin/docker "${args[@]}"\n'
    )
    aws = (
        "#!/bin/sh\n# bench: the AWS CLI talks to the bench's moto\n"
        'if [ -n "${AWS_ENDPOINT_URL:-}" ]; then exec /usr/bin/aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; fi\n'
        'exec /usr/bin/aws "$@"\n'
    )
    return {"usr/local/bin/docker": docker, "usr/local/bin/aws": aws}


class BuildRunner(threading.Thread):
    def __init__(self, agent, build, minute_seconds: float):
        super().__init__(name=f"build-{build.uuid[:8]}", daemon=True)
        self.agent, self.engine, self.b = agent, agent.engine, build
        self.deadline = time.monotonic() + build.timeout * minute_seconds
        self.stop_requested = threading.Event()
        self.timed_out = False
        self.cid = None
        self.cred_env = {}
        self.logs = None  # moto's logs backend, once the stream exists
        self.src_dir = f"{SRC_ROOT}/src{int(time.time() * 1000) % 10**9}/src"
        self.role = None

    def request_stop(self) -> None:
        self.stop_requested.set()
        self._kill()

    def _kill(self) -> None:
        if self.cid:
            try:
                self.engine.kill(self.cid)
            except Exception as e:
                log.info("build %s: kill: %s", self.b.id, e)

    # ---------------------------------------------------------------- log ---

    def say(self, text: str) -> None:
        """A `[Container]` line of the agent's own in the build log."""
        self.ship([(int(time.time() * 1000), f"[Container] {_stamp()} {text}")])

    def ship(self, events) -> None:
        if self.logs is None or not events:
            return
        self.logs.put_log_events(self.b.log_group, self.b.log_stream,
                                 [{"timestamp": ms, "message": line} for ms, line in events])

    # ---------------------------------------------------------------- the build ---

    def run(self) -> None:
        b = self.b
        status = "FAILED"
        try:
            status = self._run()
        except Exception as e:
            log.exception("build %s: agent error", b.id)
            b.end_phase("FAULT", code="BENCH_AGENT_ERROR", message=f"bench agent error: {type(e).__name__}: {e}")
        finally:
            try:
                if self.cid:
                    self.engine.remove(self.cid)
            except Exception as e:
                log.warning("build %s: removing its container: %s", b.id, e)
            self.agent.credentials.remove(self.cred_env)
            b.finish(status)
            log.info("build %s: %s", b.id, status)

    def _run(self) -> str:
        b = self.b
        b.step("QUEUED")
        b.step("PROVISIONING")
        try:
            image = self._provision()
        except Failed as f:
            b.end_phase("FAILED", code=f.code, message=f.message)
            return "FAILED"
        b.step("DOWNLOAD_SOURCE")
        self.say("Waiting for DOWNLOAD_SOURCE")
        try:
            archive, spec_text, where = self._download()
            spec = buildspec.parse(spec_text)
        except buildspec.BuildspecError as e:
            self.say("Phase complete: DOWNLOAD_SOURCE State: FAILED")
            self.say(f"Phase context status code: YAML_FILE_ERROR Message: {e}")
            b.end_phase("FAILED", code="YAML_FILE_ERROR", message=str(e))
            return "FAILED"
        except Failed as f:
            self.say("Phase complete: DOWNLOAD_SOURCE State: FAILED")
            self.say(f"Phase context status code: {f.code} Message: {f.message}")
            b.end_phase("FAILED", code=f.code, message=f.message)
            return "FAILED"
        self.say(f"CODEBUILD_SRC_DIR={self.src_dir}")
        self.say(f"YAML location is {where}")
        self.say("Processing environment variables")
        token, script = buildspec.script(spec, self.src_dir)
        try:
            env = self._environment(spec, image)
        except Failed as f:
            b.end_phase("FAILED", code=f.code, message=f.message)
            return "FAILED"
        self.cid = self.engine.create_build(
            b.arn, f"cfb-build-{b.uuid[:12]}", image, [spec.shell, SCRIPT], env, self.src_dir,
            privileged=bool(b.environment.get("privilegedMode")), platform=self.platform,
        )
        self.engine.put_archive(self.cid, self._tar(archive, script))
        if archive is not None:
            archive.close()
        if self.stop_requested.is_set():
            b.end_phase("STOPPED")
            return "STOPPED"
        self.say(f"Moving to directory {self.src_dir}")
        self.engine.start(self.cid)
        watchdog = threading.Thread(target=self._watch, name=f"watch-{b.uuid[:8]}", daemon=True)
        watchdog.start()
        return self._follow(token)

    def _provision(self) -> str:
        """The service role (exists, trusts CodeBuild), the log stream (as the role), the image."""
        b = self.b
        role_arn = b.service_role or ""
        if not role_arn.startswith("arn:"):
            role_arn = f"arn:aws:iam::{b.account}:role/{role_arn}"
        self.role = iam.Role(b.account, role_arn)
        if self.role.statements is None or not _trusts_codebuild(b.account, role_arn):
            raise Failed("ACCESS_DENIED", f"CodeBuild is not authorized to perform: sts:AssumeRole on {role_arn}")
        if b.logs_enabled:
            backend = logs_backends[b.account][b.region]
            stream_arn = f"arn:aws:logs:{b.region}:{b.account}:log-group:{b.log_group}:log-stream:{b.log_stream}"
            group_arn = f"arn:aws:logs:{b.region}:{b.account}:log-group:{b.log_group}:*"
            needs = [("logs:CreateLogStream", stream_arn), ("logs:PutLogEvents", stream_arn)]
            if b.log_group not in backend.groups:
                needs.insert(0, ("logs:CreateLogGroup", group_arn))
            for action, arn in needs:
                if not self.role.allows(action, arn):
                    raise Failed(
                        "ACCESS_DENIED",
                        f"Service role {role_arn} does not allow AWS CodeBuild to create Amazon CloudWatch Logs "
                        f"log streams for build {b.arn}. Error message: User: {role_arn} is not authorized to "
                        f"perform: {action} on resource: {arn}",
                    )
            backend.ensure_log_group(b.log_group)
            backend.ensure_log_stream(b.log_group, b.log_stream)
            self.logs = backend
        self.cred_env = self.agent.credentials.add(b.account, b.region, role_arn, f"AWSCodeBuild-{b.uuid}")
        wanted = b.environment.get("image") or ""
        image, self.platform = self._image(wanted, b.environment.get("type") or "LINUX_CONTAINER")
        if not self.engine.has_image(image):
            raise Failed("CLIENT_ERROR", f"bench: image {image} (for {wanted}) is not in the Docker Engine; "
                                         "run scripts/base-images.sh" if wanted.startswith("aws/codebuild/") else
                         f"CannotPullContainerError: the bench runs builds only in aws/codebuild/* images "
                         f"(stand-ins {self.agent.image}, {self.agent.arm64_image}) or images already in the "
                         f"Engine, not {wanted}")
        self.say(f"Running on CodeBuild On-demand (bench agent, {self.platform})")
        return image

    def _image(self, wanted: str, env_type: str):
        """The container image and its platform for the environment type: ARM_CONTAINER runs linux/arm64
        (under qemu here), LINUX_CONTAINER linux/amd64. A curated image of the other architecture
        cannot start there, as on CodeBuild."""
        arm = env_type.startswith("ARM_")
        platform = "linux/arm64" if arm else "linux/amd64"
        if not wanted.startswith("aws/codebuild/"):
            return wanted, platform
        if arm != ("aarch64" in wanted):
            raise Failed("CLIENT_ERROR", f"Build image {wanted} is not supported for environment type {env_type}")
        return (self.agent.arm64_image if arm else self.agent.image), platform

    def _download(self):
        """(spooled zip file or None, buildspec text, where it came from)."""
        b = self.b
        kind = (b.source.get("type") or "").upper()
        archive = None
        if kind == "S3":
            location = b.source.get("location") or ""
            bucket, _, key = location.partition("/")
            if not bucket or not key or key.endswith("/"):
                raise Failed("CLIENT_ERROR", f"bench: source location {location!r} is not bucket/key of a zip")
            arn = f"arn:aws:s3:::{bucket}/{key}"
            for action in ["s3:GetObject"] + (["s3:GetObjectVersion"] if b.source_version else []):
                if not self.role.allows(action, arn):
                    raise Failed("ACCESS_DENIED", "AccessDenied: Access Denied status code: 403, request id: bench")
            try:
                obj = s3_backends[b.account]["aws"].get_object(bucket, key, version_id=b.source_version)
            except Exception:
                obj = None
            if obj is None:
                raise Failed("CLIENT_ERROR", "NoSuchKey: The specified key does not exist. status code: 404, "
                                             "request id: bench")
            if getattr(obj, "version_id", None) and obj.version_id != "null":
                b.resolved_source_version = obj.version_id
            archive = tempfile.SpooledTemporaryFile(max_size=16 << 20)
            archive.write(obj.value)
            archive.seek(0)
            if not zipfile.is_zipfile(archive):
                raise Failed("CLIENT_ERROR", f"bench: s3://{bucket}/{key} is not a zip archive")
        elif kind != "NO_SOURCE":
            raise Failed("CLIENT_ERROR", f"bench: source type {kind or 'missing'} is not carried out (S3 or NO_SOURCE)")
        spec = b.source.get("buildspec") or ""
        if "\n" in spec:
            return archive, spec, "the project's or StartBuild's inline buildspec"
        path = spec or "buildspec.yml"
        if archive is None:
            raise buildspec.BuildspecError(f"NO_SOURCE needs an inline buildspec, not {path!r}")
        with zipfile.ZipFile(archive) as z:
            try:
                text = z.read(path[2:] if path.startswith("./") else path).decode()
            except KeyError:
                raise buildspec.BuildspecError(f"stat {self.src_dir}/{path}: no such file or directory") from None
        archive.seek(0)
        return archive, text, f"{self.src_dir}/{path}"

    def _environment(self, spec, image: str) -> dict:
        """Buildspec env < project env < StartBuild override; then what CodeBuild sets itself."""
        b = self.b
        env = dict(spec.variables)
        for v in b.environment.get("environmentVariables") or []:
            kind = v.get("type", "PLAINTEXT")
            if kind != "PLAINTEXT":
                raise Failed("CLIENT_ERROR", f"bench: environment variable {v['name']} of type {kind} is not carried out")
            env[v["name"]] = v.get("value", "")
        env.update({
            "AWS_REGION": b.region,
            "AWS_DEFAULT_REGION": b.region,
            "CODEBUILD_BUILD_ARN": b.arn,
            "CODEBUILD_BUILD_ID": b.id,
            "CODEBUILD_BUILD_NUMBER": str(b.number),
            "CODEBUILD_BUILD_IMAGE": b.environment.get("image", ""),
            "CODEBUILD_BUILD_SUCCEEDING": "1",
            "CODEBUILD_INITIATOR": b.initiator,
            "CODEBUILD_KMS_KEY_ID": b.encryption_key,
            "CODEBUILD_LOG_PATH": b.log_stream,
            "CODEBUILD_SRC_DIR": self.src_dir,
            "CODEBUILD_START_TIME": str(int(b.start.timestamp() * 1000)),
            "HOME": "/root",
            "AWS_ENDPOINT_URL": self.agent.endpoint_url,  # bench only: the build's SDKs reach moto
        })
        if (b.source.get("type") or "").upper() == "S3":
            env["CODEBUILD_SOURCE_REPO_URL"] = f"s3://{b.source.get('location', '')}"
            env["CODEBUILD_SOURCE_VERSION"] = b.source_version or f"arn:aws:s3:::{b.source.get('location', '')}"
        if b.resolved_source_version:
            env["CODEBUILD_RESOLVED_SOURCE_VERSION"] = b.resolved_source_version
        env.update(self.cred_env)
        return env

    def _tar(self, archive, script: str):
        """One tar for `/`: the source under the src dir (zip modes kept), the script, the wrappers."""
        out = tempfile.SpooledTemporaryFile(max_size=32 << 20)
        with tarfile.open(fileobj=out, mode="w") as tar:
            def add_dir(path):
                ti = tarfile.TarInfo(path)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
                tar.addfile(ti)

            def add_file(path, data: bytes, mode=0o755):
                ti = tarfile.TarInfo(path)
                ti.size, ti.mode, ti.mtime = len(data), mode, int(time.time())
                tar.addfile(ti, io.BytesIO(data))

            parts = self.src_dir.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                add_dir("/".join(parts[:i]))
            add_dir("codebuild/bench")
            add_file(SCRIPT.lstrip("/"), script.encode())
            for path, text in wrappers(self.agent.registry).items():
                add_file(path, text.encode())
            if archive is not None:
                with zipfile.ZipFile(archive) as z:
                    for info in z.infolist():
                        name = f"{self.src_dir.strip('/')}/{info.filename.lstrip('/')}".rstrip("/")
                        if ".." in info.filename.split("/"):
                            continue
                        mode = info.external_attr >> 16
                        ti = tarfile.TarInfo(name)
                        ti.mtime = int(datetime(*info.date_time).timestamp())
                        if info.is_dir():
                            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                            tar.addfile(ti)
                        elif stat.S_ISLNK(mode):
                            ti.type, ti.linkname = tarfile.SYMTYPE, z.read(info).decode()
                            tar.addfile(ti)
                        else:
                            ti.size, ti.mode = info.file_size, (stat.S_IMODE(mode) or 0o644)
                            with z.open(info) as f:
                                tar.addfile(ti, f)
        out.seek(0)
        return out

    # ---------------------------------------------------------------- running ---

    def _watch(self) -> None:
        """Kills the container at the timeout; StopBuild kills it itself."""
        while self.b.status == "IN_PROGRESS" and not self.stop_requested.is_set():
            if time.monotonic() > self.deadline:
                self.timed_out = True
                log.info("build %s: timed out", self.b.id)
                self._kill()
                return
            time.sleep(0.25)

    def _follow(self, token: str) -> str:
        """Ships the container's output and follows its markers until it ends; the build's status."""
        b = self.b
        ended = False
        command = None
        failed = False
        exported = {}
        pushes = ecrpush.Scanner(b.account, b.region, self.agent.registry)
        stream = self.engine.logs(self.cid)
        # never follows forever: the watchdog kills the container at the deadline, the stream then ends
        closer = threading.Timer(max(self.deadline - time.monotonic(), 0) + 60, stream.close)
        closer.daemon = True
        closer.start()
        try:
            for chunk in stream:
                events = []
                for ms, line in _parse(chunk):
                    at = datetime.fromtimestamp(ms / 1000, timezone.utc)
                    before, marker, rest = line.partition(token)
                    if not marker:
                        events.append((ms, line))
                        m = RUNNING.match(line)
                        if m:
                            command = m.group(1)
                        pushes.line(line)
                        continue
                    if before:
                        events.append((ms, before))
                    self.ship(events)
                    events = []
                    word, *args = rest.split()
                    if word == "PHASE":
                        b.step(args[0], at)
                    elif word == "DONE" and args[1] == "SUCCEEDED":
                        b.end_phase("SUCCEEDED", at)
                    elif word == "DONE":
                        failed = True
                        cmd = base64.b64decode(args[3]).decode() if len(args) > 3 else ""
                        b.end_phase("FAILED", at, "COMMAND_EXECUTION_ERROR",
                                    f"Error while executing command: {cmd}. Reason: exit status {args[2]}")
                    elif word == "EXPORT":
                        exported[args[0]] = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
                    elif word == "END":
                        ended = True
                self.ship(events)
        except Exception as e:
            log.info("build %s: log stream ended: %s", b.id, e)
        finally:
            closer.cancel()
        code = self.engine.wait(self.cid, STOP_GRACE)
        if self.stop_requested.is_set() and not ended:
            self.say(f"Phase complete: {b.running() or 'BUILD'} State: STOPPED")
            b.end_phase("STOPPED", code="BUILD_STOPPED", message="Build was stopped")
            return "STOPPED"
        if self.timed_out and not ended:
            self.say(f"Phase complete: {b.running() or 'BUILD'} State: TIMED_OUT")
            b.end_phase("TIMED_OUT", code="BUILD_TIMED_OUT", message="Build has timed out. ")
            return "TIMED_OUT"
        if not ended:
            # a command ended the shell itself (`exit`, `set -e`, a signal)
            failed = True
            b.end_phase("FAILED", code="COMMAND_EXECUTION_ERROR",
                        message=f"Error while executing command: {command or ''}. Reason: exit status {code}")
        b.exported = exported
        if any(p["phaseType"] == "BUILD" for p in b.phases):
            b.step("UPLOAD_ARTIFACTS")
        return "FAILED" if failed else "SUCCEEDED"


def _trusts_codebuild(account: str, role_arn: str) -> bool:
    """Does the role's trust policy let codebuild.amazonaws.com assume it (Conditions not evaluated)?"""
    try:
        role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
        doc = iam._document(role.assume_role_policy_document)
    except Exception:
        return False
    for st in iam._as_list(doc.get("Statement")):
        services = iam._as_list((st.get("Principal") or {}).get("Service")) if isinstance(st.get("Principal"), dict) else []
        actions = iam._as_list(st.get("Action"))
        if st.get("Effect") == "Allow" and "codebuild.amazonaws.com" in services and any(
            a.lower() in ("sts:assumerole", "sts:*", "*") for a in actions
        ):
            return True
    return False
