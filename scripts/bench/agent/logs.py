"""The awslogs driver: a container's lines to moto's CloudWatch Logs as they are written."""

import logging
import threading
from datetime import datetime

from moto.logs.models import logs_backends

log = logging.getLogger("agent.logs")

DRAIN_TIMEOUT = 10  # seconds a stream may take to end after its container has exited


class Target:
    """Where one container logs: group and stream, from its awslogs options."""

    def __init__(self, options: dict, container: str, task_id: str, account: str, region: str):
        self.group = options.get("awslogs-group", "")
        prefix = options.get("awslogs-stream-prefix")
        self.stream = f"{prefix}/{container}/{task_id}" if prefix else task_id
        self.region = options.get("awslogs-region") or region
        self.create_group = str(options.get("awslogs-create-group", "")).lower() == "true"
        self.account = account

    @property
    def arn(self) -> str:
        return f"arn:aws:logs:{self.region}:{self.account}:log-group:{self.group}:log-stream:{self.stream}"

    def backend(self):
        return logs_backends[self.account][self.region]

    def prepare(self) -> str | None:
        """Creates the stream (and the group when asked to); ECS's error text when it cannot."""
        b = self.backend()
        if self.group not in b.groups:
            if not self.create_group:
                return (
                    "ResourceInitializationError: failed to validate logger args: create stream has been "
                    "retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: "
                    "The specified log group does not exist. : exit status 1"
                )
            b.ensure_log_group(self.group)
        b.ensure_log_stream(self.group, self.stream)
        return None


def _parse(chunk: bytes):
    """Docker's `<RFC3339Nano> <line>` → (epoch ms, line) for every line of a chunk."""
    out = []
    for raw in chunk.decode("utf-8", "replace").splitlines():
        stamp, _, line = raw.partition(" ")
        try:
            head, _, frac = stamp.rstrip("Z").partition(".")
            dt = datetime.fromisoformat(head + "+00:00")
            ms = int(dt.timestamp() * 1000) + int((frac + "000")[:3])
        except ValueError:
            ms, line = int(datetime.now().timestamp() * 1000), raw
        out.append((ms, line))
    return out


class Shipper(threading.Thread):
    """Follows one container's Docker log stream and puts each line into its CloudWatch stream."""

    def __init__(self, engine, cid: str, target: Target, name: str):
        super().__init__(name=f"logs-{name}", daemon=True)
        self.engine, self.cid, self.target = engine, cid, target
        self.stream = None
        self.lines = 0

    def run(self):
        try:
            self.stream = self.engine.logs(self.cid)
            for chunk in self.stream:
                events = [{"timestamp": ms, "message": line} for ms, line in _parse(chunk)]
                events.sort(key=lambda e: e["timestamp"])
                if events:
                    self.target.backend().put_log_events(self.target.group, self.target.stream, events)
                    self.lines += len(events)
        except Exception as e:  # a closed stream ends here too
            log.info("log stream of %s ended: %s", self.cid[:12], e)

    def drain(self) -> None:
        """Waits (bounded) for the stream to end after the container exited; closes it if it does not."""
        self.join(DRAIN_TIMEOUT)
        if self.is_alive() and self.stream is not None:
            log.warning("log stream of %s did not end in %ss; closing it", self.cid[:12], DRAIN_TIMEOUT)
            self.stream.close()
            self.join(2)
