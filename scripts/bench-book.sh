#!/usr/bin/env bash
# What the book costs a fresh machine: installing mdbook as scripts/book.sh does (pinned, no default
# features, unoptimised without debug info) next to a plain release install of the same version,
# each into an empty root with cargo's downloads already cached (the fresh-machine CI downloads
# the crates too, while the bench comes up), then building the book. Wall time, and CPU time
# (user + system), which depends less on what else the machine runs. Writes its section of
# BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^MDBOOK_VERSION=//p' scripts/book.sh)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# install NAME ENV… -- FLAGS…: "wall_s cpu_s" of one cargo install into its own root.
install() {
  local name="$1"; shift
  local envs=() flags=()
  while [[ "$1" != "--" ]]; do envs+=("$1"); shift; done
  shift; flags=("$@")
  /usr/bin/time -f '%e %U %S' -o "$work/$name.time" env "${envs[@]}" \
    cargo install mdbook --version "$version" --locked --no-default-features \
    --root "$work/$name" --target-dir "$work/$name-target" --quiet "${flags[@]}" >&2
  awk '{ printf "%.0f %.0f\n", $1, $2 + $3 }' "$work/$name.time"
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
read -r ours_wall ours_cpu < <(install ours CARGO_PROFILE_DEV_DEBUG=0 -- --debug)
read -r release_wall release_cpu < <(install release CARGO_PROFILE_RELEASE_DEBUG=0 --)
t0=$(date +%s%N)
"$work/ours/bin/mdbook" build docs --dest-dir "$work/book" >/dev/null 2>&1
t1=$(date +%s%N)
build_ms=$(( (t1 - t0) / 1000000 ))
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

section=$(cat <<MD
## The book: installing mdbook

Written by \`scripts/bench-book.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, load average $load at the
start and $load_end at the end (other work shares the machine: CPU time is the steadier figure).
mdbook $version, \`--no-default-features\`, crates already downloaded.

| install | wall | CPU (user + system) |
|---|---|---|
| as \`scripts/book.sh\`: \`--debug\`, \`CARGO_PROFILE_DEV_DEBUG=0\` | ${ours_wall} s | ${ours_cpu} s |
| release | ${release_wall} s | ${release_cpu} s |

Building the book with it: ${build_ms} ms. \`scripts/test.sh\` runs the install in the background
while the bench comes up, so on a fresh machine it overlaps the downloads and image builds.
MD
)
printf '%s\n' "$section" | python3 scripts/lib/benchmarks.py -
echo "mdbook install: ours ${ours_wall} s wall / ${ours_cpu} s CPU, release ${release_wall} s / ${release_cpu} s; book ${build_ms} ms" >&2
