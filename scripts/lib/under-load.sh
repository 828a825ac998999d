# shellcheck shell=bash
# shellcheck disable=SC2034 # $work and $load_at_start are the sourcing script's
# Sourced by the rollout benchmarks (bench-rollout.sh, bench-load-balancer.sh, bench-strategies.sh),
# so that each measures its deploy under the same load: the bench ready and cargo-fargate built
# (ready.sh), a work directory $work removed at exit, the load average at the start, where the bench
# serves a load balancer, and a command run while one client requests `/` through it
# (scripts/lib/traffic.py).
# shellcheck source=scripts/lib/ready.sh
source "$(dirname "${BASH_SOURCE[0]}")/ready.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p target/bench
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

# The local address the bench serves a listener ("dns-name:80") or a target group (its ARN) at.
bench_lb() {
  curl -s --max-time 5 "$AWS_ENDPOINT_URL/_bench/lb" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# Runs COMMAND while the request loop hits LB (with Host: HOST, or none for ""), then writes the
# loop's counts and COMMAND's duration to OUT (see traffic.py). COMMAND's status is returned.
# usage: under_load LB HOST OUT COMMAND...
under_load() {
  local lb=$1 host=$2 out=$3 stop loop start end status=0
  shift 3
  stop="$out.stop"
  rm -f "$stop" "$stop.tmp"
  python3 scripts/lib/traffic.py "$lb" "$host" "$stop" "$out" &
  loop=$!
  start=$(date +%s.%N)
  "$@" || status=$?
  end=$(date +%s.%N)
  # the stop file appears whole: the loop reads the duration from it once it sees it
  echo "$start $end" >"$stop.tmp" && mv "$stop.tmp" "$stop"
  wait "$loop"
  return "$status"
}
