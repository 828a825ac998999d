"""ECS tasks on the local Docker Engine: moto's RunTask and StopTask hooked so that the agent owns a
task's status from RunTask on (moto's own state transitions are switched off for it), one thread per
task. See the package header for what is carried out and what is not."""

import json
import logging
import re
import threading
import time
import uuid
from datetime import datetime, timezone

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecs.models import EC2ContainerServiceBackend
from moto.ecs.responses import EC2ContainerServiceResponse

from . import iam, secrets
from .logs import Shipper, Target
from .plan import plan

log = logging.getLogger("agent.ecs")

ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<repo>[^@:]+)@(?P<digest>sha256:[0-9a-f]{64})$"
)
POLL = 0.25  # seconds between looks at the containers
STOP_GRACE = 40  # seconds past a container's stopTimeout before the agent gives up on it
SECRETS_FAILED = "ResourceInitializationError: unable to pull secrets or registry auth: "


def now():
    return datetime.now(timezone.utc)


class Container:
    """One container of a task, as DescribeTasks shows it (moto serializes these attributes by name)."""

    def __init__(self, task, spec):
        self.spec = spec
        self.container_arn = (
            f"arn:aws:ecs:{task.region_name}:{task._account_id}:container/{task.cluster_name}/{task.id}/{uuid.uuid4()}"
        )
        self.task_arn = task.task_arn
        self.name = spec.name
        self.image = spec.image
        self.image_digest = None
        self.runtime_id = None
        self.last_status = "PENDING"
        self.exit_code = None
        self.reason = None
        self.health_status = "UNKNOWN"
        self.network_interfaces = []
        self.cpu = str(int(spec.cpus * 1024)) if spec.cpus else "0"
        self.memory = str(spec.memory_mib) if spec.memory_mib else None
        # the agent's own
        self.cid = None
        self.target = None
        self.started = False
        self.shipper = None
        self.stopper = None
        self.kill_deadline = None


class Agent:
    def __init__(self, engine, credentials, registry: str, endpoint_url: str, network=None, metadata=None):
        self.engine = engine
        self.credentials = credentials
        self.network = network  # network.Network: each task in its own namespace (None: the host's)
        self.metadata = metadata
        self.registry = registry
        self.endpoint_url = endpoint_url
        self.runners = {}

    def install(self) -> None:
        """Hooks moto's ECS backend: RunTask's tasks are carried out, StopTask stops them for real."""
        agent = self
        original_run = EC2ContainerServiceBackend.run_task
        original_stop = EC2ContainerServiceBackend.stop_task

        def run_task(backend, *args, **kwargs):
            tasks = original_run(backend, *args, **kwargs)  # moto's validation, ENI, ...
            for task in tasks:
                agent.start(backend, task)
            return tasks

        def stop_task(backend, cluster_str, task_str, reason):
            cluster = backend._get_cluster(cluster_str)
            task_id = task_str.split("/")[-1]
            for arn, task in backend.tasks.get(cluster.name, {}).items():
                if arn.endswith(task_id) and arn in agent.runners:
                    agent.runners[arn].request_stop(reason)
                    return task
            return original_stop(backend, cluster_str, task_str, reason)

        def requirements(task_definition):
            """moto's sum of container memory fails (HTTP 500) on a container without `memory`, which
            Fargate allows (the task's memory is what counts): count such a container as 0."""
            defs = task_definition.container_definitions
            task_definition.container_definitions = [
                d if d.get("memory") or d.get("memoryReservation") else {**d, "memory": 0} for d in defs
            ]
            try:
                return original_requirements(task_definition)
            finally:
                task_definition.container_definitions = defs

        original_requirements = EC2ContainerServiceBackend._calculate_task_resource_requirements
        EC2ContainerServiceBackend.run_task = run_task
        install_client_tokens()
        EC2ContainerServiceBackend.stop_task = stop_task
        EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(requirements)

    def start(self, backend, task) -> None:
        task_definition = backend.describe_task_definition(task.task_definition_arn)
        runner = TaskRunner(self, task, plan(task_definition, task.overrides))
        self.runners[task.task_arn] = runner
        runner.start()


class TaskRunner(threading.Thread):
    def __init__(self, agent: Agent, task, p):
        super().__init__(name=f"task-{task.id[:8]}", daemon=True)
        self.agent, self.engine, self.task, self.plan = agent, agent.engine, task, p
        self.account, self.region = task._account_id, task.region_name
        self.lock = threading.Lock()
        self.stop_requested = threading.Event()
        self.stopping = False
        self.cred_env = {}
        self.pause_cid = None
        self.address = None
        # moto would walk the task through its own states on DescribeTasks: the agent owns them now.
        task._transitions = []
        task.last_status = "PROVISIONING"
        task.desired_status = "RUNNING"
        task.stopped_reason = None  # moto's "" would show as an empty reason
        task.health_status = "UNKNOWN"
        task.created_at = now()
        task.cpu, task.memory = p.cpu, p.memory
        task.platform_version, task.platform_family = "1.4.0", "Linux"
        self.containers = [Container(task, spec) for spec in p.containers]
        task.containers = self.containers
        for a in task.attachments:  # moto's made-up address until the task's namespace has its own
            if a.get("type") == "ElasticNetworkInterface":
                a["status"] = "PRECREATED"
                a["details"] = [d for d in a["details"] if d["name"] != "privateIPv4Address"]
        log.info("task %s: %s, containers %s", task.id, task.task_definition_arn,
                 [c.name for c in self.containers])

    # ---------------------------------------------------------------- stop codes ---

    def _set_stop(self, code: str, reason: str) -> bool:
        """The first stop decision wins; later ones (an essential exit after StopTask, ...) do not replace it."""
        with self.lock:
            if self.task.desired_status == "STOPPED":
                return False
            self.task.desired_status = "STOPPED"
            self.task.stop_code = code
            self.task.stopped_reason = reason
            self.task.stopping_at = now()
        log.info("task %s: stopping: %s: %s", self.task.id, code, reason)
        return True

    def request_stop(self, reason: str | None) -> None:
        """StopTask."""
        self._set_stop("UserInitiated", reason or "Task stopped by user")
        self.stop_requested.set()

    def _fail_to_start(self, reason: str) -> None:
        self._set_stop("TaskFailedToStart", reason)

    # ---------------------------------------------------------------- the task ---

    def run(self) -> None:
        """Never leaves the task anything but STOPPED, with a reason, whatever goes wrong."""
        try:
            self._run()
        except Exception as e:
            log.exception("task %s: agent error", self.task.id)
            code = "EssentialContainerExited" if any(c.started for c in self.containers) else "TaskFailedToStart"
            self._set_stop(code, f"bench agent error: {type(e).__name__}: {e}")
            try:
                self._stop_all()
            except Exception:
                log.exception("task %s: stopping its containers", self.task.id)
        finally:
            try:
                self._finish()
            except Exception:
                log.exception("task %s: finishing", self.task.id)
                self.task.stopped_at = now()
                self.task.last_status = "STOPPED"

    def _run(self) -> None:
        t, p = self.task, self.plan
        if not self._attach():
            return
        t.last_status = "PENDING"
        role = iam.Role(self.account, p.execution_role_arn) if p.execution_role_arn else None
        env = self._execution_resources(role)
        if env is None or self.stop_requested.is_set():
            return
        targets = self._log_targets(role)
        if targets is None or self.stop_requested.is_set():
            return
        references = self._pull(role)
        if references is None or self.stop_requested.is_set():
            return
        mode = f"container:{self.pause_cid}" if self.pause_cid else "host"
        for c in self.containers:
            c.cid = self.engine.create(t.task_arn, f"cfb-{t.id[:12]}-{c.name}", c.spec, env[c.name],
                                       references[c.image], network_mode=mode, platform=p.platform)
            c.runtime_id = c.cid
            c.target = targets.get(c.name)
        log.info("task %s: containers created", t.id)
        self._supervise()

    def _attach(self) -> bool:
        """The task's own network namespace (its pause container), as Fargate attaches the task's ENI."""
        network = self.agent.network
        if network is None:
            return True
        try:
            self.pause_cid, self.address = network.pause(self.task.task_arn, f"cfb-{self.task.id[:12]}-pause")
        except Exception as e:
            self._fail_to_start(f"ResourceInitializationError: bench agent: the task's network namespace: {e}")
            return False
        attachment_id = None
        for a in self.task.attachments:
            if a.get("type") == "ElasticNetworkInterface":
                a["status"] = "ATTACHED"
                a["details"].append({"name": "privateIPv4Address", "value": self.address})
                attachment_id = a["id"]
        for c in self.containers:
            c.network_interfaces = [{"attachmentId": attachment_id, "privateIpv4Address": self.address}]
        log.info("task %s: address %s", self.task.id, self.address)
        return True

    def _execution_resources(self, role):
        """Registry auth and secrets, read as the execution role; each container's environment."""
        p, session = self.plan, self.task.id
        if any(ECR_IMAGE.match(c.image) for c in self.containers):
            why = None
            if role is None:
                why = "the task definition has no executionRoleArn, which an ECR image needs"
            elif role.statements is None:
                why = f"role {role.arn} does not exist"
            elif not role.allows("ecr:GetAuthorizationToken", "*"):
                why = role.denied(session, "ecr:GetAuthorizationToken", "*")
            if why:
                self._fail_to_start(
                    f"{SECRETS_FAILED}execution resource retrieval failed: unable to retrieve ecr registry auth: "
                    f"service call has been retried 3 time(s): {why}"
                )
                return None
        if p.task_role_arn:
            self.cred_env = self.agent.credentials.add(self.account, self.region, p.task_role_arn, session)
        env = {}
        for c in self.containers:
            e = {
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
                "AWS_ENDPOINT_URL": self.agent.endpoint_url,  # bench only: the app's SDK reaches moto
            }
            e.update(c.spec.environment)
            if c.spec.secrets:
                if role is None or role.statements is None:
                    self._fail_to_start(f"{SECRETS_FAILED}the task has no usable execution role to read secrets with")
                    return None
                try:
                    e.update(secrets.resolve(c.spec.secrets, role, session, self.account, self.region))
                except secrets.SecretError as err:
                    self._fail_to_start(f"{SECRETS_FAILED}{err}")
                    return None
            e.update(self.cred_env)
            if self.agent.metadata is not None:
                e.update(self.agent.metadata.add(self, c))
            env[c.name] = e
        return env

    def _log_targets(self, role):
        """Each awslogs container's group and stream, created as the ECS agent creates them."""
        targets = {}
        for c in self.containers:
            if c.spec.awslogs is None:
                continue
            target = Target(c.spec.awslogs, c.name, self.task.id, self.account, self.region)
            error = None
            for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
                if role is None or not role.allows(action, target.arn):
                    who = role.denied(self.task.id, action, target.arn) if role else "no execution role"
                    error = (
                        "ResourceInitializationError: failed to validate logger args: create stream has been "
                        f"retried 1 times: failed to create Cloudwatch log stream: {who} : exit status 1"
                    )
                    break
            error = error or target.prepare()
            if error:
                self._fail_to_start(error)
                return None
            targets[c.name] = target
        return targets

    def _pull(self, role):
        """Pulls each image by digest; {image: local reference}, or None when a pull failed."""
        t = self.task
        t.pull_started_at = now()
        references = {}
        for image in dict.fromkeys(c.image for c in self.containers):
            reference, error = self._pull_one(image, role)
            if error:
                reason = f"CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref {image}: {error}"
                for c in self.containers:
                    if c.image == image:
                        c.reason = reason
                t.pull_stopped_at = now()
                self._fail_to_start(reason)
                return None
            references[image] = reference
            for c in self.containers:
                if c.image == image and "@" in image:
                    c.image_digest = image.split("@", 1)[1]
        t.pull_stopped_at = now()
        return references

    def _pull_one(self, image, role):
        m = ECR_IMAGE.match(image)
        auth = None
        reference = image
        if m:
            acct, region, repo, digest = m["account"], m["region"], m["repo"], m["digest"]
            arn = f"arn:aws:ecr:{region}:{acct}:repository/{repo}"
            for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
                if not role.allows(action, arn):
                    host = image.split("/", 1)[0]
                    return None, f"pulling from host {host} failed with status code [manifests {digest}]: 403 Forbidden"
            reference = f"{self.agent.registry}/{repo}@{digest}"
            auth = {"username": "AWS", "password": f"{acct}-auth-token"}  # what moto's ECR hands out
        elif "@" not in image:
            last = image.rsplit("/", 1)[-1]
            reference = image if ":" in last else f"{image}:latest"
        log.info("task %s: pulling %s", self.task.id, reference)
        try:
            self.engine.pull(reference, auth, self.plan.platform)
        except Exception as e:
            return None, getattr(e, "explanation", None) or str(e)
        return reference, None

    # ---------------------------------------------------------------- running ---

    def _supervise(self) -> None:
        """Starts containers as their dependencies allow, notes exits, stops the task when it must."""
        deadline = None
        while True:
            for c in self.containers:
                if c.last_status == "RUNNING":
                    state = self.engine.state(c.cid)
                    if not state["Running"] and state["Status"] in ("exited", "dead"):
                        self._exited(c, state)
                    elif c.spec.health_check:
                        self._health(c, state)
            if not self.stopping:
                if self.task.desired_status != "STOPPED":
                    self._start_ready()
                if any(c.spec.essential and c.last_status == "STOPPED" for c in self.containers):
                    self._set_stop("EssentialContainerExited", "Essential container in task exited")
                if self.task.desired_status == "STOPPED":
                    self._stop_all()
                    deadline = time.monotonic() + max(c.spec.stop_timeout for c in self.containers) + STOP_GRACE
            if all(c.last_status == "STOPPED" for c in self.containers):
                return
            if deadline and time.monotonic() > deadline:
                for c in self.containers:
                    if c.last_status != "STOPPED":
                        c.last_status, c.reason = "STOPPED", "bench agent: the container did not stop in time"
                return
            time.sleep(POLL)

    def _health(self, c, state) -> None:
        """Docker's verdict on the container's healthCheck; the task's from its essential containers."""
        status = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}.get((state.get("Health") or {}).get("Status"), "UNKNOWN")
        if status != c.health_status:
            c.health_status = status
            log.info("task %s: %s is %s", self.task.id, c.name, status)
        checked = [x for x in self.containers if x.spec.health_check and x.spec.essential]
        if checked:
            statuses = {x.health_status for x in checked}
            self.task.health_status = ("UNHEALTHY" if "UNHEALTHY" in statuses
                                       else "HEALTHY" if statuses == {"HEALTHY"} else "UNKNOWN")

    def _start_ready(self) -> None:
        by_name = {c.name: c for c in self.containers}
        for c in self.containers:
            if c.last_status != "PENDING":
                continue
            ready, never = True, None
            for dep_name, condition in c.spec.depends_on:
                dep = by_name.get(dep_name)
                if dep is None:
                    never = f"dependency {dep_name} is not a container of the task"
                    break
                if condition == "START":
                    ok = dep.started
                elif condition == "HEALTHY":
                    ok = dep.health_status == "HEALTHY"
                    if dep.spec.health_check is None:
                        never = f"dependency {dep_name} has no health check, which condition HEALTHY needs"
                        break
                elif condition == "COMPLETE":
                    ok = dep.last_status == "STOPPED" and dep.started
                else:  # SUCCESS
                    ok = dep.last_status == "STOPPED" and dep.exit_code == 0
                if not ok:
                    ready = False
                    if dep.last_status == "STOPPED":
                        never = f"dependency {dep_name} stopped without reaching {condition}"
            if never:
                c.last_status, c.reason = "STOPPED", f"DependencyConditionNotMet: {never}"
                log.info("task %s: %s not started: %s", self.task.id, c.name, never)
            elif ready:
                self._start(c)

    def _start(self, c) -> None:
        try:
            self.engine.start(c.cid)
        except Exception as e:
            c.last_status = "STOPPED"
            c.reason = f"CannotStartContainerError: {getattr(e, 'explanation', None) or e}"
            log.info("task %s: %s did not start: %s", self.task.id, c.name, c.reason)
            return
        c.started = True
        c.last_status = "RUNNING"
        if c.target is not None:
            c.shipper = Shipper(self.engine, c.cid, c.target, f"{self.task.id[:8]}-{c.name}")
            c.shipper.start()
        log.info("task %s: %s started (%s)", self.task.id, c.name, c.cid[:12])
        if self.task.last_status != "RUNNING":
            self.task.started_at = now()
            self.task.last_status = "RUNNING"

    def _exited(self, c, state) -> None:
        if c.shipper is not None:
            c.shipper.drain()  # every line in CloudWatch before anyone sees the container stopped
        c.exit_code = state.get("ExitCode")
        if state.get("OOMKilled"):
            c.reason = "OutOfMemoryError: Container killed due to memory usage"
        c.last_status = "STOPPED"
        log.info("task %s: %s exited %s", self.task.id, c.name, c.exit_code)

    def _stop_all(self) -> None:
        """`docker stop -t <stopTimeout>` for each running container, in parallel; never-started ones are done."""
        self.stopping = True
        for c in self.containers:
            if c.last_status == "PENDING":
                c.last_status = "STOPPED"
            elif c.last_status == "RUNNING" and c.stopper is None:
                c.stopper = threading.Thread(target=self._stop_one, args=(c,), daemon=True)
                c.stopper.start()

    def _stop_one(self, c) -> None:
        try:
            self.engine.stop(c.cid, c.spec.stop_timeout)
        except Exception as e:
            log.warning("task %s: stopping %s: %s", self.task.id, c.name, e)

    def _finish(self) -> None:
        """DEPROVISIONING → STOPPED, with every log line shipped and the Docker containers removed."""
        t = self.task
        if t.desired_status != "STOPPED":  # cannot happen, unless a bug: never leave a task RUNNING
            self._set_stop("EssentialContainerExited", "bench agent: the task ended without a stop decision")
        t.execution_stopped_at = now()
        t.last_status = "DEPROVISIONING"
        for c in self.containers:
            try:
                if c.last_status != "STOPPED" and c.cid:
                    state = self.engine.state(c.cid)
                    if not state["Running"]:
                        self._exited(c, state)
            except Exception as e:
                log.warning("task %s: %s: %s", t.id, c.name, e)
            c.last_status = "STOPPED"
            if c.shipper is not None:
                c.shipper.drain()
        for c in self.containers:
            if c.cid:
                try:
                    self.engine.remove(c.cid)
                except Exception as e:
                    log.warning("task %s: removing %s: %s", t.id, c.cid[:12], e)
        if self.pause_cid:
            try:
                self.engine.remove(self.pause_cid)
            except Exception as e:
                log.warning("task %s: removing its pause container: %s", t.id, e)
            for a in t.attachments:
                if a.get("type") == "ElasticNetworkInterface":
                    a["status"] = "DELETED"
        self.agent.credentials.remove(self.cred_env)
        if self.agent.metadata is not None:
            self.agent.metadata.remove(self)
        t.stopped_at = now()
        t.last_status = "STOPPED"
        log.info("task %s: STOPPED (%s: %s) exit codes %s", t.id, t.stop_code, t.stopped_reason,
                 {c.name: c.exit_code for c in self.containers})


# RunTask's `clientToken` as ECS documents it (ECS_Idempotency.html), which moto ignores: within a
# cluster, a token seen in the last 24 hours answers with the tasks its first request started (no
# new task); the same token with other parameters is a ConflictException.
TOKEN_TTL = 24 * 3600
_tokens = {}
_tokens_lock = threading.Lock()


class ConflictException(ServiceException):
    code = "ConflictException"


def install_client_tokens() -> None:
    original = EC2ContainerServiceResponse.run_task

    def run_task(response):
        params = json.loads(response.body or "{}")
        token = params.pop("clientToken", None)
        if not token:
            return original(response)
        backend = response.ecs_backend
        cluster = backend._get_cluster(params.get("cluster", "default")).name
        key = (response.current_account, response.region, cluster, token)
        with _tokens_lock:
            seen = _tokens.get(key)
            if seen and time.time() - seen["at"] < TOKEN_TTL:
                if seen["params"] != params:
                    raise ConflictException(
                        "The client token has already been used with different parameters."
                    )
                log.info("RunTask: client token %s seen: answering with its tasks", token)
                tasks = backend.describe_tasks(cluster, seen["tasks"])
                return ActionResult({"tasks": tasks, "failures": []})
            result = original(response)
            tasks = [t.task_arn for t in result.result["tasks"]]
            _tokens[key] = {"at": time.time(), "params": params, "tasks": tasks}
            return result

    EC2ContainerServiceResponse.run_task = run_task
