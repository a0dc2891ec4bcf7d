#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Every public function documented in its header: each declaration in HEADER_DIR/*.h has
a comment right above it, or belongs to a run of declarations (no blank line between
them) that a comment right above the run describes. Prints the undocumented ones.

Usage: doc-check.py HEADER_DIR
"""
import os
import re
import sys

DECL = re.compile(r"^(?!static\b|typedef\b|\s|#|/\*| \*)[^;(=]*?\b(vfm_\w+)\s*\(")


def undocumented(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    bad = []
    for i, line in enumerate(lines):
        m = DECL.match(line)
        if not m:
            continue
        j = i - 1
        while j >= 0:
            t = lines[j].strip()
            if t.endswith("*/"):
                break
            if not t or t.startswith("#") or t.endswith("{") or t.startswith("}"):
                bad.append("%s:%d: %s" % (path, i + 1, m.group(1)))
                break
            j -= 1
    return bad


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    bad = []
    for f in sorted(os.listdir(d)):
        if f.endswith(".h"):
            bad += undocumented(os.path.join(d, f))
    for b in bad:
        print("undocumented:", b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
