"""iam:SimulatePrincipalPolicy, which moto lacks (it answers HTTP 500, and an SDK retries that as an
outage): answered as IAM's policy simulator does, from the principal's identity policies in moto's IAM.

  - PolicySourceArn: a user (its inline and attached policies, and those of its groups) or a role
    (inline and attached). An unknown principal is NoSuchEntity (404), as in IAM. moto's default
    identity `arn:aws:iam::<account>:user/moto` (what GetCallerIdentity says for any access key moto
    did not issue: the bench's ordinary credentials), which moto lets do anything, is evaluated as an
    administrator (AWS's AdministratorAccess), unless a user `moto` exists.
  - PolicyInputList: extra identity policies evaluated with the principal's.
  - ActionNames x ResourceArns (default `*`), with ContextEntries (key, values) as the request context.
    A statement applies when its Action/NotAction and Resource/NotResource match (`*`/`?`
    wildcards; actions case-insensitively) and its Condition holds (record.py's operators, plus
    Bool, Null, the Not/IgnoreCase forms and ForAnyValue:/ForAllValues:). A condition key the context
    does not carry fails that condition (IfExists passes it) and is listed in MissingContextValues.
  - EvalDecision: explicitDeny when an applying statement denies, else allowed when one allows, else
    implicitDeny; MatchedStatements name the deciding statements (SourcePolicyId: the inline policy's
    name or the managed policy's; SourcePolicyType user/group/role or "IAM Policy"), positions omitted.
    With several ResourceArns each action has ResourceSpecificResults, and its decision is the
    strictest of them (EvalResourceName then `*`).
  - the caller must itself be allowed iam:SimulatePrincipalPolicy on the PolicySourceArn (evaluated
    the same way; the root user may), else AccessDenied (403), as IAM refuses it.

Not evaluated (as in the package header): permission boundaries, SCPs, resource policies,
ResourceHandlingOption, CallerArn, paging (IsTruncated is always false)."""

import logging

from moto.core.exceptions import AccessDeniedError
from moto.iam.exceptions import IAMException, NotFoundException
from moto.iam.models import iam_backends
from moto.iam.responses import IamResponse
from moto.sts.models import sts_backends

from .iam import _document
from .record import _as_list, _glob

log = logging.getLogger("agent.simulate")

ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
STRICTNESS = {"allowed": 0, "implicitDeny": 1, "explicitDeny": 2}


class InvalidInput(IAMException):
    code = "InvalidInput"


def _managed_doc(policy):
    version = next((v for v in policy.versions if v.is_default), None)
    return _document(version.document) if version is not None else {}


def _policies(account: str, arn: str):
    """[(source id, source type, document)] of a user or role ARN; NoSuchEntity when unknown."""
    backend = iam_backends[account]["aws"]
    kind, _, path = arn.split(":", 5)[-1].partition("/")
    name = path.rsplit("/", 1)[-1]
    out = []

    def take(owner, inline_type):
        out.extend((n, inline_type, _document(d)) for n, d in owner.policies.items())
        out.extend((p.name, "IAM Policy", _managed_doc(p)) for p in owner.managed_policies.values())

    if kind == "user":
        try:
            user = backend.get_user(name)
        except Exception:
            if name == "moto":
                return [("AdministratorAccess", "IAM Policy", ADMIN)]
            raise NotFoundException(f"The user with name {name} cannot be found.")
        take(user, "user")
        for group in backend.get_groups_for_user(name):
            take(group, "group")
    elif kind == "role":
        try:
            role = backend.get_role(name)
        except Exception:
            raise NotFoundException(f"The role with name {name} cannot be found.")
        take(role, "role")
    else:
        raise InvalidInput(f"Invalid ARN {arn}: the policy source must be a user, group member or role")
    return out


def _condition(condition: dict, context: dict, missing: set) -> bool:
    """Whether a statement's Condition holds over `context` (lower-cased keys -> value lists)."""
    holds = True
    for op, pairs in condition.items():
        qualifier, _, base = op.rpartition(":")
        if_exists = base.endswith("IfExists")
        base = base[: -len("IfExists")] if if_exists else base
        for key, wanted in pairs.items():
            wanted = [str(w) for w in _as_list(wanted)]
            actual = context.get(key.lower())
            if base == "Null":
                holds &= (actual is None) == (wanted[0].lower() == "true")
                continue
            if actual is None:
                if not if_exists:
                    missing.add(key)
                    holds = False
                continue
            holds &= _operator(base, qualifier, actual, wanted)
    return holds


def _operator(base: str, qualifier: str, actual: list, wanted: list) -> bool:
    negated = "Not" in base
    core = base.replace("Not", "")
    if core in ("StringEquals", "ArnEquals", "Bool"):
        one = lambda a: a in wanted or (core == "Bool" and a.lower() in [w.lower() for w in wanted])
    elif core == "StringEqualsIgnoreCase":
        one = lambda a: a.lower() in [w.lower() for w in wanted]
    elif core in ("StringLike", "ArnLike"):
        one = lambda a: any(_glob(w, a, False) for w in wanted)
    else:
        return False  # an operator this simulator does not know never matches
    hits = [one(a) for a in actual]
    if qualifier == "ForAnyValue":
        ok = any(hits)
    else:  # single-valued keys and ForAllValues: every value must match
        ok = all(hits)
    return not ok if negated else ok


def evaluate(policies, action: str, resource: str, context: dict):
    """(decision, matched statements, missing context keys) of one action on one resource."""
    allows, denies, missing = [], [], set()
    for source, kind, doc in policies:
        for st in _as_list(doc.get("Statement")):
            if "Action" in st:
                hit = any(_glob(p, action, True) for p in _as_list(st["Action"]))
            else:
                hit = not any(_glob(p, action, True) for p in _as_list(st.get("NotAction")))
            if "Resource" in st:
                hit = hit and any(_glob(p, resource, False) for p in _as_list(st["Resource"]))
            elif "NotResource" in st:
                hit = hit and not any(_glob(p, resource, False) for p in _as_list(st["NotResource"]))
            else:
                hit = False
            if not hit or not _condition(st.get("Condition") or {}, context, missing):
                continue
            matched = {"SourcePolicyId": source, "SourcePolicyType": kind}
            (denies if st.get("Effect") == "Deny" else allows).append(matched)
    if denies:
        return "explicitDeny", denies, sorted(missing)
    if allows:
        return "allowed", allows, sorted(missing)
    return "implicitDeny", [], sorted(missing)


def _caller(response) -> tuple:
    """(account, caller ARN as IAM evaluates it, root?) of the request's access key."""
    key = response.get_access_key()
    account = response.current_account
    _, arn, account = sts_backends[account]["global"].get_caller_identity(key, response.region)
    if arn.endswith(":root"):
        return account, arn, True
    if ":assumed-role/" in arn:
        role = arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
        return account, f"arn:aws:iam::{account}:role/{role}", False
    return account, arn.replace(":sts::", ":iam::"), False


def simulate_principal_policy(self):
    source = self._get_param("PolicySourceArn") or ""
    actions = _as_list(self._get_param("ActionNames"))
    resources = _as_list(self._get_param("ResourceArns")) or ["*"]
    context = {}
    for entry in _as_list(self._get_param("ContextEntries")):
        key = (entry.get("ContextKeyName") or "").lower()
        context.setdefault(key, []).extend(str(v) for v in _as_list(entry.get("ContextKeyValues")))
    extra = [(f"PolicyInputList.{i + 1}", "none", _document(d))
             for i, d in enumerate(_as_list(self._get_param("PolicyInputList")))]
    if not actions or not source.startswith("arn:"):
        raise InvalidInput("PolicySourceArn and ActionNames are required")

    account, caller, root = _caller(self)
    if not root:
        allowed, _, _ = evaluate(_policies(account, caller), "iam:SimulatePrincipalPolicy", source, {})
        if allowed != "allowed":
            raise AccessDeniedError(caller, f"iam:SimulatePrincipalPolicy on resource: {source}")
    policies = _policies(source.split(":")[4] or account, source) + extra
    results = []
    for action in actions:
        per = []
        for resource in resources:
            decision, matched, missing = evaluate(policies, action, resource, context)
            per.append({"EvalResourceName": resource, "EvalResourceDecision": decision,
                        "MatchedStatements": matched, "MissingContextValues": missing})
        worst = max(per, key=lambda r: STRICTNESS[r["EvalResourceDecision"]])
        result = {
            "EvalActionName": action,
            "EvalResourceName": resources[0] if len(resources) == 1 else "*",
            "EvalDecision": worst["EvalResourceDecision"],
            "MatchedStatements": worst["MatchedStatements"],
            "MissingContextValues": sorted({k for r in per for k in r["MissingContextValues"]}),
        }
        if len(resources) > 1:
            result["ResourceSpecificResults"] = per
        results.append(result)
    log.info("SimulatePrincipalPolicy %s: %s", source,
             ", ".join(f"{r['EvalActionName']}={r['EvalDecision']}" for r in results))
    from moto.core.responses import ActionResult
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def install() -> None:
    IamResponse.simulate_principal_policy = simulate_principal_policy
