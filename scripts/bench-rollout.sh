#!/usr/bin/env bash
# Benchmark of a service rollout on the local bench: examples/web-service as a one-task
# `kind = "service"` behind a target group served by the bench's HAProxy (agent/lb.py). It deploys
# once, then deploys a code change while a request loop hits the load balancer as fast as it answers
# (one request at a time), and records the rollout time (`deploy` start to COMPLETED, build and push
# included, and the part after the push) and the requests answered and failed during it. Writes the
# "Service rollout" section of BENCHMARKS.md (and target/bench/rollout.json).
# Usage: scripts/bench-rollout.sh   (export BENCH_REGISTRY_PORT/BENCH_MOTO_PORT for another bench)
set -euo pipefail
# shellcheck source=scripts/lib/under-load.sh
source "$(dirname "$0")/lib/under-load.sh"
aws() { "$BENCH_VENV/bin/aws" --output text "$@"; }

name="rollout$(date +%s)"
vpc=$(aws ec2 create-vpc --cidr-block 10.88.0.0/16 --query Vpc.VpcId)
aws ec2 modify-vpc-attribute --vpc-id "$vpc" --enable-dns-hostnames '{"Value":true}'
subnet=$(aws ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.88.1.0/24 --query Subnet.SubnetId)
sg=$(aws ec2 create-security-group --vpc-id "$vpc" --group-name "$name" --description bench --query GroupId)
tg=$(aws elbv2 create-target-group --name "$name" --protocol HTTP --port 8080 --vpc-id "$vpc" \
  --target-type ip --health-check-path /health --health-check-interval-seconds 5 \
  --health-check-timeout-seconds 2 --healthy-threshold-count 2 --unhealthy-threshold-count 2 \
  --query 'TargetGroups[0].TargetGroupArn')
aws elbv2 modify-target-group-attributes --target-group-arn "$tg" \
  --attributes Key=deregistration_delay.timeout_seconds,Value=5 >/dev/null

cp -r examples/web-service "$work/app"
export CARGO_FARGATE_NAME="$name" CARGO_FARGATE_KIND=service CARGO_FARGATE_DESIRED_COUNT=1 \
  CARGO_FARGATE_TARGET_GROUP_ARN="$tg" CARGO_FARGATE_SUBNETS="$subnet" CARGO_FARGATE_SECURITY_GROUPS="$sg" \
  CARGO_FARGATE_REPOSITORY="$name-dev" CARGO_FARGATE_RUNTIME_IMAGE="$CARGO_FARGATE_TEST_RUNTIME_IMAGE" \
  CARGO_FARGATE_BUILDER_IMAGE="$CARGO_FARGATE_TEST_BUILDER_IMAGE"
deploy() { (cd "$work/app" && "$bin" fargate deploy --wait-timeout 5m --message-format json) | tail -n 1; }

echo "== first deploy" >&2
deploy >"$work/first.json"
lb=$(bench_lb "$tg")
curl -sf --max-time 5 "$lb/health" >/dev/null

echo "== code change rolled out under load ($lb)" >&2
echo "// changed by bench-rollout.sh $(date +%s%N)" >>"$work/app/src/main.rs"
under_load "$lb" "" "$work/traffic.json" deploy >"$work/second.json"

python3 - "$work/second.json" "$work/traffic.json" "$load_at_start" "$(nproc)" <<'PY' >target/bench/rollout.json
import json, sys
d = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))
print(json.dumps({
    "rollout_state": d["service"]["waited"]["rollout_state"],
    "deploy_seconds": t["seconds"],
    "wait_seconds": d["service"]["waited"]["seconds"],
    "answered": t["answered"], "failed": t["failed"], "errors": t["errors"],
    "load": sys.argv[3], "cpus": int(sys.argv[4]),
}))
PY
(cd "$work/app" && "$bin" fargate delete --yes >/dev/null) || true

section="$work/section.md"
python3 - target/bench/rollout.json >"$section" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("## Service rollout\n")
print("`scripts/bench-rollout.sh`: examples/web-service as a one-task `kind = \"service\"` behind a target group")
print("served by the bench's HAProxy (health checks on /health every 5 s, healthy after 2, deregistration")
print("delay 5 s, minimumHealthyPercent 100, maximumPercent 200); a code change deployed while one client")
print("requests `/` through the load balancer, one request after another.\n")
print("| rollout | deploy → COMPLETED (build, push, rollout) | of which waiting for the rollout | requests answered | failed requests |")
print("|---|---|---|---|---|")
print(f"| {r['rollout_state']} | {r['deploy_seconds']} s | {r['wait_seconds']} s | {r['answered']} | {r['failed']} |")
print(f"\nMachine: {r['cpus']} CPUs, load average at the start {r['load']}.")
PY
touch BENCHMARKS.md
python3 scripts/lib/benchmarks.py "$section"
cat "$section"
