"""ECR's image list agrees with the bench registry (which stands in for ECR's data plane): before moto's
ECR lists, describes or deletes a repository's images, every tag the registry holds for that repository
and moto does not know yet is PutImage'd with the registry's manifest bytes, media type and digest. So
an image pushed straight to the registry (what cargo-fargate does on the bench) is in DescribeImages /
ListImages, and DeleteRepository without force refuses a repository that holds images, as ECR does.
GetDownloadUrlForLayer (moto has none) answers a URL on the agent (PREFIX/<account>/<repository>/<digest>)
that serves the blob from the registry without credentials, as ECR's pre-signed S3 URLs do; the
repository must exist in moto's ECR (RepositoryNotFoundException otherwise).
Not carried out: images deleted from the registry behind ECR's back stay in moto's ECR."""

import base64
import json
import logging
import urllib.error
import urllib.request

from moto.ecr.models import ECRBackend

from .ecrpush import ACCEPT, TIMEOUT

log = logging.getLogger("agent.ecrsync")

REGISTRY = None  # host:port, set by install()
BASE_URL = None  # the agent's own http://host:port, set by install()
PREFIX = "/_bench/ecr-blob/"


def _get(account, path, head=False):
    auth = base64.b64encode(f"AWS:{account}-auth-token".encode()).decode()
    req = urllib.request.Request(f"http://{REGISTRY}{path}", method="HEAD" if head else "GET",
                                 headers={"Accept": ACCEPT, "Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
        return r.read(), r.headers


def sync(backend, name: str) -> None:
    repository = backend.repositories.get(name)
    if repository is None or REGISTRY is None:
        return
    try:
        body, _ = _get(backend.account_id, f"/v2/{name}/tags/list")
    except urllib.error.HTTPError as e:
        if e.code != 404:  # 404: the registry has no such repository yet
            log.warning("registry tags of %s: %s", name, e)
        return
    except Exception as e:
        log.warning("registry tags of %s: %s", name, e)
        return
    known = {t for image in repository.images for t in (image.image_tags or [])}
    for tag in json.loads(body).get("tags") or []:
        if tag in known:
            continue
        try:
            manifest, headers = _get(backend.account_id, f"/v2/{name}/manifests/{tag}")
            digest = headers.get("Docker-Content-Digest")
            media_type = headers.get("Content-Type", "").split(";")[0].strip()
            backend.put_image(name, manifest.decode(), tag, media_type, digest)
            log.info("registry image %s:%s %s recorded in ECR", name, tag, digest)
        except Exception as e:
            if "ImageAlreadyExists" not in type(e).__name__:
                log.warning("registry image %s:%s: not recorded in ECR: %s", name, tag, e)


def get_download_url_for_layer(self):
    """ECR's answer: where the layer (or config) blob can be fetched without signing."""
    name = self._get_param("repositoryName")
    digest = self._get_param("layerDigest")
    self.ecr_backend._get_repository(name)  # RepositoryNotFoundException, as ECR
    url = f"{BASE_URL}{PREFIX}{self.current_account}/{name}/{digest}"
    return json.dumps({"downloadUrl": url, "layerDigest": digest})


def wsgi(environ, start_response):
    """GET PREFIX<account>/<repository>/<digest>: the blob, read from the registry."""
    rest = environ.get("PATH_INFO", "")[len(PREFIX):]
    account, _, rest = rest.partition("/")
    name, _, digest = rest.rpartition("/")
    try:
        body, headers = _get(account, f"/v2/{name}/blobs/{digest}")
    except urllib.error.HTTPError as e:
        start_response(f"{e.code} {e.reason}", [("Content-Length", "0")])
        return [b""]
    start_response("200 OK", [("Content-Type", headers.get("Content-Type", "application/octet-stream")),
                              ("Content-Length", str(len(body)))])
    return [body]


def install(registry: str, base_url: str) -> None:
    global REGISTRY, BASE_URL
    REGISTRY, BASE_URL = registry, base_url
    from moto.ecr.responses import ECRResponse

    ECRResponse.get_download_url_for_layer = get_download_url_for_layer
    for method in ("list_images", "describe_images", "delete_repository", "batch_get_image"):
        original = getattr(ECRBackend, method)

        def hooked(backend, repository_name, *args, _original=original, **kwargs):
            sync(backend, repository_name)
            return _original(backend, repository_name, *args, **kwargs)

        setattr(ECRBackend, method, hooked)
