"""ECS's native blue/green, canary and linear deployments on the bench, as ECS documents them
(deploymentConfiguration.strategy BLUE_GREEN | CANARY | LINEAR with loadBalancers[0].advancedConfiguration
{alternateTargetGroupArn, productionListenerRule, roleArn}). rollout.py's scheduler asks this module
where a deployment's tasks go, when the old ones may stop, and lets it move the traffic:

  - the target group that serves is the one with the larger weight in the production listener rule;
    a new deployment's tasks start behind the OTHER one of (targetGroupArn, alternateTargetGroupArn),
    desiredCount of them, beside the old tasks (maximumPercent does not limit them: ECS scales the new
    revision up fully first);
  - SCALE_UP: once all of them are healthy in their target group, the production rule's weights move
    (ModifyRule on moto's ELBv2, so DescribeRules shows them and the listener's HAProxy follows at
    once, listeners.py): BLUE_GREEN all at once; CANARY canaryPercent, then after
    canaryBakeTimeInMinutes the rest; LINEAR stepPercent more per step, stepBakeTimeInMinutes apart.
    No testListenerRule is carried out (its test traffic phase passes at once);
  - BAKE_TIME: with all traffic on the new revision, the old tasks keep running for bakeTimeInMinutes,
    so a rollback is a weight change; then CLEAN_UP stops them (deregistered first) and the deployment
    is COMPLETED (rollout.py);
  - rollback: deploymentConfiguration.alarms {alarmNames, enable, rollback} — any named CloudWatch alarm
    (moto's) in state ALARM while the deployment is IN_PROGRESS (scale-up, shift or bake) — or the
    circuit breaker's threshold of failed new tasks: the weights go back to the old target group, the
    deployment is FAILED with the reason (which alarm, or the breaker), the old deployment is PRIMARY
    again (COMPLETED) and the new tasks are stopped;
  - the infrastructure role (roleArn) must exist and trust ecs.amazonaws.com, else CreateService /
    UpdateService answer InvalidParameterException (services.py; its permissions are not evaluated).

A "minute" of the bakes lasts 60 s unless a test said otherwise for its service:
`POST /_bench/ecs/minute?service=<name>&seconds=<n>` (deployments started afterwards).
"""

import logging
import math
import time
from urllib.parse import parse_qs

log = logging.getLogger("agent.shifting")

MINUTE_PATH = "/_bench/ecs/minute"
MINUTES = {}  # service name -> seconds a bake "minute" lasts (bench setting, see the header)


def wsgi_minute(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    try:
        name, seconds = q["service"][0], float(q["seconds"][0])
    except (KeyError, ValueError, IndexError):
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"service=<name>&seconds=<n>\n"]
    MINUTES[name] = seconds
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]


def check_request(account: str, load_balancers) -> None:
    """CreateService / UpdateService: a traffic-shifting service's infrastructure role must exist
    and trust ECS (express.py's check, the same message ECS gives)."""
    from .express import check_infrastructure_role
    for lb in load_balancers or []:
        role = (lb.get("advancedConfiguration") or {}).get("roleArn")
        if role:
            check_infrastructure_role(account, role)


def configured(service):
    """(strategy, deploymentConfiguration, advancedConfiguration) of a traffic-shifting service, else None."""
    dc = getattr(service, "deployment_configuration", None) or {}
    strategy = dc.get("strategy") or "ROLLING"
    adv = next((lb.get("advancedConfiguration") for lb in service.load_balancers or []
                if lb.get("advancedConfiguration")), None)
    if strategy == "ROLLING" or not adv:
        return None
    return strategy, dc, adv


def steps(strategy, dc) -> list:
    """[(percent on the new revision, minutes to bake before the next step)]; the last is 100."""
    if strategy == "CANARY":
        c = dc.get("canaryConfiguration") or {}
        p = float(c.get("canaryPercent", 5))
        return [(p, int(c.get("canaryBakeTimeInMinutes", 10))), (100.0, 0)] if p < 100 else [(100.0, 0)]
    if strategy == "LINEAR":
        c = dc.get("linearConfiguration") or {}
        step, bake = float(c.get("stepPercent", 10)), int(c.get("stepBakeTimeInMinutes", 6))
        n = math.ceil(100 / step)
        return [(min(100.0, step * (i + 1)), bake) for i in range(n)]
    return [(100.0, 0)]


def firing(service, dc):
    """"alarm(s) <names> in ALARM" for deploymentConfiguration.alarms (enable) in state ALARM
    (moto's CloudWatch), else None."""
    alarms = dc.get("alarms") or {}
    if not alarms.get("enable"):
        return None
    from moto.cloudwatch.models import cloudwatch_backends
    _, _, _, region, account, _ = service.cluster_arn.split(":", 5)
    backend = cloudwatch_backends[account][region]
    names = [n for n in alarms.get("alarmNames") or []
             if getattr(backend.alarms.get(n), "state_value", None) == "ALARM"]
    return f"alarm(s) {', '.join(names)} in ALARM" if names else None


class Shifter:
    """One service's traffic shifting: per deployment id its target group and phase."""

    def __init__(self, keeper):
        self.k = keeper
        self.state = {}  # deployment id -> {"tg", "old_tg", "phase", "steps", "at", "old"}

    # ------------------------------------------------------------ the rule ---

    def _elb(self):
        from moto.elbv2.models import elbv2_backends
        _, _, _, region, account, _ = self.k.service.cluster_arn.split(":", 5)
        return elbv2_backends[account][region]

    def _rule(self, adv):
        found = self._elb().describe_rules(listener_arn=None, rule_arns=[adv["productionListenerRule"]])
        return found[0] if found else None

    def _weights(self, adv) -> dict:
        rule = self._rule(adv)
        if rule is None or not rule.actions:
            return {}
        groups = (rule.actions[0].data or {}).get("ForwardConfig", {}).get("TargetGroups") or []
        return {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups}

    def serving(self, adv):
        w = self._weights(adv)
        return max(w, key=w.get) if w else None

    def _set(self, adv, percent_new, new_tg, old_tg) -> None:
        new = int(round(percent_new))
        weight = {old_tg: 100 - new, new_tg: new}
        order = list(self._weights(adv)) or [old_tg, new_tg]  # the rule's own order, kept
        groups = [{"TargetGroupArn": g, "Weight": weight.get(g, 0)} for g in order]
        self._elb().modify_rule(adv["productionListenerRule"], [],
                                [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}])

    # --------------------------------------------------------- scheduling ---

    def group_of(self, deployment_id):
        """The target group a deployment's tasks register in."""
        st = self.state.get(deployment_id)
        if st:
            return st["tg"]
        conf = configured(self.k.service)
        return self.serving(conf[2]) if conf else None

    def may_drain(self, primary) -> bool:
        """Whether the old deployments' tasks may stop (CLEAN_UP, or the first deployment)."""
        st = self.state.get(primary["id"])
        return st is None or st["phase"] in ("CLEAN_UP", "DONE")

    def minute(self) -> float:
        return MINUTES.get(self.k.service.name, 60.0)

    def begin(self, primary, conf) -> dict:
        strategy, dc, adv = conf
        old_tg = self.serving(adv)
        groups = [lb.get("targetGroupArn") for lb in self.k.service.load_balancers] + [adv["alternateTargetGroupArn"]]
        new_tg = next((g for g in groups if g and g != old_tg), adv["alternateTargetGroupArn"])
        others = [a for a, d in self.k.tasks.items() if d != primary["id"]]
        st = {"tg": new_tg, "old_tg": old_tg, "phase": "SCALE_UP", "steps": steps(strategy, dc), "at": 0.0,
              "old": next((d for d in self.k.service.deployments[1:] if d["status"] != "INACTIVE"), None)}
        if not others:  # nothing serves yet: the first deployment starts behind the serving group
            st.update(tg=old_tg, phase="DONE")
        self.state[primary["id"]] = st
        return st

    def step(self, primary) -> None:
        conf = configured(self.k.service)
        if conf is None or primary["rolloutState"] != "IN_PROGRESS":
            return
        st = self.state.get(primary["id"]) or self.begin(primary, conf)
        if st["phase"] in ("DONE", "FAILED", "CLEAN_UP"):
            return
        _, dc, adv = conf
        alarm = self._alarm(dc)
        if alarm:
            self.rollback(primary, st, adv, alarm)
            return
        now = time.monotonic()
        if st["phase"] == "SCALE_UP":
            mine = self.k.live(primary["id"])
            healthy = sum(1 for a in mine if self.k.healthy(self.k.task(a)))
            if healthy < self.k.service.desired_count:
                return
            self.k.event(f"(deployment {primary['id']}) production traffic shift started.")
            st["phase"], st["at"] = "SHIFT", now
        if st["phase"] == "SHIFT" and now >= st["at"]:
            percent, bake = st["steps"].pop(0)
            self._set(adv, percent, st["tg"], st["old_tg"])
            self.k.event(f"(deployment {primary['id']}) shifted {percent:g}% of production traffic to "
                         f"(target-group {st['tg']}).")
            if st["steps"]:
                st["at"] = now + bake * self.minute()
            else:
                st["phase"], st["at"] = "BAKE", now + int(dc.get("bakeTimeInMinutes", 0)) * self.minute()
                self.k.event(f"(deployment {primary['id']}) bake time of {dc.get('bakeTimeInMinutes', 0)} min started.")
            return
        if st["phase"] == "BAKE" and now >= st["at"]:
            st["phase"] = "CLEAN_UP"
            self.k.event(f"(deployment {primary['id']}) bake time ended; stopping the old tasks.")

    def _alarm(self, dc):
        return firing(self.k.service, dc)

    def breaker(self, primary, reason) -> bool:
        """The circuit breaker tripped on a traffic-shifting deployment: rolled back here."""
        conf = configured(self.k.service)
        st = self.state.get(primary["id"])
        if conf is None or st is None or st["phase"] == "DONE":
            return False
        self.rollback(primary, st, conf[2], reason)
        return True

    def rollback(self, primary, st, adv, reason) -> None:
        s = self.k.service
        if st.get("old_tg") and st["tg"] != st["old_tg"]:
            self._set(adv, 0, st["tg"], st["old_tg"])
        st["phase"] = "FAILED"
        primary["rolloutState"] = "FAILED"
        primary["status"] = "ACTIVE"
        old = st.get("old")
        primary["rolloutStateReason"] = (f"ECS deployment {primary['id']} rolled back: {reason}."
                                         + (f" Rolling back to deploymentId {old['id']}." if old else ""))
        self.k.event(f"(deployment {primary['id']}) deployment failed: {reason}; production traffic is back "
                     f"on (target-group {st.get('old_tg')}).")
        if old is not None and old in s.deployments:
            old["status"] = "PRIMARY"
            s.deployments.remove(old)
            s.deployments.insert(0, old)
            s.task_definition = old["taskDefinition"]
        log.info("service %s: deployment %s rolled back: %s", s.name, primary["id"], reason)
