#!/usr/bin/env bash
# Latency benchmark: the tool as a user far from the region sees it. Two proxies on 127.0.0.1
# (scripts/bench/latency.py) stand in front of moto and the registry and add a fixed delay to every
# request (50 ms and 100 ms: a region across a continent or an ocean), counting the requests. Behind
# them, on `examples/hello` already deployed once: a no-op `deploy --detach`, `deploy --dry-run`,
# `status`, `ps`, `logs`, and as the peer the aws-cli script of the ECS task-role walkthrough doing
# the same work (the repository is there, the image pushed: log in, push, the role, register, run).
# Median wall time of RUNS runs (default 3), requests per run, the ratio to the peer. Writes the
# "Latency" section of BENCHMARKS.md and target/bench/latency.json.
# Usage: scripts/bench-latency.sh [delay-ms ...]   (default: 50 100; RUNS=n)
set -euo pipefail
# shellcheck source=scripts/lib/ready.sh
source "$(dirname "$0")/lib/ready.sh"
delays=("$@")
[ ${#delays[@]} -gt 0 ] || delays=(50 100)
runs="${RUNS:-3}"
work=$(mktemp -d)
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
aws_cli="$BENCH_VENV/bin/aws"
moto_proxy=$((BENCH_MOTO_PORT + 1))
registry_proxy=$((BENCH_MOTO_PORT + 2))
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p target/bench

# --- once, straight to the bench: a network of its own, the stage deployed, the peer's role and
# cluster, the peer's image pushed.
aws() { "$aws_cli" --output text "$@"; }
vpc=$(aws ec2 create-vpc --cidr-block 10.78.0.0/16 --query Vpc.VpcId)
aws ec2 modify-vpc-attribute --vpc-id "$vpc" --enable-dns-hostnames '{"Value":true}'
subnet=$(aws ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.78.1.0/24 --query Subnet.SubnetId)
sg=$(aws ec2 create-security-group --group-name "bench-latency-$$" --description bench --vpc-id "$vpc" --query GroupId)
nonce=$(date +%s)
name="lat${nonce: -7}"
dir="$work/hello"
mkdir -p "$dir" && cp -r examples/hello/Cargo.toml examples/hello/Cargo.lock examples/hello/src "$dir/"
export CARGO_FARGATE_NAME="$name" CARGO_FARGATE_SUBNETS="$subnet" CARGO_FARGATE_SECURITY_GROUPS="$sg"
export CARGO_FARGATE_REPOSITORY="$name-dev" CARGO_FARGATE_BUILDER_IMAGE="$CARGO_FARGATE_TEST_BUILDER_IMAGE"
unset CARGO_FARGATE_DOCKERFILE CARGO_FARGATE_BUILDER CARGO_FARGATE_RUNTIME_IMAGE
echo "== first deploy of $name (not measured)" >&2
(cd "$dir" && "$bin" fargate deploy --detach -q >/dev/null)

peer_repo="$name-peer"
peer_role="$name-peer-task"
aws ecr create-repository --repository-name "$peer_repo" >/dev/null
aws ecs create-cluster --cluster-name "$name-peer" >/dev/null
aws iam create-role --role-name "$peer_role" --assume-role-policy-document \
  '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}' >/dev/null
export DOCKER_CONFIG="$work/docker"
mkdir -p "$DOCKER_CONFIG"
docker tag "$CARGO_FARGATE_TEST_RUNTIME_IMAGE" "$BENCH_REGISTRY/$peer_repo:v1"
"$aws_cli" ecr get-login-password | docker login -u AWS --password-stdin "$BENCH_REGISTRY" >/dev/null 2>&1
docker push -q "$BENCH_REGISTRY/$peer_repo:v1" >/dev/null
docker tag "$CARGO_FARGATE_TEST_RUNTIME_IMAGE" "127.0.0.1:$registry_proxy/$peer_repo:v1"

# The walkthrough (docs: "IAM roles for ECS tasks"), as its aws-cli and docker commands, each
# step asking what it needs. Through the proxies: AWS_ENDPOINT_URL and the registry's proxy port.
peer() {
  local reg="127.0.0.1:$registry_proxy" account=123456789012
  "$aws_cli" ecr describe-repositories --repository-names "$peer_repo" >/dev/null
  "$aws_cli" ecr get-login-password | docker login -u AWS --password-stdin "$reg" >/dev/null 2>&1
  docker push -q "$reg/$peer_repo:v1" >/dev/null
  "$aws_cli" iam get-role --role-name "$peer_role" >/dev/null
  "$aws_cli" ecs register-task-definition --family "$name-peer" \
    --task-role-arn "arn:aws:iam::$account:role/$peer_role" --requires-compatibilities FARGATE \
    --network-mode awsvpc --cpu 256 --memory 512 \
    --container-definitions "[{\"name\":\"sample-app\",\"image\":\"$account.dkr.ecr.us-east-1.amazonaws.com/$peer_repo:v1\",\"essential\":true,\"command\":[\"true\"]}]" >/dev/null
  "$aws_cli" ecs run-task --cluster "$name-peer" --task-definition "$name-peer" --launch-type FARGATE \
    --network-configuration "awsvpcConfiguration={subnets=[$subnet],securityGroups=[$sg]}" >/dev/null
}

tool() { (cd "$dir" && CARGO_FARGATE_REGISTRY_ENDPOINT="127.0.0.1:$registry_proxy" "$bin" fargate "$@" >/dev/null 2>&1); }

now() { date +%s.%N; }
count() { curl -s "127.0.0.1:$1/_latency" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
reset() { curl -s -X DELETE "127.0.0.1:$moto_proxy/_latency" >/dev/null; curl -s -X DELETE "127.0.0.1:$registry_proxy/_latency" >/dev/null; }

# measure LABEL CMD...: "median-wall-s|requests-per-run" over $runs runs
measure() {
  local label="$1" i t0 t1 walls=() total=0
  shift
  for ((i = 0; i < runs; i++)); do
    reset
    t0=$(now)
    "$@" || { echo "$label failed" >&2; return 1; }
    t1=$(now)
    walls+=("$(python3 -c "print($t1 - $t0)")")
    total=$(($(count "$moto_proxy") + $(count "$registry_proxy")))
  done
  curl -s "127.0.0.1:$moto_proxy/_latency" >"$work/$label.requests.json"
  printf '%s|%s\n' "$(python3 -c 'import statistics,sys; print(f"{statistics.median(map(float, sys.argv[1:])):.2f}")' "${walls[@]}")" "$total"
}

rows=()
for delay in "${delays[@]}"; do
  python3 scripts/bench/latency.py --listen "$moto_proxy" --target "127.0.0.1:$BENCH_MOTO_PORT" --delay-ms "$delay" &
  pids+=($!)
  python3 scripts/bench/latency.py --listen "$registry_proxy" --target "$BENCH_REGISTRY" --delay-ms "$delay" &
  pids+=($!)
  sleep 1
  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_proxy"
  echo "== $delay ms per request" >&2
  peer_row=$(measure "peer-$delay" peer)
  rows+=("$delay|aws-cli walkthrough (peer)|$peer_row|$peer_row")
  for cmd in "deploy --detach" "deploy --dry-run" "status" "ps" "logs"; do
    # shellcheck disable=SC2086 # the command's words
    r=$(measure "$(echo "$cmd-$delay" | tr ' ' '_')" tool $cmd)
    rows+=("$delay|\`$cmd\`|$r|$peer_row")
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$BENCH_MOTO_PORT"
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
done

{
  echo '['
  sep=''
  for r in "${rows[@]}"; do
    IFS='|' read -r d what wall reqs pwall preqs <<<"$r"
    printf '%s{"delay_ms":%s,"command":"%s","wall_s":%s,"requests":%s,"peer_wall_s":%s,"peer_requests":%s}\n' \
      "$sep" "$d" "${what//\`/}" "$wall" "$reqs" "$pwall" "$preqs"
    sep=','
  done
  echo ']'
} >target/bench/latency.json

section="$work/latency.md"
{
  echo "## Latency"
  echo
  echo "Written by \`scripts/bench-latency.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, load average at the start"
  echo "${load_at_start}. Every request to moto and to the registry passes a proxy on 127.0.0.1 that delays it by"
  echo "the given time (\`scripts/bench/latency.py\`): a region 50 or 100 ms away. \`examples/hello\`, deployed"
  echo "once before; median wall time of $runs runs; requests of one run (AWS APIs + registry). The peer is the"
  echo "aws-cli script of the ECS task-role walkthrough doing the same work (describe the repository, log in,"
  echo "\`docker push\` of the image already there, get the role, register, run), each aws-cli call a new process."
  echo
  echo "| delay | command | wall | requests | wall / peer's |"
  echo "|---|---|---|---|---|"
  for r in "${rows[@]}"; do
    IFS='|' read -r d what wall reqs pwall preqs <<<"$r"
    echo "| $d ms | $what | $wall s | $reqs | $(python3 -c "print(f'{$wall / $pwall:.2f}')") |"
  done
} >"$section"
touch BENCHMARKS.md
python3 scripts/lib/benchmarks.py "$section"
cat "$section"
