"""ECS's service scheduler on the bench: keeps each service's desiredCount tasks running as real tasks
(RunTask through the agent, ecs.py), rolls deployments within minimumHealthyPercent/maximumPercent,
replaces tasks that exit, and trips the deployment circuit breaker.

One thread looks at every tracked service every STEP seconds:
  - a task of the service that stopped without the scheduler stopping it is replaced; when it belongs
    to an IN_PROGRESS deployment it counts as a failed task of that deployment (failedTasks);
  - the PRIMARY deployment gets new tasks while it has fewer than desiredCount and all the service's
    tasks number fewer than floor(desiredCount * maximumPercent / 100);
  - older deployments' tasks are stopped (stopCode ServiceSchedulerInitiated) while the healthy tasks
    left stay at least ceil(desiredCount * minimumHealthyPercent / 100); with a load balancer a task
    is first deregistered and stopped after the target group's deregistration delay (lb.py);
  - a task is healthy once RUNNING, its essential containers with a health check HEALTHY, and its
    targets healthy in every target group of the service;
  - the deployment is COMPLETED when desiredCount of its tasks are healthy and no other deployment has
    a task left; older deployments are then removed, as ECS does;
  - circuit breaker (deploymentCircuitBreaker.enable): failedTasks reaching the documented threshold
    min(200, max(3, ceil(0.5 * desiredCount))) makes the deployment FAILED; with rollback the last
    COMPLETED deployment's task definition becomes a new PRIMARY deployment, else no task is started
    for it any more. Without the breaker failed tasks are replaced forever (ECS throttles; here at
    most one start per service per RETRY seconds after a failure).
  - deployment alarms (deploymentConfiguration.alarms, enable): a named CloudWatch alarm (moto's) in
    ALARM while a rolling deployment is IN_PROGRESS fails it, "ECS deployment detected triggered
    alarm(s) <names> in ALARM.", and with `rollback` goes back as the breaker does;
  - blue/green, canary and linear (deploymentConfiguration.strategy with an advancedConfiguration):
    shifting.py decides which target group a deployment's tasks join, moves the production listener
    rule's weights, bakes, rolls back on an alarm or the breaker, and says when the old tasks stop.
"""

import logging
import math
import threading
import time
import uuid
from datetime import datetime, timezone

from . import shifting

log = logging.getLogger("agent.rollout")

STEP = 0.5
RETRY = 2.0


def now():
    return datetime.now(timezone.utc)


def new_deployment(service, task_definition, reason=None) -> dict:
    deployment_id = f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"
    return {
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": task_definition,
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now(),
        "updatedAt": now(),
        "launchType": service.launch_type,
        "platformVersion": service.platform_version or "1.4.0",
        "platformFamily": "Linux",
        "networkConfiguration": getattr(service, "network_configuration", None) or None,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": reason or "ECS deployment {} in progress.".format(deployment_id),
    }


def threshold(desired: int) -> int:
    return min(200, max(3, math.ceil(0.5 * desired)))


class Keeper:
    """One service's scheduler state: which task belongs to which deployment."""

    def __init__(self, backend, service):
        self.backend, self.service = backend, service
        self.tasks = {}  # task arn -> deployment id
        self.stopping = {}  # task arn -> (monotonic time to StopTask at: deregistration delay, reason)
        self.stopped_by_us = set()
        self.last_completed = None  # (id, task definition) of the last COMPLETED deployment
        self.next_start = 0.0
        self.shifter = shifting.Shifter(self)

    # ------------------------------------------------------------ helpers ---

    def event(self, message: str) -> None:
        self.service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": now(),
                                       "message": f"(service {self.service.name}) {message}"})
        del self.service.events[100:]
        log.info("service %s: %s", self.service.name, message)

    def task(self, arn):
        return self.backend.tasks.get(self.service.cluster_name, {}).get(arn)

    def healthy(self, task) -> bool:
        if task is None or task.last_status != "RUNNING" or task.desired_status == "STOPPED":
            return False
        if getattr(task, "health_status", "UNKNOWN") == "UNHEALTHY":
            return False
        for c in task.containers:
            if getattr(getattr(c, "spec", None), "health_check", None) and c.spec.essential \
                    and c.health_status != "HEALTHY":
                return False
        return all(lb.healthy(self.service, task) for lb in LBS)

    def live(self, deployment_id=None):
        return [a for a, d in self.tasks.items()
                if (deployment_id is None or d == deployment_id) and a not in self.stopping
                and (t := self.task(a)) is not None and t.desired_status != "STOPPED"]

    # ------------------------------------------------------------ actions ---

    def start(self, deployment) -> None:
        s = self.service
        tasks = self.backend.run_task(
            s.cluster_name, deployment["taskDefinition"], 1, None, deployment["id"], None,
            s.launch_type or "FARGATE", getattr(s, "network_configuration", None) or None,
            group=f"service:{s.name}", platform_version=s.platform_version,
        )
        for t in tasks:
            self.tasks[t.task_arn] = deployment["id"]
            self.event(f"has started 1 tasks: (task {t.id}).")

    def stop(self, arn, reason) -> None:
        """Deregisters first; StopTask once the target groups' deregistration delay has passed."""
        delay = 0
        t = self.task(arn)
        for lb in LBS:
            delay = max(delay, lb.deregister(self.service, t))
        self.stopping[arn] = (time.monotonic() + delay, reason)

    def _stop_now(self, arn, reason) -> None:
        self.stopped_by_us.add(arn)
        runner = AGENT.runners.get(arn) if AGENT else None
        if runner is not None:
            runner._set_stop("ServiceSchedulerInitiated", reason)
            runner.stop_requested.set()
        t = self.task(arn)
        if t is not None:
            self.event(f"has stopped 1 running tasks: (task {t.id}).")

    # ------------------------------------------------------------ the step ---

    def step(self) -> bool:
        """One look at the service; False once it is deleted and has no task left."""
        s = self.service
        deleted = s.status == "INACTIVE"
        self._reap()
        for arn, (at, reason) in list(self.stopping.items()):
            if time.monotonic() >= at:
                del self.stopping[arn]
                self._stop_now(arn, reason)
        if deleted:
            for arn in self.live():
                self.stop(arn, "Service deleted")
            return bool(self.tasks)
        primary = s.deployments[0] if s.deployments else None
        if primary is None:
            return True
        primary["desiredCount"] = s.desired_count
        self._register()
        self._unhealthy()
        self._breaker(primary)
        self._alarms(s.deployments[0])
        primary = s.deployments[0]
        self._launch(primary)
        self.shifter.step(primary)
        primary = s.deployments[0]
        self._drain(primary)
        self._count()
        self._complete(primary)
        return True

    def _reap(self) -> None:
        for arn, dep_id in list(self.tasks.items()):
            t = self.task(arn)
            if t is not None and t.last_status != "STOPPED":
                continue
            del self.tasks[arn]
            self.stopping.pop(arn, None)
            for lb in LBS:
                lb.forget(self.service, arn)
            if arn in self.stopped_by_us:
                self.stopped_by_us.discard(arn)
                continue
            reason = t.stopped_reason if t is not None else "task lost"
            self.event(f"has stopped 1 running tasks: (task {arn.rsplit('/', 1)[-1]}). Reason: {reason}")
            self._failed(dep_id)

    def _register(self) -> None:
        """A RUNNING task's address goes into the service's target groups, as ECS registers it."""
        for arn in self.live():
            t, runner = self.task(arn), AGENT.runners.get(arn) if AGENT else None
            if t.last_status == "RUNNING" and runner is not None and runner.address:
                only = self.shifter.group_of(self.tasks[arn]) if shifting.configured(self.service) else None
                for lb in LBS:
                    lb.register(self.service, t, runner.address, only)

    def _unhealthy(self) -> None:
        """An essential container UNHEALTHY, or a target failing the load balancer's health checks
        past the grace period: the task is replaced, a failure of its deployment."""
        grace = getattr(self.service, "health_check_grace_period_seconds", None) or 0
        for arn in self.live():
            t = self.task(arn)
            reason = None
            if getattr(t, "health_status", None) == "UNHEALTHY":
                reason = "Task failed container health checks"
            elif getattr(t, "started_at", None) and (now() - t.started_at).total_seconds() >= grace:
                for lb in LBS:
                    tg = lb.unhealthy(self.service, t)
                    if tg:
                        reason = f"Task failed ELB health checks in (target-group {tg})"
            if reason:
                self._failed(self.tasks[arn])
                self.stop(arn, reason)

    def _failed(self, deployment_id) -> None:
        self.next_start = time.monotonic() + RETRY
        for d in self.service.deployments:
            if d["id"] == deployment_id and d["rolloutState"] == "IN_PROGRESS":
                d["failedTasks"] += 1
                d["updatedAt"] = now()

    def _breaker(self, primary) -> None:
        s = self.service
        config = (getattr(s, "deployment_configuration", None) or {}).get("deploymentCircuitBreaker") or {}
        if not config.get("enable") or primary["rolloutState"] != "IN_PROGRESS":
            return
        if primary["failedTasks"] < threshold(s.desired_count):
            return
        if config.get("rollback") and self.shifter.breaker(primary, "ECS deployment circuit breaker: tasks failed to start"):
            return
        self._fail(primary, "ECS deployment circuit breaker: tasks failed to start.", "tasks failed to start",
                   config.get("rollback"), "ECS deployment circuit breaker")

    def _alarms(self, primary) -> None:
        """A rolling deployment with deploymentConfiguration.alarms: a named alarm in ALARM while it
        is IN_PROGRESS fails it (and rolls back with `rollback`). shifting.py watches the others."""
        dc = getattr(self.service, "deployment_configuration", None) or {}
        if primary["rolloutState"] != "IN_PROGRESS" or shifting.configured(self.service):
            return
        firing = shifting.firing(self.service, dc)
        if firing:
            self._fail(primary, f"ECS deployment detected triggered {firing}.", firing,
                       (dc.get("alarms") or {}).get("rollback"), f"ECS deployment detected triggered {firing}")

    def _fail(self, primary, reason, why, rollback, source) -> None:
        """The deployment FAILED; with `rollback` the last COMPLETED deployment's task definition
        becomes a new PRIMARY deployment, else no task is started for it any more."""
        s = self.service
        primary["rolloutState"] = "FAILED"
        primary["rolloutStateReason"] = reason
        primary["updatedAt"] = now()
        self.event(f"(deployment {primary['id']}) deployment failed: {why}.")
        if rollback and self.last_completed:
            target_id, target_td = self.last_completed
            target = next((d for d in s.deployments if d["id"] == target_id), None)
            back = new_deployment(s, target_td, f"{source}: rolling back to deploymentId {target_id}.")
            primary["status"] = "ACTIVE"
            if target is not None:  # still has tasks: they become the new primary's
                for arn, d in self.tasks.items():
                    if d == target["id"]:
                        self.tasks[arn] = back["id"]
                s.deployments.remove(target)
            s.deployments.insert(0, back)
            s.task_definition = target_td
            self.event(f"rolling back to deployment {target_id}.")

    def _launch(self, primary) -> None:
        s = self.service
        if primary["rolloutState"] == "FAILED" or time.monotonic() < self.next_start:
            return
        config = getattr(s, "deployment_configuration", None) or {}
        max_total = math.floor(s.desired_count * config.get("maximumPercent", 200) / 100)
        max_total = max(max_total, 1 if s.desired_count else 0)
        if shifting.configured(s):  # the new revision scales up fully beside the old one
            max_total = len(self.live()) - len(self.live(primary["id"])) + s.desired_count
        mine, everyone = len(self.live(primary["id"])), len(self.live())
        if mine < s.desired_count and everyone < max_total:
            self.start(primary)
            if primary["failedTasks"]:
                self.next_start = time.monotonic() + RETRY

    def _drain(self, primary) -> None:
        s = self.service
        config = getattr(s, "deployment_configuration", None) or {}
        min_healthy = math.ceil(s.desired_count * config.get("minimumHealthyPercent", 100) / 100)
        healthy = sum(1 for a in self.live() if self.healthy(self.task(a)))
        old = [a for a in self.live() if self.tasks[a] != primary["id"]]
        if not self.shifter.may_drain(primary):
            old = []  # kept until the shift and bake are done
        extra = self.live(primary["id"])[s.desired_count:]  # scale-in
        reason = f"Scaling activity initiated by (deployment {primary['id']})"
        for arn in sorted(old, key=lambda a: self.healthy(self.task(a))) + extra:
            is_healthy = self.healthy(self.task(arn))
            if is_healthy and healthy - 1 < min_healthy and arn not in extra:
                break
            self.stop(arn, reason)
            healthy -= is_healthy

    def _count(self) -> None:
        s = self.service
        running = pending = 0
        for d in s.deployments:
            # a task the scheduler is stopping no longer counts (its desiredStatus is STOPPED)
            arns = [a for a, dep in self.tasks.items() if dep == d["id"] and a not in self.stopping
                    and a not in self.stopped_by_us]
            tasks = [self.task(a) for a in arns]
            r = sum(1 for t in tasks if t is not None and t.last_status == "RUNNING")
            p = sum(1 for t in tasks if t is not None and t.last_status in ("PROVISIONING", "PENDING"))
            if (d["runningCount"], d["pendingCount"]) != (r, p):
                d.update(runningCount=r, pendingCount=p, updatedAt=now())
            running, pending = running + r, pending + p
        s.running_count, s.pending_count = running, pending

    def _complete(self, primary) -> None:
        s = self.service
        if primary["rolloutState"] == "FAILED":
            return
        mine = self.live(primary["id"])
        healthy = sum(1 for a in mine if self.healthy(self.task(a)))
        others = [a for a, d in self.tasks.items() if d != primary["id"]]
        if healthy < s.desired_count or len(mine) > s.desired_count or others:
            return
        s.deployments[:] = [primary]
        if primary["rolloutState"] == "IN_PROGRESS":
            primary["rolloutState"] = "COMPLETED"
            primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
            primary["updatedAt"] = now()
            self.last_completed = (primary["id"], primary["taskDefinition"])
            self.event(f"(deployment {primary['id']}) deployment completed.")
            self.event("has reached a steady state.")


AGENT = None  # ecs.Agent, set by start()
LBS = []  # load balancers (lb.py) told about tasks as they start and stop
_keepers = {}
_lock = threading.Lock()


def track(backend, service) -> Keeper:
    with _lock:
        k = _keepers.get(service.arn)
        if k is None:
            k = _keepers[service.arn] = Keeper(backend, service)
        else:
            k.service = service
        return k


def _loop() -> None:
    while True:
        with _lock:
            keepers = list(_keepers.items())
        for arn, k in keepers:
            try:
                alive = k.step()
            except Exception:
                log.exception("service %s: scheduler step", k.service.name)
                alive = True
            if not alive:
                with _lock:
                    _keepers.pop(arn, None)
        time.sleep(STEP)


def start(agent) -> None:
    global AGENT
    AGENT = agent
    threading.Thread(target=_loop, name="service-scheduler", daemon=True).start()
