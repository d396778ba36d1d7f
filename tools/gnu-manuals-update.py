#!/usr/bin/env python3
"""Brings tests/cli/gnu-manuals/catalogue up to date with what forkpool does.

Runs tests/cli/22-gnu-manuals.t in report mode (FORKPOOL_MANUALS_REPORT=1;
FORKPOOL_BIN as for the test, default build/forkpool) and rewrites the
header of every entry whose class improved:
  refused -> same     the line now prints what GNU parallel prints
  deliberate -> same
  wrong   -> same
  wrong   -> refused  forkpool now refuses it with a message (kept as reason)
Nothing else is changed: a line that got worse is a regression for the test
to report, not an entry to edit. Prints what it changed; review with
`git diff tests/cli/gnu-manuals/catalogue`, then update README's numbers
from the test's final diag.

Usage: tools/gnu-manuals-update.py [REPORT_FILE]
  REPORT_FILE: a saved `prove -v` / `sh` output of the test in report mode
  (else the test is run).
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOGUE = os.path.join(ROOT, "tests/cli/gnu-manuals/catalogue")
TEST = os.path.join(ROOT, "tests/cli/22-gnu-manuals.t")
# "# ID  STATUS  CLASS  MS ms  WHY" (see the test's REPORT printf)
LINE = re.compile(r"^# (\S+)\s+(same|refused|deliberate|wrong)\s+(SAME|REFUSED|WRONG)\s+\d+ ms ?(.*)$")


def report():
    if len(sys.argv) > 1:
        with open(sys.argv[1]) as f:
            return f.read()
    env = dict(os.environ, FORKPOOL_MANUALS_REPORT="1")
    env.setdefault("FORKPOOL_BIN", os.path.join(ROOT, "build/forkpool"))
    run = subprocess.run(["sh", TEST], env=env, stdout=subprocess.PIPE, text=True, check=False)
    return run.stdout


def main():
    changes = {}
    for line in report().splitlines():
        m = LINE.match(line)
        if not m:
            continue
        ident, status, cls, why = m.groups()
        new = {("refused", "SAME"): "same", ("deliberate", "SAME"): "same",
               ("wrong", "SAME"): "same",
               ("wrong", "REFUSED"): "refused"}.get((status, cls))
        if new:
            reason = why.rstrip(";").replace("forkpool: ", "").replace(" (try --help)", "")
            changes[ident] = (status, new, reason)
    with open(CATALOGUE) as f:
        lines = f.readlines()
    out = []
    for line in lines:
        m = re.match(r"^@ (\S+) (\S+) (\S+)((?: needs=\S+)?)", line)
        if m and m.group(1) in changes and changes[m.group(1)][0] == m.group(2):
            old, new, reason = changes[m.group(1)]
            line = "@ %s %s %s%s" % (m.group(1), new, m.group(3), m.group(4))
            line += (" -- %s\n" % reason) if new == "refused" else "\n"
            print("%s: %s -> %s" % (m.group(1), old, new))
        out.append(line)
    with open(CATALOGUE, "w") as f:
        f.writelines(out)
    if not changes:
        print("no entry to change")


if __name__ == "__main__":
    main()
