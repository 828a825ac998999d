#!/usr/bin/env bash
# The main job on the local bench: brings the bench up, builds cargo-fargate, and runs it on
# examples/hello (source archive, configuration of each stage, AWS identity through moto).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/bench.sh up
eval "$(scripts/bench.sh env)"
cargo build --locked --quiet
bin="$root/target/debug/cargo-fargate"
cd examples/hello
"$bin" fargate doctor
"$bin" fargate package
for stage in dev prod; do
  "$bin" fargate config --stage "$stage"
done
