#!/usr/bin/env python3
"""Print 'N passed, N failed' over meson's test logs and pytest's JUnit XML."""
import json
import os
import sys
import xml.etree.ElementTree as ET


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
            result = json.loads(line).get("result")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
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
    sources.append(junit_counts(os.path.join(builds[0], "functional.xml")))
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
