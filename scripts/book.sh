#!/usr/bin/env bash
# The book (docs/, mdBook).
#   scripts/book.sh install   put mdbook in .bench/tools/bin (once; a no-op when that version is there)
#   scripts/book.sh build     build the book into docs/book (tests/book.rs builds it too)
# mdbook is not packaged by Debian; it is built from crates.io, pinned, without its default
# features (the search index, `serve` and `watch`: building the book needs none of them), and
# unoptimised without debug info (`--debug`, CARGO_PROFILE_DEV_DEBUG=0): half the CPU time of a
# release build (73 against 159 CPU-seconds, scripts/bench-book.sh), and the book still builds in
# under a second.
# scripts/test.sh runs `install` in the background while the bench comes up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MDBOOK_VERSION=0.5.4
TOOLS="$PWD/.bench/tools"
MDBOOK="$TOOLS/bin/mdbook"

install() {
    if [[ -x "$MDBOOK" ]] && [[ "$("$MDBOOK" --version)" == "mdbook v$MDBOOK_VERSION" ]]; then
        return
    fi
    echo "[book] installing mdbook $MDBOOK_VERSION into $TOOLS (cargo install, a few minutes once)" >&2
    CARGO_PROFILE_DEV_DEBUG=0 cargo install mdbook --version "$MDBOOK_VERSION" --locked \
        --no-default-features --debug --root "$TOOLS" --quiet
}

case "${1:-}" in
    install) install ;;
    build) install; "$MDBOOK" build docs ;;
    *) echo "usage: scripts/book.sh install|build" >&2; exit 2 ;;
esac
