"""A container's `secrets`, read from moto's SSM and Secrets Manager as the execution role, the way the
ECS agent does before any container is created. Errors carry ECS's wording (the task fails with
`ResourceInitializationError: unable to pull secrets or registry auth: <this>`)."""

import json

from moto.secretsmanager.models import secretsmanager_backends
from moto.ssm.models import ssm_backends


class SecretError(Exception):
    pass


def _ssm(value_from: str, account: str, region: str):
    """(region, candidate names, parameter ARN) of an SSM reference: a name in the task's region or an
    ARN. The ARN of `/a` and of `a` is the same (`parameter/a`), so both names are candidates."""
    if value_from.startswith("arn:"):
        parts = value_from.split(":", 5)
        region, path = parts[3], parts[5][len("parameter"):]  # /name or /a/b
        names = [path] if path.count("/") > 1 else [path[1:], path]
        return region, names, value_from
    return region, [value_from], f"arn:aws:ssm:{region}:{account}:parameter/{value_from.lstrip('/')}"


def resolve(secrets, role, session: str, account: str, region: str) -> dict:
    """{name: value} for a container's `secrets` list; raises SecretError with ECS's text."""
    out = {}
    for s in secrets:
        name, value_from = s["name"], s["valueFrom"]
        if value_from.startswith("arn:aws:secretsmanager:"):
            out[name] = _secrets_manager(value_from, role, session)
        else:
            out[name] = _parameter(value_from, role, session, account, region)
    return out


def _parameter(value_from, role, session, account, region) -> str:
    where = "execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s)"
    p_region, names, arn = _ssm(value_from, account, region)
    if not role.allows("ssm:GetParameters", arn):
        raise SecretError(f"{where}: {role.denied(session, 'ssm:GetParameters', arn)}")
    param = None
    for name in names:
        try:
            param = param or ssm_backends[account][p_region].get_parameter(name)
        except Exception:
            pass
    if param is None:
        raise SecretError(f"{where}: invalid parameters: {value_from}")
    return param.decrypt(param.value)


def _secrets_manager(value_from, role, session) -> str:
    where = "execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s)"
    parts = value_from.split(":")
    secret_id = ":".join(parts[:7])
    json_key, stage, version_id = (parts[7:] + ["", "", ""])[:3]
    region, account = parts[3], parts[4]
    backend = secretsmanager_backends[account][region]
    secret = backend.secrets.get(secret_id)
    full_arn = secret.arn if secret is not None else secret_id
    if not role.allows("secretsmanager:GetSecretValue", full_arn):
        raise SecretError(
            f"{where}: failed to fetch secret {secret_id} from secrets manager: "
            f"{role.denied(session, 'secretsmanager:GetSecretValue', full_arn)}"
        )
    try:
        value = backend.get_secret_value(secret_id, version_id or None, stage or None)
    except Exception as e:
        text = getattr(e, "message", None) or str(e) or type(e).__name__
        code = getattr(e, "code", None) or type(e).__name__
        raise SecretError(f"{where}: failed to fetch secret {secret_id} from secrets manager: {code}: {text}")
    string = value.get("SecretString")
    if string is None:
        raise SecretError(f"{where}: secret {secret_id} has no SecretString")
    if not json_key:
        return string
    try:
        doc = json.loads(string)
        picked = doc[json_key]
    except (ValueError, KeyError, TypeError):
        raise SecretError(
            f"{where}: retrieved secret from Secrets Manager did not contain json key {json_key}"
        )
    return picked if isinstance(picked, str) else json.dumps(picked)
