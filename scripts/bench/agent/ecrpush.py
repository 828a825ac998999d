"""Images a build pushed, recorded in moto's ECR. A push to the bench registry (which stands in for ECR's
data plane) never reaches moto's ECR, so the agent reads the build's log for what `docker push` and
`docker buildx ... --push` print, fetches each pushed manifest from the registry and PutImages it with the
registry's bytes, media type and digest: DescribeImages then agrees with the registry."""

import base64
import logging
import re
import urllib.request

from moto.ecr.models import ecr_backends

log = logging.getLogger("agent.ecrpush")

PUSH_REPO = re.compile(r"The push refers to repository \[(?P<repo>[^\]]+)\]")
PUSH_TAG = re.compile(r"^(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}): digest: (?P<digest>sha256:[0-9a-f]{64}) size: \d+")
BUILDX = re.compile(r"pushing manifest for (?P<repo>[^\s@]+):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})@(?P<digest>sha256:[0-9a-f]{64})")
ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
TIMEOUT = 10  # seconds, per registry request


class Scanner:
    """Fed every line of one build's log; records each push into the bench registry as it is seen."""

    def __init__(self, account: str, region: str, registry: str):
        self.account, self.region, self.registry = account, region, registry
        self.repo = None
        self.recorded = []  # (repository, tag, digest)

    def line(self, text: str) -> None:
        m = PUSH_REPO.search(text)
        if m:
            self.repo = m["repo"]
            return
        m = PUSH_TAG.match(text.strip())
        if m and self.repo:
            self._record(self.repo, m["tag"], m["digest"])
            return
        m = BUILDX.search(text)
        if m:
            self._record(m["repo"], m["tag"], m["digest"])

    def _record(self, reference: str, tag: str, digest: str) -> None:
        host, _, name = reference.partition("/")
        if host != self.registry or not name:
            return
        try:
            backend = ecr_backends[self.account][self.region]
            if name not in backend.repositories:
                log.info("push %s:%s: no ECR repository %s in moto; not recorded", reference, tag, name)
                return
            body, media_type = self._manifest(name, digest)
            try:
                backend.put_image(name, body, tag, media_type, digest)
            except Exception as e:  # the same manifest under the same tag again: nothing to do
                if "ImageAlreadyExists" not in type(e).__name__:
                    raise
            self.recorded.append((name, tag, digest))
            log.info("push %s:%s %s recorded in ECR", name, tag, digest)
        except Exception as e:
            log.warning("push %s:%s %s: not recorded in ECR: %s", reference, tag, digest, e)

    def _manifest(self, name: str, digest: str):
        url = f"http://{self.registry}/v2/{name}/manifests/{digest}"
        auth = base64.b64encode(f"AWS:{self.account}-auth-token".encode()).decode()
        req = urllib.request.Request(url, headers={"Accept": ACCEPT, "Authorization": f"Basic {auth}"})
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            return r.read().decode(), r.headers.get("Content-Type", "").split(";")[0].strip()
