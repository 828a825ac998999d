"""Application Auto Scaling on the bench: the tags moto drops, and its requests as IAM authorizes them.

moto keeps scalable targets but not their tags; `install` keeps the tags a RegisterScalableTarget
sends on moto's target (merged, as AWS does on an update) and answers TagResource, UntagResource and
ListTagsForResource, which moto lacks, so a scalable target's tags can be read back and conditioned on.

`derive` gives the (action, resource, context) triples of one request for the recorder (record.py),
per the Service Authorization Reference for Application Auto Scaling (the bench venv's parliament
ships it as iam_definition.json):
  - RegisterScalableTarget, DeregisterScalableTarget, PutScalingPolicy, DeleteScalingPolicy,
    PutScheduledAction, DeleteScheduledAction and the tag calls take the scalable target
    (arn:aws:application-autoscaling:<region>:<account>:scalable-target/<id>), with the condition
    keys application-autoscaling:service-namespace and :scalable-dimension, and aws:ResourceTag/<k>
    from the target's tags. The id is AWS's own: a request naming the target by ServiceNamespace,
    ResourceId and ScalableDimension is recorded against the ARN moto gave it; one registering a
    target that does not exist yet against `scalable-target/*` (its id is not known before), which
    only a policy allowing every scalable target matches. A request naming no target there is
    recorded against "*".
  - tags sent with RegisterScalableTarget or TagResource: aws:RequestTag/<k> and aws:TagKeys, and
    RegisterScalableTarget's dependent action application-autoscaling:TagResource; UntagResource:
    aws:TagKeys.
  - Describe* take no resource ("*").
  - RegisterScalableTarget for an ECS service while the account has no
    AWSServiceRoleForApplicationAutoScaling_ECSService: the iam:CreateServiceLinkedRole AWS makes it
    with, as the caller (Application Auto Scaling User Guide, "Service-linked roles": the caller of
    RegisterScalableTarget must be allowed to create it). The bench does not make the role, so every
    such register is recorded with it: what AWS checks the first time.
"""

import json

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.core.exceptions import JsonRESTError
from moto.iam.models import iam_backends

ACCOUNT = "123456789012"
ECS_SERVICE = "ecs.application-autoscaling.amazonaws.com"
ECS_ROLE = "AWSServiceRoleForApplicationAutoScaling_ECSService"
_TARGET_OPS = ("RegisterScalableTarget", "DeregisterScalableTarget", "PutScalingPolicy",
               "DeleteScalingPolicy", "PutScheduledAction", "DeleteScheduledAction")
_TAG_OPS = ("TagResource", "UntagResource", "ListTagsForResource")


# ------------------------------------------------------------------ moto's scalable targets ---

def _backend(region):
    return applicationautoscaling_backends[ACCOUNT][region]


def _target(region, namespace, resource_id, dimension):
    targets = _backend(region).targets.get(dimension) or {}
    t = targets.get(resource_id)
    return t if t is not None and t.service_namespace == namespace else None


def _target_by_arn(region, arn):
    for targets in list(_backend(region).targets.values()):
        for t in list(targets.values()):
            if t.arn == arn:
                return t
    return None


def _tags(target):
    return getattr(target, "bench_tags", None) or {}


def install() -> None:
    """Scalable targets keep their tags (moto drops them)."""
    original_register = ApplicationAutoScalingResponse.register_scalable_target

    def register_scalable_target(self):
        body = original_register(self)
        t = _target(self.region, self._get_param("ServiceNamespace"), self._get_param("ResourceId"),
                    self._get_param("ScalableDimension"))
        if t is not None and self._get_param("Tags"):
            t.bench_tags = {**_tags(t), **self._get_param("Tags")}
        return body

    def found(self):
        arn = self._get_param("ResourceARN") or ""
        t = _target_by_arn(self.region, arn)
        if t is None:
            raise JsonRESTError("ResourceNotFoundException", f"No scalable target found: {arn}")
        return t

    def tag_resource(self):
        t = found(self)
        t.bench_tags = {**_tags(t), **(self._get_param("Tags") or {})}
        return "{}"

    def untag_resource(self):
        t = found(self)
        gone = set(self._get_param("TagKeys") or [])
        t.bench_tags = {k: v for k, v in _tags(t).items() if k not in gone}
        return "{}"

    def list_tags_for_resource(self):
        return json.dumps({"Tags": _tags(found(self))})

    ApplicationAutoScalingResponse.register_scalable_target = register_scalable_target
    ApplicationAutoScalingResponse.tag_resource = tag_resource
    ApplicationAutoScalingResponse.untag_resource = untag_resource
    ApplicationAutoScalingResponse.list_tags_for_resource = list_tags_for_resource


# ------------------------------------------------------------------ requests as IAM authorizes them ---

def _arn(region, rest):
    return f"arn:aws:application-autoscaling:{region}:{ACCOUNT}:{rest}"


def _request_tags(tags):
    ctx = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    if tags:
        ctx["aws:TagKeys"] = list(tags)
    return ctx


def _resource_tags(target):
    return {f"aws:ResourceTag/{k}": v for k, v in _tags(target).items()} if target is not None else {}


def _role_missing():
    try:
        iam_backends[ACCOUNT]["global"].get_role(ECS_ROLE)
        return False
    except Exception:
        return True


def _on_target(op, p, region):
    namespace, dimension = p.get("ServiceNamespace", ""), p.get("ScalableDimension", "")
    t = _target(region, namespace, p.get("ResourceId", ""), dimension)
    resource = t.arn if t is not None else _arn(region, "scalable-target/*") if op == "RegisterScalableTarget" else "*"
    ctx = {"application-autoscaling:service-namespace": namespace,
           "application-autoscaling:scalable-dimension": dimension, **_resource_tags(t)}
    if op != "RegisterScalableTarget":
        return [(f"application-autoscaling:{op}", resource, ctx)]
    tags = p.get("Tags") or {}
    out = [(f"application-autoscaling:{op}", resource, {**ctx, **_request_tags(tags)})]
    if tags:
        out.append(("application-autoscaling:TagResource", resource, {**_resource_tags(t), **_request_tags(tags)}))
    if namespace == "ecs" and _role_missing():
        role = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/{ECS_SERVICE}/{ECS_ROLE}"
        out.append(("iam:CreateServiceLinkedRole", role, {"iam:AWSServiceName": ECS_SERVICE}))
    return out


def derive(op, p, region):
    """(action, resource, context) triples of one Application Auto Scaling request."""
    if op in _TARGET_OPS:
        return _on_target(op, p, region)
    if op in _TAG_OPS:
        arn = p.get("ResourceARN") or "*"
        ctx = _resource_tags(_target_by_arn(region, arn))
        if op == "TagResource":
            ctx.update(_request_tags(p.get("Tags") or {}))
        elif op == "UntagResource":
            ctx["aws:TagKeys"] = list(p.get("TagKeys") or [])
        return [(f"application-autoscaling:{op}", arn, ctx)]
    return [(f"application-autoscaling:{op}", "*", {})]
