"""The task metadata endpoint v4, as the ECS agent serves it to each container: GET
$ECS_CONTAINER_METADATA_URI_V4 (the container), .../task (the task and its containers). On the bench
it is a per-container secret path on the agent's port, reached from inside the task's namespace on
loopback (network.py); Fargate's is http://169.254.170.2/v4/<id>. Stats endpoints are not served."""

import json
import secrets
import threading

PREFIX = "/_bench/metadata/"


def _time(t):
    return t.isoformat().replace("+00:00", "Z") if t else None


class Metadata:
    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self._lock = threading.Lock()
        self._paths = {}  # path id -> (runner, container)

    def add(self, runner, container) -> dict:
        """Registers a container; the env vars that point it here."""
        path_id = secrets.token_hex(16)
        with self._lock:
            self._paths[path_id] = (runner, container)
        uri = f"{self.base_url}{PREFIX}{path_id}"
        return {"ECS_CONTAINER_METADATA_URI_V4": uri, "ECS_CONTAINER_METADATA_URI": uri}

    def remove(self, runner) -> None:
        with self._lock:
            for k in [k for k, (r, _) in self._paths.items() if r is runner]:
                del self._paths[k]

    @staticmethod
    def container(runner, c) -> dict:
        t = runner.task
        family, _, revision = t.task_definition_arn.rsplit("/", 1)[-1].partition(":")
        d = {
            "DockerId": c.cid,
            "Name": c.name,
            "DockerName": f"cfb-{t.id[:12]}-{c.name}",
            "Image": c.image,
            "ImageID": c.image_digest,
            "Labels": {
                "com.amazonaws.ecs.cluster": t.cluster_arn if hasattr(t, "cluster_arn") else t.cluster_name,
                "com.amazonaws.ecs.container-name": c.name,
                "com.amazonaws.ecs.task-arn": t.task_arn,
                "com.amazonaws.ecs.task-definition-family": family,
                "com.amazonaws.ecs.task-definition-version": revision,
            },
            "DesiredStatus": t.desired_status,
            "KnownStatus": c.last_status,
            "Limits": {"CPU": int(c.cpu or 0), "Memory": int(c.memory or 0)},
            "Type": "NORMAL",
            "ContainerARN": c.container_arn,
            "Networks": [{
                "NetworkMode": "awsvpc",
                "IPv4Addresses": [runner.address] if runner.address else [],
                "AttachmentIndex": 0,
            }],
        }
        if c.exit_code is not None:
            d["ExitCode"] = c.exit_code
        if c.spec.awslogs is not None:
            d["LogDriver"] = "awslogs"
            d["LogOptions"] = {
                "awslogs-group": c.spec.awslogs.get("awslogs-group"),
                "awslogs-region": c.spec.awslogs.get("awslogs-region", runner.region),
                "awslogs-stream": f"{c.spec.awslogs.get('awslogs-stream-prefix')}/{c.name}/{t.id}",
            }
        if c.health_status != "UNKNOWN" or c.spec.health_check:
            d["Health"] = {"status": c.health_status}
        return d

    @classmethod
    def task(cls, runner) -> dict:
        t = runner.task
        family, _, revision = t.task_definition_arn.rsplit("/", 1)[-1].partition(":")
        d = {
            "Cluster": t.cluster_name,
            "TaskARN": t.task_arn,
            "Family": family,
            "Revision": revision,
            "DesiredStatus": t.desired_status,
            "KnownStatus": t.last_status,
            "Limits": {"CPU": int(t.cpu or 0) / 1024, "Memory": int(t.memory or 0)},
            "PullStartedAt": _time(getattr(t, "pull_started_at", None)),
            "PullStoppedAt": _time(getattr(t, "pull_stopped_at", None)),
            "AvailabilityZone": f"{runner.region}a",
            "LaunchType": "FARGATE",
            "Containers": [cls.container(runner, c) for c in runner.containers],
        }
        return {k: v for k, v in d.items() if v is not None}

    def wsgi(self, environ, start_response):
        rest = environ.get("PATH_INFO", "")[len(PREFIX):]
        path_id, _, what = rest.partition("/")
        with self._lock:
            found = self._paths.get(path_id)
        if found is None or what not in ("", "task"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"404 page not found\n"]
        runner, c = found
        body = self.task(runner) if what == "task" else self.container(runner, c)
        data = json.dumps(body).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]
