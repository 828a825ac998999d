"""Task role credentials, served the way the ECS agent serves them: a per-task secret path on this
process's HTTP port, answered only with the task's authorization token, with temporary credentials
from moto's STS AssumeRole of the task role (session name = task ID), renewed before they expire."""

import json
import logging
import secrets
import threading
from datetime import datetime, timedelta, timezone

from moto.sts.models import sts_backends

PREFIX = "/_bench/credentials/"
DURATION = 3600

log = logging.getLogger("agent.creds")


class Credentials:
    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self._lock = threading.Lock()
        self._tasks = {}  # path id -> {token, role_arn, session, account, region, assumed}

    def add(self, account: str, region: str, role_arn: str, session: str) -> dict:
        """Registers a task; the env vars that point its containers here."""
        path_id, token = secrets.token_hex(16), secrets.token_urlsafe(32)
        with self._lock:
            self._tasks[path_id] = dict(
                token=token, role_arn=role_arn, session=session,
                account=account, region=region, assumed=None,
            )
        return {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{self.base_url}{PREFIX}{path_id}",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
        }

    def remove(self, env: dict) -> None:
        uri = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
        with self._lock:
            self._tasks.pop(uri.rsplit("/", 1)[-1], None)

    def _assume(self, t: dict):
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        a = t["assumed"]
        if a is None or a.expiration - now < timedelta(minutes=10):
            a = sts_backends[t["account"]]["aws"].assume_role(
                region_name=t["region"], role_session_name=t["session"],
                role_arn=t["role_arn"], policy=None, duration=DURATION, external_id=None,
            )
            t["assumed"] = a
            log.info("assumed %s as session %s", t["role_arn"], t["session"])
        return a

    def wsgi(self, environ, start_response):
        """GET <PREFIX><id> with `Authorization: <token>`: the credentials JSON, as ECS answers it."""
        path_id = environ.get("PATH_INFO", "")[len(PREFIX):]
        with self._lock:
            t = self._tasks.get(path_id)
            ok = t is not None and secrets.compare_digest(
                environ.get("HTTP_AUTHORIZATION", ""), t["token"]
            )
            a = self._assume(t) if ok else None
        if not ok:
            body = json.dumps({"code": "InvalidIdentifier", "message": "no such task credentials"})
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [body.encode()]
        body = json.dumps({
            "RoleArn": t["role_arn"],
            "AccessKeyId": a.access_key_id,
            "SecretAccessKey": a.secret_access_key,
            "Token": a.session_token,
            "Expiration": a.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        })
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body.encode()]
