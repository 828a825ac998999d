"""The local Docker Engine, as the agent uses it: every call bounded by a timeout, containers labelled
so that they can be found and removed again."""

import logging
import os

import docker
from docker.errors import DockerException, NotFound

TASK_LABEL = "cargo-fargate-bench.task"
ENDPOINT_LABEL = "cargo-fargate-bench.endpoint"
TIMEOUT = 30  # seconds, for every Docker call but pulls, stops and log streams
PULL_TIMEOUT = 300

log = logging.getLogger("agent.engine")


def healthcheck(hc: dict | None) -> dict | None:
    """A container definition's healthCheck as Docker's (ECS's defaults: 30 s, 5 s, 3 retries, 0 s)."""
    if not hc or not hc.get("command"):
        return None
    ns = 1_000_000_000
    return {
        "test": hc["command"],  # ["CMD", ...] or ["CMD-SHELL", "..."], as Docker takes them
        "interval": int(hc.get("interval", 30)) * ns,
        "timeout": int(hc.get("timeout", 5)) * ns,
        "retries": int(hc.get("retries", 3)),
        "start_period": int(hc.get("startPeriod", 0)) * ns,
    }


class Engine:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.api = docker.from_env(timeout=TIMEOUT).api
        self.pull_api = docker.from_env(timeout=PULL_TIMEOUT).api
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        self.socket = host[len("unix://"):] if host.startswith("unix://") else None

    def pull(self, reference: str, auth: dict | None, platform: str | None = None) -> None:
        """Pulls `repo@sha256:...` (or `repo:tag`), for `platform` (`linux/arm64`) when given: from an
        image index, that platform's manifest; raises with the engine's message."""
        repo, tag = reference.split("@", 1) if "@" in reference else reference.rsplit(":", 1)
        for attempt in (1, 2):
            try:
                for event in self.pull_api.pull(repo, tag=tag, auth_config=auth, stream=True, decode=True,
                                                platform=platform):
                    if "error" in event:
                        raise DockerException(event["error"])
                return
            except DockerException as e:
                # This Engine's reference store keeps one image per digest reference: an image index
                # pulled for one platform holds it (ECS's containerd has no such limit). Drop the
                # reference (not the image) and pull the other platform's.
                if attempt == 2 or "Cannot overwrite digest" not in str(e):
                    raise
                log.info("%s holds another platform's image: pulling %s again", reference, platform)
                self.api.remove_image(reference, force=True, noprune=True)

    def create(self, task_arn: str, name: str, spec, env: dict, reference: str, network_mode: str = "host",
               platform: str | None = None) -> str:
        """A task container; `network_mode` `container:<pause>` puts it in its task's namespace;
        `platform` picks the image's variant and refuses an image of another one."""
        host_config = self.api.create_host_config(
            network_mode=network_mode,
            nano_cpus=int(spec.cpus * 1e9) if spec.cpus else None,
            mem_limit=f"{spec.memory_mib}m" if spec.memory_mib else None,
        )
        c = self.api.create_container(
            reference,
            name=name,
            command=spec.command,
            entrypoint=spec.entrypoint,
            user=spec.user or "",
            working_dir=spec.working_dir,
            environment=env,
            labels={TASK_LABEL: task_arn, ENDPOINT_LABEL: self.endpoint},
            host_config=host_config,
            healthcheck=healthcheck(spec.health_check),
            platform=platform,
        )
        return c["Id"]

    def create_build(self, build_arn: str, name: str, image: str, command: list, env: dict, workdir: str,
                     privileged: bool, platform: str | None = None) -> str:
        """A CodeBuild build's container: host network (moto and the registry on 127.0.0.1), and in
        privileged mode the Engine's own socket, which is what privileged mode gives a build: Docker.
        `platform` linux/arm64: the ARM environment's container, run under qemu."""
        binds = [f"{self.socket}:/var/run/docker.sock"] if privileged and self.socket else []
        host_config = self.api.create_host_config(network_mode="host", binds=binds)
        c = self.api.create_container(
            image, name=name, command=command, working_dir=workdir, environment=env,
            labels={TASK_LABEL: build_arn, ENDPOINT_LABEL: self.endpoint}, host_config=host_config,
            platform=platform,
        )
        return c["Id"]

    def put_archive(self, cid: str, tar) -> None:
        """Unpacks a tar (file object) at `/` in a created container."""
        self.api.put_archive(cid, "/", tar)

    def has_image(self, reference: str) -> bool:
        try:
            self.api.inspect_image(reference)
            return True
        except NotFound:
            return False

    def kill(self, cid: str) -> None:
        self.api.kill(cid)

    def wait(self, cid: str, timeout: int):
        """The exit code once the container has stopped (None when it does not within `timeout` s)."""
        try:
            return self.api.wait(cid, timeout=timeout).get("StatusCode")
        except Exception:
            return None

    def start(self, cid: str) -> None:
        self.api.start(cid)

    def state(self, cid: str) -> dict:
        return self.api.inspect_container(cid)["State"]

    def stop(self, cid: str, timeout: int) -> None:
        """SIGTERM (the image's STOPSIGNAL), SIGKILL after `timeout` seconds: `docker stop -t`."""
        self.api.stop(cid, timeout=timeout)

    def logs(self, cid: str):
        """A stream of `(timestamp, line)` chunks, stdout and stderr in order, from the first line on;
        ends when the container does; `.close()` ends it early."""
        return self.api.logs(cid, stream=True, follow=True, timestamps=True)

    def remove(self, cid: str) -> None:
        try:
            self.api.remove_container(cid, force=True)
        except NotFound:
            pass

    def remove_leftovers(self) -> int:
        """Removes the containers of tasks an earlier agent on this endpoint left behind."""
        found = self.api.containers(all=True, filters={"label": f"{ENDPOINT_LABEL}={self.endpoint}"})
        for c in found:
            log.info("removing leftover container %s (%s)", c["Id"][:12], c["Labels"].get(TASK_LABEL))
            self.remove(c["Id"])
        return len(found)
