#!/usr/bin/env python3
"""Print 'N passed, N failed' (and ', N skipped' when any was) over meson's test logs and
pytest's JUnit XML (functional.xml, and functional-interpreter.xml: the jit=off subset).

meson's testlog.json holds one result per test program; a unit test speaks TAP (one line per
g_test case), so its cases are counted from its output: a skipped case is a skip even when the
program as a whole passed. A program that failed without a failing case line (a crash, a
timeout) still counts one failure.
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

# "ok 3 /path # SKIP why", "not ok 4 /path"; indented lines are nested subtests, not counted.
TAP_LINE = re.compile(r"^(not )?ok\b[^#]*(#\s*(SKIP|TODO)\b)?", re.IGNORECASE)


def tap_counts(stdout):
    passed = failed = skipped = 0
    for line in stdout.splitlines():
        m = TAP_LINE.match(line)
        if not m:
            continue
        directive = (m.group(3) or "").upper()
        if directive == "SKIP":
            skipped += 1
        elif m.group(1) and directive != "TODO":
            failed += 1
        else:
            passed += 1
    return passed, failed, skipped


def meson_counts(builddir):
    path = os.path.join(builddir, "meson-logs", "testlog.json")
    passed = failed = skipped = 0
    if not os.path.exists(path):
        return passed, failed, skipped
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            test = json.loads(line)
            result = test.get("result")
            p, f_, s = tap_counts(test.get("stdout") or "")
            if p + f_ + s == 0:  # not TAP (fuzz targets), or no case ran: the program's result
                p, f_, s = ((1, 0, 0) if result in ("OK", "EXPECTEDFAIL") else
                            (0, 0, 1) if result == "SKIP" else (0, 1, 0))
            elif result not in ("OK", "EXPECTEDFAIL", "SKIP") and f_ == 0:
                f_ = 1
            passed += p
            failed += f_
            skipped += s
    return passed, failed, skipped


def junit_counts(path):
    if not os.path.exists(path):
        return 0, 0, 0
    passed = failed = skipped = 0
    for case in ET.parse(path).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            failed += 1
        elif "skipped" in tags:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main():
    total = [0, 0, 0]
    builds = sys.argv[1:] or ["build"]
    sources = [meson_counts(b) for b in builds]
    # the functional suite on the translator (the default), then its interpreter subset
    for xml in ("functional.xml", "functional-interpreter.xml"):
        sources.append(junit_counts(os.path.join(builds[0], xml)))
    for p, f, s in sources:
        total[0] += p
        total[1] += f
        total[2] += s
    line = f"{total[0]} passed, {total[1]} failed"
    if total[2]:
        line += f", {total[2]} skipped"
    print(line)
    return 1 if total[1] or total[0] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
