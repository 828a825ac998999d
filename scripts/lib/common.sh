# shellcheck shell=bash
# shellcheck disable=SC2034 # variables used by the scripts that source this
# Shared helpers for the local test bench (sourced by scripts/bench.sh and
# scripts/base-images.sh). Not meant to be executed on its own.

# Repo root from this file's location, so the scripts work from any cwd.
BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH_DIR="$BENCH_ROOT/.bench"

BENCH_REGISTRY_PORT="${BENCH_REGISTRY_PORT:-5000}"
BENCH_MOTO_PORT="${BENCH_MOTO_PORT:-5055}"

# Dummy credentials: moto's ECR GetAuthorizationToken hands out
# base64("AWS:<account>-auth-token") with moto's default account 123456789012,
# so the registry accepts exactly what the code under test gets from "ECR".
BENCH_REGISTRY_USER="AWS"
BENCH_REGISTRY_PASSWORD="123456789012-auth-token"

# Base-image stand-ins (no public image can be pulled here). The builder tag
# follows the host toolchain's major.minor, like the official rust:X.Y-bookworm.
bench_rust_mm() {
  local v
  v="$(cd / && rustc --version 2>/dev/null | awk '{print $2}')" || true
  [[ -n "$v" ]] || v="1.95.0"
  echo "${v%.*}"
}
BENCH_BUILDER_IMAGE="cargo-fargate-bench/rust:$(bench_rust_mm)-bookworm"
BENCH_RUNTIME_IMAGE="cargo-fargate-bench/debian:bookworm-slim"
# The runtime stand-in in the bench registry too: the host builder reads base images over the
# registry HTTP API, not from the engine.
BENCH_RUNTIME_IMAGE_REMOTE="127.0.0.1:$BENCH_REGISTRY_PORT/$BENCH_RUNTIME_IMAGE"
# Stand-in for CodeBuild's standard Linux image (aws/codebuild/standard:7.0): the bench agent runs
# every CodeBuild build in it (scripts/bench/agent/codebuild.py maps the project's image to it).
BENCH_CODEBUILD_IMAGE="cargo-fargate-bench/codebuild-standard:7.0"
# The same for CodeBuild's ARM environment (ARM_CONTAINER, aws/codebuild/amazonlinux-aarch64-standard:3.0):
# a linux/arm64 image, which the agent runs under qemu (scripts/lib/arm64.sh registers it).
BENCH_CODEBUILD_ARM64_IMAGE="cargo-fargate-bench/codebuild-aarch64-standard:3.0"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# Install Debian packages for the commands that are missing. `apt-get update`
# runs at most once per script run (CI machines start with stale/no lists).
_BENCH_APT_UPDATED=0
ensure_cmds() {
  # args: "command:package" pairs
  local pair cmd pkg missing=()
  for pair in "$@"; do
    cmd="${pair%%:*}"; pkg="${pair#*:}"
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  [[ "$(id -u)" == 0 ]] || die "missing packages ${missing[*]} and not root; install them first"
  if [[ "$_BENCH_APT_UPDATED" == 0 ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    _BENCH_APT_UPDATED=1
  fi
  log "apt-get install ${missing[*]}"
  # with Recommends, as on the machine this was checked on (docker.io
  # recommends cgroupfs-mount, apparmor, xz-utils)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  # shellcheck disable=SC2034 # read by callers
  BENCH_JUST_INSTALLED="${BENCH_JUST_INSTALLED:-} ${missing[*]}"
}

# Is anything accepting TCP connections on 127.0.0.1:$1?
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Pid from a pid file, only if that process is alive and its command line
# contains $2 (guards against a recycled pid after a reboot).
live_pid() {
  local file="$1" want="$2" pid
  [[ -s "$file" ]] || return 1
  pid="$(cat "$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$want" || return 1
  echo "$pid"
}

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }
