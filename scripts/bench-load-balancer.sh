#!/usr/bin/env bash
# Benchmark of a rolling deploy behind the load balancer cargo-fargate makes (`load-balancer =
# "public"`): examples/web-service as a one-task `kind = "service"` in the project's own VPC, its
# ALB, listener and target group made by `setup` with the tool's fast defaults. It deploys once,
# then deploys a code change while a request loop hits the ALB's listener (agent/listeners.py) one
# request after another, and records deploy → COMPLETED and the failed requests. It also computes,
# from the settings alone and AWS's documented behaviour, the time a rolling replacement of one task
# spends waiting on the target group on AWS: with the tool's defaults, and with ELB's defaults (a
# target group made by hand). Writes the "Rollout behind the load balancer cargo-fargate makes"
# section of BENCHMARKS.md (and target/bench/load-balancer.json).
# Usage: scripts/bench-load-balancer.sh   (export BENCH_REGISTRY_PORT/BENCH_MOTO_PORT for another bench)
set -euo pipefail
# shellcheck source=scripts/lib/under-load.sh
source "$(dirname "$0")/lib/under-load.sh"

name="lbbench$(date +%s)"
cp -r examples/web-service "$work/app"
unset CARGO_FARGATE_SUBNETS CARGO_FARGATE_SECURITY_GROUPS
export CARGO_FARGATE_NAME="$name" CARGO_FARGATE_KIND=service CARGO_FARGATE_LOAD_BALANCER=public \
  CARGO_FARGATE_HEALTH_CHECK_PATH=/health \
  CARGO_FARGATE_REPOSITORY="$name-dev" CARGO_FARGATE_RUNTIME_IMAGE="$CARGO_FARGATE_TEST_RUNTIME_IMAGE" \
  CARGO_FARGATE_BUILDER_IMAGE="$CARGO_FARGATE_TEST_BUILDER_IMAGE"
cf() { (cd "$work/app" && "$bin" fargate "$@" --message-format json) | tail -n 1; }

echo "== setup and first deploy" >&2
cf setup >"$work/setup.json"
cf deploy --wait-timeout 5m >"$work/first.json"
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["service"]["url"])' "$work/first.json")
host=${url#http://}
lb=$(bench_lb "$host:80")
curl -sf --max-time 5 -H "Host: $host" "$lb/health" >/dev/null

echo "== code change rolled out under load ($url served at $lb)" >&2
echo "// changed by bench-load-balancer.sh $(date +%s%N)" >>"$work/app/src/main.rs"
under_load "$lb" "$host" "$work/traffic.json" cf deploy --wait-timeout 5m >"$work/second.json"
stop_timeout=$(grep -E '^stop-timeout' "$work/app/Cargo.toml" | grep -oE '[0-9]+')

python3 - "$work/second.json" "$work/traffic.json" "$load_at_start" "$(nproc)" "$stop_timeout" <<'PY' >target/bench/load-balancer.json
import json, sys
d = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))
stop = int(sys.argv[5])
# AWS's documented behaviour for one task replaced in a rolling deploy (minimumHealthyPercent 100):
# the new task takes traffic after `healthy threshold` passing checks `interval` apart; the old one
# is stopped only after the deregistration delay (then SIGTERM, up to stop-timeout).
def waits(interval, healthy, delay):
    return {"admit": interval * healthy, "drain": delay, "total": interval * healthy + delay}
print(json.dumps({
    "rollout_state": d["service"]["waited"]["rollout_state"],
    "deploy_seconds": t["seconds"],
    "wait_seconds": d["service"]["waited"]["seconds"],
    "answered": t["answered"], "failed": t["failed"], "errors": t["errors"],
    "stop_timeout": stop,
    "aws_ours": waits(5, 2, stop),
    "aws_elb_defaults": waits(30, 5, 300),
    "load": sys.argv[3], "cpus": int(sys.argv[4]),
}))
PY
cf teardown --yes --force >/dev/null || true

section="$work/section.md"
python3 - target/bench/load-balancer.json >"$section" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
o, e = r["aws_ours"], r["aws_elb_defaults"]
print("## Rollout behind the load balancer cargo-fargate makes\n")
print("`scripts/bench-load-balancer.sh`: examples/web-service as a one-task `kind = \"service\"` with")
print("`load-balancer = \"public\"`: `setup` makes the ALB, listener and target group in the project's VPC")
print(f"(the tool's defaults: health check every 5 s, healthy after 2, deregistration delay = stop-timeout = {r['stop_timeout']} s);")
print("a code change deployed while one client requests `/` through the ALB's listener, one request after another.\n")
print("| on the bench | deploy → COMPLETED (build, push, rollout) | of which waiting for the rollout | requests answered | failed requests |")
print("|---|---|---|---|---|")
print(f"| {r['rollout_state']} | {r['deploy_seconds']} s | {r['wait_seconds']} s | {r['answered']} | {r['failed']} |")
print("\nOn AWS, computed from the settings (ELB's documented behaviour; task start and image pull not counted):")
print("the time one replaced task waits on the target group in a rolling deploy.\n")
print("| target group | new task admitted (interval × healthy threshold) | old task drained (deregistration delay) | per replaced batch |")
print("|---|---|---|---|")
print(f"| made by cargo-fargate | {o['admit']} s | {o['drain']} s | {o['total']} s |")
print(f"| ELB's defaults (made by hand) | {e['admit']} s | {e['drain']} s | {e['total']} s |")
print('\nBlue-green, canary and linear deployments: see "Blue-green, canary and linear deployments" (scripts/bench-strategies.sh).')
print(f"\nMachine: {r['cpus']} CPUs, load average at the start {r['load']}.")
PY
touch BENCHMARKS.md
python3 scripts/lib/benchmarks.py "$section"
cat "$section"
