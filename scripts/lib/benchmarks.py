"""Puts one section into BENCHMARKS.md in place of its older version, or at the end: each
scripts/bench-*.sh writes its own section and keeps every other script's.

usage: python3 scripts/lib/benchmarks.py SECTION   (a file, or `-` for stdin; its first line is
                                                   its `## ` heading)"""

import re
import sys


def put(text: str, section: str) -> str:
    """`text` with the section of `section`'s heading replaced (or appended)."""
    head = section.split("\n", 1)[0]
    assert head.startswith("## "), f"a section starts with its `## ` heading, not {head!r}"
    section = section.rstrip() + "\n"
    at = re.search(rf"^{re.escape(head)}$", text, re.M)
    if not at:
        return (text.rstrip() + "\n\n" if text.strip() else "") + section
    rest = re.search(r"^## ", text[at.end():], re.M)
    end = at.end() + rest.start() if rest else len(text)
    return text[: at.start()] + section + ("\n" + text[end:] if rest else "")


def main() -> None:
    source = sys.argv[1]
    section = sys.stdin.read() if source == "-" else open(source).read()
    try:
        text = open("BENCHMARKS.md").read()
    except FileNotFoundError:
        text = ""
    open("BENCHMARKS.md", "w").write(put(text, section.lstrip("\n")))


if __name__ == "__main__":
    main()
