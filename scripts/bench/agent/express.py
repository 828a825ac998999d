"""ECS Express Mode on the bench (moto has none): Create/Describe/Update/DeleteExpressGatewayService.

An Express service here is what the ECS API reference documents it to be from the outside: an ECS
service of the given name in the given cluster (moto's, so DescribeServices, ListServices and the
scheduler of services.py and rollout.py run its tasks), running a task definition Express Mode registers for it
(family `<service>-express`, the primary container `Main`), and the Express description itself:
status, the active configuration as asked for, a public ingress path `<service>.ecs.<region>.on.aws`,
tags (DescribeExpressGatewayService include=TAGS).

  Create  the infrastructure role must exist and trust ecs.amazonaws.com (else
          InvalidParameterException, as ECS cannot assume it); the service is ACTIVE at once, its
          ECS service's deployment rolled out by the scheduler (services.settle).
  Update  a new active configuration; the ECS service gets a new revision and deployment.
  Delete  the ECS service is deleted, the Express service INACTIVE (DescribeExpressGatewayService
          still answers, as ECS does for a while); deleting it again is ServiceNotActiveException.

The URL answers (through the load balancer's stand-in): Express Mode's load balancer forwards to a
target group ECS makes for the service; here Create makes that target group in moto's ELBv2 (HTTP on
the primary container's port, type ip, in the subnets' VPC, health check GET healthCheckPath,
default /ping, tagged AmazonECSManaged=true), names it in the ECS service's loadBalancers, and lb.py
serves it with HAProxy on 127.0.0.1 like any service's target group. The public endpoint
`<service>.ecs.<region>.on.aws` does not resolve on the bench; it maps to 127.0.0.1 this way:
DescribeServices -> loadBalancers[0].targetGroupArn -> GET /_bench/lb -> http://127.0.0.1:<port>,
where a request with the URL's Host header reaches the service's tasks through HAProxy (plain HTTP:
no listener, certificate or HTTPS). The target group's health check interval (5 s), thresholds (2)
and deregistration delay (5 s) are the bench's choice, not AWS's (which does not document Express's);
Delete removes the target group once the service's last task is gone; Update keeps it as made
(a new healthCheckPath or container port does not change it).

Not carried out: no load balancer, listener, certificate, security group or scaling policy is made,
no canary.
"""

import hashlib
import json
import logging
import threading
import time
from datetime import datetime, timezone

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecs.responses import EC2ContainerServiceResponse

from .services import settle
from . import rollout

log = logging.getLogger("agent.express")

EXPRESS = {}  # service ARN -> the Express service as DescribeExpressGatewayService shows it
LOCK = threading.Lock()


class ExpressError(ServiceException):
    def __init__(self, code: str, message: str):
        super().__init__(code, message)


def now():
    return datetime.now(timezone.utc)


def check_infrastructure_role(account: str, arn: str) -> None:
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account]["global"].get_role_by_arn(arn)
    except Exception:
        raise ExpressError("InvalidParameterException", f"The infrastructure role {arn} does not exist.")
    trust = role.assume_role_policy_document
    doc = json.loads(trust) if isinstance(trust, str) else trust
    for st in doc.get("Statement", []):
        services = st.get("Principal", {}).get("Service", [])
        services = [services] if isinstance(services, str) else services
        if st.get("Effect") == "Allow" and "ecs.amazonaws.com" in services:
            return
    raise ExpressError(
        "InvalidParameterException", f"ECS was unable to assume the infrastructure role {arn}."
    )


def task_definition(backend, name: str, config: dict):
    pc = config.get("primaryContainer", {})
    container = {"name": "Main", "image": pc.get("image"), "essential": True}
    if pc.get("containerPort"):
        container["portMappings"] = [{"containerPort": pc["containerPort"]}]
    for key in ("command", "environment", "secrets"):
        if pc.get(key):
            container[key] = pc[key]
    return backend.register_task_definition(
        family=f"{name}-express",
        container_definitions=[container],
        network_mode="awsvpc",
        requires_compatibilities=["FARGATE"],
        cpu=config.get("cpu", "1024"),
        memory=config.get("memory", "2048"),
        task_role_arn=config.get("taskRoleArn"),
        execution_role_arn=config.get("executionRoleArn"),
    )


def target_group(account: str, region: str, name: str, config: dict):
    """The target group Express Mode's load balancer forwards to, or None without a container port."""
    from moto.ec2.models import ec2_backends
    from moto.elbv2.models import elbv2_backends

    port = config.get("primaryContainer", {}).get("containerPort")
    if not port:
        return None
    ec2 = ec2_backends[account][region]
    subnets = config.get("networkConfiguration", {}).get("subnets") or []
    vpc = ec2.get_subnet(subnets[0]).vpc_id if subnets else ec2.get_default_vpc().id
    elbv2 = elbv2_backends[account][region]
    tg_name = "ecs-express-" + hashlib.sha256(f"{name}/{time.time()}".encode()).hexdigest()[:16]
    tg = elbv2.create_target_group(
        tg_name, protocol="HTTP", port=str(port), vpc_id=vpc, target_type="ip",
        healthcheck_protocol="HTTP", healthcheck_path=config.get("healthCheckPath") or "/ping",
        healthcheck_interval_seconds=5, healthcheck_timeout_seconds=2,
        healthy_threshold_count=2, unhealthy_threshold_count=2,
        tags=[{"Key": "AmazonECSManaged", "Value": "true"}],
    )
    elbv2.modify_target_group_attributes(tg.arn, {"deregistration_delay.timeout_seconds": "5"})
    return {"targetGroupArn": tg.arn, "containerName": "Main", "containerPort": int(port)}


def remove_target_groups_when_drained(service, account: str, region: str) -> None:
    """ECS removes the Express service's target group once its tasks are gone (a thread waits)."""
    from moto.elbv2.models import elbv2_backends

    arns = [lb["targetGroupArn"] for lb in service.load_balancers or [] if lb.get("targetGroupArn")]

    def wait_and_remove():
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            keeper = rollout._keepers.get(service.arn)
            if keeper is None or not keeper.tasks:
                break
            time.sleep(1)
        for arn in arns:
            try:
                elbv2_backends[account][region].delete_target_group(arn)
            except Exception as e:
                log.warning("express: removing target group %s: %s", arn, e)

    if arns:
        threading.Thread(target=wait_and_remove, name="express-tg-cleanup", daemon=True).start()


def configuration(params: dict, name: str, region: str, revision: int, arn: str, td_arn: str) -> dict:
    keep = ("executionRoleArn", "taskRoleArn", "healthCheckPath", "primaryContainer",
            "networkConfiguration", "cpu", "memory", "cpuArchitecture", "scalingTarget")
    c = {k: params[k] for k in keep if k in params}
    c["serviceRevisionArn"] = arn.replace(":service/", ":service-revision/") + f"/{revision}"
    c["taskDefinitionArn"] = td_arn
    c["ingressPaths"] = [{"accessType": "PUBLIC", "endpoint": f"{name}.ecs.{region}.on.aws"}]
    c["createdAt"] = now()
    return c


def install() -> None:
    def create_express_gateway_service(self):
        p = self._get_params()
        name, cluster = p["serviceName"], p.get("cluster", "default")
        backend = self.ecs_backend
        check_infrastructure_role(self.current_account, p["infrastructureRoleArn"])
        td = task_definition(backend, name, p)
        scaling = p.get("scalingTarget", {})
        balancer = target_group(self.current_account, self.region, name, p)
        service = backend.create_service(
            cluster, name, scaling.get("minTaskCount", 1), td.arn, tags=p.get("tags"),
            load_balancers=[balancer] if balancer else None,
            launch_type="FARGATE",
            network_configuration={"awsvpcConfiguration": p.get("networkConfiguration", {})},
        )
        settle(service, backend)
        with LOCK:
            if service.arn in EXPRESS and EXPRESS[service.arn]["status"]["statusCode"] != "INACTIVE":
                raise ExpressError("InvalidParameterException", "Creation of service was not idempotent.")
            EXPRESS[service.arn] = {
                "cluster": backend._get_cluster(cluster).arn, "serviceName": name, "serviceArn": service.arn,
                "infrastructureRoleArn": p["infrastructureRoleArn"], "status": {"statusCode": "ACTIVE"},
                "currentDeployment": service.deployments[0]["id"],
                "activeConfigurations": [configuration(p, name, self.region, 1, service.arn, td.arn)],
                "tags": p.get("tags", []), "createdAt": now(), "updatedAt": now(), "revision": 1,
            }
        log.info("express service %s created in %s", name, cluster)
        return ActionResult({"service": shown(EXPRESS[service.arn], tags=False)})

    def describe_express_gateway_service(self):
        arn = self._get_param("serviceArn")
        include = self._get_param("include") or []
        with LOCK:
            found = EXPRESS.get(arn)
            if found is None:
                raise ExpressError("ResourceNotFoundException", f"Service {arn} was not found.")
            return ActionResult({"service": shown(found, tags="TAGS" in include)})

    def update_express_gateway_service(self):
        p = self._get_params()
        arn = p["serviceArn"]
        with LOCK:
            found = EXPRESS.get(arn)
            if found is None or found["status"]["statusCode"] != "ACTIVE":
                raise ExpressError("ServiceNotActiveException", "Service was not ACTIVE.")
            backend = self.ecs_backend
            name = found["serviceName"]
            td = task_definition(backend, name, p)
            service = backend._get_service(found["cluster"], name)
            service.task_definition = td.arn
            service.desired_count = p.get("scalingTarget", {}).get("minTaskCount", service.desired_count)
            settle(service, backend)
            found["revision"] += 1
            found["activeConfigurations"] = [configuration(p, name, self.region, found["revision"], arn, td.arn)]
            found["currentDeployment"] = service.deployments[0]["id"]
            found["updatedAt"] = now()
            return ActionResult({"service": shown(found, tags=False)})

    def delete_express_gateway_service(self):
        arn = self._get_param("serviceArn")
        with LOCK:
            found = EXPRESS.get(arn)
            if found is None:
                raise ExpressError("ServiceNotFoundException", "Service not found.")
            if found["status"]["statusCode"] != "ACTIVE":
                raise ExpressError("ServiceNotActiveException", "Service was not ACTIVE.")
            backend = self.ecs_backend
            service = backend.delete_service(found["cluster"], found["serviceName"], True)
            remove_target_groups_when_drained(service, self.current_account, self.region)
            found["status"] = {"statusCode": "INACTIVE"}
            found["updatedAt"] = now()
            log.info("express service %s deleted", found["serviceName"])
            return ActionResult({"service": shown(found, tags=False)})

    EC2ContainerServiceResponse.create_express_gateway_service = create_express_gateway_service
    EC2ContainerServiceResponse.describe_express_gateway_service = describe_express_gateway_service
    EC2ContainerServiceResponse.update_express_gateway_service = update_express_gateway_service
    EC2ContainerServiceResponse.delete_express_gateway_service = delete_express_gateway_service


def shown(found: dict, tags: bool) -> dict:
    out = {k: v for k, v in found.items() if k not in ("revision", "tags")}
    if tags:
        out["tags"] = found["tags"]
    return out
