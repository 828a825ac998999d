#!/usr/bin/env bash
# The one command that runs all tests: bring up the local bench (Docker
# engine, ECR-like registry, moto), make sure the base-image stand-ins exist,
# then run cargo's tests against the bench. Extra args go to `cargo test`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# mdbook for tests/book.rs (which builds the book), built while the bench comes up: most of that
# time is downloads and image builds. A no-op once installed (scripts/book.sh).
mkdir -p .bench
scripts/book.sh install > .bench/book-install.log 2>&1 &
book_install=$!

scripts/bench.sh up
# prints the two image tags; keep stdout for the test output
scripts/base-images.sh >&2
eval "$(scripts/bench.sh env)"

if ! wait "$book_install"; then
    cat .bench/book-install.log >&2
    echo "[test] scripts/book.sh install failed (above): tests/book.rs will say so" >&2
fi

# --no-fail-fast: one failing test file does not hide the results of the others.
exec cargo test --locked --no-fail-fast "$@"
