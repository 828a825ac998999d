#!/usr/bin/env bash
# Benchmark of ECS's blue-green, canary and linear deployments on the local bench: for each strategy,
# examples/web-service as a one-task `kind = "service"` with `load-balancer = "public"` (setup makes
# the ALB, the two target groups, the production listener rule and the infrastructure role), deployed
# once, then a new revision (GREETING changed: a new task definition, no build) deployed while one
# client requests `/` through the ALB's listener one request after another. Records deploy →
# COMPLETED, the requests answered and failed, and how many answers came from each revision. A bake
# "minute" lasts 10 s on the bench (POST /_bench/ecs/minute, agent/shifting.py). It also computes,
# from the same settings in real minutes and AWS's documented timings, how long the deploy waits on
# AWS with the tool's target groups and with ELB's defaults (task start and image pull not counted).
# Writes the "Blue-green, canary and linear deployments" section of BENCHMARKS.md (and
# target/bench/strategies.json).
# Usage: scripts/bench-strategies.sh   (export BENCH_REGISTRY_PORT/BENCH_MOTO_PORT for another bench)
set -euo pipefail
# shellcheck source=scripts/lib/under-load.sh
source "$(dirname "$0")/lib/under-load.sh"
minute=10
unset CARGO_FARGATE_SUBNETS CARGO_FARGATE_SECURITY_GROUPS

# strategy and its settings (the same for every run of this script)
runs=(
  "blue-green CARGO_FARGATE_BAKE_TIME=1"
  "canary CARGO_FARGATE_CANARY_PERCENT=10 CARGO_FARGATE_CANARY_BAKE=1"
  "linear CARGO_FARGATE_LINEAR_STEP_PERCENT=34 CARGO_FARGATE_LINEAR_BAKE=1"
)
echo "[]" >"$work/all.json"
for run in "${runs[@]}"; do
  read -r strategy settings <<<"$run"
  name="st${strategy%%-*}$(date +%s)"
  rm -rf "$work/app" && cp -r examples/web-service "$work/app"
  # shellcheck disable=SC2086 # the settings are KEY=VALUE words
  cf() { (cd "$work/app" && env $settings CARGO_FARGATE_DEPLOYMENT="$strategy" "$bin" fargate "$@" --message-format json) | tail -n 1; }
  export CARGO_FARGATE_NAME="$name" CARGO_FARGATE_KIND=service CARGO_FARGATE_LOAD_BALANCER=public \
    CARGO_FARGATE_HEALTH_CHECK_PATH=/health CARGO_FARGATE_DESIRED_COUNT=1 \
    CARGO_FARGATE_REPOSITORY="$name-dev" CARGO_FARGATE_RUNTIME_IMAGE="$CARGO_FARGATE_TEST_RUNTIME_IMAGE" \
    CARGO_FARGATE_BUILDER_IMAGE="$CARGO_FARGATE_TEST_BUILDER_IMAGE"

  echo "== $strategy: setup and first deploy" >&2
  cf setup >"$work/setup.json"
  curl -sf --max-time 5 -X POST "$AWS_ENDPOINT_URL/_bench/ecs/minute?service=$name-dev&seconds=$minute" >/dev/null
  CARGO_FARGATE_ENVIRONMENT=GREETING=v1 cf deploy --wait-timeout 5m >"$work/first.json"
  url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["service"]["url"])' "$work/first.json")
  host=${url#http://}
  lb=$(bench_lb "$host:80")

  echo "== $strategy: v2 under load ($url served at $lb)" >&2
  CARGO_FARGATE_ENVIRONMENT=GREETING=v2 \
    under_load "$lb" "$host" "$work/traffic.json" cf deploy --wait-timeout 5m >"$work/second.json"
  python3 - "$work/all.json" "$strategy" "$settings" "$work/second.json" "$work/traffic.json" <<'PY'
import json, sys
path, strategy, settings, second, traffic = sys.argv[1:]
d, t = json.load(open(second)), json.load(open(traffic))
all = json.load(open(path))
all.append({"strategy": strategy, "settings": settings,
            "rollout_state": d["service"]["waited"]["rollout_state"],
            "deploy_seconds": t["seconds"],
            "seen": t["seen"], "failed": t["failed"], "errors": t["errors"]})
json.dump(all, open(path, "w"))
PY
  cf teardown --yes --force >/dev/null || true
done

python3 - "$work/all.json" "$load_at_start" "$(nproc)" "$minute" <<'PY' >target/bench/strategies.json
import json, sys
runs = json.load(open(sys.argv[1]))
# AWS's documented timings, one task, the settings above in real minutes: the new revision is
# admitted after `healthy threshold` checks `interval` apart, then the shift's bakes, then bake-time,
# then the old task drains for the deregistration delay.
def aws(strategy, settings, interval, healthy, delay):
    s = dict(kv.split("=", 1) for kv in settings.split())
    bakes = {"blue-green": 0,
             "canary": int(s.get("CARGO_FARGATE_CANARY_BAKE", 5)),
             "linear": (-(-100 // int(s.get("CARGO_FARGATE_LINEAR_STEP_PERCENT", 10))) - 1)
                       * int(s.get("CARGO_FARGATE_LINEAR_BAKE", 1))}[strategy]
    bake = int(s.get("CARGO_FARGATE_BAKE_TIME", 0))
    return interval * healthy + 60 * (bakes + bake) + delay
for r in runs:
    r["aws_ours"] = aws(r["strategy"], r["settings"], 5, 2, 10)
    r["aws_elb_defaults"] = aws(r["strategy"], r["settings"], 30, 5, 300)
print(json.dumps({"runs": runs, "load": sys.argv[2], "cpus": int(sys.argv[3]), "minute": int(sys.argv[4])}))
PY

section="$work/section.md"
python3 - target/bench/strategies.json >"$section" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("## Blue-green, canary and linear deployments\n")
print("`scripts/bench-strategies.sh`: examples/web-service as a one-task `kind = \"service\"` with")
print("`load-balancer = \"public\"` and `deployment = …`, a new revision (GREETING changed, no build) deployed")
print("while one client requests `/` through the ALB's listener, one request after another. The bench carries")
print(f"out ECS's strategy (agent/shifting.py) with a bake \"minute\" of {r['minute']} s.\n")
print("| strategy | settings | deploy → COMPLETED | answers (old / new revision) | failed requests |")
print("|---|---|---|---|---|")
for x in r["runs"]:
    settings = " ".join(s.replace("CARGO_FARGATE_", "").lower().replace("_", "-") for s in x["settings"].split())
    seen = x["seen"]
    print(f"| {x['strategy']} | {settings} | {x['deploy_seconds']} s | {seen.get('v1', 0)} / {seen.get('v2', 0)} | {x['failed']} |")
print("\nOn AWS, computed from the same settings in real minutes (ECS's and ELB's documented timings; task")
print("start and image pull not counted): new task admitted + the shift's bakes + bake-time + old task drained.\n")
print("| strategy | with the target groups cargo-fargate makes | with ELB's defaults (150 s admit, 300 s drain) |")
print("|---|---|---|")
for x in r["runs"]:
    print(f"| {x['strategy']} | {x['aws_ours']} s | {x['aws_elb_defaults']} s |")
print(f"\nMachine: {r['cpus']} CPUs, load average at the start {r['load']}.")
PY
touch BENCHMARKS.md
python3 scripts/lib/benchmarks.py "$section"
cat "$section"
