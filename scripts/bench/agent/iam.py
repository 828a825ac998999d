"""May a role do an action on a resource? Its identity policies in moto's IAM, evaluated as IAM does
for one principal: an explicit Deny wins, else any Allow, else denied. `*` and `?` wildcards; actions
match case-insensitively, resources case-sensitively. Conditions, permission boundaries, SCPs and
resource policies are not evaluated (see the package header)."""

import json
import re
import urllib.parse

from moto.iam.models import iam_backends


def _as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _matches(pattern: str, value: str, ignore_case: bool) -> bool:
    regex = "".join(
        ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern
    )
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _document(doc):
    if isinstance(doc, dict):
        return doc
    text = doc if doc.lstrip().startswith("{") else urllib.parse.unquote(doc)
    return json.loads(text)


def _statement_applies(st: dict, action: str, resource: str) -> bool:
    if "Action" in st:
        hit = any(_matches(p, action, True) for p in _as_list(st["Action"]))
    else:
        hit = not any(_matches(p, action, True) for p in _as_list(st.get("NotAction")))
    if not hit:
        return False
    if "Resource" in st:
        return any(_matches(p, resource, False) for p in _as_list(st["Resource"]))
    if "NotResource" in st:
        return not any(_matches(p, resource, False) for p in _as_list(st["NotResource"]))
    return False


class Role:
    """A role's identity policies, read once from moto's IAM (None when the role does not exist)."""

    def __init__(self, account: str, arn: str):
        self.arn = arn
        self.statements = None
        backend = iam_backends[account]["aws"]
        try:
            role = backend.get_role_by_arn(arn)
        except Exception:
            return
        docs = list(role.policies.values())
        for policy in role.managed_policies.values():
            version = next((v for v in policy.versions if v.is_default), None)
            if version is not None:
                docs.append(version.document)
        self.statements = [
            st for doc in docs for st in _as_list(_document(doc).get("Statement"))
        ]

    def allows(self, action: str, resource: str) -> bool:
        if self.statements is None:
            return False
        applying = [st for st in self.statements if _statement_applies(st, action, resource)]
        if any(st.get("Effect") == "Deny" for st in applying):
            return False
        return any(st.get("Effect") == "Allow" for st in applying)

    def denied(self, session: str, action: str, resource: str) -> str:
        """The AccessDeniedException text AWS gives for this role's session."""
        name = self.arn.rsplit("/", 1)[-1]
        account = self.arn.split(":")[4]
        return (
            f"AccessDeniedException: User: arn:aws:sts::{account}:assumed-role/{name}/{session} "
            f"is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action"
        )
