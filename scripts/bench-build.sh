#!/usr/bin/env bash
# Benchmark of `cargo fargate push` on the local bench, side by side in one run:
#   template  the default Dockerfile template (dependency layer cached)
#   host      the host builder (cargo on the host, image assembled without Docker)
#   naive     a one-stage Dockerfile: `COPY . .` then `cargo build --release`
#   codebuild the codebuild builder (source zip to S3, the build carried out by the bench agent);
#             (needs the bench agent that carries out CodeBuild builds: branch cb-agent)
# For each: cold build+push, code-only rebuild+push, a no-change run, the image's size in the
# registry, and the bytes the registry stored after the code-only change. Figures go to
# BENCHMARKS.md (and target/bench/build.json). Usage: scripts/bench-build.sh [variant ...]
# Two more variants, run only when named:
#   memory   peak resident memory (/usr/bin/time -v) of `push --builder host` with a 200 MiB binary
#            and of `build --builder docker` with a 200 MiB file in the context (target/bench/memory.json)
#   install  a cold `cargo install --path .` (fresh target dir and root; target/bench/install.json)
#   scripts/bench-build.sh sizes   only the image size of examples/hello per builder and runtime, and
#                                  the digests of two host builds from two clones (its own section of
#                                  BENCHMARKS.md, target/bench/sizes.json)
set -euo pipefail
# shellcheck source=scripts/lib/ready.sh
source "$(dirname "$0")/lib/ready.sh"
work=$(mktemp -d)
# Timings are only comparable on an otherwise idle machine: the load at the start is written down.
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
trap 'rm -rf "$work"' EXIT
mkdir -p target/bench
variants=()
extras=()
for v in "$@"; do
  case "$v" in
    memory | install) extras+=("$v") ;;
    *) variants+=("$v") ;;
  esac
done
[ $# -gt 0 ] || variants=(template host naive codebuild)

# Peak resident set size in MiB of a command, from GNU time (the `time` package).
peak_mib() {
  [ -x /usr/bin/time ] || { apt-get install -y -qq time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }; }
  local report="$work/time.txt"
  /usr/bin/time -v -o "$report" "$@" >"$work/out.txt" 2>"$work/err.txt" || { cat "$work/err.txt" >&2; return 1; }
  python3 -c "import re,sys; k=int(re.search(r'Maximum resident set size \(kbytes\): (\d+)', open(sys.argv[1]).read()).group(1)); print(f'{k/1024:.1f}')" "$report"
}

memory_bench() {
  local dir="$work/big" nonce repo
  cp -r tests/fixtures/big "$dir"
  nonce="$(date +%s%N)"
  repo="bench-memory-$nonce"
  echo "== memory: push --builder host, 200 MiB binary" >&2
  unset CARGO_FARGATE_DOCKERFILE CARGO_FARGATE_BUILDER CARGO_FARGATE_RUNTIME_IMAGE CARGO_FARGATE_BUILDER_IMAGE
  export BIG_MB=200 CARGO_FARGATE_REPOSITORY="$repo"
  # The binary is built first (rustc's memory is not ours): the measured push finds it fresh, and
  # cargo only checks it.
  (cd "$dir" && CARGO_FARGATE_BUILDER=host CARGO_FARGATE_RUNTIME_IMAGE="$CARGO_FARGATE_TEST_RUNTIME_IMAGE_REMOTE" \
    "$bin" fargate build -q >/dev/null)
  local host docker binary
  binary=$(stat -c %s "$dir"/target/*/release/big)
  host=$(cd "$dir" && CARGO_FARGATE_BUILDER=host \
    CARGO_FARGATE_RUNTIME_IMAGE="$CARGO_FARGATE_TEST_RUNTIME_IMAGE_REMOTE" peak_mib "$bin" fargate push)
  echo "== memory: build --builder docker, 200 MiB file in the context" >&2
  head -c $((200 << 20)) /dev/urandom >"$dir/data.bin"
  printf 'FROM %s\nCOPY data.bin /data.bin\n' "$CARGO_FARGATE_TEST_RUNTIME_IMAGE" >"$dir/Dockerfile"
  docker=$(cd "$dir" && peak_mib "$bin" fargate build --builder docker)
  unset BIG_MB CARGO_FARGATE_REPOSITORY
  printf '{"push_host_200mib_binary_peak_rss_mib":%s,"binary_bytes":%s,"build_docker_200mib_context_peak_rss_mib":%s}\n' \
    "$host" "$binary" "$docker" >target/bench/memory.json
}

install_bench() {
  echo "== install: cold cargo install --path ." >&2
  local t0 t1
  t0=$(now)
  cargo install --locked --quiet --timings --path . --root "$work/install-root" --target-dir "$work/install-target"
  t1=$(now)
  # Where the time went: cargo's per-crate timeline (open it in a browser).
  cp "$work"/install-target/cargo-timings/cargo-timing.html target/bench/install-timings.html 2>/dev/null || true
  install_seconds=$(secs "$t0" "$t1")
  printf '{"cold_install_s":%s,"cores":%s}\n' "$install_seconds" "$(nproc)" >target/bench/install.json
}

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }
registry_bytes() { du -sb .bench/registry-data | cut -f1; }
# Compressed size of an image in the registry: config + layers, from its manifest.
image_bytes() {
  curl -s -u "AWS:123456789012-auth-token" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' \
    "http://$BENCH_REGISTRY/v2/$1/manifests/$2" |
    python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["config"]["size"] + sum(l["size"] for l in m["layers"]))'
}
field() { python3 -c "import json,sys; r=[json.loads(l) for l in open('$1') if l.strip().startswith('{')]; r=[x for x in r if x.get('type')=='result'][-1]; print(eval('r' + sys.argv[1]))" "$2"; }
# Bytes the codebuild builder uploaded to S3 in one run (0 when the archive was there or no build ran).
uploaded() { python3 -c "import json; r=[json.loads(l) for l in open('$1') if l.strip().startswith('{')]; r=[x for x in r if x.get('type')=='result'][-1]; print((r.get('codebuild') or {}).get('uploaded_bytes', 0))"; }

# --- sizes: examples/hello per builder (docker template, host) and runtime (minimal scratch, the
# Debian stand-in), then two host builds of one commit from two clones.
if [ "${1:-}" = sizes ]; then
  rows=()
  for b in docker host; do
    for rt in scratch debian; do
      d="$work/hello-$b-$rt"
      mkdir -p "$d" && cp -r examples/hello/Cargo.toml examples/hello/Cargo.lock examples/hello/src "$d/"
      repo="bench-hello-$b-$rt-$(date +%s%N)"
      img=scratch
      if [ "$rt" = debian ]; then
        img="$CARGO_FARGATE_TEST_RUNTIME_IMAGE"
        [ "$b" = host ] && img="$CARGO_FARGATE_TEST_RUNTIME_IMAGE_REMOTE"
      fi
      echo "== hello $b $rt" >&2
      (cd "$d" && env -u CARGO_FARGATE_DOCKERFILE CARGO_FARGATE_REPOSITORY="$repo" CARGO_FARGATE_BUILDER="$b" \
        CARGO_FARGATE_RUNTIME_IMAGE="$img" CARGO_FARGATE_BUILDER_IMAGE="$CARGO_FARGATE_TEST_BUILDER_IMAGE" \
        "$bin" fargate push --message-format json >"$work/hello-$b-$rt.json")
      rows+=("$b|$rt|$(image_bytes "$repo" "$(field "$work/hello-$b-$rt.json" '["tags"][0]')")")
    done
  done
  src="$work/repro-src"
  mkdir -p "$src" && cp -r examples/hello/Cargo.toml examples/hello/Cargo.lock examples/hello/src "$src/"
  git -C "$src" init -q && git -C "$src" add -A &&
    git -C "$src" -c user.name=bench -c user.email=bench@example.com commit -qm hello
  digests=()
  for i in 1 2; do
    git clone -q "$src" "$work/repro-$i"
    (cd "$work/repro-$i" && env -u SOURCE_DATE_EPOCH CARGO_FARGATE_BUILDER=host CARGO_FARGATE_RUNTIME_IMAGE=scratch \
      "$bin" fargate build --message-format json >"$work/repro-$i.json")
    digests+=("$(field "$work/repro-$i.json" '["image_id"]')")
  done
  {
    echo '{"hello":['
    sep=''
    for r in "${rows[@]}"; do
      IFS='|' read -r b rt size <<<"$r"
      printf '%s{"builder":"%s","runtime":"%s","image_bytes":%s}\n' "$sep" "$b" "$rt" "$size"
      sep=','
    done
    printf '],"two_clones":["%s","%s"]}\n' "${digests[0]}" "${digests[1]}"
  } >target/bench/sizes.json
  section="$work/sizes.md"
  {
    echo "## Image size and reproducibility"
    echo
    echo "Written by \`scripts/bench-build.sh sizes\` on $(date -u +%Y-%m-%d). Compressed size in the registry"
    echo "(config + layers) of \`examples/hello\`, pushed with each builder on the minimal runtime (the default,"
    echo "\`runtime-image = \"scratch\"\`) and on the bench's Debian bookworm-slim stand-in."
    echo
    echo "| builder | runtime | image size |"
    echo "|---|---|---|"
    for r in "${rows[@]}"; do
      IFS='|' read -r b rt size <<<"$r"
      echo "| $b | $rt | $(python3 -c "print(f'{$size/1048576:.2f} MiB')") ($size bytes) |"
    done
    echo
    echo "Two host builds of one commit of \`examples/hello\` from two clones (no SOURCE_DATE_EPOCH: the commit"
    echo "time is used): \`${digests[0]}\` and \`${digests[1]}\` — $([ "${digests[0]}" = "${digests[1]}" ] && echo same || echo DIFFERENT)."
  } >"$section"
  touch BENCHMARKS.md
  python3 scripts/lib/benchmarks.py "$section"
  cat "$section"
  exit 0
fi

results=()
for v in "${variants[@]}"; do
  dir="$work/$v"
  cp -r tests/fixtures/bench-app "$dir"
  # A fresh nonce in the manifest and the code: no cache from an earlier run (the engine's layers,
  # the registry's blobs) may answer for this one, so "cold" is cold.
  nonce="$(date +%s%N)"
  sed -i "s/^version = \"0.1.0\"/version = \"0.1.0\"\ndescription = \"bench run $nonce\"/" "$dir/Cargo.toml"
  repo="bench-$v-$nonce"
  export CARGO_FARGATE_REPOSITORY="$repo"
  export CARGO_FARGATE_BUILDER_IMAGE="$CARGO_FARGATE_TEST_BUILDER_IMAGE"
  # The default runtime (scratch: the binary and its ELF closure), as users get it.
  unset CARGO_FARGATE_DOCKERFILE CARGO_FARGATE_BUILDER CARGO_FARGATE_RUNTIME_IMAGE
  case "$v" in
    template) ;;
    host) export CARGO_FARGATE_BUILDER=host ;;
    naive) export CARGO_FARGATE_DOCKERFILE=naive.Dockerfile ;;
    codebuild) export CARGO_FARGATE_BUILDER=codebuild CARGO_FARGATE_NAME="bench-cb-${nonce: -9}" ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  echo "== $v" >&2
  t0=$(now); (cd "$dir" && "$bin" fargate push --message-format json >"$work/$v-cold.json"); t1=$(now)
  sed -i "s/revision: 1/revision: ${nonce: -9}/" "$dir/src/main.rs"
  b0=$(registry_bytes)
  t2=$(now); (cd "$dir" && "$bin" fargate push --message-format json >"$work/$v-code.json"); t3=$(now)
  b1=$(registry_bytes)
  t4=$(now); (cd "$dir" && "$bin" fargate push --message-format json >"$work/$v-same.json"); t5=$(now)
  tag=$(field "$work/$v-code.json" '["tags"][0]')
  up="-"
  if [ "$v" = codebuild ]; then
    up="$(uploaded "$work/$v-cold.json") / $(uploaded "$work/$v-code.json") / $(uploaded "$work/$v-same.json")"
    unset CARGO_FARGATE_NAME
  fi
  results+=("$v|$(secs "$t0" "$t1")|$(secs "$t2" "$t3")|$(secs "$t4" "$t5")|$(image_bytes "$repo" "$tag")|$((b1 - b0))|$(field "$work/$v-code.json" '["layers_pushed"]')|$up")
done

{
  echo '['
  sep=''
  for r in "${results[@]}"; do
    IFS='|' read -r v cold code same size pushed layers up <<<"$r"
    printf '%s{"variant":"%s","cold_s":%s,"code_change_s":%s,"no_change_s":%s,"image_bytes":%s,"bytes_stored_after_code_change":%s,"layers_pushed_after_code_change":%s,"bytes_uploaded_cold_code_same":"%s"}\n' "$sep" "$v" "$cold" "$code" "$same" "$size" "$pushed" "$layers" "$up"
    sep=','
  done
  echo ']'
} >target/bench/build.json

mib() { python3 -c "print(f'{$1/1048576:.1f} MiB')"; }
for e in "${extras[@]}"; do
  case "$e" in
    memory) memory_bench ;;
    install) install_bench ;;
  esac
done
if [ ${#variants[@]} -eq 0 ]; then
  # Only memory/install were asked for: their JSON is kept for the next full run's BENCHMARKS.md.
  cat target/bench/memory.json target/bench/install.json 2>/dev/null || true
  exit 0
fi
# Every section another script wrote is kept (each is rewritten only by its own script); Peak memory
# and Install are rewritten below when their JSON exists.
kept="$(python3 - <<'PY'
import os, re
t = open("BENCHMARKS.md").read() if os.path.exists("BENCHMARKS.md") else ""
mine = {"Peak memory": "target/bench/memory.json", "Install": "target/bench/install.json"}
for m in re.finditer(r"^## ([^\n]+)\n.*?(?=^## |\Z)", t, re.S | re.M):
    if not os.path.exists(mine.get(m.group(1).strip(), "/nonexistent")):
        print(m.group(0).rstrip() + "\n")
PY
)"
{
  echo "# Benchmarks"
  echo
  echo "Written by \`scripts/bench-build.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, Docker Engine $(docker version --format '{{.Server.Version}}' 2>/dev/null), the local bench"
  echo "(registry on 127.0.0.1, moto's ECR), load average at the start ${load_at_start} (timings are comparable only near 0)."
  echo "Project: \`tests/fixtures/bench-app\` (serde, serde_json)."
  echo "Each variant: \`cargo fargate push\` cold, again after a code-only change to src/main.rs, and once"
  echo "more with no change. Image size is the compressed size in the registry (config + layers); bytes"
  echo "stored is how much the registry's storage grew on the code-only push."
  echo
  echo "| variant | cold build+push | code-only rebuild+push | no change | image size | bytes stored after code change | layers pushed | bytes uploaded to S3 (cold / code / none) |"
  echo "|---|---|---|---|---|---|---|---|"
  for r in "${results[@]}"; do
    IFS='|' read -r v cold code same size pushed layers up <<<"$r"
    echo "| $v | ${cold} s | ${code} s | ${same} s | $(mib "$size") | $(mib "$pushed") | $layers | $up |"
  done
  echo
  echo "- template: the default \`task-templates/Dockerfile\` (dependencies in their own cached layer; the runtime stage is \`FROM scratch\` with the binary and its ELF closure)."
  echo "- host: \`builder = \"host\"\`: cargo on the host, the minimal image (binary, ELF closure, CA bundle, passwd) assembled over the registry API without Docker."
  echo "- codebuild: \`builder = \"codebuild\"\`: the build context as a zip to S3 (skipped when S3 has it), built and pushed by CodeBuild (the bench agent runs the buildspec in a container of the standard-image stand-in on this Engine). Layers pushed: not counted (the build pushes)."
  echo "- naive: \`COPY . .\` then \`cargo build --release\` in one stage (\`tests/fixtures/bench-app/naive.Dockerfile\`)."
  [ -z "$kept" ] || printf '\n%s\n' "$kept"
  # Measured by the `memory` and `install` variants (this run or an earlier one).
  python3 - <<'PY'
import json, os
m = "target/bench/memory.json"
if os.path.exists(m):
    r = json.load(open(m))
    print()
    print("## Peak memory")
    print()
    print("Peak resident set size (`/usr/bin/time -v`, the process and the children it waited for) of the")
    print("debug binary on `tests/fixtures/big` (a binary carrying `BIG_MB` MiB of incompressible bytes):")
    print("`scripts/bench-build.sh memory`.")
    print()
    print("| command | peak RSS |")
    print("|---|---|")
    print(f"| `push --builder host`, {r['binary_bytes']/1048576:.1f} MiB binary (built before, so cargo only checks it) | {r['push_host_200mib_binary_peak_rss_mib']} MiB |")
    print(f"| `build --builder docker`, 200 MiB file in the context | {r['build_docker_200mib_context_peak_rss_mib']} MiB |")
i = "target/bench/install.json"
if os.path.exists(i):
    r = json.load(open(i))
    print()
    print("## Install")
    print()
    print(f"A cold `cargo install --locked --path .` (empty target dir, {r['cores']} cores): {r['cold_install_s']} s.")
    print("`scripts/bench-build.sh install`.")
PY
} >BENCHMARKS.md
cat BENCHMARKS.md
