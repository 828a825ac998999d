"""Load balancer listeners served for real: one HAProxy per ELBv2 HTTP listener, on 127.0.0.1:<free port>,
in front of the target groups' own HAProxies (lb.py), so a request to the load balancer goes through
the listener's action, the target group's health checks and draining, to a task.

How a client reaches a listener: an ALB's DNS name (moto's `<name>-1.<region>.elb.amazonaws.com`) does
not resolve on the bench, so GET /_bench/lb lists each served listener under "<DNS name>:<port>" with
the local URL that serves it, next to the target groups ({target group ARN: URL}). A test takes the
URL `deploy` prints, asks /_bench/lb where "<host>:<port>" is served, and sends its requests there.

  - forward (TargetGroupArn, or ForwardConfig with weights): round robin over the target groups in
    proportion to their weights (a weight of 0 gets nothing); ModifyListener takes effect at once.
  - rules: the first rule (by priority) that matches every path (path-pattern "/*" or "*", the
    production rule of a blue-green, canary or linear service) is served instead of the default
    action. CreateRule / ModifyRule / DeleteRule take effect at once; a change of weights alone is
    applied through HAProxy's runtime API (`set weight`), so no request in flight fails.
  - redirect: the RedirectConfig's status (HTTP_301/302) to its protocol, host, port and path (the
    request's own where the config says #{...}, as ELB does).
  - fixed-response: its status code, content type and body.
  - not carried out: HTTPS/TLS listeners (no certificates on the bench: such a listener is not served
    and not listed), listener rules with other conditions (host, header, a narrower path), stickiness.
"""

import logging
import os
import queue
import socket
import threading

from . import lb as lbmod

log = logging.getLogger("agent.listeners")


def _catch_all(rule) -> bool:
    conditions = getattr(rule, "conditions", None) or []
    for c in conditions:
        values = c.get("Values") or (c.get("PathPatternConfig") or {}).get("Values") or []
        if c.get("Field") != "path-pattern" or not ({"/*", "*"} & set(values)):
            return False
    return bool(conditions)


def served_action(listener):
    """The action every request gets: the first catch-all rule's, else the default action."""
    rules = sorted((getattr(listener, "_non_default_rules", None) or {}).values(),
                   key=lambda r: int(r.priority))
    for rule in rules:
        if _catch_all(rule) and rule.actions:
            return rule.actions[0]
    return (listener.default_actions or [None])[0]


def _groups(action):
    data = getattr(action, "data", {}) or {}
    return data.get("ForwardConfig", {}).get("TargetGroups") or [
        {"TargetGroupArn": data.get("TargetGroupArn"), "Weight": 1}]


def _weights(groups) -> list:
    """ELB weights are 0-999, HAProxy's 0-256: scaled, keeping 0 as "no traffic"."""
    top = max([int(g.get("Weight", 1)) for g in groups] + [1])
    return [0 if int(g.get("Weight", 1)) == 0 else max(1, round(int(g.get("Weight", 1)) * 256 / top))
            for g in groups]


def _config(port: int, listener, proxies, sock: str) -> str:
    head = f"""global
  stats socket {sock} mode 600 level admin
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:{port}
"""
    action = served_action(listener)
    kind = getattr(action, "type", None)
    data = getattr(action, "data", {}) or {}
    if kind == "redirect":
        r = data.get("RedirectConfig", {})
        code = 302 if r.get("StatusCode") == "HTTP_302" else 301
        proto = (r.get("Protocol") or "#{protocol}").replace("#{protocol}", listener.protocol).lower()
        host = (r.get("Host") or "#{host}").replace("#{host}", "%[req.hdr(host),field(1,:)]")
        rport = (r.get("Port") or "#{port}").replace("#{port}", str(listener.port))
        default = (proto == "https" and rport == "443") or (proto == "http" and rport == "80")
        where = f"{proto}://{host}{'' if default else ':' + rport}%[capture.req.uri]"
        return head + f"  http-request redirect location {where} code {code}\n"
    if kind == "fixed-response":
        f = data.get("FixedResponseConfig", {})
        body = (f.get("MessageBody") or "").replace('"', '\\"')
        ctype = f.get("ContentType") or "text/plain"
        return head + f'  http-request return status {f.get("StatusCode", "200")} content-type "{ctype}" string "{body}"\n'
    groups = _groups(action)
    lines = ["  default_backend be", "backend be", "  balance roundrobin"]
    for i, (g, weight) in enumerate(zip(groups, _weights(groups))):
        proxy = proxies(g["TargetGroupArn"])
        lines.append(f"  server tg{i} 127.0.0.1:{proxy.port} weight {weight}")
    return head + "\n".join(lines) + "\n"


def _command(sock: str, line: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(sock)
        s.sendall(line.encode() + b"\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode()


def listener_of(backend, arn):
    for balancer in backend.load_balancers.values():
        if arn in balancer.listeners:
            return balancer.listeners[arn]
    return None


class Listeners:
    """Every served listener: ARN -> (dns:port key, haproxy process, local port)."""

    def __init__(self, balancers):
        self.balancers = balancers
        self.lock = threading.Lock()
        self.served = {}
        # HAProxy dies with the thread that started it (PR_SET_PDEATHSIG follows the thread), and a
        # request's thread ends with the request: one long-lived thread starts them all.
        self.jobs = queue.Queue()
        threading.Thread(target=self._work, name="listeners", daemon=True).start()

    def _work(self) -> None:
        while True:
            job, done = self.jobs.get()
            try:
                job()
            except Exception:
                log.exception("listener")
            finally:
                done.set()

    def _run(self, job) -> None:
        """Runs `job` on the long-lived thread; returns once it is done (at most 30 s)."""
        done = threading.Event()
        self.jobs.put((job, done))
        done.wait(30)

    def serve(self, backend, listener) -> None:
        self._run(lambda: self._serve(backend, listener))

    def _reweigh(self, listener) -> bool:
        """Only the forward weights changed: set at run time, the same HAProxy serving on."""
        with self.lock:
            entry = self.served.get(listener.arn)
        action = served_action(listener)
        if entry is None or getattr(action, "type", None) != "forward":
            return False
        groups = _groups(action)
        served = entry[5] or []
        if sorted(served) != sorted(g["TargetGroupArn"] for g in groups):
            return False
        for g, weight in zip(groups, _weights(groups)):
            _command(entry[4], f"set weight be/tg{served.index(g['TargetGroupArn'])} {weight}")
        log.info("listener %s weights %s", entry[0], [g.get("Weight") for g in groups])
        return True

    def _serve(self, backend, listener) -> None:
        if self._reweigh(listener):
            return
        self.forget(listener.arn)
        if listener.protocol != "HTTP":
            log.info("listener %s (%s) not served: no TLS on the bench", listener.arn, listener.protocol)
            return
        balancer = backend.load_balancers.get(listener.load_balancer_arn)
        if balancer is None:
            return
        port = lbmod._free_port()
        sock = os.path.join(self.balancers.directory, f"listener-{port}.sock")
        text = _config(port, listener, self.balancers.proxy_for, sock)
        process = lbmod.start_haproxy(self.balancers.directory, f"listener-{port}", text, port)
        key = f"{balancer.dns_name}:{listener.port}"
        action = served_action(listener)
        arns = [g["TargetGroupArn"] for g in _groups(action)] if getattr(action, "type", None) == "forward" else None
        with self.lock:
            self.served[listener.arn] = (key, process, port, listener.load_balancer_arn, sock, arns)
        log.info("listener %s served on 127.0.0.1:%d", key, port)

    def forget(self, arn: str) -> None:
        with self.lock:
            found = self.served.pop(arn, None)
        if found:
            found[1].terminate()

    def forget_balancer(self, lb_arn: str) -> None:
        for arn, entry in list(self.served.items()):
            if entry[3] == lb_arn:
                self.forget(arn)

    def table(self) -> dict:
        with self.lock:
            return {e[0]: f"http://127.0.0.1:{e[2]}" for e in self.served.values()}


def install(listeners) -> None:
    """CreateListener, ModifyListener, DeleteListener, DeleteLoadBalancer and the rules carried out."""
    from moto.elbv2.models import ELBv2Backend

    create, modify = ELBv2Backend.create_listener, ELBv2Backend.modify_listener
    delete, delete_lb = ELBv2Backend.delete_listener, ELBv2Backend.delete_load_balancer

    def create_listener(backend, *args, **kwargs):
        listener = create(backend, *args, **kwargs)
        listeners.serve(backend, listener)
        return listener

    def modify_listener(backend, *args, **kwargs):
        listener = modify(backend, *args, **kwargs)
        listeners.serve(backend, listener)
        return listener

    create_rule, modify_rule, delete_rule = ELBv2Backend.create_rule, ELBv2Backend.modify_rule, ELBv2Backend.delete_rule

    def reserve(backend, listener_arn):
        listener = listener_of(backend, listener_arn)
        if listener is not None:
            listeners.serve(backend, listener)

    def create_rule_(backend, listener_arn, *args, **kwargs):
        rule = create_rule(backend, listener_arn, *args, **kwargs)
        reserve(backend, listener_arn)
        return rule

    def modify_rule_(backend, rule_arn, *args, **kwargs):
        rule = modify_rule(backend, rule_arn, *args, **kwargs)
        reserve(backend, rule.listener_arn)
        return rule

    def delete_rule_(backend, arn):
        found = backend.describe_rules(listener_arn=None, rule_arns=[arn])
        result = delete_rule(backend, arn)
        if found:
            reserve(backend, found[0].listener_arn)
        return result

    ELBv2Backend.create_rule = create_rule_
    ELBv2Backend.modify_rule = modify_rule_
    ELBv2Backend.delete_rule = delete_rule_

    def delete_listener(backend, listener_arn):
        listeners.forget(listener_arn)
        return delete(backend, listener_arn)

    def delete_load_balancer(backend, arn):
        listeners.forget_balancer(arn)
        return delete_lb(backend, arn)

    ELBv2Backend.create_listener = create_listener
    ELBv2Backend.modify_listener = modify_listener
    ELBv2Backend.delete_listener = delete_listener
    ELBv2Backend.delete_load_balancer = delete_load_balancer
