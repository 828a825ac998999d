"""Identities moto cannot make on its own, for `cargo fargate doctor`'s tests:

  - the account's root user: GetCallerIdentity signed with an access key ID that starts with
    `ROOT` answers `arn:aws:iam::<account>:root`, as AWS does for root access keys;
  - an old access key: POST /_bench/iam/age-access-key {"key": "AKID", "days": 120} moves the
    key's CreateDate (ListAccessKeys) that many days back (moto stamps every key "now")."""

import json
from datetime import timedelta

from moto.iam.models import iam_backends
from moto.sts.models import STSBackend

PREFIX = "/_bench/iam/"
ROOT_KEY_PREFIX = "ROOT"


def install() -> None:
    original = STSBackend.get_caller_identity

    def get_caller_identity(backend, access_key_id, region):
        if access_key_id and access_key_id.startswith(ROOT_KEY_PREFIX):
            return access_key_id, f"arn:aws:iam::{backend.account_id}:root", backend.account_id
        return original(backend, access_key_id, region)

    STSBackend.get_caller_identity = get_caller_identity


def wsgi(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == PREFIX + "age-access-key" and environ.get("REQUEST_METHOD") == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        req = json.loads(environ["wsgi.input"].read(size) or b"{}")
        for account in iam_backends:
            for backend in iam_backends[account].values():
                user = backend.get_user_from_access_key_id(req.get("key", ""))
                if user is None:
                    continue
                for k in user.access_keys:
                    if k.access_key_id == req["key"]:
                        k.create_date = k.create_date - timedelta(days=int(req.get("days", 0)))
                        body = json.dumps({"aged": req["key"], "create_date": str(k.create_date)}).encode()
                        start_response("200 OK", [("Content-Type", "application/json")])
                        return [body]
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"error": "no such access key"}']
    start_response("404 Not Found", [("Content-Type", "application/json")])
    return [b'{"error": "unknown path"}']
