"""AssumeRoleWithWebIdentity as IAM decides it, for CI deploys through an OIDC provider.

moto's AssumeRoleWithWebIdentity hands out credentials for any token and any role. Here, before
moto answers, the token is read and the role's trust policy evaluated as AWS does:

  - the token is a JWT (header.payload.signature); its payload's `iss` names the provider
    (`https://token.actions.githubusercontent.com` -> IAM provider `token.actions.githubusercontent.com`),
    which must exist in the role's account (else InvalidIdentityToken, "No OpenIDConnect provider
    found in your account for <iss>"); its `aud` must be one of the provider's client IDs (else
    InvalidIdentityToken, "Incorrect token audience"); an `exp` in the past is ExpiredTokenException.
  - the role must exist, and one Allow statement of its trust policy must name the provider as its
    `Principal.Federated`, allow sts:AssumeRoleWithWebIdentity, and have every condition hold:
    `StringEquals`, `StringLike` (`*`, `?`), `StringNotEquals`, `StringNotLike`, with
    `ForAnyValue:`/`ForAllValues:` on lists, on the keys `<provider>:aud`, `<provider>:sub`,
    `<provider>:amr` (and any other claim by its name: `<provider>:<claim>`). A key the token does not
    carry does not match (AWS: the condition is false). Otherwise AccessDenied, "Not authorized to
    perform sts:AssumeRoleWithWebIdentity".
  - a Deny statement that matches refuses, whatever allows.

Limits: the token's signature is not verified (there is no issuer to fetch keys from on the bench:
the tests sign with `alg: none`), nor `nbf`/`iat`; the provider's thumbprints are not used."""

import base64
import fnmatch
import json
import time

from moto.iam.models import iam_backends
from moto.sts.exceptions import STSClientError
from moto.sts.responses import TokenResponse


def _claims(token: str) -> dict:
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError) as e:
        raise STSClientError("InvalidIdentityToken", f"The web identity token is not a JWT: {e}")


def _list(v):
    return v if isinstance(v, list) else [v]


def _matches(op: str, want, have) -> bool:
    """One condition operator on one key: `want` (policy values), `have` (the token's values)."""
    qualifier, _, base = op.rpartition(":")
    negated = "Not" in base
    like = base.replace("Not", "").endswith("Like")
    if base.replace("Not", "").replace("IfExists", "") not in ("StringEquals", "StringLike"):
        return False  # an operator the bench does not know never matches (fail closed)
    if have is None:
        return base.endswith("IfExists") or (negated and qualifier != "ForAnyValue")

    def one(value) -> bool:
        hit = any(fnmatch.fnmatchcase(str(value), w) if like else str(value) == w for w in _list(want))
        return not hit if negated else hit

    values = _list(have)
    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    if qualifier == "ForAnyValue" or len(values) == 1:
        return any(one(v) for v in values)
    return False  # a single-valued operator on a list claim (AWS: no match)


def _statement_applies(statement: dict, provider_arn: str, host: str, claims: dict) -> bool:
    actions = [a.lower() for a in _list(statement.get("Action", []))]
    if not any(fnmatch.fnmatchcase("sts:assumerolewithwebidentity", a) for a in actions):
        return False
    principal = statement.get("Principal", {})
    if not isinstance(principal, dict) or provider_arn not in _list(principal.get("Federated", [])):
        return False
    for op, keys in (statement.get("Condition") or {}).items():
        for key, want in keys.items():
            prefix = host + ":"
            have = claims.get(key[len(prefix):]) if key.startswith(prefix) else None
            if not _matches(op, want, have):
                return False
    return True


def check(account: str, partition: str, role_arn: str, token: str) -> None:
    """Raises STS's error when IAM would refuse this token for this role."""
    claims = _claims(token)
    host = str(claims.get("iss", "")).removeprefix("https://").rstrip("/")
    iam = iam_backends[account][partition]
    provider_arn = f"arn:{partition}:iam::{account}:oidc-provider/{host}"
    provider = iam.open_id_providers.get(provider_arn)
    if provider is None:
        raise STSClientError(
            "InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {claims.get('iss')}"
        )
    if not set(_list(claims.get("aud"))) & set(provider.client_id_list):
        raise STSClientError("InvalidIdentityToken", "Incorrect token audience")
    if "exp" in claims and float(claims["exp"]) < time.time():
        raise STSClientError("ExpiredTokenException", "Token expired")
    role = next((r for r in iam.roles.values() if r.arn == role_arn), None)
    denied = STSClientError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    if role is None:
        raise denied
    statements = _list(json.loads(role.assume_role_policy_document).get("Statement", []))
    applies = [s for s in statements if _statement_applies(s, provider_arn, host, claims)]
    if any(s.get("Effect") == "Deny" for s in applies) or not any(s.get("Effect") == "Allow" for s in applies):
        raise denied


def install() -> None:
    original = TokenResponse.assume_role_with_web_identity

    def assume_role_with_web_identity(self):
        role_arn = self._get_param("RoleArn") or ""
        parts = role_arn.split(":")
        account = parts[4] if len(parts) > 5 else self.current_account
        partition = parts[1] if len(parts) > 5 else "aws"
        check(account, partition, role_arn, self._get_param("WebIdentityToken") or "")
        return original(self)

    TokenResponse.assume_role_with_web_identity = assume_role_with_web_identity
