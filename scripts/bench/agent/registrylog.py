"""The image pushes and pulls, as ECR would authorize them: the bench registry (which stands in for ECR's
data plane) is never reached through moto, so the request recorder cannot see them. This reads the
registry's access log (`--registry-log`, the combined-format lines docker-registry writes for every
request) and maps each request to one repository to the IAM action ECR authorizes it as, on the
repository's ARN (Amazon ECR User Guide, "IAM permissions for pushing an image"; the API reference of
each action, "used by the Amazon ECR proxy"):

  HEAD   /v2/<repo>/blobs/<digest>             ecr:BatchCheckLayerAvailability
  GET    /v2/<repo>/blobs/<digest>             ecr:GetDownloadUrlForLayer
  POST   /v2/<repo>/blobs/uploads/             ecr:InitiateLayerUpload
  PATCH  /v2/<repo>/blobs/uploads/<id>         ecr:UploadLayerPart
  PUT    /v2/<repo>/blobs/uploads/<id>         ecr:CompleteLayerUpload
  GET    /v2/<repo>/manifests/<ref> (or HEAD)  ecr:BatchGetImage
  PUT    /v2/<repo>/manifests/<ref>            ecr:PutImage
  DELETE /v2/<repo>/manifests/<ref>            ecr:BatchDeleteImage
  GET    /v2/<repo>/tags/list                  ecr:ListImages
  GET    /v2/<repo>/referrers/<digest>         ecr:BatchGetImage (what ListImageReferrers needs)

`GET /v2/` (the login check) names no repository: the login is ecr:GetAuthorizationToken, an API call
the recorder sees. `DELETE /v2/<repo>/blobs/uploads/<id>` (a client cancelling an upload it started,
as the Docker Engine does after each cross-repository mount that did not mount) has no ECR action (ECR's
API has no call to cancel an upload): it is listed with action null and never evaluated. Any other
request to a repository is recorded as `ecr:?` on "*", so a policy fails it visibly rather than this
guessing.

Whose request it was is read from the User-Agent (the registry knows only the one bench login):
  cargo-fargate   the tool's own registry client (host builder push, tag copies, digest checks)
  docker-engine   the Docker Engine with no client named: a push cargo-fargate asked for through the
                  Engine API (the docker builder)
  docker-cli      the docker CLI: on the bench, the one in a CodeBuild build (the build's service role)
  ecs-agent       the bench agent pulling for an ECS task (as its execution role; ecs.py checks that)
  bench-agent     the bench agent reading what a build pushed, to record it in moto's ECR (ecrpush.py)
  anything else   the User-Agent's first product token

Limits: requests answered 401 (no credentials yet: a client's first try) are left out, as AWS
authorizes only signed requests. A monolithic upload (PUT with the blob, no PATCH) is recorded as
CompleteLayerUpload only; a cross-repository mount (`POST ...?mount=&from=`) as InitiateLayerUpload on
the target (ECR mounts only when blob mounting is on, else it is a plain upload). The region is the
caller's (the registry log has none). The log is read from where the last call stopped, so each line
is parsed once; a log that shrank (rotated) is read again from the start."""

import os
import re
import threading
import urllib.parse

ACCOUNT = "123456789012"

_LINE = re.compile(
    r'^\S+ \S+ \S+ \[[^\]]+\] "(?P<method>[A-Z]+) (?P<uri>\S+) [^"]*" (?P<status>\d{3}) \S+ '
    r'"(?:[^"\\]|\\.)*" "(?P<ua>(?:[^"\\]|\\.)*)"$'
)
_PATH = re.compile(r"^/v2/(?P<repo>.+?)/(?P<kind>blobs/uploads|blobs|manifests|tags|referrers)(?:/(?P<rest>.*))?$")

_lock = threading.Lock()
_state = {"path": None, "offset": 0, "by_repo": {}}


def client(ua: str) -> str:
    """Who sent a request, from its User-Agent (see the module's doc)."""
    if ua.startswith("cargo-fargate/"):
        return "cargo-fargate"
    if ua.startswith("Python-urllib/"):
        return "bench-agent"
    if ua.startswith("docker/"):
        m = re.search(r"UpstreamClient\(([^/\s)]+)", ua)
        if not m:
            return "docker-engine"
        return {"Docker-Client": "docker-cli", "docker-sdk-python": "ecs-agent"}.get(m.group(1), m.group(1))
    return re.split(r"[/\s]", ua, 1)[0] or "unknown"


def action(method: str, kind: str, rest: str):
    """The ECR action a registry request is authorized as (`ecr:?` when the table has none, None
    when ECR authorizes none)."""
    if kind == "blobs":
        return {"HEAD": "ecr:BatchCheckLayerAvailability", "GET": "ecr:GetDownloadUrlForLayer"}.get(method, "ecr:?")
    if kind == "blobs/uploads":
        if method == "POST" and not rest:
            return "ecr:InitiateLayerUpload"
        if method == "DELETE" and rest:
            return None  # cancelling an upload: no ECR action (see the module's doc)
        return {"PATCH": "ecr:UploadLayerPart", "PUT": "ecr:CompleteLayerUpload"}.get(method, "ecr:?") if rest else "ecr:?"
    if kind == "manifests":
        return {"GET": "ecr:BatchGetImage", "HEAD": "ecr:BatchGetImage", "PUT": "ecr:PutImage",
                "DELETE": "ecr:BatchDeleteImage"}.get(method, "ecr:?")
    if kind == "tags" and method == "GET" and rest == "list":
        return "ecr:ListImages"
    if kind == "referrers" and method == "GET" and rest:
        return "ecr:BatchGetImage"
    return "ecr:?"


def _parse(line: str):
    m = _LINE.match(line)
    if not m or m.group("status") == "401":
        return None
    uri = m.group("uri")
    path = urllib.parse.unquote(uri.split("?", 1)[0])
    p = _PATH.match(path)
    if not p:
        return None  # /v2/ and anything that names no repository
    method = m.group("method")
    return p.group("repo"), {
        "action": action(method, p.group("kind"), p.group("rest") or ""),
        "client": client(m.group("ua").replace("\\", "")),
        "request": f"{method} {path} -> {m.group('status')}",
    }


def _read(path: str) -> None:
    """Parses what the log gained since the last call (under _lock)."""
    if _state["path"] != path:
        _state.update(path=path, offset=0, by_repo={})
    size = os.path.getsize(path)
    if size < _state["offset"]:
        _state.update(offset=0, by_repo={})
    with open(path, "rb") as f:
        f.seek(_state["offset"])
        data = f.read(size - _state["offset"])
    end = data.rfind(b"\n") + 1  # a line still being written is read next time
    _state["offset"] += end
    for raw in data[:end].decode("utf-8", "replace").splitlines():
        parsed = _parse(raw)
        if parsed:
            repo, rec = parsed
            _state["by_repo"].setdefault(repo, []).append(rec)


def records(path: str, repository: str, region: str):
    """The recorder's records (key None) of every registry request to `repository`, oldest first."""
    with _lock:
        _read(path)
        recs = list(_state["by_repo"].get(repository, []))
    arn = f"arn:aws:ecr:{region}:{ACCOUNT}:repository/{repository}"
    return [
        {"key": None, "action": r["action"], "resource": "*" if r["action"] == "ecr:?" else arn,
         "context": {}, "client": r["client"], "request": r["request"]}
        for r in recs
    ]
