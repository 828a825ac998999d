"""The request recorder: every AWS API request that reaches this process, as IAM would authorize it —
the action, the resource ARN(s) it is evaluated against where derivable, and the request context keys
the tool's policies condition on (ecs:cluster, iam:PassedToService, iam:PolicyARN, ecs:CreateAction).
Calls that AWS authorizes implicitly inside another are recorded too, as IAM evaluates them: iam:PassRole
for a role handed to ECS (RegisterTaskDefinition, RunTask overrides), CodeBuild (serviceRole) or
EventBridge Scheduler (Target.RoleArn), and the tag-on-create permissions (ecr/ecs/logs:TagResource,
iam:TagRole) when a create request carries tags, and the bucket settings a CreateBucket carries in its
headers (s3:PutBucketOwnershipControls for x-amz-object-ownership, ...). Application Auto Scaling
(autoscaling.py): the scalable target's ARN, application-autoscaling:service-namespace and
:scalable-dimension, aws:RequestTag/<k> and aws:TagKeys for the tags a request sends, aws:ResourceTag/<k>
for those the target carries, RegisterScalableTarget's dependent TagResource and the
iam:CreateServiceLinkedRole of the role it makes for ECS.

  GET    /_bench/record[?key=AKID]   the records (of one access key ID when given), oldest first
  DELETE /_bench/record              forget them
  GET    /_bench/record/registry?repository=R[&region=us-east-1]
                                     the registry's requests to repository R (the image pushes and
                                     pulls), as ECR would authorize them, each with its `client`
                                     (registrylog.py: read from the registry's access log)
  POST   /_bench/record/evaluate     {"policy": {...}, "key": "AKID",
                                      "registry": {"repository": R, "region": "...", "clients": [...]}}
                                     -> {"checked": n, "denied": [...]}: each recorded request of that
                                     key, and with "registry" each registry request to R of those
                                     clients that ECR authorizes, evaluated against one identity
                                     policy (see `allowed`)

A request whose resource cannot be derived is recorded against "*", so a scoped policy fails it
visibly rather than the recorder guessing. Requests to the registry do not pass through here; they
are read from its log (registrylog.py). Each record carries the access key ID of its signature, so
tests that sign with a key of their own see only their requests."""

import io
import json
import re
import threading
import urllib.parse

from . import autoscaling, registrylog

ACCOUNT = "123456789012"
PREFIX = "/_bench/record"

_lock = threading.Lock()
_records = []
# The registry's access log (`python -m agent --registry-log`), None when the bench has none.
registry_log = None


# ------------------------------------------------------------------ policy evaluation ---

def _as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _glob(pattern: str, value: str, ignore_case: bool) -> bool:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _value_matches(base: str, wanted: list, a) -> bool | None:
    """One request value against a condition's values; None for an operator this evaluator lacks."""
    if base in ("StringEquals", "ArnEquals"):
        return a in wanted
    if base in ("StringLike", "ArnLike"):
        return any(_glob(w, a, False) for w in wanted)
    if base == "StringNotEquals":
        return a not in wanted
    return None


def _condition_holds(condition: dict, context: dict) -> bool:
    """StringEquals/StringLike/ArnEquals/ArnLike/StringNotEquals (and their IfExists forms, and the
    ForAllValues:/ForAnyValue: forms for multi-valued keys such as aws:TagKeys) over the request
    context; a key the request does not carry fails the condition unless IfExists or ForAllValues,
    as IAM does. Without a set prefix every value of a multi-valued key must match."""
    ctx = {k.lower(): _as_list(v) for k, v in context.items()}
    for op, pairs in condition.items():
        qualifier, _, op = op.rpartition(":")
        if_exists = op.endswith("IfExists")
        base = op[: -len("IfExists")] if if_exists else op
        for key, wanted in pairs.items():
            actual = ctx.get(key.lower())
            if not actual and qualifier == "ForAllValues":
                continue
            if actual is None:
                if if_exists:
                    continue
                return False
            results = [_value_matches(base, _as_list(wanted), a) for a in actual]
            if None in results or qualifier not in ("", "ForAllValues", "ForAnyValue"):
                return False  # an operator this evaluator does not know never grants
            if not (any(results) if qualifier == "ForAnyValue" else all(results)):
                return False
    return True


def _applies(st: dict, action: str, resource: str, context: dict) -> bool:
    if "Action" in st:
        hit = any(_glob(p, action, True) for p in _as_list(st["Action"]))
    else:
        hit = not any(_glob(p, action, True) for p in _as_list(st.get("NotAction")))
    if not hit:
        return False
    if "Resource" in st:
        hit = any(_glob(p, resource, False) for p in _as_list(st["Resource"]))
    elif "NotResource" in st:
        hit = not any(_glob(p, resource, False) for p in _as_list(st["NotResource"]))
    else:
        hit = False
    return hit and _condition_holds(st.get("Condition") or {}, context)


def allowed(policy: dict, action: str, resource: str, context: dict) -> bool:
    """One identity policy, as IAM evaluates it: an applying Deny wins, else an applying Allow."""
    applying = [st for st in _as_list(policy.get("Statement")) if _applies(st, action, resource, context)]
    if any(st.get("Effect") == "Deny" for st in applying):
        return False
    return any(st.get("Effect") == "Allow" for st in applying)


# ------------------------------------------------------------------ request parsing ---

_SCOPE = re.compile(r"Credential=([^/]+)/\d+/([^/]+)/([^/]+)/aws4_request")


def _signature(environ):
    """(access key, region, signing service) from SigV4's Authorization header or presigned query."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = _SCOPE.search(auth)
    if not m:
        q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        cred = (q.get("X-Amz-Credential") or [""])[0].split("/")
        if len(cred) >= 4:
            return cred[0], cred[2], cred[3]
        return None, None, None
    return m.group(1), m.group(2), m.group(3)


def _arn(region, service, rest):
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{rest}"


def _cluster_name(c):
    c = c or "default"
    return c.rsplit("/", 1)[-1]


def _tagged(params, *keys):
    return any(params.get(k) for k in keys)


def _ecs(op, p, region):
    """ECS: (action, resource, context) triples of one request."""
    a = lambda rest: _arn(region, "ecs", rest)
    cluster = _cluster_name(p.get("cluster"))
    cluster_arn = a(f"cluster/{cluster}")
    out = []
    if op == "RegisterTaskDefinition":
        fam = p.get("family", "")
        out.append(("ecs:RegisterTaskDefinition", a(f"task-definition/{fam}:1"), {}))
        if _tagged(p, "tags"):
            out.append(("ecs:TagResource", a(f"task-definition/{fam}:1"), {"ecs:CreateAction": "RegisterTaskDefinition"}))
        for key in ("taskRoleArn", "executionRoleArn"):
            if p.get(key):
                out.append(("iam:PassRole", p[key], {"iam:PassedToService": "ecs-tasks.amazonaws.com"}))
    elif op in ("DescribeTaskDefinition", "ListTaskDefinitions", "DeregisterTaskDefinition",
                "ListTaskDefinitionFamilies", "DeleteTaskDefinitions"):
        out.append((f"ecs:{op}", "*", {}))
    elif op == "RunTask":
        td = p.get("taskDefinition", "")
        if not td.startswith("arn:"):
            fam, _, rev = td.partition(":")
            td = a(f"task-definition/{fam}:{rev or '1'}")
        out.append(("ecs:RunTask", td, {"ecs:cluster": cluster_arn}))
        if _tagged(p, "tags"):
            out.append(("ecs:TagResource", a(f"task/{cluster}/new"), {"ecs:CreateAction": "RunTask", "ecs:cluster": cluster_arn}))
        ov = p.get("overrides") or {}
        for key in ("taskRoleArn", "executionRoleArn"):
            if ov.get(key):
                out.append(("iam:PassRole", ov[key], {"iam:PassedToService": "ecs-tasks.amazonaws.com"}))
    elif op in ("DescribeTasks", "StopTask", "ExecuteCommand"):
        tasks = p.get("tasks") or ([p["task"]] if p.get("task") else [])
        for t in tasks:
            tid = t.rsplit("/", 1)[-1]
            out.append((f"ecs:{op}", a(f"task/{cluster}/{tid}"), {"ecs:cluster": cluster_arn}))
        if op == "ExecuteCommand":
            out.append(("ecs:ExecuteCommand", cluster_arn, {}))
    elif op == "ListTasks":
        out.append(("ecs:ListTasks", a(f"container-instance/{cluster}/any"), {"ecs:cluster": cluster_arn}))
    elif op == "ListServices":
        out.append(("ecs:ListServices", "*", {"ecs:cluster": cluster_arn}))
    elif op in ("DescribeClusters",):
        for c in p.get("clusters") or ["default"]:
            out.append(("ecs:DescribeClusters", a(f"cluster/{_cluster_name(c)}"), {}))
    elif op in ("CreateCluster", "DeleteCluster"):
        name = _cluster_name(p.get("clusterName") or p.get("cluster"))
        out.append((f"ecs:{op}", a(f"cluster/{name}"), {}))
        if op == "CreateCluster" and _tagged(p, "tags"):
            out.append(("ecs:TagResource", a(f"cluster/{name}"), {"ecs:CreateAction": "CreateCluster"}))
    elif op in ("CreateService", "UpdateService", "DeleteService"):
        name = p.get("serviceName") or p.get("service", "")
        out.append((f"ecs:{op}", a(f"service/{cluster}/{name.rsplit('/', 1)[-1]}"), {"ecs:cluster": cluster_arn}))
        if op == "CreateService" and _tagged(p, "tags"):
            out.append(("ecs:TagResource", a(f"service/{cluster}/{name}"), {"ecs:CreateAction": "CreateService"}))
        for lb in p.get("loadBalancers") or []:  # blue-green/canary/linear: the role ECS moves traffic with
            role = (lb.get("advancedConfiguration") or {}).get("roleArn")
            if role:
                out.append(("iam:PassRole", role, {"iam:PassedToService": "ecs.amazonaws.com"}))
    elif op == "DescribeServices":
        for s in p.get("services") or []:
            out.append(("ecs:DescribeServices", a(f"service/{cluster}/{s.rsplit('/', 1)[-1]}"), {"ecs:cluster": cluster_arn}))
    elif op.endswith("ExpressGatewayService"):
        # Express Mode (express.py): the service's ARN; Create passes its three roles and tags it.
        arn = p.get("serviceArn") or a(f"service/{cluster}/{p.get('serviceName', '')}")
        out.append((f"ecs:{op}", arn, {"ecs:cluster": cluster_arn}))
        if op == "CreateExpressGatewayService":
            if _tagged(p, "tags"):
                out.append(("ecs:TagResource", arn, {"ecs:CreateAction": op}))
            if p.get("infrastructureRoleArn"):
                out.append(("iam:PassRole", p["infrastructureRoleArn"], {"iam:PassedToService": "ecs.amazonaws.com"}))
        for key in ("taskRoleArn", "executionRoleArn"):
            if p.get(key):
                out.append(("iam:PassRole", p[key], {"iam:PassedToService": "ecs-tasks.amazonaws.com"}))
    elif op in ("TagResource", "ListTagsForResource", "UntagResource"):
        out.append((f"ecs:{op}", p.get("resourceArn", "*"), {}))
    else:
        out.append((f"ecs:{op}", "*", {}))
    return out


def _ecr(op, p, region):
    repo = lambda name: _arn(region, "ecr", f"repository/{name}")
    if op == "GetAuthorizationToken":
        return [("ecr:GetAuthorizationToken", "*", {})]
    if op == "DescribeRepositories":
        names = p.get("repositoryNames") or []
        return [("ecr:DescribeRepositories", repo(n), {}) for n in names] or [("ecr:DescribeRepositories", "*", {})]
    if op in ("TagResource", "ListTagsForResource", "UntagResource"):
        return [(f"ecr:{op}", p.get("resourceArn", "*"), {})]
    name = p.get("repositoryName")
    out = [(f"ecr:{op}", repo(name) if name else "*", {})]
    if op == "CreateRepository" and _tagged(p, "tags"):
        out.append(("ecr:TagResource", repo(name), {}))
    return out


def _logs(op, p, region):
    group = p.get("logGroupName")
    if op == "DescribeLogGroups":
        # AWS evaluates it against the account's log groups, not one of them.
        return [("logs:DescribeLogGroups", _arn(region, "logs", "log-group::log-stream:"), {})]
    if op in ("ListTagsForResource", "TagResource", "UntagResource"):
        return [(f"logs:{op}", p.get("resourceArn", "*").removesuffix(":*"), {})]
    if group is None:
        return [(f"logs:{op}", "*", {})]
    if op in ("GetLogEvents", "PutLogEvents", "CreateLogStream"):
        stream = p.get("logStreamName", "")
        return [(f"logs:{op}", _arn(region, "logs", f"log-group:{group}:log-stream:{stream}"), {})]
    out = [(f"logs:{op}", _arn(region, "logs", f"log-group:{group}"), {})]
    if op == "CreateLogGroup" and _tagged(p, "tags"):
        out.append(("logs:TagResource", _arn(region, "logs", f"log-group:{group}"), {}))
    return out


def _codebuild(op, p, region):
    proj = lambda name: _arn(region, "codebuild", f"project/{name}")
    out = []
    if op == "BatchGetProjects":
        out = [(f"codebuild:{op}", proj(n.rsplit("/", 1)[-1]), {}) for n in p.get("names") or []]
    elif op == "BatchGetBuilds":
        out = [(f"codebuild:{op}", proj(i.rsplit("/", 1)[-1].split(":")[0]), {}) for i in p.get("ids") or []]
    elif op == "StopBuild":
        out = [(f"codebuild:{op}", proj(p.get("id", "").rsplit("/", 1)[-1].split(":")[0]), {})]
    else:
        name = p.get("name") or p.get("projectName")
        out = [(f"codebuild:{op}", proj(name) if name else "*", {})]
    for key in ("serviceRole", "serviceRoleOverride"):
        if p.get(key):
            out.append(("iam:PassRole", p[key], {"iam:PassedToService": "codebuild.amazonaws.com"}))
    return out


def _query(service, params, region):
    """IAM, STS, EC2, ELBv2 (query protocol): params are the form fields."""
    op = params.get("Action", "")
    action = f"{service}:{op}"
    if service == "iam":
        role = params.get("RoleName")
        if op == "GetPolicy":
            return [(action, params.get("PolicyArn", "*"), {})]
        if op == "SimulatePrincipalPolicy":
            return [(action, params.get("PolicySourceArn", "*"), {})]
        if op in ("ListAccessKeys",):
            return [(action, f"arn:aws:iam::{ACCOUNT}:user/{params.get('UserName', '')}", {})]
        if role:
            arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
            ctx = {"iam:PolicyARN": params["PolicyArn"]} if op in ("AttachRolePolicy", "DetachRolePolicy") else {}
            out = [(action, arn, ctx)]
            if op == "CreateRole" and any(k.startswith("Tags.member") for k in params):
                out.append(("iam:TagRole", arn, {}))
            return out
        return [(action, "*", {})]
    if service == "sts":
        if op in ("AssumeRole",):
            return [(action, params.get("RoleArn", "*"), {})]
        return [(action, "*", {})]
    if service == "elasticloadbalancing":
        return _elb(op, params, region)
    return [(action, "*", {})]  # ec2: Describe* take no resource


def _elb(op, params, region):
    """ELBv2: the load balancer or target group a request names. One that a Create makes is recorded
    by its name with `*` for the ID AWS gives it (loadbalancer/app/<name>/*), which only a policy
    naming that load balancer (or all) matches; tags sent with a Create are elasticloadbalancing:AddTags."""
    arn = lambda rest: _arn(region, "elasticloadbalancing", rest)
    if op == "CreateLoadBalancer":
        resource = arn(f"loadbalancer/app/{params.get('Name', '')}/*")
    elif op == "CreateTargetGroup":
        resource = arn(f"targetgroup/{params.get('Name', '')}/*")
    elif op in ("CreateListener", "DeleteLoadBalancer", "ModifyLoadBalancerAttributes"):
        resource = params.get("LoadBalancerArn", "*")
    elif op in ("ModifyTargetGroupAttributes", "ModifyTargetGroup", "DeleteTargetGroup"):
        resource = params.get("TargetGroupArn", "*")
    elif op in ("DeleteListener", "ModifyListener"):
        resource = params.get("ListenerArn", "*")
    elif op == "CreateRule":  # the rule AWS makes: listener-rule/app/<lb>/<lb id>/<listener id>/*
        resource = params.get("ListenerArn", "*").replace(":listener/", ":listener-rule/", 1) + "/*"
    elif op in ("ModifyRule", "DeleteRule"):
        resource = params.get("RuleArn", "*")
    elif op in ("AddTags", "RemoveTags"):
        arns = [v for k, v in params.items() if k.startswith("ResourceArns.member.")]
        return [(f"elasticloadbalancing:{op}", a, {}) for a in arns] or [(f"elasticloadbalancing:{op}", "*", {})]
    else:
        resource = "*"  # Describe* take no resource
    out = [(f"elasticloadbalancing:{op}", resource, {})]
    if op.startswith("Create") and any(k.startswith("Tags.member.") for k in params):
        out.append(("elasticloadbalancing:AddTags", resource, {}))
    return out


_S3_SUB = {
    "publicAccessBlock": "BucketPublicAccessBlock", "encryption": "EncryptionConfiguration",
    "ownershipControls": "BucketOwnershipControls", "lifecycle": "LifecycleConfiguration",
    "tagging": "BucketTagging", "acl": "BucketAcl", "policy": "BucketPolicy",
}


def _s3(method, path, query, region, headers):
    parts = path.lstrip("/").split("/", 1)
    bucket = parts[0]
    key = parts[1] if len(parts) > 1 else ""
    q = urllib.parse.parse_qs(query, keep_blank_values=True)
    b = f"arn:aws:s3:::{bucket}"
    if key:
        o = f"{b}/{key}"
        if method == "DELETE" and "uploadId" in q:
            return [("s3:AbortMultipartUpload", o, {})]
        if method == "GET" and "uploadId" in q:
            return [("s3:ListMultipartUploadParts", o, {})]
        if method in ("PUT", "POST"):
            out = [("s3:PutObject", o, {})]
            if headers.get("HTTP_X_AMZ_TAGGING"):
                out.append(("s3:PutObjectTagging", o, {}))
            if any(h.startswith("HTTP_X_AMZ_GRANT_") or h == "HTTP_X_AMZ_ACL" for h in headers):
                out.append(("s3:PutObjectAcl", o, {}))
            return out
        if method in ("GET", "HEAD"):
            return [("s3:GetObject", o, {})]
        if method == "DELETE":
            return [("s3:DeleteObject", o, {})]
    if not bucket:
        return [("s3:ListAllMyBuckets", "*", {})]
    if "location" in q:
        return [("s3:GetBucketLocation", b, {})]
    if "policyStatus" in q:
        return [("s3:GetBucketPolicyStatus", b, {})]
    for sub, name in _S3_SUB.items():
        if sub in q:
            verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, "Get")
            if name == "BucketTagging" and verb == "Delete":
                verb = "Put"
            if name in ("EncryptionConfiguration", "LifecycleConfiguration") and verb == "Delete":
                verb = "Put"
            return [(f"s3:{verb}{name}", b, {})]
    if method == "PUT":
        # CreateBucket: its headers are authorized as the calls they stand for (Amazon S3 API
        # Reference, CreateBucket, "Permissions").
        out = [("s3:CreateBucket", b, {})]
        if headers.get("HTTP_X_AMZ_OBJECT_OWNERSHIP"):
            out.append(("s3:PutBucketOwnershipControls", b, {}))
        if any(h.startswith("HTTP_X_AMZ_GRANT_") or h == "HTTP_X_AMZ_ACL" for h in headers):
            out.append(("s3:PutBucketAcl", b, {}))
        if headers.get("HTTP_X_AMZ_BUCKET_OBJECT_LOCK_ENABLED", "").lower() == "true":
            out += [("s3:PutBucketObjectLockConfiguration", b, {}), ("s3:PutBucketVersioning", b, {})]
        return out
    if method == "DELETE":
        return [("s3:DeleteBucket", b, {})]
    if "uploads" in q:
        return [("s3:ListBucketMultipartUploads", b, {})]
    return [("s3:ListBucket", b, {})]  # HEAD (HeadBucket) and GET (ListObjects)


def _scheduler(method, path, query, params, region):
    m = re.match(r"^/schedules/([^/?]+)", path)
    if not m:
        return [("scheduler:ListSchedules", "*", {})]
    name = urllib.parse.unquote(m.group(1))
    q = urllib.parse.parse_qs(query)
    group = (q.get("groupName") or [params.get("GroupName") or "default"])[0]
    op = {"POST": "CreateSchedule", "PUT": "UpdateSchedule", "GET": "GetSchedule", "DELETE": "DeleteSchedule"}[method]
    out = [(f"scheduler:{op}", _arn(region, "scheduler", f"schedule/{group}/{name}"), {})]
    role = (params.get("Target") or {}).get("RoleArn")
    if role and op in ("CreateSchedule", "UpdateSchedule"):
        out.append(("iam:PassRole", role, {"iam:PassedToService": "scheduler.amazonaws.com"}))
    return out


def derive(environ, body: bytes):
    """The (action, resource, context) triples IAM authorizes for one request."""
    key, region, service = _signature(environ)
    if not service:
        return None, []
    region = region or "us-east-1"
    method = environ.get("REQUEST_METHOD", "GET")
    path = urllib.parse.unquote(environ.get("PATH_INFO", ""))
    query = environ.get("QUERY_STRING", "")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    try:
        if target:
            op = target.rsplit(".", 1)[-1]
            p = json.loads(body or b"{}")
            if service == "ecs":
                return key, _ecs(op, p, region)
            if service == "ecr":
                return key, _ecr(op, p, region)
            if service == "logs":
                return key, _logs(op, p, region)
            if service == "codebuild":
                return key, _codebuild(op, p, region)
            if service == "application-autoscaling":
                return key, autoscaling.derive(op, p, region)
            if service == "ssm":
                names = p.get("Names") or ([p["Name"]] if p.get("Name") else [])
                arn = lambda n: n if n.startswith("arn:") else _arn(region, "ssm", f"parameter/{n.lstrip('/')}")
                return key, [(f"ssm:{op}", arn(n), {}) for n in names] or [(f"ssm:{op}", "*", {})]
            if service == "secretsmanager":
                return key, [(f"secretsmanager:{op}", p.get("SecretId", "*"), {})]
            return key, [(f"{service}:{op}", "*", {})]
        if service == "s3":
            return key, _s3(method, path, query, region, environ)
        if service == "scheduler":
            p = json.loads(body or b"{}") if body.strip().startswith(b"{") else {}
            return key, _scheduler(method, path, query, p, region)
        params = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        if method == "POST" and body:
            params.update({k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()})
        if "Action" in params:
            return key, _query(service, params, region)
    except Exception as e:  # a request the recorder cannot read is still recorded
        return key, [(f"{service}:?", "*", {"error": str(e)})]
    return key, [(f"{service}:{method} {path}", "*", {})]


# ------------------------------------------------------------------ WSGI ---

def _json(start_response, status, value):
    body = json.dumps(value).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def wsgi(environ, start_response):
    """The recorder's own endpoints under /_bench/record."""
    method = environ.get("REQUEST_METHOD")
    path = environ.get("PATH_INFO", "")
    q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if path == PREFIX and method == "GET":
        key = (q.get("key") or [None])[0]
        with _lock:
            recs = [r for r in _records if key is None or r["key"] == key]
        return _json(start_response, "200 OK", recs)
    if path == PREFIX and method == "DELETE":
        with _lock:
            _records.clear()
        return _json(start_response, "200 OK", {"cleared": True})
    if path == PREFIX + "/registry" and method == "GET":
        repository = (q.get("repository") or [""])[0]
        region = (q.get("region") or ["us-east-1"])[0]
        if not registry_log:
            return _json(start_response, "409 Conflict", {"error": "the agent reads no registry log (--registry-log)"})
        return _json(start_response, "200 OK", registrylog.records(registry_log, repository, region))
    if path == PREFIX + "/evaluate" and method == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        req = json.loads(environ["wsgi.input"].read(size) or b"{}")
        policy, key, registry = req.get("policy") or {}, req.get("key"), req.get("registry")
        with _lock:
            recs = [r for r in _records if key is None or r["key"] == key] if key or not registry else []
        if registry:
            if not registry_log:
                return _json(start_response, "409 Conflict", {"error": "the agent reads no registry log (--registry-log)"})
            clients = registry.get("clients")
            recs += [r for r in registrylog.records(registry_log, registry["repository"], registry.get("region", "us-east-1"))
                     if r["action"] and (clients is None or r["client"] in clients)]
        denied = [r for r in recs if not allowed(policy, r["action"], r["resource"], r["context"])]
        return _json(start_response, "200 OK", {"checked": len(recs), "denied": denied})
    return _json(start_response, "404 Not Found", {"error": f"no {method} {path}"})


def wrap(app):
    """moto's app with every request recorded before moto answers it."""

    def recorded(environ, start_response):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size) if size > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        key, triples = derive(environ, body)
        if triples:
            with _lock:
                for action, resource, context in triples:
                    _records.append({"key": key, "action": action, "resource": resource, "context": context})
        return app(environ, start_response)

    return recorded
