# shellcheck shell=bash
# Sourced by the scripts that drive the built binary on the bench (demo.sh, bench-build.sh): the
# bench up, the base-image stand-ins made, its environment exported, cargo-fargate built as $bin.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
scripts/bench.sh up
scripts/base-images.sh >/dev/null
eval "$(scripts/bench.sh env)"
cargo build --locked --quiet
# shellcheck disable=SC2034 # used by the sourcing script
bin="$root/target/debug/cargo-fargate"
