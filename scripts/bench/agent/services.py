"""ECS services on the bench: moto's service API, carried out by the agent's scheduler (rollout.py).

moto answers CreateService / UpdateService / DescribeServices / DeleteService itself; this hook fills
in what moto drops and hands the service to the scheduler:

  - CreateService keeps deploymentConfiguration (circuit breaker, min/max percent, strategy, bakes,
    canary/linear configuration, alarms: shifting.py carries the strategies out),
    enableExecuteCommand and healthCheckGracePeriodSeconds (moto's backend never sees them);
  - a CreateService, or an UpdateService that changes the task definition, network, platform
    version, load balancers or deployment configuration (or forces a new deployment), starts a new
    PRIMARY deployment (IN_PROGRESS) with a new id; the earlier ones become ACTIVE. The scheduler
    starts and stops real tasks, counts running/pending/failed tasks, adds ECS's events and moves the
    deployment to COMPLETED or FAILED (rollout.py). An UpdateService of the desired count alone only
    changes what the scheduler keeps running, as on ECS.

UpdateService answers with the running and pending counts of the tasks (moto would report the new
desiredCount as running). ListServices leaves deleted (INACTIVE) services out, as ECS does (moto lists them); ListTasks with
serviceName lists the service's tasks (group `service:<name>`).

Express Mode (CreateExpressGatewayService and the rest) is express.py's, on top of these services.
"""

import logging

from moto.ecs.models import EC2ContainerServiceBackend
from moto.ecs.responses import EC2ContainerServiceResponse

from . import rollout, shifting

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


def settle(service, backend) -> None:
    """A new PRIMARY deployment of the service's task definition, IN_PROGRESS; the scheduler
    (rollout.py) carries it out. Earlier deployments become ACTIVE and are drained."""
    for d in service.deployments:
        d["status"] = "ACTIVE"
    deployment = rollout.new_deployment(service, service.task_definition)
    service.deployments.insert(0, deployment)
    rollout.track(backend, service)
    log.info("service %s: deployment %s of %s started", service.name, deployment["id"], service.task_definition)


def install() -> None:
    original_create = EC2ContainerServiceResponse.create_service
    original_update = EC2ContainerServiceResponse.update_service

    def create_service(self):
        shifting.check_request(self.current_account, self._get_param("loadBalancers"))
        result = original_create(self)
        service = result.result["service"]
        for param, attr in KEPT.items():
            value = self._get_param(param)
            if value is not None:
                setattr(service, attr, value)
        service.deployments = []
        settle(service, self.ecs_backend)
        return result

    def update_service(self):
        params = self._get_params()
        shifting.check_request(self.current_account, params.get("loadBalancers"))
        result = original_update(self)
        service = result.result["service"]
        if REDEPLOY & {k for k, v in params.items() if v is not None}:
            settle(service, self.ecs_backend)
        # moto sets runningCount to the new desiredCount; ECS counts the tasks that run.
        rollout.track(self.ecs_backend, service)._count()
        return result  # a new desired count alone: the scheduler follows it

    original_list = EC2ContainerServiceResponse.list_services

    def list_services(self):
        """As ECS: a deleted (INACTIVE) service is no longer listed (moto lists it)."""
        result = original_list(self)
        gone = {s.arn for s in self.ecs_backend.services.values() if s.status == "INACTIVE"}
        result.result["serviceArns"] = [a for a in result.result["serviceArns"] if a not in gone]
        return result

    original_list_tasks = EC2ContainerServiceBackend.list_tasks

    def list_tasks(backend, *args, **kwargs):
        """serviceName lists the service's tasks (moto ignores it); ECS lists desiredStatus RUNNING
        unless asked for STOPPED."""
        service_name = kwargs.get("service_name")
        if len(args) > 4:
            service_name = args[4]
        tasks = original_list_tasks(backend, *args, **kwargs)
        if service_name:
            name = service_name.rsplit("/", 1)[-1]
            tasks = [t for t in tasks if getattr(t, "group", None) == f"service:{name}"]
        return tasks

    EC2ContainerServiceBackend.list_tasks = list_tasks
    EC2ContainerServiceResponse.create_service = create_service
    EC2ContainerServiceResponse.update_service = update_service
    EC2ContainerServiceResponse.list_services = list_services

    # Express Mode services are services too (express.py needs settle from here).
    from .express import install as install_express

    install_express()
