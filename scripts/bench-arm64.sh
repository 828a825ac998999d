#!/usr/bin/env bash
# Benchmark of arm64 against x86_64 images on this x86_64 bench: `cargo fargate push` of
# tests/fixtures/withdep (one dependency) with the host, docker and codebuild builders, each for
# `architecture` x86_64, arm64 (cross-compiled: scripts/lib/arm64.sh installs the toolchain) and
# both (one image index), on the minimal runtime (scratch). CodeBuild's arm64 build runs on the
# bench agent's ARM environment (its container linux/arm64 under qemu). Per combination: a cold build+push (a fresh target dir; for docker a
# manifest nobody built before, so the dependency layer is rebuilt), a code-only rebuild+push, and the
# image's compressed size in the registry. Also the one-time install a fresh machine needs for arm64
# (scripts/lib/arm64.sh's packages), timed in a throwaway container of the bench's bare bookworm
# image. Writes its section of BENCHMARKS.md and target/bench/arm64.json. Usage: scripts/bench-arm64.sh
set -euo pipefail
# shellcheck source=scripts/lib/ready.sh
source "$(dirname "$0")/lib/ready.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p target/bench
export CARGO_FARGATE_BUILDER_IMAGE="$CARGO_FARGATE_TEST_BUILDER_IMAGE"

now() { date +%s.%N; }
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$2"; }

# push once; prints "seconds digest"
push() { # dir builder arch repository
  local t0 t1 out
  t0=$(now)
  out=$(cd "$1" && CARGO_FARGATE_BUILDER="$2" CARGO_FARGATE_ARCHITECTURE="$3" CARGO_FARGATE_REPOSITORY="$4" \
    CARGO_FARGATE_RUNTIME_IMAGE=scratch "$bin" fargate push --message-format json | tail -n1)
  t1=$(now)
  echo "$(secs "$t0" "$t1") $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["digest"])' "$out")"
}

# Compressed bytes of an image in the bench registry: its layers and config (an index: its platforms').
image_bytes() { # repository digest
  local m
  m=$(curl -sf --max-time 30 -u "AWS:123456789012-auth-token" \
    -H 'Accept: application/vnd.oci.image.index.v1+json' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$BENCH_REGISTRY/v2/$1/manifests/$2")
  if [[ "$m" == *'"manifests"'* ]]; then
    local total=0 d
    for d in $(python3 -c 'import json,sys; print(" ".join(x["digest"] for x in json.loads(sys.argv[1])["manifests"]))' "$m"); do
      total=$((total + $(image_bytes "$1" "$d")))
    done
    echo "$total"
  else
    python3 -c 'import json,sys; m=json.loads(sys.argv[1]); print(m["config"]["size"] + sum(l["size"] for l in m["layers"]))' "$m"
  fi
}

# apt-get update, the arm64 lists, and the install, as scripts/lib/arm64.sh runs them on a fresh machine
# (in seconds, three numbers).
install_probe() {
  timeout 900 docker run --rm --network host "$CARGO_FARGATE_TEST_RUNTIME_IMAGE" bash -c '
    set -e; t0=$EPOCHREALTIME
    apt-get -o Acquire::http::Timeout=60 update -qq >/dev/null; t1=$EPOCHREALTIME
    dpkg --add-architecture arm64; apt-get -o Acquire::http::Timeout=60 update -qq >/dev/null; t2=$EPOCHREALTIME
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu \
      libc6-dev-arm64-cross qemu-user-static rustc-web libstd-rust-web-dev:arm64 >/dev/null 2>&1; t3=$EPOCHREALTIME
    echo "$t0 $t1 $t2 $t3"' |
    python3 -c 'import sys; t=[float(x) for x in sys.stdin.read().split()]; print(" ".join(f"{b-a:.0f}" for a, b in zip(t, t[1:])))'
}
echo "== fresh-machine install of the arm64 toolchain (throwaway container)" >&2
read -r upd arm_upd inst < <(install_probe)

cb_arm64="$(cat .bench/codebuild-arm64.seconds 2>/dev/null || true)"
cb_arm64="${cb_arm64:-an unmeasured time (made before its time was recorded)}"
cb_arm64_cached="$(cat .bench/codebuild-arm64-cached.seconds 2>/dev/null || echo "not measured yet")"
rows=""
json="{\"install_s\":{\"apt_update\":$upd,\"arm64_lists\":$arm_upd,\"install\":$inst},"
for builder in host docker codebuild; do
  for arch in x86_64 arm64 both; do
    nonce="$(date +%s%N)"
    dir="$work/$builder-$arch"
    cp -r tests/fixtures/withdep "$dir"
    echo "# $nonce" >>"$dir/Cargo.toml" # a manifest no earlier build had: no cached dependency layer
    repo="bench-a64-$builder-$arch-$nonce"
    echo "== $builder $arch: cold" >&2
    read -r cold digest < <(push "$dir" "$builder" "$arch" "$repo")
    [[ -n "${digest:-}" ]] || { echo "push failed: $builder $arch" >&2; exit 1; }
    sed -i "s/withdep {}/withdep $nonce {}/" "$dir/src/main.rs"
    echo "== $builder $arch: code-only" >&2
    digest=""
    read -r code digest < <(push "$dir" "$builder" "$arch" "$repo")
    [[ -n "$digest" ]] || { echo "push failed: $builder $arch" >&2; exit 1; }
    size=$(image_bytes "$repo" "$digest")
    rows+="| $builder | $arch | $cold s | $code s | $(python3 -c "print(f'{$size/1048576:.2f}')") MiB |"$'\n'
    json+="\"${builder}_${arch}\":{\"cold_s\":$cold,\"code_only_s\":$code,\"image_bytes\":$size},"
  done
done
json="${json%,}}"
echo "$json" >target/bench/arm64.json

section=$(cat <<MD
## arm64 (Graviton) images from an x86_64 machine

Written by \`scripts/bench-arm64.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, load average at the start $load_at_start.
\`cargo fargate push\` of tests/fixtures/withdep (one dependency), runtime \`scratch\`; \`both\`: one image
index of x86_64 and arm64 (size: both images; docker and codebuild build one platform after the
other, each pushed as \`<content tag>-<arch>\`, then joined). arm64 is cross-compiled, never emulated
(host: the machine's aarch64-linux-gnu-gcc and Debian's rustc-web with its arm64 std; docker: the
template's build stage on linux/amd64 with the same toolchain installed in its own cached layer;
codebuild: the arm64 build runs on the agent's ARM environment, a linux/arm64 container under qemu
whose Docker is this amd64 Engine, so the template cross-compiles there as the docker builder does;
on AWS the ARM environment builds natively). Cold: a fresh target dir / an uncached dependency
layer; code-only: one changed line of src/main.rs. Size: compressed layers and config in the registry.

| builder | architecture | cold build+push | code-only build+push | image size |
|---|---|---|---|---|
${rows%$'\n'}

One-time costs, not in the table: a fresh machine's install of the arm64 toolchain
(\`scripts/bench.sh up\`: gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user-static, rustc-web,
libstd-rust-web-dev:arm64), timed in a throwaway bookworm container: apt-get update ${upd} s, the arm64
package lists ${arm_upd} s, the install ${inst} s. The docker builder's first arm64 build with a builder
image also installs the cross toolchain in the template's toolchain layer (the same Debian packages
without rustup; \`rustup target add\` with it), cached for every later project. The ARM environment's
stand-in image (scripts/base-images.sh: Debian arm64 debootstrapped, its second stage under qemu)
took ${cb_arm64} on this machine, once (without the downloads its debootstrap cache already held); again
from its root filesystem cached in .bench/ (after
\`docker image rm\`): ${cb_arm64_cached}.
MD
)
printf '%s\n' "$section" | python3 scripts/lib/benchmarks.py -
echo "$json" >&2
