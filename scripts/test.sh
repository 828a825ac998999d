#!/usr/bin/env bash
# The one command that runs all tests: bring up the local bench (Docker
# engine, ECR-like registry, moto), make sure the base-image stand-ins exist,
# then run cargo's tests against the bench. Extra args go to `cargo test`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bench.sh up
# prints the two image tags; keep stdout for the test output
scripts/base-images.sh >&2
eval "$(scripts/bench.sh env)"

# --no-fail-fast: one failing test file does not hide the results of the others.
exec cargo test --locked --no-fail-fast "$@"
