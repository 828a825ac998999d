"""What each container of a task is to be: the task definition with RunTask's overrides applied, as
ECS applies them (containerOverrides by name: command replaces, environment adds and replaces by name,
cpu/memory replace; task overrides: cpu, memory, taskRoleArn, executionRoleArn)."""

from dataclasses import dataclass, field

DEFAULT_STOP_TIMEOUT = 30  # seconds, Fargate's default


@dataclass
class ContainerSpec:
    name: str
    image: str
    essential: bool
    command: list | None
    entrypoint: list | None
    user: str | None
    working_dir: str | None
    environment: dict
    secrets: list
    stop_timeout: int
    depends_on: list  # [(container name, condition)]
    awslogs: dict | None  # the awslogs options, or None for another (or no) log driver
    cpus: float | None
    memory_mib: int | None
    health_check: dict | None = None  # the container definition's healthCheck


@dataclass
class TaskPlan:
    containers: list = field(default_factory=list)
    task_role_arn: str | None = None
    execution_role_arn: str | None = None
    cpu: str | None = None
    memory: str | None = None
    # runtimePlatform.cpuArchitecture as the Engine's platform: Fargate runs the task on that
    # architecture, so the image is pulled and run for it (under qemu on another machine).
    platform: str = "linux/amd64"


def _num(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def engine_platform(runtime_platform) -> str:
    """`linux/arm64` for `cpuArchitecture: ARM64`, `linux/amd64` otherwise (ECS's default X86_64)."""
    arch = (runtime_platform or {}).get("cpuArchitecture") or "X86_64"
    return "linux/arm64" if arch.upper() == "ARM64" else "linux/amd64"


def plan(task_definition, overrides: dict) -> TaskPlan:
    overrides = overrides or {}
    by_name = {o.get("name"): o for o in overrides.get("containerOverrides") or []}
    p = TaskPlan(
        task_role_arn=overrides.get("taskRoleArn") or getattr(task_definition, "task_role_arn", None),
        execution_role_arn=overrides.get("executionRoleArn")
        or getattr(task_definition, "execution_role_arn", None),
        cpu=overrides.get("cpu") or task_definition.cpu,
        memory=overrides.get("memory") or task_definition.memory,
        platform=engine_platform(getattr(task_definition, "runtime_platform", None)),
    )
    for d in task_definition.container_definitions:
        o = by_name.get(d.get("name"), {})
        env = {e["name"]: e.get("value", "") for e in d.get("environment") or []}
        env.update({e["name"]: e.get("value", "") for e in o.get("environment") or []})
        cpu = _num(o.get("cpu")) or _num(d.get("cpu")) or _num(p.cpu)
        memory = _num(o.get("memory")) or _num(d.get("memory")) or _num(p.memory)
        log_config = d.get("logConfiguration") or {}
        p.containers.append(
            ContainerSpec(
                name=d["name"],
                image=d["image"],
                essential=d.get("essential", True) is not False,
                command=o.get("command") or d.get("command") or None,
                entrypoint=d.get("entryPoint") or None,
                user=d.get("user"),
                working_dir=d.get("workingDirectory"),
                environment=env,
                secrets=d.get("secrets") or [],
                stop_timeout=_num(d.get("stopTimeout")) or DEFAULT_STOP_TIMEOUT,
                depends_on=[(x["containerName"], x["condition"]) for x in d.get("dependsOn") or []],
                awslogs=log_config.get("options") or {} if log_config.get("logDriver") == "awslogs" else None,
                cpus=cpu / 1024 if cpu else None,
                memory_mib=memory,
                health_check=d.get("healthCheck") or None,
            )
        )
    return p
