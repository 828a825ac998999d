#!/usr/bin/env bash
# What following path dependencies outside the workspace root costs: `cargo fargate package` on
# tests/fixtures/outside/examples (a member whose path dependencies live outside its workspace root:
# one `cargo metadata --no-deps` more, for the outer workspace) next to tests/fixtures/workspace
# (path dependencies inside the root only). Median of RUNS runs each; writes its section of
# BENCHMARKS.md. Usage: scripts/bench-sources.sh [BIN] (default: target/debug/cargo-fargate).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/debug/cargo-fargate}")"
runs="${RUNS:-15}"
[ -x "$bin" ] || { echo "error: no $bin: build it first (cargo build)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r tests/fixtures/outside tests/fixtures/workspace "$work/"

# median_ms DIR: the median wall time of `package` in DIR, in milliseconds.
median_ms() {
  local dir="$1" times=()
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s%N)
    (cd "$dir" && "$bin" fargate package -o "$work/out.zip" >/dev/null 2>&1)
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

inside=$(median_ms "$work/workspace/app")
outside=$(median_ms "$work/outside/examples/server")
files=$(cd "$work/outside/examples/server" && "$bin" fargate package -o "$work/out.zip" --message-format json | python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin if l.strip()][-1]; print(r["files"], sum(len(o["files"]) for o in r["outside"]))')
load=$(cut -d' ' -f1-3 /proc/loadavg)

section=$(cat <<MD
## Source set: path dependencies outside the workspace root

Written by \`scripts/bench-sources.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, load average at the start $load,
binary \`${bin#"$PWD"/}\`. Median of $runs runs of \`cargo fargate package\` (source set, walk, zip, sha256).

| project | package (median) | files (outside the root) |
|---|---|---|
| tests/fixtures/workspace (path dependencies inside the root) | $inside ms | - |
| tests/fixtures/outside/examples (2 path crates outside the root + the manifest they inherit from) | $outside ms | ${files% *} (${files#* }) |

The difference is the outer workspace's \`cargo metadata --no-deps\`, asked once per outer workspace.
MD
)
printf '%s\n' "$section" | python3 scripts/lib/benchmarks.py -
echo "package: inside ${inside} ms, outside ${outside} ms" >&2
