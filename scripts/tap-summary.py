#!/usr/bin/env python3
"""Turns meson's testlog.json into one 'pass|fail|skip NAME' line per test case.

TAP tests count each 'ok'/'not ok' line; a test whose process failed without a
matching 'not ok' (crash, sanitizer report, timeout) counts one extra failure."""
import json
import re
import sys

TAP = re.compile(r"^(ok|not ok)\b\s*\d*\s*-?\s*(.*?)\s*(#\s*(SKIP|TODO)\b.*)?$", re.I)

for line in open(sys.argv[1]):
    t = json.loads(line)
    name, result = t["name"], t["result"]
    cases = []
    for out in (t.get("stdout") or "").splitlines():
        m = TAP.match(out.strip())
        if not m:
            continue
        verdict = "pass" if m.group(1) == "ok" else "fail"
        if m.group(4) and m.group(4).upper() == "SKIP":
            verdict = "skip"
        cases.append((verdict, f"{name}: {m.group(2) or '?'}"))
    for c in cases:
        print(*c)
    failed_cases = sum(1 for v, _ in cases if v == "fail")
    if result in ("FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS") and failed_cases == 0:
        print("fail", f"{name}: {result.lower()} (process)")
    elif not cases:
        print({"OK": "pass", "SKIP": "skip", "EXPECTEDFAIL": "pass"}.get(result, "fail"), name)
