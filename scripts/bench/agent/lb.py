"""Target groups served for real: one HAProxy (Debian's `haproxy`, scripts/bench.sh installs it) per
ELBv2 target group a service names, listening on 127.0.0.1:<free port> (GET /_bench/lb answers
{target group ARN: "http://127.0.0.1:<port>"}).

HAProxy rather than nginx: its runtime API (the stats socket) adds, drains and removes servers without
a reload, runs active HTTP health checks with rise/fall thresholds, and reports each server's state,
which is what a target group does and what DescribeTargetHealth answers with.

  - a service task's address:containerPort is registered (moto's RegisterTargets too) once the task
    is RUNNING; HAProxy checks `GET <HealthCheckPath>` every HealthCheckIntervalSeconds, timeout
    HealthCheckTimeoutSeconds, healthy after HealthyThresholdCount passes (rise), unhealthy after
    UnhealthyThresholdCount failures (fall), expecting the Matcher's HttpCode.
  - DescribeTargetHealth: initial (added, not yet passed `rise` checks), healthy, unhealthy (with
    Target.FailedHealthChecks / Target.ResponseCodeMismatch-like reason), draining (deregistered).
  - deregistration: the server is drained (no new requests, open ones finish) for the target group's
    deregistration_delay.timeout_seconds, then removed; the scheduler stops the task only then.
  - not carried out: TLS, stickiness, slow start; one HAProxy per target group, not per load
    balancer. Listeners (listeners.py) are HAProxies of their own in front of these.
"""

import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time

from moto.elbv2.models import elbv2_backends

log = logging.getLogger("agent.lb")

PREFIX = "/_bench/lb"


def _die_with_parent() -> None:
    """HAProxy gets SIGTERM when the agent's process ends, however it ends (prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_haproxy(directory: str, name: str, text: str, port: int):
    """An HAProxy with config `text` that binds 127.0.0.1:`port`, once it accepts connections."""
    cfg = os.path.join(directory, f"{name}.cfg")
    with open(cfg, "w") as f:
        f.write(text)
    process = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.terminate()
                raise RuntimeError(f"haproxy {name} did not start (config {cfg})")
            time.sleep(0.05)


def _codes(matcher: str) -> str:
    """ELB's HttpCode ("200", "200,202", "200-299") as a regex for `http-check expect rstatus`."""
    codes = []
    for part in (matcher or "200").split(","):
        a, _, b = part.strip().partition("-")
        codes += [str(c) for c in range(int(a), int(b or a) + 1)]
    return "^(" + "|".join(codes) + ")$"


class Proxy:
    """One HAProxy process for one target group."""

    def __init__(self, directory: str, tg):
        self.tg_arn = tg.arn
        self.port = _free_port()
        name = tg.arn.rsplit("/", 2)[-2]
        self.sock = os.path.join(directory, f"{name}-{self.port}.sock")
        self.cfg = os.path.join(directory, f"{name}-{self.port}.cfg")
        self.tg = tg
        self.ever_up = set()
        self.check = (f"inter {int(tg.health_check_interval_seconds)}s rise {int(tg.healthy_threshold_count)} "
                      f"fall {int(tg.unhealthy_threshold_count)}")
        with open(self.cfg, "w") as f:
            f.write(f"""global
  stats socket {self.sock} mode 600 level admin
  maxconn 2000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout check {int(tg.health_check_timeout_seconds)}s
  retries 3
  option redispatch
frontend fe
  bind 127.0.0.1:{self.port}
  default_backend be
backend be
  balance roundrobin
  option httpchk GET {tg.health_check_path or "/"}
  http-check expect rstatus {_codes((tg.matcher or {}).get("HttpCode"))}
""")
        self.process = subprocess.Popen(["haproxy", "-db", "-f", self.cfg], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"haproxy for {tg.arn} did not start (config {self.cfg})")
            time.sleep(0.05)
        log.info("target group %s served by haproxy on 127.0.0.1:%d", tg.arn, self.port)

    @property
    def delay(self) -> int:
        """The target group's deregistration delay as it is now (ModifyTargetGroupAttributes applies)."""
        return int(self.tg.attributes.get("deregistration_delay.timeout_seconds", 300))

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.sock)
            s.sendall(line.encode() + b"\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        return out.decode()

    def add(self, name: str, address: str) -> None:
        # down until `rise` checks pass, as a new target is `initial` until it passes the healthy threshold
        # (a server added at run time takes nothing from default-server)
        for line in (f"add server be/{name} {address} check {self.check}", f"enable health be/{name}",
                     f"enable server be/{name}", f"set server be/{name} health down"):
            out = self.command(line).strip()
            if out and "New server registered" not in out:
                log.warning("haproxy %s: %s: %s", self.port, line, out)

    def drain(self, name: str) -> None:
        self.command(f"set server be/{name} state drain")

    def remove(self, name: str) -> None:
        self.command(f"set server be/{name} state maint")
        self.command(f"del server be/{name}")

    def failing(self) -> set:
        """Servers that never passed and whose last check failed (ELB: initial -> unhealthy)."""
        out = self.command("show stat")
        lines = out.strip().splitlines()
        if not lines:
            return set()
        head = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(head, line.split(","))) for line in lines[1:]]
        return {r["svname"] for r in rows if r.get("pxname") == "be" and r.get("status") == "DOWN"
                and r.get("svname") not in self.ever_up
                and r.get("check_status", "").startswith(("L4", "L6", "L7", "SOCKERR"))
                and r.get("check_status") != "L7OK"}

    def states(self) -> dict:
        """{server name: HAProxy status} from `show stat`."""
        out = self.command("show stat")
        lines = out.strip().splitlines()
        if not lines:
            return {}
        head = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(head, line.split(","))) for line in lines[1:]]
        result = {}
        for r in rows:
            if r.get("pxname") == "be" and r.get("svname") not in ("BACKEND", "FRONTEND"):
                result[r["svname"]] = r.get("status", "")
        for name, status in result.items():
            if status == "UP":
                self.ever_up.add(name)
        return result

    def stop(self) -> None:
        self.process.terminate()


class Balancers:
    """Every target group's proxy, and which task is which target."""

    def __init__(self, directory: str):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.lock = threading.Lock()
        self.proxies = {}  # tg arn -> Proxy
        self.targets = {}  # task arn -> [(tg arn, server name, ip, port)]
        self.draining = {}  # (tg arn, server name) -> monotonic removal time
        self.registered = {}  # (tg arn, server name) -> monotonic time it was registered
        self.listeners = None  # listeners.Listeners, whose table /_bench/lb lists too

    def _tg(self, service, arn):
        account = service.cluster_arn.split(":")[4]
        region = service.cluster_arn.split(":")[3]
        return elbv2_backends[account][region], elbv2_backends[account][region].target_groups.get(arn)

    def proxy(self, service, tg_arn):
        with self.lock:
            p = self.proxies.get(tg_arn)
            if p is None:
                _, tg = self._tg(service, tg_arn)
                if tg is None:
                    return None
                p = self.proxies[tg_arn] = Proxy(self.directory, tg)
            return p

    def proxy_for(self, tg_arn):
        """The target group's proxy, found by its ARN alone (a listener forwarding to it)."""
        _, _, _, region, account, _ = tg_arn.split(":", 5)
        with self.lock:
            p = self.proxies.get(tg_arn)
            if p is None:
                tg = elbv2_backends[account][region].target_groups.get(tg_arn)
                if tg is None:
                    raise RuntimeError(f"target group {tg_arn} not found")
                p = self.proxies[tg_arn] = Proxy(self.directory, tg)
            return p

    def register(self, service, task, address, only=None) -> None:
        """Once: the RUNNING task's address in each of the service's target groups (in `only`
        instead, for a blue-green, canary or linear deployment: the group its revision starts behind)."""
        if task.task_arn in self.targets or not service.load_balancers:
            return
        entries = []
        for lb in service.load_balancers:
            tg_arn, port = only or lb.get("targetGroupArn"), lb.get("containerPort")
            p = self.proxy(service, tg_arn) if tg_arn else None
            if p is None:
                continue
            name = f"{task.id[:12]}-{port}"
            p.add(name, f"{address}:{port}")
            backend, _ = self._tg(service, tg_arn)
            backend.register_targets(tg_arn, [{"Id": address, "Port": port}])
            entries.append((tg_arn, name, address, port))
            self.registered[(tg_arn, name)] = time.monotonic()
            log.info("task %s registered in %s as %s:%s", task.id, tg_arn, address, port)
        self.targets[task.task_arn] = entries

    def healthy(self, service, task) -> bool:
        entries = self.targets.get(task.task_arn)
        if not service.load_balancers:
            return True
        if not entries:
            return False
        for tg_arn, name, _, _ in entries:
            if self.proxies[tg_arn].states().get(name) != "UP":
                return False
        return True

    def unhealthy(self, service, task):
        """The target group of a target that turned unhealthy after being healthy, or that never
        passed and failed its checks for the unhealthy threshold's time (ELB: initial ->
        unhealthy, UnhealthyThresholdCount x HealthCheckIntervalSeconds), else None."""
        for tg_arn, name, _, _ in self.targets.get(task.task_arn) or []:
            p = self.proxies[tg_arn]
            if name in p.ever_up and p.states().get(name, "").startswith("DOWN"):
                return tg_arn
            since = self.registered.get((tg_arn, name), time.monotonic())
            window = int(p.tg.health_check_interval_seconds) * int(p.tg.unhealthy_threshold_count)
            if time.monotonic() - since >= window and name in p.failing():
                return tg_arn
        return None

    def deregister(self, service, task) -> int:
        """Drains the task's targets; the deregistration delay (s) before the task may be stopped."""
        delay = 0
        for tg_arn, name, address, port in self.targets.get(task.task_arn) or []:
            p = self.proxies[tg_arn]
            p.drain(name)
            self.draining[(tg_arn, name)] = (time.monotonic() + p.delay, address, port, service)
            delay = max(delay, p.delay)
        return delay

    def forget(self, service, task_arn) -> None:
        """The task stopped: its targets are gone."""
        for tg_arn, name, address, port in self.targets.pop(task_arn, []):
            self.draining.pop((tg_arn, name), None)
            self.registered.pop((tg_arn, name), None)
            self._remove(service, tg_arn, name, address, port)

    def _remove(self, service, tg_arn, name, address, port):
        try:
            self.proxies[tg_arn].remove(name)
            backend, _ = self._tg(service, tg_arn)
            backend.deregister_targets(tg_arn, [{"Id": address, "Port": port}])
        except Exception as e:
            log.warning("removing target %s from %s: %s", name, tg_arn, e)

    def describe(self, tg_arn, statuses) -> None:
        """Rewrites moto's health descriptions with what HAProxy says."""
        p = self.proxies.get(tg_arn)
        if p is None:
            return
        states = p.states()
        by_target = {(a, int(port)): (n,) for entries in self.targets.values()
                     for arn, n, a, port in entries if arn == tg_arn}
        for s in statuses:
            found = by_target.get((s.instance_id, int(s.port)))
            if not found:
                continue
            name = found[0]
            status = states.get(name, "")
            if (tg_arn, name) in self.draining or status in ("DRAIN", "MAINT"):
                s.status, s.reason, s.description = "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"
            elif status == "UP" or status.startswith("UP "):
                s.status, s.reason, s.description = "healthy", None, None
            elif name not in p.ever_up:
                s.status, s.reason, s.description = "initial", "Elb.InitialHealthChecking", "Initial health checks in progress"
            else:
                s.status, s.reason, s.description = "unhealthy", "Target.FailedHealthChecks", "Health checks failed"

    def wsgi(self, environ, start_response):
        table = {arn: f"http://127.0.0.1:{p.port}" for arn, p in self.proxies.items()}
        if self.listeners is not None:
            table.update(self.listeners.table())
        body = json.dumps(table).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def stop_all(self) -> None:
        for p in self.proxies.values():
            p.stop()


def install(balancers) -> None:
    """DescribeTargetHealth answered from HAProxy."""
    from moto.elbv2.models import ELBv2Backend

    original = ELBv2Backend.describe_target_health

    def describe_target_health(backend, target_group_arn, targets):
        statuses = original(backend, target_group_arn, targets)
        balancers.describe(target_group_arn, statuses)
        return statuses

    ELBv2Backend.describe_target_health = describe_target_health
