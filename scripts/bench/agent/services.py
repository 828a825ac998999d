"""ECS services on the bench: moto's service API, with a static rollout that completes at once.

moto answers CreateService / UpdateService / DescribeServices / DeleteService itself; this hook only
fills in what moto drops or leaves frozen, so that DescribeServices says what ECS would once a
deployment has settled:

  - CreateService keeps deploymentConfiguration (circuit breaker, min/max percent),
    enableExecuteCommand and healthCheckGracePeriodSeconds (moto's backend never sees them);
  - a CreateService, or an UpdateService that changes the task definition, network, platform
    version, load balancers or deployment configuration (or forces a new deployment), starts a new
    PRIMARY deployment with a new id, which is COMPLETED at once with runningCount = desiredCount,
    and adds ECS's "has reached a steady state" event; an UpdateService of the desired count only
    changes the counts, as ECS does.

ListServices leaves deleted (INACTIVE) services out, as ECS does (moto lists them).

Express Mode (CreateExpressGatewayService and the rest) is express.py's, on top of these services.

Not carried out: no task is started for a service (ListTasks with serviceName lists the cluster's
RunTask tasks, as moto does), no circuit breaker ever trips, no load balancer is registered with.
The wait's handling of IN_PROGRESS, FAILED and rolled-back deployments is unit-tested in the tool
(src/service/wait.rs) over the shapes the ECS API reference documents.
"""

import logging
import uuid
from datetime import datetime, timezone

from moto.ecs.responses import EC2ContainerServiceResponse

log = logging.getLogger("agent.services")

KEPT = {
    "deploymentConfiguration": "deployment_configuration",
    "enableExecuteCommand": "enable_execute_command",
    "healthCheckGracePeriodSeconds": "health_check_grace_period_seconds",
}
# UpdateService parameters that make ECS start a new deployment.
REDEPLOY = {
    "taskDefinition",
    "networkConfiguration",
    "platformVersion",
    "loadBalancers",
    "deploymentConfiguration",
    "forceNewDeployment",
    "enableExecuteCommand",
}


def now():
    return datetime.now(timezone.utc)


def settle(service) -> None:
    """A new PRIMARY deployment of the service's task definition, COMPLETED."""
    deployment_id = f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"
    desired = service.desired_count
    network = getattr(service, "network_configuration", None) or None
    service.deployments = [
        {
            "id": deployment_id,
            "status": "PRIMARY",
            "taskDefinition": service.task_definition,
            "desiredCount": desired,
            "pendingCount": 0,
            "runningCount": desired,
            "failedTasks": 0,
            "createdAt": now(),
            "updatedAt": now(),
            "launchType": service.launch_type,
            "platformVersion": service.platform_version,
            "platformFamily": "Linux",
            "networkConfiguration": network,
            "rolloutState": "COMPLETED",
            "rolloutStateReason": f"ECS deployment {deployment_id} completed.",
        }
    ]
    service.running_count = desired
    service.pending_count = 0
    service.events.insert(
        0,
        {
            "id": str(uuid.uuid4()),
            "createdAt": now(),
            "message": f"(service {service.name}) has reached a steady state.",
        },
    )
    log.info("service %s: deployment %s of %s completed", service.name, deployment_id, service.task_definition)


def counts(service) -> None:
    """A change of the desired count alone: the primary deployment follows it."""
    desired = service.desired_count
    service.running_count = desired
    service.pending_count = 0
    for d in service.deployments:
        if d.get("status") == "PRIMARY":
            d.update(desiredCount=desired, runningCount=desired, pendingCount=0, updatedAt=now())


def install() -> None:
    original_create = EC2ContainerServiceResponse.create_service
    original_update = EC2ContainerServiceResponse.update_service

    def create_service(self):
        result = original_create(self)
        service = result.result["service"]
        for param, attr in KEPT.items():
            value = self._get_param(param)
            if value is not None:
                setattr(service, attr, value)
        settle(service)
        return result

    def update_service(self):
        params = self._get_params()
        result = original_update(self)
        service = result.result["service"]
        if REDEPLOY & {k for k, v in params.items() if v is not None}:
            settle(service)
        else:
            counts(service)
        return result

    original_list = EC2ContainerServiceResponse.list_services

    def list_services(self):
        """As ECS: a deleted (INACTIVE) service is no longer listed (moto lists it)."""
        result = original_list(self)
        gone = {s.arn for s in self.ecs_backend.services.values() if s.status == "INACTIVE"}
        result.result["serviceArns"] = [a for a in result.result["serviceArns"] if a not in gone]
        return result

    EC2ContainerServiceResponse.create_service = create_service
    EC2ContainerServiceResponse.update_service = update_service
    EC2ContainerServiceResponse.list_services = list_services

    # Express Mode services are services too (express.py needs settle from here).
    from .express import install as install_express

    install_express()
